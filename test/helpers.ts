// Test helpers: a database cloned from the template per test file, real worker processes, and
// acting as a tenant the way a GraphQL request would (role + JWT claims in the transaction).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { databaseUrl } from './database_url.ts';
import { CLI_PATH, killAll, startFinishline, waitFor, type FinishlineProcess } from './processes.ts';

export { waitFor };

export interface TestDatabase {
  name: string;
  url: string;
  /** Connects as the database owner (no row level security). */
  pool: pg.Pool;
}

/** One `finishline` command run to its end: its exit code and output (its log is JSON lines on stdout). */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `finishline <args>` with exactly these environment variables; resolves whatever the exit code. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

/** The last line a command logged, parsed: for a failed command, `{msg: 'finishline failed', error}`. */
export function lastLogLine(run: CliRun): Record<string, unknown> {
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

/**
 * A fresh database for this test file, cloned from the migrated template; `settings` become
 * database-level settings (e.g. a short `finishline.worker_stale_after`). Dropped afterwards
 * unless KEEP_TEST_DATABASES is set.
 */
export function useTestDatabase(settings: Record<string, string> = {}): TestDatabase {
  const db = {} as TestDatabase;
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  beforeAll(async () => {
    db.name = `finishline_test_${randomBytes(5).toString('hex')}`;
    db.url = databaseUrl(inject('adminUrl'), db.name);
    await admin.connect();
    await admin.query(`create database ${db.name} template ${inject('templateDatabase')}`);
    for (const [key, value] of Object.entries(settings)) {
      await admin.query(`alter database ${db.name} set ${key} = ${pg.escapeLiteral(value)}`);
    }
    db.pool = new pg.Pool({ connectionString: db.url, max: 8 });
    // Connections still closing when the database is dropped get a FATAL: expected, not a failure.
    db.pool.on('error', () => {});
  });
  afterAll(async () => {
    await killAll();
    await db.pool?.end();
    if (!process.env.KEEP_TEST_DATABASES) await admin.query(`drop database if exists ${db.name} with (force)`);
    await admin.end();
  });
  return db;
}

/** A `finishline worker` or `finishline serve` of the tests. */
export type WorkerProcess = FinishlineProcess;
export type ServerProcess = FinishlineProcess;

/** Starts `finishline worker` on the test database and waits until it has registered its heartbeat. */
export function startWorkerProcess(db: TestDatabase, options: { concurrency?: number; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  return startFinishline('worker', { DATABASE_URL: db.url, WORKER_CONCURRENCY: String(options.concurrency ?? 4), LOG_LEVEL: 'info', ...options.env }, {
    ready: async () => ((await db.pool.query('select 1 from app_private.workers')).rowCount ?? 0) > 0,
  });
}

export async function createTenant(db: TestDatabase, name = `tenant-${randomBytes(4).toString('hex')}`): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>('insert into app_public.tenants (name) values ($1) returning id', [name]);
  return rows[0].id;
}

/** Runs `fn` in a transaction as `app_user` of the tenant, as a GraphQL request would. */
export async function asTenant<T>(db: TestDatabase, tenantId: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return asRole(db, 'app_user', { tenant_id: tenantId }, fn);
}

export async function asRole<T>(
  db: TestDatabase,
  role: 'app_user' | 'app_admin' | 'app_anonymous',
  claims: Record<string, string>,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local role ${role}`);
    for (const [claim, value] of Object.entries({ role, ...claims })) {
      await client.query('select set_config($1, $2, true)', [`jwt.claims.${claim}`, value]);
    }
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

export interface BatchRow {
  id: string;
  status: string;
  total_items: number;
}

export async function submitBatch(
  db: TestDatabase,
  tenantId: string,
  kind: string,
  items: unknown[],
  options: { metadata?: object; idempotencyKey?: string } = {},
): Promise<BatchRow> {
  return asTenant(db, tenantId, async (client) => {
    const { rows } = await client.query<BatchRow>(
      'select id, status, total_items from app_public.submit_batch($1, $2::jsonb, $3::jsonb, $4)',
      [kind, JSON.stringify(items), JSON.stringify(options.metadata ?? {}), options.idempotencyKey ?? null],
    );
    return rows[0];
  });
}

export interface StatusSummary {
  batch_id: string;
  status: string;
  total_items: number;
  pending_items: number;
  processing_items: number;
  succeeded_items: number;
  failed_items: number;
  cancelled_items: number;
  progress: string;
  started_at: Date | null;
  finished_at: Date | null;
  last_item_finished_at: Date | null;
  has_summary: boolean;
  stuck_reason: string | null;
}

export async function statusOf(db: TestDatabase, batchId: string): Promise<StatusSummary> {
  const { rows } = await db.pool.query<StatusSummary>('select * from app_public.batch_status_summary where batch_id = $1', [batchId]);
  if (!rows[0]) throw new Error(`no batch ${batchId}`);
  return rows[0];
}

/** Waits until the batch is finished and its summary written. */
export async function waitForSummary(db: TestDatabase, batchId: string, timeoutMs = 30_000): Promise<StatusSummary> {
  return waitFor(
    async () => {
      const status = await statusOf(db, batchId);
      return status.finished_at && status.has_summary ? status : null;
    },
    { timeoutMs, what: `batch ${batchId} to finish with a summary` },
  );
}

/** Makes a batch look as if it had been submitted, run and finished `days` ago. */
export async function ageBatch(db: TestDatabase, batchId: string, days: number): Promise<void> {
  await db.pool.query(
    `update app_public.batches set created_at = created_at - make_interval(days => $2),
       started_at = started_at - make_interval(days => $2), finished_at = finished_at - make_interval(days => $2)
     where id = $1`,
    [batchId, days],
  );
}

/** Runs the prune the way the crontab does: a prune_finished_batches job that a worker picks up. */
export async function pruneNow(db: TestDatabase, timeoutMs = 60_000): Promise<void> {
  const { rows } = await db.pool.query(`select id from graphile_worker.add_job('prune_finished_batches', '{}')`);
  await waitFor(async () => (await db.pool.query('select 1 from graphile_worker.jobs where id = $1', [rows[0].id])).rowCount === 0,
    { timeoutMs, what: 'the prune to run' });
}

export const TEST_JWT_SECRET = 'finishline-test-secret-that-is-long-enough';

/** Starts `finishline serve` (the HTTP server only, on a free port) on the test database. */
export function startServerProcess(db: TestDatabase, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startFinishline('serve', { DATABASE_URL: db.url, PORT: '0', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info', ...env });
}

export interface GraphQLResult<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** POSTs a GraphQL request, with a bearer token when given. */
export async function graphql<T = Record<string, any>>(
  serverUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<GraphQLResult<T>> {
  const response = await fetch(`${serverUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body: { data?: T; errors?: GraphQLResult['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    body = { errors: [{ message: text }] };
  }
  return { status: response.status, ...body };
}
