// Configuration, from the environment only. Every variable finishline reads is read here (and
// listed in the README's table, which a test keeps the same), each by the one parser of its type,
// and a bad value is refused with one kind of message: "<NAME> must be …, not "<value>"".
import path from 'node:path';
import { parseCrontab } from 'graphile-worker';

type Env = NodeJS.ProcessEnv;

/** The raw value of a setting, or undefined when unset or empty. */
function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function refuse(name: string, what: string, value: string): never {
  throw new Error(`${name} must be ${what}, not "${value}"`);
}

function integer(env: Env, name: string, fallback: number, min: number, max?: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || (max !== undefined && parsed > max)) {
    refuse(name, max === undefined ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`, value);
  }
  return parsed;
}

function text(env: Env, name: string): string | undefined;
function text(env: Env, name: string, fallback: string): string;
function text(env: Env, name: string, fallback?: string): string | undefined {
  return raw(env, name) ?? fallback;
}

/**
 * A PostgreSQL connection string as node-postgres reads it: a postgres:// (or postgresql://,
 * socket:) URL, or a socket directory. Anything else (libpq's `host=… dbname=…`, a URL without
 * its scheme) it would read as a host name, and the process would wait for that host forever.
 * The value is not repeated: it may hold a password.
 */
function databaseUrl(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined || value.startsWith('/')) return value;
  if (!URL.canParse(value) || !['postgres:', 'postgresql:', 'socket:'].includes(new URL(value).protocol)) {
    throw new Error(`${name} must be a URL like postgres://user:password@host:5432/database (its value is not repeated here: it may hold a password)`);
  }
  return value;
}

/** Whether `value` is an http:// or https:// URL (a server's, as FINISHLINE_SERVER and --server name it). */
export function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol);
}

function httpUrl(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value !== undefined && !isHttpUrl(value)) {
    refuse(name, 'an http:// or https:// URL', value);
  }
  return value;
}

function secret(env: Env, name: string, minLength: number): string | undefined {
  const value = raw(env, name);
  if (value !== undefined && value.length < minLength) throw new Error(`${name} must be at least ${minLength} characters long`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(values as readonly string[]).includes(value)) refuse(name, `one of ${values.join(', ')}`, value);
  return value as T;
}

function flag(env: Env, name: string): boolean {
  const value = raw(env, name);
  if (value === undefined) return false;
  if (value !== '0' && value !== '1') refuse(name, '0 or 1', value);
  return value === '1';
}

function cronSchedule(env: Env, name: string): string | undefined {
  const value = raw(env, name)?.trim();
  if (value === undefined) return undefined;
  if (!/^(\S+\s+){4}\S+$/.test(value)) refuse(name, 'five crontab fields, like "0 2 * * *"', value);
  // Checked now, by the worker's own parser, rather than when the worker reads its crontab.
  try {
    parseCrontab(`${value} start_review_scoring`);
  } catch (error) {
    const why = (error as Error).message.replace(/ in line \d+ of crontab/, '').replace(/\.$/, '');
    refuse(name, `a crontab schedule (${why.charAt(0).toLowerCase()}${why.slice(1)})`, value);
  }
  return value;
}

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function logLevel(env: Env = process.env): LogLevel {
  return oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}

export interface Config {
  /** The server to use; unset means an embedded PostgreSQL under dataDir. May go through a pooler. */
  databaseUrl: string | undefined;
  /** The database itself, for what needs a session (LISTEN, advisory locks, migrations); unset means databaseUrl. */
  directDatabaseUrl: string | undefined;
  /** Where the embedded database and generated secrets live. */
  dataDir: string;
  port: number;
  /** HS256 secret of the tokens; generated and kept in dataDir for the embedded database when unset. */
  jwtSecret: string | undefined;
  graphileEnv: 'production' | 'development';
  /** How long one GraphQL request's statement may run in the database. */
  graphqlStatementTimeoutMs: number;
  /** Connections the server's GraphQL requests share (to databaseUrl). */
  graphqlPoolSize: number;
  /** Connections of the server's catalog uploads, /health and /metrics (to databaseUrl). */
  serverPoolSize: number;
  /** Websockets (GraphQL subscriptions) a server holds open at once. */
  maxWebSockets: number;
  workerConcurrency: number;
  /** start_review_scoring's schedule instead of the crontab's. */
  reviewScoringCron: string | undefined;
  /** A recommender retrain runs this long after the last product change of a burst... */
  retrainDebounceSeconds: number;
  /** ...and never later than this after the first change it has not seen. */
  retrainMaxWaitSeconds: number;
  /** The items of a finished batch (and the catalog files its imports read) are kept this long... */
  itemRetentionDays: number;
  /** ...and the batch itself, its counters and run summary this long. */
  batchRetentionDays: number;
  logLevel: LogLevel;
  /** For the batch commands: a running server and a token, instead of database access. */
  server: { url: string | undefined; token: string | undefined };
}

