// The `scrape_pages` kind against real local HTTP servers: stored pages and products, each kind of
// failure with its retries (or none), Retry-After, and the per-host limit holding across two
// worker processes. Plus the parser, the error classification and the limiter on their own.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobHelpers } from 'graphile-worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PermanentItemError } from '../server/worker/item_task.ts';
import { networkError, parseRetryAfter } from '../server/scrape/fetch_page.ts';
import { blockedAddressReason, scrapeDispatcher } from '../server/scrape/address_guard.ts';
import { fetchPage } from '../server/scrape/fetch_page.ts';
import { databaseHostLimiter, HostBusyError, type HostLimiter } from '../server/scrape/host_limiter.ts';
import { decodeBody, parsePage } from '../server/scrape/parse_page.ts';
import {
  createTenant,
  startWorkerProcess,
  submitBatch,
  useTestDatabase,
  waitFor,
  waitForSummary,
  type WorkerProcess,
} from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// A storefront on 127.0.0.1, one server per "host" (the port is part of the host).

interface Site {
  origin: string;
  host: string;
  /** Requests received, by path (with query). */
  requests: Map<string, number[]>;
  inFlight: number;
  maxInFlight: number;
  /** Bytes of the 50 MB bodies written before the client hung up, by path. */
  hugeBytesSent: Map<string, number>;
  knifePrice: string;
  close(): Promise<void>;
}

const HUGE = 50 * 1024 * 1024;

