// How errors reach GraphQL clients, in one place. Errors raised on purpose (FL… codes from SQL,
// SafeErrors from the server) keep their message and code; PostgreSQL errors that the client
// caused get a code and a message that says what to change; a database that is away is a 503 to
// retry; anything else is masked as `internal error (logged as <id>)` and logged with that id.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { isSafeError } from 'postgraphile/grafast';
import { GraphQLError } from 'postgraphile/graphql';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Log } from '../log.ts';

/** PostgreSQL's codes for mistakes of the client's, answered with their own message. */
const PASSED_THROUGH = new Set(['23502', '23503', '23505', '23514', '22P02', '22023', '42501']);

/** PostgreSQL's codes for mistakes of the client's whose own message would not say what to change. */
function translated(code: string, statementTimeoutMs: number): { code: string; message: string } | undefined {
  switch (code) {
    case '22P05':
    case '22021':
      return { code: 'FLNUL', message: 'a text or JSON value contains a NUL character (\\u0000) or bytes that are not UTF-8, which PostgreSQL cannot store: remove them' };
    case '2201W':
    case '2201X':
      return { code: 'FLPAG', message: 'first, last and offset must not be negative' };
    case '57014':
      return { code: 'FLTMO', message: `the request ran longer than the ${statementTimeoutMs} ms a request may run: ask for less at once (smaller pages, fewer nested connections)` };
  }
  return undefined;
}

/** What a request's errors said about the database, for the HTTP layer to answer 503. */
export const requestOutcome = new AsyncLocalStorage<{ databaseUnavailable: boolean }>();

/** Seconds a client should wait before retrying a request refused because the database is away. */
export const RETRY_AFTER_SECONDS = 5;

export function makeMaskError({ log, statementTimeoutMs }: { log: Log; statementTimeoutMs: number }) {
  return (error: GraphQLError): GraphQLError => {
    const original = error.originalError as (Error & { code?: unknown }) | undefined;
    if (!original || original instanceof GraphQLError || isSafeError(original)) return error;
    const rebuilt = (message: string, extensions: Record<string, unknown>) =>
      new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: original, extensions });
    const code = typeof original.code === 'string' ? original.code : undefined;
    if (code && (code.startsWith('FL') || PASSED_THROUGH.has(code))) return rebuilt(original.message, { code });
    const ours = code ? translated(code, statementTimeoutMs) : undefined;
    if (ours) return rebuilt(ours.message, { code: ours.code });
    if (isDatabaseUnavailable(original)) {
      const outcome = requestOutcome.getStore();
      if (outcome) outcome.databaseUnavailable = true;
      return rebuilt(`the database is unavailable: try again in ${RETRY_AFTER_SECONDS} seconds`, { code: 'FLDBU' });
    }
    const errorId = randomBytes(6).toString('hex');
    log.error('graphql request failed', { error_id: errorId, error: original.message, code, path: error.path?.join('.') });
    return rebuilt(`internal error (logged as ${errorId})`, { code: 'INTERNAL', errorId });
  };
}
