// What finishline's own connections set for themselves as they open, over whatever defaults an
// operator gave the database or its role.
import type pg from 'pg';

/**
 * - idle_session_timeout 0: finishline keeps connections open while idle on purpose (the worker's
 *   pool, the LISTEN connections), which a timeout meant for sessions a client forgot would end
 *   again and again.
 * - read committed: finishline's statements are written for it (claims skip locked rows, counters
 *   are kept in slots); under a default of serializable, concurrent ones are rolled back as
 *   conflicts, and an item's outcome with them.
 * - PostgreSQL's default DateStyle and IntervalStyle: the drivers read timestamps and intervals
 *   in those formats only. Under an operator's 'SQL, DMY', Graphile Worker misread when its
 *   crontab last ran, and every worker that started ran the day's scheduled tasks again.
 */
export const SESSION_SETTINGS =
  "set idle_session_timeout = 0; set default_transaction_isolation = 'read committed'; set datestyle = 'ISO, MDY'; set intervalstyle = 'postgres'";

/** SESSION_SETTINGS as a pool's onConnect. */
export async function applySessionSettings(client: pg.ClientBase): Promise<void> {
  await client.query(SESSION_SETTINGS);
}

/**
 * Runs `fn` with no statement_timeout on `client`: finishline's own upkeep (a run summary, the
 * sweeper's checks, the prune's vacuum) takes what its data takes, and a bound an operator set for
 * the application's statements would cut it short on every try, so that it never got done.
 */
export async function withoutStatementTimeout<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('set statement_timeout = 0');
  try {
    return await fn();
  } finally {
    await client.query('reset statement_timeout');
  }
}