function shopPage(site: Site): string {
  const ld = (value: unknown) => `<script type="application/ld+json">${JSON.stringify(value)}</script>`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>
    Knives &amp; Boards — Shop
  </title>
  <meta name="description" content="Hand-forged kitchen knives and boards.">
  <link rel="canonical" href="/shop">
  ${ld({
    '@context': 'https://schema.org',
    '@type': 'Product',
    name: 'Chef knife',
    sku: 'KN-1',
    description: 'A 20 cm chef knife.',
    category: 'kitchen/knives',
    offers: { '@type': 'Offer', price: site.knifePrice, priceCurrency: 'EUR', availability: 'https://schema.org/InStock' },
  })}
  ${ld({
    '@context': 'https://schema.org',
    '@graph': [
      { '@type': 'Organization', name: 'Knives & Boards' },
      {
        '@type': 'Product',
        name: 'Cutting board',
        productID: 'CB-2',
        category: { '@type': 'Thing', name: 'not a string, so not a category' },
        offers: { '@type': 'AggregateOffer', lowPrice: 19.5, highPrice: 25, priceCurrency: 'usd' },
      },
    ],
  })}
  ${ld([
    { '@type': ['Product'], name: 'Apron', url: '/p/apron', offers: [{ '@type': 'Offer', price: '12', priceCurrency: 'GBP' }] },
    { '@type': 'Product', name: 'Gift card (no offer: skipped)' },
  ])}
  <script type="application/ld+json">{ "@type": "Product", oops </script>
</head>
<body><svg><title>cart icon</title></svg><h1>Knives &amp; Boards</h1></body>
</html>`;
}

function startSite(): Promise<Site> {
  const site = {
    requests: new Map<string, number[]>(),
    inFlight: 0,
    maxInFlight: 0,
    hugeBytesSent: new Map<string, number>(),
    knifePrice: '49.90',
  } as Site;
  const html = (res: http.ServerResponse, body: string, status = 200) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = url.pathname + url.search;
    const seen = site.requests.get(key) ?? [];
    seen.push(Date.now());
    site.requests.set(key, seen);
    site.inFlight++;
    site.maxInFlight = Math.max(site.maxInFlight, site.inFlight);
    res.once('close', () => site.inFlight--);

    const path = url.pathname;
    if (path === '/shop') return html(res, shopPage(site));
    if (path === '/plain') return html(res, '<html><head><title>Plain</title></head><body>No products here.</body></html>');
    if (path === '/nul') {
      // A NUL in the title, past the first 8 KB (where a binary file would show one), and JSON-LD
      // strings with a NUL and with half a surrogate pair: none of which PostgreSQL stores.
      const product = { '@type': 'Product', sku: 'NUL-1', name: 'Lamp\u0000 shade', description: 'half \ud800 a pair', offers: { price: 5, priceCurrency: 'EUR' } };
      return html(res, `<!doctype html><!-- ${'.'.repeat(9000)} --><html><head><title>Nul\u0000 title</title>
        <script type="application/ld+json">${JSON.stringify(product)}</script></head></html>`);
    }
    if (path === '/old-shop') {
      res.writeHead(301, { location: `${site.origin}/shop` });
      return res.end();
    }
    if (path === '/missing') return html(res, '<h1>Not found</h1>', 404);
    if (path === '/always-500') return html(res, '<h1>Oops</h1>', 500);
    if (path === '/limited') {
      // Too many requests, the first time for each query string; then the page.
      if (seen.length === 1) {
        res.writeHead(429, { 'retry-after': url.searchParams.get('after') ?? '1' });
        return res.end();
      }
      return html(res, '<html><title>Limited</title></html>');
    }
    if (path.startsWith('/loop/')) {
      res.writeHead(302, { location: path === '/loop/a' ? '/loop/b' : '/loop/a' });
      return res.end();
    }
    if (path.startsWith('/chain/')) {
      res.writeHead(307, { location: `/chain/${Number(path.slice(7)) + 1}` });
      return res.end();
    }
    if (path === '/to-ftp') {
      res.writeHead(302, { location: 'ftp://127.0.0.1/catalog' });
      return res.end();
    }
    if (path === '/data.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"products": []}');
    }
    if (path === '/binary') {
      // Says HTML, is a PNG.
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
    }
    if (path === '/huge' || path === '/huge-declared') {
      // 50 MB of HTML, streamed as the client reads it (chunked, or with its length declared).
      res.writeHead(200, { 'content-type': 'text/html', ...(path === '/huge-declared' ? { 'content-length': String(HUGE) } : {}) });
      const chunk = Buffer.alloc(64 * 1024, '<p>filler</p>\n');
      let sent = 0;
      const pump = () => {
        while (sent < HUGE && !res.destroyed) {
          sent += chunk.length;
          site.hugeBytesSent.set(path, sent);
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      return pump();
    }
    if (path === '/slow-headers') {
      // Nothing for 5 s: longer than the connect timeout.
      const timer = setTimeout(() => html(res, '<title>too late</title>'), 5_000);
      return void res.once('close', () => clearTimeout(timer));
    }
    if (path === '/slow-body') {
      // Headers at once, then a byte every 100 ms for 10 s: longer than the total timeout.
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html><head><title>slow');
      let ticks = 0;
      const timer = setInterval(() => (++ticks > 100 ? (clearInterval(timer), res.end('</title></html>')) : res.write('.')), 100);
      return void res.once('close', () => clearInterval(timer));
    }
    if (path === '/product-page') {
      // Headers at once, the page after 150 ms: each request stays in flight a while.
      res.writeHead(200, { 'content-type': 'text/html' });
      const timer = setTimeout(() => res.end(`<html><title>Page ${url.searchParams.get('n')}</title></html>`), 150);
      return void res.once('close', () => clearTimeout(timer));
    }
    html(res, '<h1>Not found</h1>', 404);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      site.host = `127.0.0.1:${port}`;
      site.origin = `http://${site.host}`;
      site.close = () =>
        new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        });
      resolve(site);
    });
  });
}

