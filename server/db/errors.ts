// Telling a database that is away (restarting, failing over, a connection cut) from a request
// that is wrong: the first is retried or answered 503, the second is the caller's to fix.
import { setTimeout as sleep } from 'node:timers/promises';

const UNAVAILABLE_CODES = new Set([
  // PostgreSQL: shutting down, crashed, starting up or in recovery, too many connections.
  '57P01', '57P02', '57P03', '53300',
  // Writes refused: a standby still at the primary's address after a failover, or a database
  // made read-only for a while (a guard against a full disk); it takes writes again.
  '25006',
  // Node: the server is not there, or the connection broke.
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
]);

/** Connection failures and server shutdowns: the database is away, not the statement wrong. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // Class 08: connection exceptions.
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_CODES.has(code))) return true;
  // 55000 is also a statement's error; at connection time it is a database closed for maintenance
  // (ALTER DATABASE … ALLOW_CONNECTIONS false), which an operator opens again.
  if (code === '55000' && typeof message === 'string' && /is not currently accepting connections/.test(message)) return true;
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|Connection is closed/.test(message);
}

/**
 * A deadlock or a serialization failure: PostgreSQL rolled the transaction back to let another one
 * through. Nothing of it happened, and the same statement may well succeed when run again.
 */
export function isTransactionConflict(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  return code === '40P01' || code === '40001';
}

/** Delays between attempts while the database is away: short at first, never more than 2 s. */
const RETRY_MS = { first: 100, max: 2000 };

/**
 * Runs `statement` until it succeeds, waiting while the database is away (a restart, a failover,
 * a connection cut). Any other error is thrown at once, and so is the last one when `signal`
 * aborts or `upToMs` has passed.
 */
export async function whileUnavailable<T>(
  statement: () => Promise<T>,
  { log, what, signal, upToMs }: { log: { warn(message: string, fields?: Record<string, unknown>): void }; what: string; signal?: AbortSignal; upToMs?: number },
): Promise<T> {
  const deadline = upToMs === undefined ? Infinity : Date.now() + upToMs;
  for (let delay = RETRY_MS.first; ; delay = Math.min(delay * 2, RETRY_MS.max)) {
    try {
      return await statement();
    } catch (error) {
      if (!isDatabaseUnavailable(error) || signal?.aborted || Date.now() + delay > deadline) throw error;
      log.warn(`database unavailable while ${what}: trying again in ${delay} ms`, { error: (error as Error).message });
      await sleep(delay, undefined, { signal }).catch(() => {});
    }
  }
}
