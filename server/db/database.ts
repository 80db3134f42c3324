// Which PostgreSQL to use: the server named by DATABASE_URL (and DIRECT_DATABASE_URL, when
// DATABASE_URL goes through a pooler), or an embedded one under ./.finishline/.
import pg from 'pg';
import type { Config } from '../config.ts';
import { startEmbeddedPostgres } from './embedded_postgres.ts';
import type { Log } from '../log.ts';

export interface Database {
  /** For requests: GraphQL, uploads, health, metrics (DATABASE_URL, which may be a pooler). */
  connectionString: string;
  /** For what needs a session of its own: the worker, LISTEN, migrations (DIRECT_DATABASE_URL, else DATABASE_URL). */
  directConnectionString: string;
  /** Which variable directConnectionString came from, for messages about it. */
  directVariable: 'DIRECT_DATABASE_URL' | 'DATABASE_URL' | 'the embedded server';
  embedded: boolean;
  /** Stops the embedded server (after everything using it has stopped); a no-op otherwise. */
  stop(): Promise<void>;
}

export const EMBEDDED_DATABASE_NAME = 'finishline';

/** Creates the database if it does not exist yet (connecting to the server's maintenance database). */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', ignoreConnectionError);
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

export async function openDatabase(config: Config, log: Log): Promise<Database> {
  if (config.databaseUrl) {
    const directConnectionString = config.directDatabaseUrl ?? config.databaseUrl;
    const directVariable = config.directDatabaseUrl ? 'DIRECT_DATABASE_URL' : 'DATABASE_URL';
    return { connectionString: config.databaseUrl, directConnectionString, directVariable, embedded: false, stop: async () => {} };
  }
  if (config.directDatabaseUrl) throw new Error('DIRECT_DATABASE_URL is set without DATABASE_URL: set both, or neither for the embedded server');
  log.info('DATABASE_URL is not set: using the embedded PostgreSQL (started unless it runs already)', { data_dir: config.dataDir });
  const server = await startEmbeddedPostgres(config.dataDir, { log });
  await ensureDatabase(server.adminUrl, EMBEDDED_DATABASE_NAME);
  const url = server.urlFor(EMBEDDED_DATABASE_NAME);
  return { connectionString: url, directConnectionString: url, directVariable: 'the embedded server', embedded: true, stop: () => server.stop() };
}

/** Runs `fn` with a client of the database (started, if embedded, for as long as it takes). */
export async function withDatabaseClient<T>(config: Config, log: Log, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const database = await openDatabase(config, log);
  const client = new pg.Client({ connectionString: database.connectionString });
  client.on('error', ignoreConnectionError);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
    await database.stop();
  }
}

/**
 * For a one-off client: a connection lost is also an 'error' event, which would end the process
 * unheard; the statement in flight (or the next one) fails with it and says what happened.
 */
export function ignoreConnectionError(): void {}