/** A port on which nothing listens. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ---------------------------------------------------------------------------------------------

const db = useTestDatabase();
let tenant: string;
const sites: Site[] = [];

const workerEnv = {
  SCRAPE_MAX_PER_HOST: '2',
  SCRAPE_CONNECT_TIMEOUT_MS: '500',
  SCRAPE_TIMEOUT_MS: '1200',
  SCRAPE_MAX_BYTES: String(1024 * 1024),
  SCRAPE_MAX_RETRY_AFTER_WAIT_MS: '1500',
  SCRAPE_MAX_RETRY_AFTER_MS: '60000',
  // The sites below are loopback servers, which the scraper refuses unless told otherwise.
  SCRAPE_ALLOW_PRIVATE_ADDRESSES: '1',
};

async function newSite(): Promise<Site> {
  const site = await startSite();
  sites.push(site);
  return site;
}

let workers: WorkerProcess[] = [];

beforeAll(async () => {
  // Quick retries, so that items use up their 4 attempts within the test.
  await db.pool.query(`update app_public.batch_kinds set retry_delay = '100 milliseconds' where kind = 'scrape_pages'`);
  tenant = await createTenant(db);
  // Two worker processes for every test: which one runs an item does not matter, except to the
  // per-host limit, which must hold across them.
  workers = await Promise.all([startWorkerProcess(db, { env: workerEnv }), startWorkerProcess(db, { env: workerEnv })]);
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await Promise.all(sites.map((site) => site.close()));
});

interface ItemRow {
  url: string;
  status: string;
  attempts: number;
  last_error: string | null;
  result: Record<string, unknown> | null;
  seconds: number;
}

async function itemsOf(batchId: string): Promise<Map<string, ItemRow>> {
  const { rows } = await db.pool.query<ItemRow>(
    `select payload ->> 'url' as url, status, attempts, last_error, result,
            extract(epoch from finished_at - started_at)::float8 as seconds
     from app_public.batch_items where batch_id = $1 order by id`,
    [batchId],
  );
  return new Map(rows.map((row) => [row.url, row]));
}

async function summaryOf(batchId: string) {
  const { rows } = await db.pool.query('select * from app_public.run_summaries where batch_id = $1', [batchId]);
  return rows[0];
}

async function scrape(urls: string[]) {
  const batch = await submitBatch(db, tenant, 'scrape_pages', urls.map((url) => ({ url })));
  await waitForSummary(db, batch.id, 60_000);
  return { batchId: batch.id, items: await itemsOf(batch.id), summary: await summaryOf(batch.id) };
}

async function productsOf(host: string) {
  const { rows } = await db.pool.query(
    `select p.sku, p.name, p.description, p.category, p.price::text, p.currency
     from app_public.products p join app_public.sellers s on s.id = p.seller_id
     where s.tenant_id = $1 and s.domain = $2 order by p.name`,
    [tenant, host],
  );
  return rows;
}

describe('scraping', () => {
  let site: Site;
  beforeAll(async () => {
    site = await newSite();
  });

  test('a storefront page: metadata stored, JSON-LD products upserted for the seller of its host', async () => {
    const { batchId, items, summary } = await scrape([`${site.origin}/shop`, `${site.origin}/old-shop`]);

    const shop = items.get(`${site.origin}/shop`)!;
    expect(shop).toMatchObject({ status: 'succeeded', attempts: 1, last_error: null });
    expect(shop.result).toMatchObject({
      pages: 1,
      redirects: 0,
      products_found: 3,
      products_skipped: 1,
      json_ld_errors: 1,
      status_codes: { '200': 1 },
    });
    expect(items.get(`${site.origin}/old-shop`)).toMatchObject({ status: 'succeeded', attempts: 1, result: { redirects: 1 } });

    const { rows: pages } = await db.pool.query(
      `select p.url, p.final_url, p.http_status, p.content_type, p.title, p.meta_description, p.canonical_url, p.language,
              p.products_found, s.name as seller_name, s.domain as seller_domain, i.batch_id
       from app_public.scraped_pages p
       join app_public.sellers s on s.id = p.seller_id
       join app_public.batch_items i on i.id = p.batch_item_id
       where p.tenant_id = $1 order by p.url`,
      [tenant],
    );
    const stored = {
      http_status: 200,
      content_type: 'text/html; charset=utf-8',
      title: 'Knives & Boards — Shop',
      meta_description: 'Hand-forged kitchen knives and boards.',
      canonical_url: `${site.origin}/shop`,
      language: 'en',
      products_found: 3,
      seller_name: site.host,
      seller_domain: site.host,
      batch_id: batchId,
    };
    expect(pages).toEqual([
      { url: `${site.origin}/old-shop`, final_url: `${site.origin}/shop`, ...stored },
      { url: `${site.origin}/shop`, final_url: `${site.origin}/shop`, ...stored },
    ]);

    const products = await productsOf(site.host);
    expect(products).toEqual([
      { sku: expect.stringMatching(/^sha256:[0-9a-f]{32}$/), name: 'Apron', description: '', category: '', price: '12.00', currency: 'GBP' },
      { sku: 'KN-1', name: 'Chef knife', description: 'A 20 cm chef knife.', category: 'kitchen/knives', price: '49.90', currency: 'EUR' },
      { sku: 'CB-2', name: 'Cutting board', description: '', category: '', price: '19.50', currency: 'USD' },
    ]);

    // Both pages list the same three products: one item inserted them, the other found them.
    expect(summary).toMatchObject({ status: 'completed', succeeded_items: 2, failed_items: 0, errors: [] });
    expect(summary.stats).toMatchObject({
      pages: 2,
      redirects: 1,
      products_found: 6,
      products_inserted: 3,
      products_unchanged: 3,
      products_updated: 0,
      products_skipped: 2,
      json_ld_errors: 2,
      status_codes: { '200': 2 },
    });
  });

  test('scraping again updates the page and changes only the products that changed', async () => {
    const again = await scrape([`${site.origin}/shop`]);
    expect(again.summary.stats).toMatchObject({ pages: 1, products_found: 3, products_inserted: 0, products_updated: 0, products_unchanged: 3 });

    site.knifePrice = '54.00';
    const changed = await scrape([`${site.origin}/shop`]);
    expect(changed.summary.stats).toMatchObject({ pages: 1, products_found: 3, products_inserted: 0, products_updated: 1, products_unchanged: 2 });

    expect(await productsOf(site.host)).toHaveLength(3);
    expect((await productsOf(site.host)).find((p) => p.sku === 'KN-1')).toMatchObject({ price: '54.00' });
    const { rows } = await db.pool.query(
      `select count(*)::int as pages, count(*) filter (where i.batch_id = $2)::int as by_last_batch
       from app_public.scraped_pages p join app_public.batch_items i on i.id = p.batch_item_id
       where p.tenant_id = $1 and p.url = $3`,
      [tenant, changed.batchId, `${site.origin}/shop`],
    );
    expect(rows[0]).toEqual({ pages: 1, by_last_batch: 1 });
    const { rows: sellers } = await db.pool.query('select count(*)::int as n from app_public.sellers where tenant_id = $1', [tenant]);
    expect(sellers[0].n).toBe(1);
  });

  test('NULs and unpaired surrogates in a page are left out of what is stored, at the first attempt', async () => {
    const shop = await newSite();
    const { items } = await scrape([`${shop.origin}/nul`]);
    expect(items.get(`${shop.origin}/nul`)).toMatchObject({ status: 'succeeded', attempts: 1, last_error: null });
    const { rows } = await db.pool.query('select title from app_public.scraped_pages where tenant_id = $1 and url = $2', [tenant, `${shop.origin}/nul`]);
    expect(rows).toEqual([{ title: 'Nul title' }]);
    expect(await productsOf(shop.host)).toEqual([
      { sku: 'NUL-1', name: 'Lamp shade', description: 'half \ufffd a pair', category: '', price: '5.00', currency: 'EUR' },
    ]);
  });

  test('a 429 with Retry-After: 1 is waited out, then the page is fetched, within one attempt', async () => {
    const { items, summary } = await scrape([`${site.origin}/limited?after=1`]);
    expect(items.get(`${site.origin}/limited?after=1`)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      result: { pages: 1, retry_after_waits: 1 },
    });
    const [first, second] = site.requests.get('/limited?after=1')!;
    expect(second - first).toBeGreaterThanOrEqual(950);
    expect(summary.stats).toMatchObject({ pages: 1, retry_after_waits: 1, status_codes: { '200': 1 } });
  });

  test('a 429 with a Retry-After longer than an attempt waits: retried when it ends; pages held back meanwhile spend no attempt', async () => {
    const shop = await newSite();
    const limited = await submitBatch(db, tenant, 'scrape_pages', [{ url: `${shop.origin}/limited?after=3` }]);
    // The first attempt got the 429 and put the item back until the host is ready again.
    await waitFor(async () => {
      const { rows } = await db.pool.query(`select status, attempts, last_error from app_public.batch_items where batch_id = $1`, [limited.id]);
      return rows[0].status === 'pending' && rows[0].attempts === 1 && rows[0].last_error === 'HTTP 429 Too Many Requests (Retry-After: 3 s)';
    }, { what: 'the 429 to put the item back' });
    // Another page of the host, asked for during its pause.
    const heldBack = await submitBatch(db, tenant, 'scrape_pages', [{ url: `${shop.origin}/plain` }]);

    await waitForSummary(db, limited.id);
    await waitForSummary(db, heldBack.id);
    expect((await itemsOf(limited.id)).get(`${shop.origin}/limited?after=3`)).toMatchObject({ status: 'succeeded', attempts: 2, last_error: null });
    expect((await itemsOf(heldBack.id)).get(`${shop.origin}/plain`)).toMatchObject({ status: 'succeeded', attempts: 1, last_error: null });
    const [first, second] = shop.requests.get('/limited?after=3')!;
    expect(second - first).toBeGreaterThanOrEqual(3000);
    expect(shop.requests.get('/plain')).toHaveLength(1);
    expect(shop.requests.get('/plain')![0] - first).toBeGreaterThanOrEqual(3000);
  });

  test('failures: permanent ones at once, transient ones after every attempt, each with a clear error', async () => {
    const refused = `http://127.0.0.1:${await closedPort()}/`;
    // Another host, which answers 429 with a Retry-After longer than SCRAPE_MAX_RETRY_AFTER_MS,
    // and a third for the slow pages, which would hold the main host's two slots a while.
    const [other, slow] = [await newSite(), await newSite()];
    const urls = {
      longRetryAfter: `${other.origin}/limited?after=120`,
      notFound: `${site.origin}/missing`,
      serverError: `${site.origin}/always-500`,
      loop: `${site.origin}/loop/a`,
      tooManyRedirects: `${site.origin}/chain/0`,
      ftp: `${site.origin}/to-ftp`,
      json: `${site.origin}/data.json`,
      binary: `${site.origin}/binary`,
      huge: `${site.origin}/huge`,
      hugeDeclared: `${site.origin}/huge-declared`,
      slowHeaders: `${slow.origin}/slow-headers`,
      slowBody: `${slow.origin}/slow-body`,
      refused,
      fine: `${site.origin}/plain`,
    };
    const batch = await submitBatch(db, tenant, 'scrape_pages', [
      ...Object.values(urls).map((url) => ({ url })),
      { url: 'ftp://127.0.0.1/catalog' },
      { url: 'not a url' },
      { url: 'http://shop:s3cret@127.0.0.1/catalog' },
    ]);
    await waitForSummary(db, batch.id, 60_000);
    const items = await itemsOf(batch.id);
    const expected: Array<[string, number, string | RegExp]> = [
      [urls.longRetryAfter, 1, 'HTTP 429 Too Many Requests (Retry-After: 120 s): a longer pause than the 60 s an item waits for its host (SCRAPE_MAX_RETRY_AFTER_MS)'],
      [urls.notFound, 1, 'HTTP 404 Not Found'],
      [urls.serverError, 4, 'HTTP 500 Internal Server Error'],
      [urls.loop, 1, `redirect loop: ${site.origin}/loop/b redirects back to ${site.origin}/loop/a`],
      [urls.tooManyRedirects, 1, 'too many redirects (more than 5)'],
      [urls.ftp, 1, 'redirect to a ftp: URL: only http and https are followed'],
      [urls.json, 1, 'not an HTML page: content type application/json'],
      [urls.binary, 1, 'not an HTML document: binary content'],
      [urls.huge, 1, 'page too large: more than 1048576 bytes (SCRAPE_MAX_BYTES); stopped reading'],
      [urls.hugeDeclared, 1, `page too large: ${HUGE} bytes declared, the limit is 1048576 (SCRAPE_MAX_BYTES)`],
      [urls.slowHeaders, 4, `no response from ${slow.host} within 500 ms (connect timeout)`],
      [urls.slowBody, 4, 'timed out after 1200 ms (total timeout)'],
      [refused, 4, /^connection refused by 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/],
      ['ftp://127.0.0.1/catalog', 1, 'invalid payload: url must be http or https, not ftp:'],
      ['not a url', 1, 'invalid payload: url is not a valid URL: not a url'],
      // Neither sent nor repeated: the error is shown to every reader of the batch.
      ['http://shop:s3cret@127.0.0.1/catalog', 1, 'invalid payload: url must not carry a user name or password'],
    ];
    for (const [url, attempts, error] of expected) {
      const item = items.get(url)!;
      expect({ url, status: item.status, attempts: item.attempts }).toEqual({ url, status: 'failed', attempts });
      if (typeof error === 'string') expect(item.last_error).toBe(error);
      else expect(item.last_error).toMatch(error);
    }
    expect(items.get(urls.fine)).toMatchObject({ status: 'succeeded', attempts: 1 });

    // Retried exactly as often as attempted; never more requests than attempts.
    expect(other.requests.get('/limited?after=120')).toHaveLength(1);
    expect(site.requests.get('/always-500')).toHaveLength(4);
    expect(site.requests.get('/missing')).toHaveLength(1);
    expect(site.requests.get('/chain/5')).toHaveLength(1);
    expect(site.requests.get('/chain/6')).toBeUndefined();
    // The 50 MB body: the item gave up after about a megabyte, quickly, and hung up.
    expect(items.get(urls.huge)!.seconds).toBeLessThan(3);
    expect(site.hugeBytesSent.get('/huge')).toBeLessThan(16 * 1024 * 1024);
    expect(site.hugeBytesSent.get('/huge-declared')).toBeLessThan(16 * 1024 * 1024);

    const summary = await summaryOf(batch.id);
    expect(summary).toMatchObject({ status: 'completed_with_errors', total_items: 17, succeeded_items: 1, failed_items: 16 });
    expect(summary.stats).toMatchObject({ pages: 1, products_found: 0, status_codes: { '200': 1 } });
    expect(summary.errors).toHaveLength(16);
    expect(summary.errors).toContainEqual({ message: 'HTTP 404 Not Found', count: 1 });
    expect(summary.errors).toContainEqual({ message: 'timed out after 1200 ms (total timeout)', count: 1 });
  });
});

describe('the per-host limit', () => {
  test('never more than SCRAPE_MAX_PER_HOST requests at a time to one host, across two worker processes', async () => {
    const site = await newSite();
    // Batches one after another, one job each: a worker fetches jobs until all its 4 slots are
    // busy; then it ignores new jobs, and the other worker takes them. So six batches cannot all
    // go to one process.
    const batches: Array<{ id: string }> = [];
    for (let b = 0; b < 6; b++) {
      const urls = Array.from({ length: 4 }, (_, i) => ({ url: `${site.origin}/product-page?n=${b * 4 + i}` }));
      batches.push(await submitBatch(db, tenant, 'scrape_pages', urls));
    }
    // Watch how many processes hold items at the same moment, until all are done.
    let busiestMoment = 0;
    await waitFor(
      async () => {
        const { rows } = await db.pool.query<{ workers: number; unfinished: number }>(
          `select count(distinct locked_by)::int as workers, count(*) filter (where finished_at is null)::int as unfinished
           from app_public.batch_items where batch_id = any($1)`,
          [batches.map((batch) => batch.id)],
        );
        busiestMoment = Math.max(busiestMoment, rows[0].workers);
        return rows[0].unfinished === 0;
      },
      { intervalMs: 20, timeoutMs: 30_000, what: 'the pages to be scraped' },
    );
    for (const batch of batches) {
      expect(await waitForSummary(db, batch.id)).toMatchObject({ status: 'completed', succeeded_items: 4 });
    }
    expect(busiestMoment).toBe(2);
    expect(site.requests.size).toBe(24);
    // Held, and reached: the limit is what stopped more requests, not a lack of them.
    expect(site.maxInFlight).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------

describe('parsePage', () => {
  const page = new URL('https://shop.example.com/catalog/index.html');

  test('reads title, description, canonical URL and language, resolving URLs against <base>', () => {
    const parsed = parsePage(
      `<html xml:lang="de"><head><base href="https://cdn.example.com/de/">
       <meta http-equiv="Content-Language" content="fr, en"><title>Tom &amp; Jerry's</title>
       <META NAME="description" CONTENT="  Two
       lines ">
       <link rel="alternate canonical" href="katalog"></head></html>`,
      page,
    );
    expect(parsed).toMatchObject({
      title: "Tom & Jerry's",
      metaDescription: 'Two lines',
      canonicalUrl: 'https://cdn.example.com/de/katalog',
      language: 'de',
      products: [],
    });
  });

  test('falls back to the Content-Language header, and leaves out what the page does not have', () => {
    expect(parsePage('<p>Hello', page, 'nl-BE, en')).toMatchObject({
      title: null,
      metaDescription: null,
      canonicalUrl: null,
      language: 'nl-BE',
    });
  });

  test('finds products in ItemLists and ProductGroups, with prices from priceSpecification', () => {
    const ld = {
      '@context': 'https://schema.org',
      '@type': 'ItemList',
      itemListElement: [
        {
          '@type': 'ListItem',
          item: {
            '@type': 'ProductGroup',
            name: 'T-shirt',
            hasVariant: [
              { '@type': 'Product', sku: 'TS-S', name: 'T-shirt S', offers: { price: 15, priceCurrency: 'EUR' } },
              { '@type': 'schema:Product', sku: 'TS-M', name: 'T-shirt M', offers: { priceSpecification: { price: '15.5', priceCurrency: 'EUR' } } },
            ],
          },
        },
        { '@type': 'ListItem', item: { '@type': 'Product', sku: 1234, name: 'Mug', offers: { price: 'free', priceCurrency: 'EUR' } } },
      ],
    };
    const parsed = parsePage(`<script type="application/ld+json">${JSON.stringify(ld)}</script>`, page);
    expect(parsed.products).toEqual([
      { sku: 'TS-S', url: null, name: 'T-shirt S', description: null, category: null, price: '15.00', currency: 'EUR' },
      { sku: 'TS-M', url: null, name: 'T-shirt M', description: null, category: null, price: '15.5', currency: 'EUR' },
    ]);
    expect(parsed.productsSkipped).toBe(1);
  });

  test('refuses what is not HTML at all', () => {
    expect(() => parsePage('just some words', page)).toThrow(new PermanentItemError('not an HTML document: no HTML elements found'));
    expect(() => parsePage('', page)).toThrow(PermanentItemError);
  });

  test('decodes the charset the response or the page names', () => {
    const latin1 = Buffer.from('<title>Caf\u00e9</title>', 'latin1');
    expect(decodeBody(latin1, 'text/html; charset=ISO-8859-1')).toBe('<title>Café</title>');
    expect(decodeBody(Buffer.concat([Buffer.from('<meta charset="windows-1252">'), latin1]), 'text/html')).toContain('Café');
    expect(decodeBody(Buffer.from('<title>Café</title>'), null)).toBe('<title>Café</title>');
  });
});

describe('errors and Retry-After', () => {
  const url = new URL('https://shop.invalid/');
  const fetchFailed = (code: string) =>
    new TypeError('fetch failed', { cause: Object.assign(new Error(`getaddrinfo ${code} shop.invalid`), { code }) });

  test('a host that does not exist fails the item at once; a resolver that did not answer is retried', () => {
    const missing = networkError(url, fetchFailed('ENOTFOUND'));
    expect(missing).toBeInstanceOf(PermanentItemError);
    expect(missing.message).toBe('DNS lookup failed: no such host shop.invalid (ENOTFOUND)');
    const flaky = networkError(url, fetchFailed('EAI_AGAIN'));
    expect(flaky).not.toBeInstanceOf(PermanentItemError);
    expect(flaky.message).toBe('DNS lookup failed for shop.invalid: temporary resolver failure (EAI_AGAIN)');
    expect(networkError(url, fetchFailed('CERT_HAS_EXPIRED'))).toBeInstanceOf(PermanentItemError);
  });

  test('Retry-After in seconds or as a date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('the host limiter', () => {
  const limiter = (holder: string, hostWaitMs = 2_000) =>
    databaseHostLimiter({
      query: ((text: string, values?: unknown[]) => db.pool.query(text, values)) as JobHelpers['query'],
      logger: { warn: () => {} },
      holder,
      maxPerHost: 2,
      leaseMs: 60_000,
      hostWaitMs,
      maxCooldownWaitMs: 1_000,
    });
  const signal = new AbortController().signal;

  test('hands out N slots of a host, and the next one when a slot is given back', async () => {
    const [a, b] = [limiter('a'), limiter('b', 200)];
    const first = await a.acquire('limited.test', signal);
    await b.acquire('limited.test', signal);
    // Another host is not affected.
    const elsewhere = await b.acquire('other.test', signal);
    await elsewhere();
    await expect(b.acquire('limited.test', signal)).rejects.toThrow(
      new HostBusyError('no free slot for limited.test within 200 ms (at most 2 requests at a time)'),
    );
    const third = a.acquire('limited.test', signal);
    await sleep(100);
    await first();
    await expect(third).resolves.toBeTypeOf('function');
  });

  test('a lease whose holder died lapses', async () => {
    const short = databaseHostLimiter({
      query: ((text: string, values?: unknown[]) => db.pool.query(text, values)) as JobHelpers['query'],
      logger: { warn: () => {} },
      holder: 'dies',
      maxPerHost: 1,
      leaseMs: 200,
      hostWaitMs: 2_000,
      maxCooldownWaitMs: 0,
    });
    await short.acquire('crashy.test', signal); // never released
    const started = Date.now();
    await short.acquire('crashy.test', signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  test('a cooldown holds back every worker until it ends', async () => {
    const l = limiter('c');
    await l.coolDown('cool.test', 300, 'HTTP 429');
    const started = Date.now();
    const release = await l.acquire('cool.test', signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await release();
    await l.coolDown('cool.test', 5_000, 'HTTP 503');
    await expect(l.acquire('cool.test', signal)).rejects.toThrow(/^cool\.test asked for no requests before \S+Z \(Retry-After\)$/);
  });
});

describe('private addresses', () => {
  test('loopback, private, link-local and mapped addresses are refused; public ones are not', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1']) {
      expect(blockedAddressReason(address), address).toMatch(/loopback, private or reserved/);
    }
    for (const address of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '8.8.8.8']) expect(blockedAddressReason(address), address).toBeNull();
  });

  test('IPv6 addresses that carry a blocked IPv4 address are refused, in every form; those carrying a public one are not', () => {
    const refused = {
      '::ffff:7f00:1': '127.0.0.1, IPv4-mapped, as URLs write it',
      '::7f00:1': '127.0.0.1, IPv4-compatible (deprecated: all refused)',
      '::127.0.0.1': 'the same, dotted',
      '::ffff:0:7f00:1': '127.0.0.1, IPv4-translated (all refused)',
      '64:ff9b::a9fe:a9fe': '169.254.169.254 through NAT64',
      '64:ff9b::10.0.0.1': '10.0.0.1 through NAT64, dotted',
      '64:ff9b:1::a00:1': 'local-use NAT64 (all refused)',
      '2002:7f00:1::1': '127.0.0.1 through 6to4',
      '2002:c0a8:101::': '192.168.1.1 through 6to4',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2': 'Teredo (all refused)',
      'fec0::1': 'site-local (deprecated)',
    };
    for (const [address, what] of Object.entries(refused)) expect(blockedAddressReason(address), what).toMatch(/loopback, private or reserved/);
    for (const address of ['::ffff:808:808', '64:ff9b::808:808', '2002:808:808::1', '2001:4860:4860::8888']) expect(blockedAddressReason(address), address).toBeNull();
  });

  test('without SCRAPE_ALLOW_PRIVATE_ADDRESSES, a URL naming or resolving to one fails for good and never reaches it', async () => {
    const site = await newSite();
    const hits = () => [...site.requests.values()].reduce((n, times) => n + times.length, 0);
    const hitsBefore = hits();
    const unlimited: HostLimiter = { acquire: async () => async () => {}, coolDown: async () => {} };
    const options = {
      timeoutMs: 2_000, connectTimeoutMs: 1_000, maxBytes: 1024 * 1024, maxRedirects: 3, maxRetryAfterWaitMs: 0,
      userAgent: 'test', allowPrivateAddresses: false, limiter: unlimited, signal: new AbortController().signal,
      dispatcher: await scrapeDispatcher({ allowPrivateAddresses: false, connectTimeoutMs: 1_000 }),
    };
    const port = new URL(site.origin).port;
    for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`, `http://[::1]:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://[::7f00:1]:${port}/`, `http://[::ffff:0:127.0.0.1]:${port}/`]) {
      const error = await fetchPage(new URL(url), options).then(() => null, (caught: Error) => caught);
      expect(error?.constructor.name, url).toBe('PermanentItemError');
      expect(error?.message, url).toMatch(/refusing to fetch .*loopback, private or reserved address .*SCRAPE_ALLOW_PRIVATE_ADDRESSES=1/);
    }
    expect(hits()).toBe(hitsBefore);
  });
});
