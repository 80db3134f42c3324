// How errors reach GraphQL clients, in one place. Errors raised on purpose (FL… codes from SQL,
// SafeErrors from the server) keep their message and code; PostgreSQL errors that the client
// caused get a code and a message that says what to change; a database that is away is a 503 to
// retry; a request the schema cannot run as sent is FLREQ; anything else is masked as
// `internal error (logged as <id>)` and logged with that id.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { isSafeError, SafeError } from 'postgraphile/grafast';
import type { JSONValue, Result } from 'postgraphile/grafserv';
import { GraphQLError, type ValidationContext, type ValidationRule } from 'postgraphile/graphql';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Log } from '../log.ts';

/** PostgreSQL's codes for mistakes of the client's, answered with their own message. */
const PASSED_THROUGH = new Set(['23502', '23503', '23505', '23514', '22P02', '22003', '22007', '22008', '22015', '22023', '42501']);

/**
 * A value PostgreSQL could not read says what was wrong with it in its detail alone ("invalid
 * input syntax for type json": "Unicode low surrogate must follow a high surrogate.").
 */
function withDetail(error: Error & { code?: unknown; detail?: unknown }): string {
  return error.code === '22P02' && typeof error.detail === 'string' ? `${error.message}: ${error.detail}` : error.message;
}

/**
 * PostgreSQL's codes for mistakes of the client's whose own message would not say what to change,
 * and for a conflict with another transaction, which the client only has to send again.
 */
function translated(code: string, statementTimeoutMs: number): { code: string; message: string } | undefined {
  switch (code) {
    case '22P05':
    case '22021':
      return { code: 'FLNUL', message: 'a text or JSON value contains a NUL character (\\u0000) or bytes that are not UTF-8, which PostgreSQL cannot store: remove them' };
    case '2201W':
    case '2201X':
      return { code: 'FLPAG', message: 'first, last and offset must not be negative' };
    case '40001':
    case '40P01':
      return { code: 'FLCON', message: 'the request conflicted with another at the same moment, and the database rolled it back: nothing of it happened; send it again' };
    case '57014':
      return { code: 'FLTMO', message: `the request ran longer than the ${statementTimeoutMs} ms a request may run: ask for less at once (smaller pages, fewer nested connections); a batch of several hundred thousand items goes in by SQL (INSERT … SELECT) instead` };
  }
  return undefined;
}

/** What a request's errors said about the database, for the HTTP layer to answer 503. */
export const requestOutcome = new AsyncLocalStorage<{ databaseUnavailable: boolean }>();

/** Seconds a client should wait before retrying a request refused because the database is away. */
export const RETRY_AFTER_SECONDS = 5;

/** The code of a request the schema cannot run as sent (graphql-js gives its errors none). */
const REQUEST_ERROR = 'FLREQ';

/** The error as the client gets it: the same place in the query, another message and extensions. */
function reissued(error: GraphQLError, message: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions });
}

/** The error with the code of a request the schema cannot run, unless it has a code of its own. */
function asRequestError(error: GraphQLError): GraphQLError {
  return error.extensions.code === undefined ? reissued(error, error.message, { ...error.extensions, code: REQUEST_ERROR }) : error;
}

/** A query that does not parse, refused before anything else with its syntax error and FLREQ. */
export function syntaxErrorRefusal(error: GraphQLError): SafeError {
  const where = error.locations?.[0];
  return new SafeError(where ? `${error.message} (line ${where.line}, column ${where.column})` : error.message, { statusCode: 400, code: REQUEST_ERROR });
}

/** A validation rule whose errors (an unknown field or argument, a wrong literal, …) carry FLREQ. */
function coded(rule: ValidationRule): ValidationRule {
  return (context) => rule(new Proxy(context, {
    get(target, property) {
      if (property === 'reportError') return (error: GraphQLError) => target.reportError(asRequestError(error));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as ValidationContext);
}

/**
 * A body that is no GraphQL request (not JSON, no query, too large) or a method or media type the
 * endpoint does not take: grafserv refuses it before GraphQL runs, with errors that carry no code.
 * They get FLREQ, or FLLEN for a body too large.
 */
function codedRefusal(result: Result | null, maxRequestBytes: number): Result | null {
  if (!result || result.statusCode < 400 || result.statusCode >= 500 || (result.type !== 'buffer' && result.type !== 'json')) return result;
  let payload: unknown;
  try {
    payload = result.type === 'json' ? result.json : JSON.parse(result.buffer.toString('utf8'));
  } catch {
    return result;
  }
  const { errors } = (payload ?? {}) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
  if (!Array.isArray(errors) || errors.every((error) => error.extensions?.code !== undefined)) return result;
  const tooLarge = result.statusCode === 413;
  const code = tooLarge ? 'FLLEN' : REQUEST_ERROR;
  // grafserv says only "Too much data".
  const message = tooLarge
    ? `the request body is larger than ${maxRequestBytes.toLocaleString('en-US')} bytes: submit its items as several batches, or insert them with SQL (finishline import for catalog files)`
    : undefined;
  const coded = { ...(payload as object), errors: errors.map((error) => ({ ...error, ...(message ? { message } : {}), extensions: { code, ...error.extensions } })) };
  if (result.type === 'json') return { ...result, json: coded as JSONValue };
  const buffer = Buffer.from(JSON.stringify(coded), 'utf8');
  return { ...result, buffer, headers: { ...result.headers, 'content-length': String(buffer.length) } };
}

/**
 * Codes graphql-js's validation errors, over HTTP and websockets alike (they share the rules), and
 * grafserv's refusals of what is no GraphQL request (a body over `maxRequestBytes` among them).
 */
export const requestErrorsPlugin = (maxRequestBytes: number): GraphileConfig.Plugin => ({
  name: 'FinishlineRequestErrorsPlugin',
  version: '1.0.0',
  grafserv: {
    middleware: {
      setPreset(next, event) {
        event.validationRules.splice(0, event.validationRules.length, ...event.validationRules.map(coded));
        return next();
      },
      async processRequest(next) {
        return codedRefusal(await next(), maxRequestBytes);
      },
    },
  },
});

export function makeMaskError({ log, statementTimeoutMs }: { log: Log; statementTimeoutMs: number }) {
  return (error: GraphQLError): GraphQLError => {
    const original = error.originalError as (Error & { code?: unknown }) | undefined;
    // Grafast's own refusals of a value the client sent (a cursor not from a previous answer of
    // this ordering) come uncoded.
    if (original && isSafeError(original)) return error.extensions?.code ? error : reissued(error, error.message, { ...error.extensions, code: REQUEST_ERROR });
    // graphql-js's own errors about the request, raised before any field ran (a variable missing or
    // of the wrong type, an unknown operation): no field's path. A field's errors have one.
    if (!original || original instanceof GraphQLError) return error.path ? error : asRequestError(error);
    const rebuilt = (message: string, extensions: Record<string, unknown>) => reissued(error, message, extensions);
    const code = typeof original.code === 'string' ? original.code : undefined;
    if (code && code.startsWith('FL')) return rebuilt(original.message, { code });
    if (code && PASSED_THROUGH.has(code)) return rebuilt(withDetail(original), { code });
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
