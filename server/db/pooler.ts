// Telling a connection pooler (PgBouncer and the like) from the database itself. PostgreSQL tells
// a client at connection time which backend process serves it (BackendKeyData, for cancelling);
// a pooler makes that number up, since the server behind it may change with every transaction.
// Behind a transaction pooler a session is not the client's own: no LISTEN, advisory lock or
// session setting lasts past the transaction, and prepared statements vanish between them.
import pg from 'pg';
import type { Log } from '../log.ts';
import type { Database } from './database.ts';
import { whileUnavailable } from './errors.ts';

/** Runs a check on a connection of its own, waiting while the database is away. */
async function check<T>(connectionString: string, log: Log, what: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return whileUnavailable(async () => {
    const client = new pg.Client({ connectionString, application_name: 'finishline pooler check' });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }, { log, what });
}

/**
 * Why `connectionString` goes through a pooler, in a few words, or null when it reaches
 * PostgreSQL itself. Waits while the database is away, as the processes that ask do.
 */
export async function connectionPooler(connectionString: string, log: Log): Promise<string | null> {
  return check(connectionString, log, 'checking for a connection pooler', async (client) => {
    const { rows: [{ pid }] } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const announced = (client as pg.Client & { processID: number | null }).processID;
    if (announced === pid) return null;
    return `the connection says it is served by process ${announced ?? '(none)'}, but pg_backend_pid() is ${pid}`;
  });
}

/**
 * What a pooler said when it refused a transaction (PgBouncer in statement mode does), or null
 * when transactions go through. A pooler refuses with a protocol violation (08P01), which would
 * otherwise read as the database being away.
 */
export async function transactionsRefused(connectionString: string, log: Log): Promise<string | null> {
  return check(connectionString, log, 'checking that the connection pooler allows transactions', async (client) => {
    try {
      await client.query('begin');
      await client.query('commit');
      return null;
    } catch (error) {
      if ((error as { code?: string }).code === '08P01') return (error as Error).message;
      throw error;
    }
  });
}

/** The URL without its password, for a message; a connection string that is no URL is not shown. */
export function shownUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * Refuses (throws) when the database's direct connection string goes through a pooler: `needs`
 * says what for, e.g. "the worker needs a direct connection for its LISTEN and advisory locks".
 */
export async function requireDirectConnection(database: Database, needs: string, log: Log): Promise<void> {
  if (database.embedded) return;
  const pooler = await connectionPooler(database.directConnectionString, log);
  if (!pooler) return;
  const named = database.directVariable === 'DIRECT_DATABASE_URL'
    ? `DIRECT_DATABASE_URL (${shownUrl(database.directConnectionString)})`
    : `DIRECT_DATABASE_URL (unset, so DATABASE_URL: ${shownUrl(database.directConnectionString)})`;
  throw new Error(`${named} goes through a connection pooler (${pooler}): ${needs}; set DIRECT_DATABASE_URL to the database itself`);
}
