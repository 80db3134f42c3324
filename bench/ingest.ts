// bench:ingest: rows/s importing a 1,000,000-row CSV catalog through the import_catalog batch
// kind, next to COPY of the same file into a plain table in the same database (the baseline) and
// into a table shaped like products (the floor for an import), the worker's peak memory, and
// pages/s scraping 2,000 pages served on loopback.
//
//   npm run bench:ingest                                 # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:ingest
//   BENCH_ROWS=100000 npm run bench:ingest               # a quick run
//
// With DATABASE_URL the benchmark creates finishline_benchingest_<pid> on that server and drops it
// at the end. The last line printed is one JSON object with every figure.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { csvRows } from '../server/catalog/import_file.ts';
import { validateRow } from '../server/catalog/rows.ts';
import { uploadCatalogFile } from '../server/catalog/upload.ts';
import { uuidV7 } from '../server/uuid.ts';
import { startFinishline, waitFor } from '../test/processes.ts';
import { keepOutput, openBenchDatabase, peakRssMb, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, stillRunning, within, workerRegistered } from './support.ts';

const ROWS = positiveIntegerFromEnv('BENCH_ROWS', 1_000_000);
const PAGES = positiveIntegerFromEnv('BENCH_PAGES', 2000);
const HOSTS = 20;
const TARGET_SHARE_OF_COPY = 0.25;
const TARGET_RSS_MB = 300;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The catalog; `withIds` puts first on each row the id an import would give it (for the products-shaped COPY). */
function writeCatalog(file: string, rows: number, { withIds = false } = {}): void {
  const fd = fs.openSync(file, 'w');
  let buffer = `${withIds ? 'id,' : ''}seller,sku,name,description,category,price,currency,stock\n`;
  for (let i = 0; i < rows; i++) {
    if (withIds) buffer += `${uuidV7()},`;
    buffer += `Bench Shop,SKU-${i},"Product ${i}, model ${i % 97}","A ""fine"" thing number ${i}",cat/${i % 200},${(i % 5000) + 0.99},EUR,${i % 50}\n`;
    if (buffer.length > 1 << 20) {
      fs.writeSync(fd, buffer);
      buffer = '';
    }
  }
  fs.writeSync(fd, buffer);
  fs.closeSync(fd);
}

