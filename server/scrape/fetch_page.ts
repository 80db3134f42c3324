// Fetching one page politely, with Node's own fetch (undici): redirects followed by hand (only
// http and https, loops detected), every request inside a slot of its host, timeouts, a cap on the
// body read as it streams, and errors sorted into "retrying may help" and "it cannot" (the latter
// thrown as PermanentItemError, so that the item fails at once).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { PermanentItemError } from '../worker/item_task.ts';
import { blockedAddressReason } from './address_guard.ts';
import type { ScrapeConfig } from '../config.ts';
import { RetryAfterError, type HostLimiter } from './host_limiter.ts';

export type FetchOptions = Pick<
  ScrapeConfig,
  'timeoutMs' | 'connectTimeoutMs' | 'maxBytes' | 'maxRedirects' | 'maxRetryAfterWaitMs' | 'userAgent' | 'allowPrivateAddresses'
> & {
  /** What fetch connects through (address_guard.ts's scrapeDispatcher); Node's default when absent. */
  dispatcher?: Dispatcher;
  limiter: HostLimiter;
  /** The worker's shutdown signal: aborts the request in flight. */
  signal: AbortSignal;
};

export interface FetchedPage {
  url: URL;
  /** Where the page came from, after redirects. */
  finalUrl: URL;
  status: number;
  contentType: string | null;
  contentLanguage: string | null;
  body: Buffer;
  redirects: number;
  /** 429s and 503s whose Retry-After was waited out within this attempt. */
  retryAfterWaits: number;
}

/** Media types parsed as HTML. A response without a Content-Type is parsed too (and fails if it is not HTML). */
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
/** Waited out within one attempt at most this many times; then the item waits for its next attempt (RetryAfterError). */
const MAX_RETRY_AFTER_WAITS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function mediaType(contentType: string | null): string | null {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  return type ? type : null;
}

