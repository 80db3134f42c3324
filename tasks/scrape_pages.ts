// Kind `scrape_pages`: one item fetches one seller storefront page, `{"url": "https://..."}`,
// stores its metadata in scraped_pages and upserts the products it lists in JSON-LD, for the
// seller whose domain is the page's host (app_private.record_scraped_page, one call per page).
//
// Politeness: at most SCRAPE_MAX_PER_HOST requests in flight to one host across all workers
// (slots leased in the database), a Retry-After from a 429 or 503 honoured by every worker, and a
// clear User-Agent. Failures: 4xx, non-HTML, oversized pages, redirect loops and unknown hosts
// fail the item at once; timeouts, 5xx and busy hosts are retried with the kind's backoff; a host
// that asked for a pause (Retry-After) is tried again when the pause ends.
import type { Agent } from 'undici';
import { scrapeDispatcher } from '../server/scrape/address_guard.ts';
import { loadScrapeConfig, type ScrapeConfig } from '../server/config.ts';
import { fetchPage, type FetchedPage } from '../server/scrape/fetch_page.ts';
import { databaseHostLimiter, RetryAfterError } from '../server/scrape/host_limiter.ts';
import { decodeBody, parsePage } from '../server/scrape/parse_page.ts';
import { itemTask, PermanentItemError, storable, type ChunkPayload } from '../server/worker/item_task.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      scrape_pages: ChunkPayload;
    }
  }
}

interface ScrapePayload {
  url: URL;
}

interface RecordedCounts {
  products_found: number;
  products_inserted: number;
  products_updated: number;
  products_unchanged: number;
}

// Read on first use, so that a bad setting fails the items that need it, not the worker's start.
let config: ScrapeConfig | undefined;
let dispatcher: Promise<Agent> | undefined;

export const scrape_pages = itemTask<ScrapePayload>({
  // Items of a chunk fetch at once; the per-host limit keeps them from crowding one host.
  concurrency: 10,
  parse(payload) {
    const { url } = payload as { url?: unknown };
    if (typeof url !== 'string' || url.length > 2048) throw new Error('url must be a string of at most 2048 characters');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`url is not a valid URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`url must be http or https, not ${parsed.protocol}`);
    // Not repeated in the error: every reader of the batch sees its items' errors.
    if (parsed.username || parsed.password) throw new Error('url must not carry a user name or password');
    return { url: parsed };
  },
  async run({ url }, { itemId, signal, helpers }) {
    config ??= loadScrapeConfig();
    dispatcher ??= scrapeDispatcher(config);
    const agent = await dispatcher;
    const limiter = databaseHostLimiter({
      query: helpers.query,
      logger: helpers.logger,
      holder: `${helpers.job.locked_by}:${itemId}`,
      maxPerHost: config.maxPerHost,
      // A request never holds its slot longer than its total timeout; the margin covers the
      // round trips around it. A worker that dies holding one frees it after this.
      leaseMs: config.timeoutMs + 5_000,
      hostWaitMs: config.hostWaitMs,
      maxCooldownWaitMs: config.maxRetryAfterWaitMs,
    });
    let page: FetchedPage;
    try {
      page = await fetchPage(url, { ...config, dispatcher: agent, limiter, signal });
    } catch (error) {
      // A host's pause within the ceiling: the item runner puts the item back until it ends.
      if (error instanceof RetryAfterError && error.runAfter.getTime() - Date.now() > config.maxRetryAfterMs) {
        throw new PermanentItemError(`${error.message}: a longer pause than the ${config.maxRetryAfterMs / 1000} s an item waits for its host (SCRAPE_MAX_RETRY_AFTER_MS)`);
      }
      throw error;
    }
    const parsed = parsePage(decodeBody(page.body, page.contentType), page.finalUrl, page.contentLanguage);
    const { rows } = await helpers.query<{ counts: RecordedCounts }>(
      'select app_private.record_scraped_page($1, $2::jsonb, $3::jsonb) as counts',
      [
        itemId,
        storableJson({
          // The URL as submitted (its key in scraped_pages), normalised only as URL parsing does.
          url: url.href,
          final_url: page.finalUrl.href,
          host: page.finalUrl.host,
          http_status: page.status,
          content_type: page.contentType,
          title: parsed.title,
          meta_description: parsed.metaDescription,
          canonical_url: parsed.canonicalUrl,
          language: parsed.language,
        }),
        storableJson(parsed.products),
      ],
    );
    const counts = rows[0].counts;
    // Every number here is summed into the run summary's stats; the status goes in an object,
    // which is summed key by key (pages per status).
    return {
      pages: 1,
      bytes: page.body.length,
      redirects: page.redirects,
      retry_after_waits: page.retryAfterWaits,
      products_found: counts.products_found,
      products_inserted: counts.products_inserted,
      products_updated: counts.products_updated,
      products_unchanged: counts.products_unchanged,
      products_skipped: parsed.productsSkipped,
      json_ld_errors: parsed.jsonLdErrors,
      status_codes: { [String(page.status)]: 1 },
    };
  },
});

/** JSON that PostgreSQL's jsonb takes: a page's NULs are left out, half surrogate pairs replaced. */
function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'string' ? storable(field.replaceAll('\0', '')) : field));
}

export default scrape_pages;
