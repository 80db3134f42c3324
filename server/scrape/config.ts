// The scraper's settings, from the worker's environment. Every worker process should use the same
// SCRAPE_MAX_PER_HOST: the limit is enforced in the database, but each worker says what N is.

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

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, not "${raw}"`);
  return value;
}

export function loadScrapeConfig(env: NodeJS.ProcessEnv = process.env): ScrapeConfig {
  return {
    maxPerHost: integer(env, 'SCRAPE_MAX_PER_HOST', 2, 1),
    timeoutMs: integer(env, 'SCRAPE_TIMEOUT_MS', 15_000, 1),
    connectTimeoutMs: integer(env, 'SCRAPE_CONNECT_TIMEOUT_MS', 5_000, 1),
    maxBytes: integer(env, 'SCRAPE_MAX_BYTES', 5 * 1024 * 1024, 1),
    maxRedirects: integer(env, 'SCRAPE_MAX_REDIRECTS', 5, 0),
    maxRetryAfterWaitMs: integer(env, 'SCRAPE_MAX_RETRY_AFTER_WAIT_MS', 5_000, 0),
    maxRetryAfterMs: integer(env, 'SCRAPE_MAX_RETRY_AFTER_MS', 600_000, 0),
    hostWaitMs: integer(env, 'SCRAPE_HOST_WAIT_MS', 30_000, 0),
    userAgent: env.SCRAPE_USER_AGENT || DEFAULT_USER_AGENT,
    allowPrivateAddresses: env.SCRAPE_ALLOW_PRIVATE_ADDRESSES === '1',
  };
}