const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/** Retry-After as milliseconds from now (a day at most): delay-seconds or an HTTP date; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const date = Date.parse(trimmed);
    if (Number.isNaN(date)) return undefined;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

export async function fetchPage(url: URL, options: FetchOptions): Promise<FetchedPage> {
  const visited = new Set<string>();
  let current = url;
  let redirects = 0;
  let retryAfterWaits = 0;
  for (;;) {
    visited.add(withoutHash(current));
    const hop = await requestOnce(current, options);
    if (hop.kind === 'redirect') {
      const next = redirectTarget(current, hop.status, hop.location);
      if (visited.has(withoutHash(next))) {
        throw new PermanentItemError(`redirect loop: ${current.href} redirects back to ${withoutHash(next)}`);
      }
      if (++redirects > options.maxRedirects) {
        throw new PermanentItemError(`too many redirects (more than ${options.maxRedirects})`);
      }
      current = next;
      continue;
    }
    if (hop.kind === 'throttled') {
      const { status, statusText, retryAfterMs } = hop;
      // (Every worker leaves the host alone meanwhile: requestOnce recorded the pause.)
      if (retryAfterMs !== undefined && retryAfterMs <= options.maxRetryAfterWaitMs && retryAfterWaits < MAX_RETRY_AFTER_WAITS) {
        retryAfterWaits++;
        await sleep(retryAfterMs, undefined, { signal: options.signal }).catch(() => {
          throw new Error('interrupted by worker shutdown');
        });
        continue;
      }
      const answer = `HTTP ${status} ${statusText}`.trimEnd();
      if (retryAfterMs === undefined) throw new Error(answer);
      throw new RetryAfterError(`${answer} (Retry-After: ${Math.ceil(retryAfterMs / 1000)} s)`, new Date(Date.now() + retryAfterMs), true);
    }
    return { url, finalUrl: current, ...hop.page, redirects, retryAfterWaits };
  }
}

function withoutHash(url: URL): string {
  const copy = new URL(url);
  copy.hash = '';
  return copy.href;
}

function redirectTarget(from: URL, status: number, location: string | null): URL {
  if (!location) throw new PermanentItemError(`HTTP ${status} redirect without a Location header`);
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new PermanentItemError(`HTTP ${status} redirect to an invalid URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new PermanentItemError(`redirect to a ${next.protocol} URL: only http and https are followed`);
  }
  if (next.href.length > 2048) throw new PermanentItemError('redirect to a URL longer than 2048 characters');
  return next;
}

type Hop =
  | { kind: 'redirect'; status: number; location: string | null }
  | { kind: 'throttled'; status: number; statusText: string; retryAfterMs: number | undefined }
  | { kind: 'page'; page: Pick<FetchedPage, 'status' | 'contentType' | 'contentLanguage' | 'body'> };

/** One request, inside a slot of its host; the slot is given back before this returns. */
async function requestOnce(url: URL, options: FetchOptions): Promise<Hop> {
  // A literal address is never looked up, so the dispatcher's guard would not see it.
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const blocked = options.allowPrivateAddresses ? null : blockedAddressReason(literal);
  if (blocked) throw new PermanentItemError(`refusing to fetch ${url.href}: ${blocked} (SCRAPE_ALLOW_PRIVATE_ADDRESSES=1 allows it)`);
  const release = await options.limiter.acquire(url.host, options.signal);
  const controller = new AbortController();
  let cause: 'connect' | 'total' | 'shutdown' | undefined;
  const abort = (why: typeof cause) => () => {
    cause ??= why;
    controller.abort();
  };
  const onShutdown = abort('shutdown');
  options.signal.addEventListener('abort', onShutdown);
  if (options.signal.aborted) onShutdown();
  const totalTimer = setTimeout(abort('total'), options.timeoutMs);
  const connectTimer = setTimeout(abort('connect'), Math.min(options.connectTimeoutMs, options.timeoutMs));
  const failure = (error: unknown): Error => {
    if (cause === 'shutdown') return new Error('interrupted by worker shutdown');
    if (cause === 'connect') return new Error(`no response from ${url.host} within ${options.connectTimeoutMs} ms (connect timeout)`);
    if (cause === 'total') return new Error(`timed out after ${options.timeoutMs} ms (total timeout)`);
    return networkError(url, error);
  };
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        // (Node's fetch takes an undici dispatcher; its RequestInit type does not say so.)
        ...({ dispatcher: options.dispatcher } as RequestInit),
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'user-agent': options.userAgent,
          accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.1',
        },
      });
    } catch (error) {
      throw failure(error);
    }
    clearTimeout(connectTimer);
    const { status } = response;
    const discard = () => response.body?.cancel().catch(() => {});

    if (REDIRECT_STATUSES.has(status)) {
      await discard();
      return { kind: 'redirect', status, location: response.headers.get('location') };
    }
    if (status === 429 || status === 503) {
      await discard();
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      // Recorded while this request still holds its slot, so that no other request slips in.
      if (retryAfterMs !== undefined) await options.limiter.coolDown(url.host, retryAfterMs, `HTTP ${status}`);
      return { kind: 'throttled', status, statusText: response.statusText, retryAfterMs };
    }
    if (status >= 500) {
      await discard();
      throw new Error(`HTTP ${status} ${response.statusText}`.trimEnd());
    }
    if (status < 200 || status >= 300) {
      // 4xx other than 429 (and 3xx that are not redirects): asking again gets the same answer.
      await discard();
      throw new PermanentItemError(`HTTP ${status} ${response.statusText}`.trimEnd());
    }

    const contentType = response.headers.get('content-type');
    const type = mediaType(contentType);
    if (type !== null && !HTML_TYPES.has(type)) {
      await discard();
      throw new PermanentItemError(`not an HTML page: content type ${type}`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await discard();
      throw new PermanentItemError(`page too large: ${declared} bytes declared, the limit is ${options.maxBytes} (SCRAPE_MAX_BYTES)`);
    }
    let body: Buffer;
    try {
      body = await readCapped(response, options.maxBytes);
    } catch (error) {
      if (error instanceof PermanentItemError) throw error;
      throw failure(error);
    }
    return {
      kind: 'page',
      page: { status, contentType, contentLanguage: response.headers.get('content-language'), body },
    };
  } finally {
    clearTimeout(totalTimer);
    clearTimeout(connectTimer);
    options.signal.removeEventListener('abort', onShutdown);
    controller.abort();
    await release();
  }
}

/** Reads the body as it streams, and stops (closing the connection) as soon as it passes the cap. */
async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new PermanentItemError(`page too large: more than ${maxBytes} bytes (SCRAPE_MAX_BYTES); stopped reading`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * What a failed fetch() means. DNS: "no such host" (ENOTFOUND) is permanent, since a storefront
 * whose name does not exist will not appear within the retry schedule; a resolver that could not
 * answer (EAI_AGAIN) is transient. Certificate errors are permanent; refused or reset connections
 * are transient.
 */
export function networkError(url: URL, error: unknown): Error {
  let cause: unknown = error instanceof Error && error.cause !== undefined ? error.cause : error;
  // Several addresses tried (happy eyeballs): the first one's error speaks for them.
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  const message = cause instanceof Error ? cause.message : String(cause);
  const host = url.hostname;
  switch (code) {
    case 'EFORBIDDENADDR':
      return new PermanentItemError(`refusing to fetch ${url.href}: ${message} (SCRAPE_ALLOW_PRIVATE_ADDRESSES=1 allows it)`);
    case 'ENOTFOUND':
      return new PermanentItemError(`DNS lookup failed: no such host ${host} (ENOTFOUND)`);
    case 'EAI_AGAIN':
      return new Error(`DNS lookup failed for ${host}: temporary resolver failure (EAI_AGAIN)`);
    case 'ECONNREFUSED':
      return new Error(`connection refused by ${url.host} (ECONNREFUSED)`);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return new Error(`connection to ${url.host} closed unexpectedly (${code})`);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new Error(`could not connect to ${url.host} in time (${code})`);
    case 'CERT_HAS_EXPIRED':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new PermanentItemError(`TLS certificate of ${host} rejected (${code})`);
    default:
      return new Error(`request to ${url.host} failed: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`);
  }
}