/** A storefront server on a free loopback port: every /product/N is a page with one JSON-LD product. */
async function startPageServer(): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    const n = Number(/\/product\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const product = { '@context': 'https://schema.org', '@type': 'Product', sku: `P-${n}`, name: `Product ${n}`,
      description: `A fine thing, number ${n}`, category: `cat/${n % 20}`, offers: { '@type': 'Offer', price: (n % 500) + 0.5, priceCurrency: 'EUR' } };
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><title>Product ${n}</title><meta name="description" content="Page ${n}">` +
      `<link rel="canonical" href="/product/${n}"><script type="application/ld+json">${JSON.stringify(product)}</script></head>` +
      `<body>${'<p>Lorem ipsum dolor sit amet.</p>'.repeat(50)}</body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

async function main(): Promise<Record<string, unknown>> {
  const bench = await openBenchDatabase('ingest');
  const { dir, client, url: dbUrl, serverVersion: server_version } = bench;
  const file = path.join(dir, 'catalog.csv');
  writeCatalog(file, ROWS);
  const sizeMb = fs.statSync(file).size / 1024 / 1024;
  say(`catalog: ${ROWS} rows, ${sizeMb.toFixed(1)} MB; PostgreSQL ${server_version}`);

  // Baseline: COPY of the same file into a plain table (no validation, no upsert, no index).
  await client.query(`create table bench_copy (seller text, sku text, name text, description text, category text,
    price numeric(12, 2), currency text, stock integer)`);
  let started = performance.now();
  await within('COPY', pipeline(fs.createReadStream(file), client.query(copyFrom('copy bench_copy from stdin with (format csv, header)'))));
  const copySeconds = (performance.now() - started) / 1000;
  const copyRowsPerS = ROWS / copySeconds;
  say(`COPY baseline:        ${copyRowsPerS.toFixed(0)} rows/s (${copySeconds.toFixed(2)} s)`);
  await client.query('drop table bench_copy');

  // The importer's own work in Node, without a database: parsing (csv-parse) and validating.
  // No import can be faster than this; it is measured here to show that ceiling next to COPY.
  started = performance.now();
  let parsed = 0;
  for await (const item of csvRows(fs.createReadStream(file), 'catalog.csv')) {
    if ('raw' in item && !('rejection' in validateRow(item.raw, item.line))) parsed++;
  }
  const parseSeconds = (performance.now() - started) / 1000;
  if (parsed !== ROWS) throw new Error(`parsing found ${parsed} valid rows, not ${ROWS}`);
  const parseRowsPerS = ROWS / parseSeconds;
  say(`parse + validate only: ${parseRowsPerS.toFixed(0)} rows/s (${parseSeconds.toFixed(2)} s, ${(parseRowsPerS / copyRowsPerS).toFixed(2)} of COPY: the ceiling for any import)`);

  const { rows: [tenant] } = await client.query<{ id: string }>(`insert into app_public.tenants (name) values ('bench') returning id`);

  // Second reference: COPY of the same rows, each with the id an import gives it, into a table
  // shaped like products (its defaults, checks, indexes and foreign key to sellers), for a
  // seller of its own. An import writes into such a table, so this is the floor for any of them;
  // it shows how much of the gap to the plain COPY is the table's own integrity and how much the
  // importer's.
  const fileWithIds = path.join(dir, 'catalog-with-ids.csv');
  writeCatalog(fileWithIds, ROWS, { withIds: true });
  const { rows: [shapeSeller] } = await client.query<{ id: string }>(
    `insert into app_public.sellers (tenant_id, name) values ($1, 'COPY reference') returning id`, [tenant.id]);
  await client.query(`create table bench_products_shape (like app_public.products including defaults including constraints including indexes, seller text)`);
  await client.query(`alter table bench_products_shape add foreign key (seller_id, tenant_id) references app_public.sellers (id, tenant_id),
    alter seller_id set default '${shapeSeller.id}', alter tenant_id set default '${tenant.id}'`);
  started = performance.now();
  await within('COPY into a products-shaped table', pipeline(fs.createReadStream(fileWithIds), client.query(copyFrom(
    'copy bench_products_shape (id, seller, sku, name, description, category, price, currency, stock) from stdin with (format csv, header)'))));
  const shapeSeconds = (performance.now() - started) / 1000;
  const shapeRowsPerS = ROWS / shapeSeconds;
  say(`COPY, products-shaped: ${shapeRowsPerS.toFixed(0)} rows/s (${shapeSeconds.toFixed(2)} s, ${(shapeRowsPerS / copyRowsPerS).toFixed(2)} of COPY: the floor for any import into products)`);
  await client.query('drop table bench_products_shape');
  fs.rmSync(fileWithIds);

  // finishline: upload (streamed), then one import_catalog item, run by a worker process.
  started = performance.now();
  const uploaded = await within('upload', uploadCatalogFile(client, tenant.id, file));
  const uploadSeconds = (performance.now() - started) / 1000;
  say(`upload (streamed):    ${(sizeMb / uploadSeconds).toFixed(1)} MB/s (${uploadSeconds.toFixed(2)} s)`);

  // (SCRAPE_ALLOW_PRIVATE_ADDRESSES: the pages scraped below are served on loopback. LOG_LEVEL
  // info: the worker says it started at info, and logs nothing per job there.)
  const worker = await startFinishline('worker', { DATABASE_URL: dbUrl, WORKER_CONCURRENCY: '2', LOG_LEVEL: 'info', SCRAPE_ALLOW_PRIVATE_ADDRESSES: '1' }, {
    ready: workerRegistered(client),
  });
  keepOutput('finishline worker', worker);
  /** Submits a batch as the tenant would: as app_user, with its claims. */
  const submitAsTenant = async (kind: string, items: object[]) => {
    await client.query('begin');
    try {
      await client.query('set local role app_user');
      await client.query(`select set_config('jwt.claims.tenant_id', $1, true)`, [tenant.id]);
      const { rows: [batch] } = await client.query<{ id: string }>('select id from app_public.submit_batch($1, $2::jsonb)', [kind, JSON.stringify(items)]);
      await client.query('commit');
      return batch;
    } catch (error) {
      await client.query('rollback');
      throw error;
    }
  };
  /** The run summary of a batch, once the worker has written it. */
  const summaryOf = (what: string, batchId: string) =>
    waitFor(async () => (await client.query('select * from app_public.run_summaries where batch_id = $1', [batchId])).rows[0], {
      timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 100, what, stillRunning: stillRunning(worker),
    });

  started = performance.now();
  const batch = await submitAsTenant('import_catalog', [{ file_id: uploaded.id }]);
  const summary = await summaryOf('import', batch.id);
  const importSeconds = (performance.now() - started) / 1000;
  const workerRssMb = peakRssMb(worker.pid);
  if (summary.status !== 'completed' || Number(summary.stats.inserted) !== ROWS) {
    throw new Error(`import did not insert every row: ${JSON.stringify(summary)}`);
  }
  const importRowsPerS = ROWS / importSeconds;
  const share = importRowsPerS / copyRowsPerS;
  say(`import_catalog:       ${importRowsPerS.toFixed(0)} rows/s (${importSeconds.toFixed(2)} s, submission to summary)`);
  say(`share of COPY:        ${share.toFixed(2)} (target >= ${TARGET_SHARE_OF_COPY}) ${share >= TARGET_SHARE_OF_COPY ? 'ok' : 'MISSED'}`);
  say(`share of COPY, products-shaped: ${(importRowsPerS / shapeRowsPerS).toFixed(2)}`);
  say(`worker peak RSS:      ${workerRssMb.toFixed(0)} MB (target < ${TARGET_RSS_MB} MB) ${workerRssMb < TARGET_RSS_MB ? 'ok' : 'MISSED'}`);

  // Re-import of the same content: every row unchanged.
  started = performance.now();
  const again = await submitAsTenant('import_catalog', [{ file_id: uploaded.id }]);
  const reimport = await summaryOf('re-import', again.id);
  const reimportSeconds = (performance.now() - started) / 1000;
  say(`re-import (unchanged): ${(ROWS / reimportSeconds).toFixed(0)} rows/s (${reimportSeconds.toFixed(2)} s, ${reimport.stats.unchanged} unchanged)`);

  // Scraping: PAGES local pages, spread over HOSTS servers (a host is host:port, and the
  // per-host limit keeps SCRAPE_MAX_PER_HOST requests in flight on each).
  const servers = await Promise.all(Array.from({ length: HOSTS }, () => startPageServer()));
  bench.onCleanup(async () => {
    for (const server of servers) server.close();
  });
  const urls = Array.from({ length: PAGES }, (_, i) => `http://127.0.0.1:${servers[i % HOSTS].port}/product/${i}`);
  started = performance.now();
  const scrape = await submitAsTenant('scrape_pages', urls.map((url) => ({ url })));
  const scraped = await summaryOf('scrape', scrape.id);
  const scrapeSeconds = (performance.now() - started) / 1000;
  if (scraped.status !== 'completed') throw new Error(`scrape failed: ${JSON.stringify(scraped.errors)}`);
  const pagesPerS = PAGES / scrapeSeconds;
  say(`scrape_pages:         ${pagesPerS.toFixed(0)} pages/s (${PAGES} pages on ${HOSTS} local hosts, ${scrapeSeconds.toFixed(2)} s, ${scraped.stats.products_found} products)`);
  await within('stopping the worker', worker.stop());

  return {
    rows: ROWS,
    file_mb: Number(sizeMb.toFixed(1)),
    copy_rows_per_s: Math.round(copyRowsPerS),
    parse_rows_per_s: Math.round(parseRowsPerS),
    copy_products_shape_rows_per_s: Math.round(shapeRowsPerS),
    import_rows_per_s: Math.round(importRowsPerS),
    import_share_of_copy: Number(share.toFixed(3)),
    import_share_of_products_shape_copy: Number((importRowsPerS / shapeRowsPerS).toFixed(3)),
    reimport_rows_per_s: Math.round(ROWS / reimportSeconds),
    upload_mb_per_s: Number((sizeMb / uploadSeconds).toFixed(1)),
    worker_peak_rss_mb: Math.round(workerRssMb),
    scrape_pages: PAGES,
    scrape_pages_per_s: Math.round(pagesPerS),
    postgres_version: server_version,
  };
}

runBench('bench:ingest', main);