export function loadConfig(env: Env = process.env): Config {
  return {
    databaseUrl: databaseUrl(env, 'DATABASE_URL'),
    directDatabaseUrl: databaseUrl(env, 'DIRECT_DATABASE_URL'),
    dataDir: path.resolve(text(env, 'FINISHLINE_DATA_DIR', '.finishline')),
    port: integer(env, 'PORT', 5678, 0, 65535),
    jwtSecret: secret(env, 'JWT_SECRET', 32),
    graphileEnv: oneOf(env, 'GRAPHILE_ENV', ['production', 'development'], 'production'),
    graphqlStatementTimeoutMs: integer(env, 'GRAPHQL_STATEMENT_TIMEOUT_MS', 5000, 1),
    graphqlPoolSize: integer(env, 'GRAPHQL_POOL_SIZE', 10, 1),
    // Uploads take all but one, which /health and /metrics keep.
    serverPoolSize: integer(env, 'SERVER_POOL_SIZE', 4, 2),
    maxWebSockets: integer(env, 'MAX_WEBSOCKETS', 10_000, 1),
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', 4, 1),
    reviewScoringCron: cronSchedule(env, 'REVIEW_SCORING_CRON'),
    retrainDebounceSeconds: integer(env, 'RETRAIN_DEBOUNCE_SECONDS', 30, 0),
    retrainMaxWaitSeconds: integer(env, 'RETRAIN_MAX_WAIT_SECONDS', 300, 0),
    itemRetentionDays: integer(env, 'ITEM_RETENTION_DAYS', 30, 1),
    batchRetentionDays: integer(env, 'BATCH_RETENTION_DAYS', 365, 1),
    logLevel: logLevel(env),
    server: { url: httpUrl(env, 'FINISHLINE_SERVER'), token: text(env, 'FINISHLINE_TOKEN') },
  };
}

export interface ScrapeConfig {
  /** Requests in flight to one host at once, across all worker processes (SCRAPE_MAX_PER_HOST). */
  maxPerHost: number;
  /** One request, from connecting to the last byte of the body (SCRAPE_TIMEOUT_MS). */
  timeoutMs: number;
  /**
   * Until the response starts: DNS, connect, TLS and the server's headers (SCRAPE_CONNECT_TIMEOUT_MS).
   * Node's built-in fetch has no separate connect timeout short of undici's own 10 s.
   */
  connectTimeoutMs: number;
  /** The largest body read, after decompression; a larger one fails the item (SCRAPE_MAX_BYTES). */
  maxBytes: number;
  /** Redirects followed per page (SCRAPE_MAX_REDIRECTS). */
  maxRedirects: number;
  /**
   * A 429 or 503 whose Retry-After is at most this long is waited out within the attempt (the
   * host's slot given back meanwhile), as is a pause of its host that another request was asked
   * for (SCRAPE_MAX_RETRY_AFTER_WAIT_MS).
   */
  maxRetryAfterWaitMs: number;
  /**
   * A longer Retry-After puts the item back until the host is ready (the attempt that got the 429
   * counts; items held back by the pause spend none), up to this long; a host asking for a longer
   * pause fails the item (SCRAPE_MAX_RETRY_AFTER_MS).
   */
  maxRetryAfterMs: number;
  /** How long an item waits for a free slot of its host before its attempt fails (SCRAPE_HOST_WAIT_MS). */
  hostWaitMs: number;
  userAgent: string;
  /** Whether URLs may name loopback, private or reserved addresses (SCRAPE_ALLOW_PRIVATE_ADDRESSES=1); refused by default. */
  allowPrivateAddresses: boolean;
}

export const DEFAULT_USER_AGENT = 'finishline-scraper/0.1 (+https://github.com/finishline/finishline)';

/**
 * The scraper's settings. Read when the first page is scraped, not when the worker starts, so
 * that a bad value fails the items that need it rather than every other kind of work. Every worker
 * should use the same SCRAPE_MAX_PER_HOST: the limit is kept in the database, but each worker says
 * what it is.
 */
export function loadScrapeConfig(env: Env = process.env): ScrapeConfig {
  return {
    maxPerHost: integer(env, 'SCRAPE_MAX_PER_HOST', 2, 1),
    timeoutMs: integer(env, 'SCRAPE_TIMEOUT_MS', 15_000, 1),
    connectTimeoutMs: integer(env, 'SCRAPE_CONNECT_TIMEOUT_MS', 5_000, 1),
    maxBytes: integer(env, 'SCRAPE_MAX_BYTES', 5 * 1024 * 1024, 1),
    maxRedirects: integer(env, 'SCRAPE_MAX_REDIRECTS', 5, 0),
    maxRetryAfterWaitMs: integer(env, 'SCRAPE_MAX_RETRY_AFTER_WAIT_MS', 5_000, 0),
    maxRetryAfterMs: integer(env, 'SCRAPE_MAX_RETRY_AFTER_MS', 600_000, 0),
    hostWaitMs: integer(env, 'SCRAPE_HOST_WAIT_MS', 30_000, 0),
    userAgent: text(env, 'SCRAPE_USER_AGENT', DEFAULT_USER_AGENT),
    allowPrivateAddresses: flag(env, 'SCRAPE_ALLOW_PRIVATE_ADDRESSES'),
  };
}
