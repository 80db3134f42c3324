// Configuration, from the environment only; every variable is listed in the README.
import path from 'node:path';

function integer(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}, not "${raw}"`);
  }
  return value;
}

export interface Config {
  /** The server to use; unset means an embedded PostgreSQL under dataDir. */
  databaseUrl: string | undefined;
  /** Where the embedded database and generated secrets live. */
  dataDir: string;
  port: number;
  /** How long one GraphQL request's statement may run in the database. */
  graphqlStatementTimeoutMs: number;
  workerConcurrency: number;
  /** A recommender retrain runs this long after the last product change of a burst... */
  retrainDebounceSeconds: number;
  /** ...and never later than this after the first change it has not seen. */
  retrainMaxWaitSeconds: number;
}

export function loadConfig(): Config {
  return {
    databaseUrl: process.env.DATABASE_URL || undefined,
    dataDir: path.resolve(process.env.FINISHLINE_DATA_DIR || '.finishline'),
    port: integer('PORT', 5678, 0),
    graphqlStatementTimeoutMs: integer('GRAPHQL_STATEMENT_TIMEOUT_MS', 5000, 1),
    workerConcurrency: integer('WORKER_CONCURRENCY', 4, 1),
    retrainDebounceSeconds: integer('RETRAIN_DEBOUNCE_SECONDS', 30),
    retrainMaxWaitSeconds: integer('RETRAIN_MAX_WAIT_SECONDS', 300),
  };
}

/**
 * Node flags for finishline's processes (npm scripts, the bin, tests and benchmarks all use them).
 * V8's default young generation on a large machine lets a streaming import reach ~300 MB of
 * garbage before collecting; 16 MB semi-spaces keep it near 200 MB, at no cost in speed.
 */
export const NODE_FLAGS = ['--max-semi-space-size=16'];
