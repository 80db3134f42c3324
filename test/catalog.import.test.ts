// Catalog files: uploaded (streamed, deduplicated), imported as batches by real workers, with
// every row validated; files that are not catalogs fail their item while their siblings go on.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { importCatalogFile, type ImportStats } from '../server/catalog/import_file.ts';
import { uploadCatalogFile } from '../server/catalog/upload.ts';
import {
  asTenant,
  createTenant,
  lastLogLine,
  runCli,
  startServerProcess,
  startWorkerProcess,
  submitBatch,
  TEST_JWT_SECRET,
  useTestDatabase,
  waitFor,
  waitForSummary,
  type WorkerProcess,
} from './helpers.ts';
import { CLI_PATH } from './processes.ts';

const db = useTestDatabase();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-catalogs-'));
let tenant: string;
let worker: WorkerProcess;

const fixtures: Record<string, string | Buffer> = {
  'good.csv':
    'seller,sku,name,description,category,price,currency,stock\n' +
    'Acme,A-1,Chef knife,"A ""sharp"" knife,\nforged",kitchen/knives,49.90,EUR,12\n' +
    'Acme,A-2,Frying pan,,kitchen/pans,29,EUR,3\n' +
    'Acme,A-3,Cutting board,Oak,kitchen,15.5,eur,0\n',
  'bom.csv': '\uFEFFseller,sku,name,price\nBomShop,B-1,Teapot,12.00\n',
  'mixed.csv':
    'type,seller,sku,name,price,stock,author,rating,body\n' +
    'product,Mixy,M-1,Lamp,30,1,,,\n' +
    'review,Mixy,M-1,,,,ann,5,Lovely\n' +
    'product,Mixy,M-2,Chair,-4,1,,,\n' +
    'product,Mixy,M-3,Table,abc,1,,,\n' +
    'review,Mixy,M-1,,,,bob,9,Too many stars\n' +
    'review,Mixy,M-9,,,,cid,4,No such product\n' +
    'product,Mixy,M-1,Lamp again,31,1,,,\n' +
    'product,Other,O-1,Not ours,10,1,,,\n' +
    'product,Mixy,,No sku,10,1,,,\n' +
    'product,Mixy,M-4,"Unclosed quote,10,1,,,\n',
  'reviews.jsonl':
    '{"seller": "Acme", "sku": "A-1", "type": "review", "author": "dora", "rating": 4, "verified_purchase": true, "helpful_votes": 3}\n' +
    '{"seller": "Acme", "sku": "A-2", "type": "review", "author": "ed", "rating": "2", "body": "Sticks"}\n' +
    '[1, 2]\n' +
    '{"seller": "Acme", "sku": "A-1", "type": "review", "author": "dora", "rating": 1}\n',
  'empty.csv': '',
  'header-only.csv': 'seller,sku,name,price\n',
  'wrong-header.csv': 'id,title,cost\n1,Lamp,30\n',
  'binary.csv': Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00, 0xff, 0xfe]),
};

function fixture(name: string): string {
  return path.join(dir, name);
}

beforeAll(async () => {
  for (const [name, content] of Object.entries(fixtures)) fs.writeFileSync(fixture(name), content);
  await db.pool.query(`update app_public.batch_kinds set retry_delay = '50 milliseconds' where kind = 'import_catalog'`);
  tenant = await createTenant(db, 'catalog-tenant');
  worker = await startWorkerProcess(db);
});
afterAll(async () => {
  await worker?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function upload(...names: string[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const ids: string[] = [];
    for (const name of names) ids.push((await uploadCatalogFile(client, tenant, fixture(name))).id);
    return ids;
  } finally {
    await client.end();
  }
}

async function importFiles(...names: string[]) {
  const ids = await upload(...names);
  const batch = await submitBatch(db, tenant, 'import_catalog', ids.map((file_id) => ({ file_id })));
  await waitForSummary(db, batch.id);
  const { rows: items } = await db.pool.query(
    `select f.filename, i.status, i.attempts, i.last_error, i.result
     from app_public.batch_items i join app_public.catalog_files f on f.id = (i.payload->>'file_id')::uuid
     where i.batch_id = $1 order by i.id`,
    [batch.id],
  );
  const { rows: [summary] } = await db.pool.query('select * from app_public.run_summaries where batch_id = $1', [batch.id]);
  return { batch, items, summary, byFile: Object.fromEntries(items.map((item) => [item.filename, item])) };
}

describe('uploads', () => {
  test('store the bytes with size and SHA-256, and the same content once', async () => {
    const [first] = await upload('good.csv');
    const [second] = await upload('good.csv');
    expect(second).toBe(first);
    const { rows } = await db.pool.query(
      `select f.size_bytes::int as size, f.sha256, (select string_agg(c.bytes, '' order by seq) from app_private.catalog_file_chunks c where c.file_id = f.id) as bytes
       from app_public.catalog_files f where f.id = $1`,
      [first],
    );
    const content = Buffer.from(fixtures['good.csv'] as string);
    expect(rows[0].size).toBe(content.length);
    expect(rows[0].bytes.equals(content)).toBe(true);
    expect(rows[0].sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('through the upload_catalog_file function (GraphQL uploadCatalogFile), base64', async () => {
    const content = Buffer.from('seller,sku,name,price\nViaApi,V-1,Mug,8\n');
    const file = await asTenant(db, tenant, async (client) => {
      const { rows } = await client.query('select * from app_public.upload_catalog_file($1, $2)', ['api.csv', content.toString('base64')]);
      return rows[0];
    });
    expect(file).toMatchObject({ filename: 'api.csv', size_bytes: String(content.length), tenant_id: tenant });
    await expect(
      asTenant(db, tenant, (client) => client.query(`select * from app_public.upload_catalog_file('x.csv', '***')`)),
    ).rejects.toMatchObject({ code: 'FLB64' });
  });

  test('over the size limit are refused with a clear error, and nothing is stored', async () => {
    await db.pool.query(`alter database ${db.name} set finishline.max_catalog_file_bytes = '100'`);
    try {
      await expect(upload('mixed.csv')).rejects.toThrow('catalog file "mixed.csv" is larger than the limit of 100 bytes (finishline.max_catalog_file_bytes)');
      const { rows } = await db.pool.query(`select count(*)::int as n from app_public.catalog_files where filename = 'mixed.csv'`);
      expect(rows[0].n).toBe(0);
    } finally {
      await db.pool.query(`alter database ${db.name} reset finishline.max_catalog_file_bytes`);
    }
  });
});

describe('importing', () => {
  test('good files are upserted; files that are not catalogs fail their item; siblings go on', async () => {
    const { batch, byFile, summary } = await importFiles('good.csv', 'bom.csv', 'empty.csv', 'binary.csv', 'wrong-header.csv', 'header-only.csv');
    expect(batch).toBeDefined();
    expect(byFile['good.csv']).toMatchObject({ status: 'succeeded', result: { rows_read: 3, inserted: 3, updated: 0, unchanged: 0, rejected: 0 } });
    expect(byFile['bom.csv']).toMatchObject({ status: 'succeeded', result: { inserted: 1 } });
    expect(byFile['empty.csv']).toMatchObject({ status: 'failed', attempts: 1, last_error: 'empty.csv is not a catalog: it is empty' });
    expect(byFile['binary.csv']).toMatchObject({ status: 'failed', attempts: 1, last_error: 'binary.csv is not a catalog: it is binary (it contains NUL bytes)' });
    expect(byFile['wrong-header.csv']).toMatchObject({
      status: 'failed',
      last_error: 'wrong-header.csv is not a catalog: its header must name the columns seller and sku (found: id, title, cost)',
    });
    expect(byFile['header-only.csv']).toMatchObject({ status: 'failed', last_error: 'header-only.csv is not a catalog: it has no rows' });
    expect(summary).toMatchObject({ status: 'completed_with_errors', succeeded_items: 2, failed_items: 4 });
    expect(summary.stats).toMatchObject({ rows_read: 4, inserted: 4, rejected: 0 });

    const { rows: products } = await db.pool.query(
      `select s.name as seller, p.sku, p.name, p.description, p.price, p.currency, p.stock, p.status
       from app_public.products p join app_public.sellers s on s.id = p.seller_id where s.name in ('Acme', 'BomShop') order by p.sku`,
    );
    expect(products).toEqual([
      { seller: 'Acme', sku: 'A-1', name: 'Chef knife', description: 'A "sharp" knife,\nforged', price: '49.90', currency: 'EUR', stock: 12, status: 'pending' },
      { seller: 'Acme', sku: 'A-2', name: 'Frying pan', description: '', price: '29.00', currency: 'EUR', stock: 3, status: 'pending' },
      { seller: 'Acme', sku: 'A-3', name: 'Cutting board', description: 'Oak', price: '15.50', currency: 'EUR', stock: 0, status: 'pending' },
      { seller: 'BomShop', sku: 'B-1', name: 'Teapot', description: '', price: '12.00', currency: 'EUR', stock: 0, status: 'pending' },
    ]);
  });

  test('re-importing the same file changes nothing', async () => {
    const before = await db.pool.query(`select id, updated_at from app_public.products order by id`);
    const { byFile } = await importFiles('good.csv');
    expect(byFile['good.csv'].result).toMatchObject({ rows_read: 3, inserted: 0, updated: 0, unchanged: 3 });
    const after = await db.pool.query(`select id, updated_at from app_public.products order by id`);
    expect(after.rows).toEqual(before.rows);
  });

  test("a product another transaction adds to the file's seller meanwhile: the import waits for it, then updates it", async () => {
    fs.writeFileSync(fixture('concurrent.csv'), 'seller,sku,name,price\nRacer,R-1,Lamp,10\nRacer,R-2,Shade,4\n');
    const { rows: [seller] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Racer') returning id`, [tenant]);
    const other = await db.pool.connect();
    try {
      await other.query('begin');
      await other.query(`insert into app_public.products (tenant_id, seller_id, sku, name, price) values ($1, $2, 'R-1', 'Old lamp', 9)`, [tenant, seller.id]);
      const [fileId] = await upload('concurrent.csv');
      const batch = await submitBatch(db, tenant, 'import_catalog', [{ file_id: fileId }]);
      await waitFor(
        async () => (await db.pool.query(`select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query like 'select app_private.%'`, [db.name])).rowCount,
        { what: 'the import to wait for the other transaction' },
      );
      await other.query('commit');
      await waitForSummary(db, batch.id);
      const { rows: [item] } = await db.pool.query('select status, attempts, result from app_public.batch_items where batch_id = $1', [batch.id]);
      // Not a unique violation and a retry: the first attempt finds R-1 there.
      expect(item).toMatchObject({ status: 'succeeded', attempts: 1, result: { rows_read: 2, inserted: 1, updated: 1, rejected: 0 } });
    } finally {
      other.release();
    }
    const { rows } = await db.pool.query(`select sku, name, price from app_public.products where seller_id = $1 order by sku`, [seller.id]);
    expect(rows).toEqual([{ sku: 'R-1', name: 'Lamp', price: '10.00' }, { sku: 'R-2', name: 'Shade', price: '4.00' }]);
  });

  test('invalid rows are rejected with line and reason; valid rows of the same file are kept', async () => {
    const { byFile, summary } = await importFiles('mixed.csv');
    const item = byFile['mixed.csv'];
    expect(item.status).toBe('succeeded');
    expect(item.result).toMatchObject({ rows_read: 10, inserted: 2, rejected: 8 });
    const reasons = item.result.rejections.map((r: { line: number; reason: string }) => [r.line, r.reason]);
    expect(reasons).toEqual(
      expect.arrayContaining([
        [4, 'invalid_price'],
        [5, 'invalid_price'],
        [6, 'invalid_rating'],
        [7, 'unknown_product'],
        [8, 'duplicate_sku'],
        [9, 'other_seller'],
        [10, 'missing_field'],
      ]),
    );
    expect(reasons.some(([, reason]: [number, string]) => reason === 'malformed_csv')).toBe(true);
    expect(item.result.rejected_by_reason).toEqual({ invalid_price: 2, invalid_rating: 1, unknown_product: 1, duplicate_sku: 1, other_seller: 1, missing_field: 1, malformed_csv: 1 });
    expect(summary.stats.rejected_by_reason).toEqual(item.result.rejected_by_reason);
    expect(summary.stats.rejections[0]).toMatchObject({ file: 'mixed.csv', line: expect.any(Number), reason: expect.any(String), message: expect.any(String) });
    const { rows } = await db.pool.query(
      `select r.author, r.rating, r.body from app_public.reviews r join app_public.products p on p.id = r.product_id where p.sku = 'M-1'`,
    );
    expect(rows).toEqual([{ author: 'ann', rating: 5, body: 'Lovely' }]);
  });

  test('JSON Lines reviews are upserted by product and author', async () => {
    const { byFile } = await importFiles('reviews.jsonl');
    expect(byFile['reviews.jsonl'].result).toMatchObject({ rows_read: 4, inserted: 2, rejected: 2, rejected_by_reason: { invalid_json: 1, duplicate_review: 1 } });
    const { rows } = await db.pool.query(
      `select p.sku, r.author, r.rating, r.verified_purchase, r.helpful_votes from app_public.reviews r
       join app_public.products p on p.id = r.product_id where r.author in ('dora', 'ed') order by r.author`,
    );
    expect(rows).toEqual([
      { sku: 'A-1', author: 'dora', rating: 4, verified_purchase: true, helpful_votes: 3 },
      { sku: 'A-2', author: 'ed', rating: 2, verified_purchase: false, helpful_votes: 0 },
    ]);
  });

  test('a changed file updates the rows that differ, adds the new ones and leaves the rest alone', async () => {
    const before = await db.pool.query(`select sku, updated_at from app_public.products where sku in ('A-1', 'A-3') order by sku`);
    fs.writeFileSync(fixture('good-changed.csv'),
      'seller,sku,name,description,category,price,currency,stock\n' +
      'Acme,A-1,Chef knife,"A ""sharp"" knife,\nforged",kitchen/knives,49.90,EUR,12\n' +
      'Acme,A-2,Frying pan,Non-stick,kitchen/pans,27.50,EUR,3\n' +
      'Acme,A-3,Cutting board,Oak,kitchen,15.5,eur,0\n' +
      'Acme,A-4,Whisk,,kitchen,4,EUR,40\n');
    fs.writeFileSync(fixture('reviews-changed.jsonl'),
      '{"seller": "Acme", "sku": "A-1", "type": "review", "author": "dora", "rating": 5, "verified_purchase": true, "helpful_votes": 3}\n' +
      '{"seller": "Acme", "sku": "A-2", "type": "review", "author": "ed", "rating": "2", "body": "Sticks"}\n' +
      '{"seller": "Acme", "sku": "A-4", "type": "review", "author": "fay", "rating": 3}\n');
    const { byFile } = await importFiles('good-changed.csv');
    expect(byFile['good-changed.csv'].result).toMatchObject({ rows_read: 4, inserted: 1, updated: 1, unchanged: 2, rejected: 0 });
    const { rows } = await db.pool.query(
      `select p.sku, p.name, p.description, p.price from app_public.products p join app_public.sellers s on s.id = p.seller_id
       where s.name = 'Acme' order by p.sku`,
    );
    expect(rows).toEqual([
      { sku: 'A-1', name: 'Chef knife', description: 'A "sharp" knife,\nforged', price: '49.90' },
      { sku: 'A-2', name: 'Frying pan', description: 'Non-stick', price: '27.50' },
      { sku: 'A-3', name: 'Cutting board', description: 'Oak', price: '15.50' },
      { sku: 'A-4', name: 'Whisk', description: '', price: '4.00' },
    ]);
    const after = await db.pool.query(`select sku, updated_at from app_public.products where sku in ('A-1', 'A-3') order by sku`);
    expect(after.rows).toEqual(before.rows);

    const reviews = await importFiles('reviews-changed.jsonl');
    expect(reviews.byFile['reviews-changed.jsonl'].result).toMatchObject({ rows_read: 3, inserted: 1, updated: 1, unchanged: 1, rejected: 0 });
    const { rows: stored } = await db.pool.query(
      `select p.sku, r.author, r.rating from app_public.reviews r join app_public.products p on p.id = r.product_id
       where r.author in ('dora', 'ed', 'fay') order by r.author`,
    );
    expect(stored).toEqual([{ sku: 'A-1', author: 'dora', rating: 5 }, { sku: 'A-2', author: 'ed', rating: 2 }, { sku: 'A-4', author: 'fay', rating: 3 }]);
  });

  test('reviews in a file after their products\' file of the same import wait for those products', async () => {
    // A products file long enough to be still importing while the reviews file starts beside it.
    for (const seller of ['Pair-1', 'Pair-2']) {
      const products = [`seller,sku,name,price`, ...Array.from({ length: 5000 }, (_, i) => `${seller},P-${i},Product ${i},${i % 100}.50`)];
      fs.writeFileSync(fixture(`${seller}-products.csv`), products.join('\n') + '\n');
      fs.writeFileSync(fixture(`${seller}-reviews.jsonl`),
        `{"seller": "${seller}", "sku": "P-4999", "author": "gus", "rating": 4}\n` +
        `{"seller": "${seller}", "sku": "P-0", "author": "hal", "rating": 2}\n` +
        `{"seller": "${seller}", "sku": "P-nope", "author": "ida", "rating": 3}\n`);
      const { byFile } = await importFiles(`${seller}-products.csv`, `${seller}-reviews.jsonl`);
      expect(byFile[`${seller}-products.csv`]).toMatchObject({ status: 'succeeded', result: { inserted: 5000, rejected: 0 } });
      // Waiting spent no attempt; only the review of a product that exists nowhere is rejected.
      expect(byFile[`${seller}-reviews.jsonl`]).toMatchObject({
        status: 'succeeded', attempts: 1, result: { inserted: 2, rejected: 1, rejected_by_reason: { unknown_product: 1 } },
      });
    }
  });

  test("a tenant cannot import another tenant's file by naming its id", async () => {
    const [fileOfTenant] = await upload('bom.csv');
    const other = await createTenant(db, 'catalog-other-tenant');
    const batch = await submitBatch(db, other, 'import_catalog', [{ file_id: fileOfTenant }]);
    await waitForSummary(db, batch.id);
    const { rows: [item] } = await db.pool.query('select status, last_error, result from app_public.batch_items where batch_id = $1', [batch.id]);
    expect(item).toEqual({ status: 'failed', last_error: `catalog file ${fileOfTenant} does not exist`, result: null });
    const { rows: [written] } = await db.pool.query('select count(*)::int as n from app_public.products where tenant_id = $1', [other]);
    expect(written.n).toBe(0);
  });

  test('a large file streams through in one item', async () => {
    const rows = 50_000;
    const lines = ['seller,sku,name,category,price,stock'];
    for (let i = 0; i < rows; i++) lines.push(`Bulk,SKU-${i},Product ${i},cat/${i % 50},${(i % 1000) + 0.99},${i % 7}`);
    fs.writeFileSync(fixture('large.csv'), lines.join('\n') + '\n');
    const { byFile } = await importFiles('large.csv');
    expect(byFile['large.csv']).toMatchObject({ status: 'succeeded', result: { rows_read: rows, inserted: rows, rejected: 0 } });
    const { rows: [count] } = await db.pool.query(
      `select count(*)::int as n, count(*) filter (where substr(p.id::text, 15, 1) = '7')::int as time_ordered,
              count(*) filter (where abs(('x' || substr(replace(p.id::text, '-', ''), 1, 12))::bit(48)::bigint
                                         - extract(epoch from p.created_at) * 1000) < 60000)::int as stamped_now
       from app_public.products p join app_public.sellers s on s.id = p.seller_id where s.name = 'Bulk'`,
    );
    // Version 7 (time-ordered) UUIDs, stamped with the time of the import: a big import appends
    // to its indexes instead of scattering.
    expect(count).toEqual({ n: rows, time_ordered: rows, stamped_now: rows });
  });
});

describe('a chunk at a time', () => {
  // importCatalogFile as the worker calls it, with chunks of 2 valid rows instead of 100,000.
  async function importByChunksOf(rowsPerChunk: number, name: string) {
    const [fileId] = await upload(name);
    const reader = new pg.Client({ connectionString: db.url });
    const writer = new pg.Client({ connectionString: db.url });
    await reader.connect();
    await writer.connect();
    try {
      await writer.query('begin');
      try {
        const stats = await importCatalogFile(reader, writer, fileId, tenant, { rowsPerChunk });
        await writer.query('commit');
        return stats;
      } catch (error) {
        await writer.query('rollback');
        throw error;
      }
    } finally {
      await reader.end();
      await writer.end();
    }
  }
  const byLine = (stats: ImportStats) => stats.rejections.map(({ line, reason, message }) => ({ line, reason, message })).sort((a, b) => a.line - b.line);

  test("a new seller's products are merged as the file is read; a repeat keeps the first row across chunks, reviews find later chunks' products, and a re-import (merged whole) agrees", async () => {
    fs.writeFileSync(fixture('chunks.csv'),
      'type,seller,sku,name,price,author,rating\n' +
      'product,Chunky,C-1,One,1,,\n' + // chunk 1 (lines 2-3)
      'review,Chunky,C-4,,,ann,5\n' +
      'product,Chunky,C-2,Two,2,,\n' + // chunk 2: C-1 again
      'product,Chunky,C-1,Again,9,,\n' +
      'product,Chunky,C-3,Three,3,,\n' + // chunk 3: C-3 twice
      'product,Chunky,C-3,Thrice,33,,\n' +
      'product,Chunky,C-4,Four,4,,\n' + // chunk 4: ann's review of C-4 again
      'review,Chunky,C-4,,,ann,1\n' +
      'review,Chunky,C-2,,,bob,4\n' + // chunk 5: C-1 a third time
      'product,Chunky,C-1,Once more,7,,\n');
    const rejections = [
      { line: 5, reason: 'duplicate_sku', message: 'sku "C-1" already appears at line 2' },
      { line: 7, reason: 'duplicate_sku', message: 'sku "C-3" already appears at line 6' },
      { line: 9, reason: 'duplicate_review', message: '"ann" already reviewed sku "C-4" at line 3' },
      { line: 11, reason: 'duplicate_sku', message: 'sku "C-1" already appears at line 2' },
    ];
    const first = await importByChunksOf(2, 'chunks.csv');
    expect(first).toMatchObject({ rows_read: 10, inserted: 6, updated: 0, unchanged: 0, rejected: 4, rejected_by_reason: { duplicate_sku: 3, duplicate_review: 1 } });
    expect(byLine(first)).toEqual(rejections);
    const { rows: products } = await db.pool.query(
      `select p.sku, p.name, p.price, (select string_agg(r.author || ':' || r.rating, ',') from app_public.reviews r where r.product_id = p.id) as reviews,
              p.cmin::text::int as inserted_by -- the statement of its transaction that inserted it
       from app_public.products p join app_public.sellers s on s.id = p.seller_id where s.name = 'Chunky' order by p.sku`,
    );
    expect(products.map(({ inserted_by, ...product }) => product)).toEqual([
      { sku: 'C-1', name: 'One', price: '1.00', reviews: null },
      { sku: 'C-2', name: 'Two', price: '2.00', reviews: 'bob:4' },
      { sku: 'C-3', name: 'Three', price: '3.00', reviews: null },
      { sku: 'C-4', name: 'Four', price: '4.00', reviews: 'ann:5' },
    ]);
    // One insert per chunk: C-1, then C-2, then C-3, then C-4.
    expect(new Set(products.map((product) => product.inserted_by)).size).toBe(4);

    const again = await importByChunksOf(2, 'chunks.csv');
    expect(again).toMatchObject({ rows_read: 10, inserted: 0, updated: 0, unchanged: 6, rejected: 4 });
    expect(byLine(again)).toEqual(rejections);
  });

  test('a file that turns out unreadable after chunks were merged leaves nothing behind', async () => {
    const rows = Array.from({ length: 9 }, (_, i) => `Broken,B-${i},Lamp,${i + 1}`).join('\n');
    fs.writeFileSync(fixture('broken-late.csv'), `seller,sku,name,price\n${rows}\nBroken,B-X,"${'z'.repeat(2 * 1024 * 1024)}\n`);
    await expect(importByChunksOf(2, 'broken-late.csv')).rejects.toThrow(/could not be read as CSV: the record at line 11 is longer than/);
    const { rows: [count] } = await db.pool.query(
      `select count(*)::int as n from app_public.products p join app_public.sellers s on s.id = p.seller_id where s.name = 'Broken'`,
    );
    expect(count.n).toBe(0);
  });
});

describe('rows that cannot be stored or read', () => {
  // Enough rows around it that COPY is sent the bad row while the file is still being read.
  const nulRows = (from: number) => Array.from({ length: 5000 }, (_, i) => `Nul,NUL-${from + i},Product ${from + i},${i % 100}.25`).join('\n');

  test('a NUL in a JSON Lines value or in a CSV past its first 64 KB rejects that row; its siblings are kept', async () => {
    // A NUL price was also quoted in its rejection, which then could not be recorded as jsonb.
    fs.writeFileSync(fixture('nul-price.jsonl'),
      '{"seller": "NulPrice", "sku": "P-1", "name": "Lamp", "price": "10"}\n' +
      '{"seller": "NulPrice", "sku": "P-2", "name": "Shelf", "price": "1\\u0000"}\n');
    fs.writeFileSync(fixture('nul-name.jsonl'),
      '{"seller": "NulName", "sku": "N-1", "name": "Lamp", "price": "10"}\n' +
      '{"seller": "NulName", "sku": "N-2", "name": "Sha\\u0000de", "price": "4"}\n' +
      '{"seller": "NulName", "sku": "N-3", "name": "Stool", "price": "25"}\n');
    fs.writeFileSync(fixture('nul-late.csv'), Buffer.concat([
      Buffer.from(`seller,sku,name,price\n${nulRows(0)}\n`),
      Buffer.from('Nul,NUL-X,Bad\0name,1\n'),
      Buffer.from(`${nulRows(5000)}\nNul,NUL-LAST,Last,2\n`),
    ]));
    const { byFile } = await importFiles('nul-price.jsonl', 'nul-name.jsonl', 'nul-late.csv');

    const nulIn = (file: string, line: number, field: string) =>
      ({ file, line, reason: 'contains_nul', message: `field "${field}" contains a NUL character (\\u0000), which PostgreSQL cannot store` });
    expect(byFile['nul-price.jsonl']).toMatchObject({ status: 'succeeded', attempts: 1, result: { rows_read: 2, inserted: 1, rejected: 1 } });
    expect(byFile['nul-price.jsonl'].result.rejections).toEqual([nulIn('nul-price.jsonl', 2, 'price')]);
    expect(byFile['nul-name.jsonl']).toMatchObject({ status: 'succeeded', attempts: 1, result: { rows_read: 3, inserted: 2, rejected: 1 } });
    expect(byFile['nul-name.jsonl'].result.rejections).toEqual([nulIn('nul-name.jsonl', 2, 'name')]);
    expect(byFile['nul-late.csv']).toMatchObject({ status: 'succeeded', attempts: 1, result: { rows_read: 10002, inserted: 10001, rejected: 1 } });
    expect(byFile['nul-late.csv'].result.rejections).toEqual([nulIn('nul-late.csv', 5002, 'name')]);
    const { rows } = await db.pool.query(
      `select s.name as seller, string_agg(p.sku, ',' order by p.sku) filter (where p.sku not like 'NUL-%' or p.sku = 'NUL-LAST') as skus, count(*)::int as n
       from app_public.products p join app_public.sellers s on s.id = p.seller_id
       where s.name in ('NulPrice', 'NulName', 'Nul') group by s.name order by s.name`,
    );
    expect(rows).toEqual([
      { seller: 'Nul', skus: 'NUL-LAST', n: 10001 },
      { seller: 'NulName', skus: 'N-1,N-3', n: 2 },
      { seller: 'NulPrice', skus: 'P-1', n: 1 },
    ]);
  });

  test('messages quote a short excerpt of a bad value, not the value', async () => {
    const huge = 'x'.repeat(500_000);
    fs.writeFileSync(fixture('huge-values.jsonl'),
      Array.from({ length: 5 }, (_, i) => JSON.stringify({ seller: 'Huge', sku: `H-${i}`, name: 'Big', price: huge, stock: huge })).join('\n') + '\n');
    const { byFile } = await importFiles('huge-values.jsonl');
    const item = byFile['huge-values.jsonl'];
    expect(item).toMatchObject({ status: 'succeeded', result: { rows_read: 5, inserted: 0, rejected: 5, rejected_by_reason: { invalid_price: 5 } } });
    expect(item.result.rejections[0]).toEqual({
      file: 'huge-values.jsonl',
      line: 1,
      reason: 'invalid_price',
      message: `price must be a non-negative amount with at most two decimals, not "${'x'.repeat(40)}…"`,
    });
  });

  test('CSV rejections name the line each record starts on, around blank lines, malformed rows and CRLFs', async () => {
    fixtures['blank-line.csv'] = 'seller,sku,name,price\nLines,L-1,One,1\n\nLines,L-2,Two,abc\n';
    fixtures['after-malformed.csv'] = 'seller,sku,name,price\nLines,L-1,One,1\nLines,L-2,Tw"o,2\nLines,L-3,Three,abc\n';
    fixtures['blank-before-header.csv'] = '\n\nseller,sku,name,price\nLines,L-1,One,abc\n';
    fixtures['crlf.csv'] = 'seller,sku,name,description,price\r\nLines,L-1,One,"two\r\nlines",1\r\n\r\nLines,L-2,Two,,abc\r\nLines,L-3,Thr"ee,,3\r\nLines,L-4,Four,,abc\r\n';
    const names = ['blank-line.csv', 'after-malformed.csv', 'blank-before-header.csv', 'crlf.csv'];
    for (const name of names) fs.writeFileSync(fixture(name), fixtures[name]);
    const { byFile } = await importFiles(...names);
    const lines = Object.fromEntries(names.map((name) => [name, byFile[name].result.rejections.map((r: { line: number; reason: string }) => [r.line, r.reason])]));
    expect(lines).toEqual({
      'blank-line.csv': [[4, 'invalid_price']],
      'after-malformed.csv': [[3, 'malformed_csv'], [4, 'invalid_price']],
      'blank-before-header.csv': [[4, 'invalid_price']],
      'crlf.csv': [[5, 'invalid_price'], [6, 'malformed_csv'], [7, 'invalid_price']],
    });
  });

  test(`a record longer than the limit: a JSON Lines line is rejected, a CSV file (which cannot resume) fails`, async () => {
    const long = 'y'.repeat(3 * 1024 * 1024);
    fs.writeFileSync(fixture('long-line.jsonl'),
      '{"seller": "Long", "sku": "LL-1", "name": "Lamp", "price": "10"}\n' +
      `{"seller": "Long", "sku": "LL-2", "name": "Lamp", "price": "10", "description": "${long}"}\n` +
      '{"seller": "Long", "sku": "LL-3", "name": "Lamp", "price": "10"}\n');
    fs.writeFileSync(fixture('open-quote.csv'), `seller,sku,name,price\nLong,LQ-1,Lamp,10\nLong,LQ-2,"Lamp,10\n${'Long,LQ-3,Lamp,10\n'.repeat(200_000)}`);
    const { byFile } = await importFiles('long-line.jsonl', 'open-quote.csv');
    expect(byFile['long-line.jsonl']).toMatchObject({ status: 'succeeded', result: { rows_read: 3, inserted: 2, rejected: 1 } });
    expect(byFile['long-line.jsonl'].result.rejections).toEqual([
      { file: 'long-line.jsonl', line: 2, reason: 'too_long', message: 'the line is longer than 1048576 characters' },
    ]);
    expect(byFile['open-quote.csv']).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'open-quote.csv could not be read as CSV: the record at line 3 is longer than 1048576 characters (is a quote left open?)',
    });
  });
});

describe('finishline import --watch', () => {
  test('uploads, follows the batch to its summary, and exits 1 when an item failed', async () => {
    const cli = CLI_PATH;
    const env = { ...process.env, DATABASE_URL: db.url };
    const failed = await runCli(['import', fixture('bom.csv'), fixture('binary.csv'), '--tenant-name', 'catalog-tenant', '--watch'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/already uploaded bom\.csv/);
    expect(failed.stdout).toMatch(/2\/2 done, 1 failed/);
    expect(failed.stdout).toMatch(/completed_with_errors/);
    expect(failed.stdout).toContain('binary.csv is not a catalog');

    const ok = await runCli(['import', fixture('good.csv'), '--tenant-name', 'catalog-tenant', '--watch'], env);
    expect(ok.stdout).toMatch(/1\/1 done, 0 failed/);
    const batchId = /batch ([0-9a-f-]{36})/.exec(ok.stdout)![1];
    const status = await runCli(['status', batchId, '--tenant-name', 'catalog-tenant'], env);
    expect(status.stdout).toContain(`batch ${batchId} (import_catalog): completed`);
    // Another tenant's batch is not there for a tenant, as through the server.
    await runCli(['tenant', 'someone-else'], env);
    const theirs = await runCli(['status', batchId, '--tenant-name', 'someone-else'], env);
    expect(theirs.code).toBe(1);
    expect(lastLogLine(theirs)).toMatchObject({ error: `batch ${batchId} not found` });
    const notAnId = await runCli(['status', 'last-night', '--tenant-name', 'catalog-tenant'], env);
    expect(notAnId.code).toBe(1);
    expect(notAnId.stdout).toContain('last-night is not a batch id (a UUID)');

    // Read by something that stops reading (`finishline status … | head -1`): a quiet stop.
    const child = spawn(process.execPath, [cli, 'status', batchId, '--tenant-name', 'catalog-tenant'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('finishline import, with a file that is not there', () => {
  test('fails at once with the file named, before uploading any of the others', async () => {
    const file = path.join(dir, 'only-here.csv');
    fs.writeFileSync(file, 'seller,sku,name,price\nHere Shop,HERE-1,Only here,1.00\n');
    const missing = path.join(dir, 'not-there.csv');
    const { rows: [before] } = await db.pool.query('select count(*)::int as n from app_public.catalog_files');
    const failed = await runCli(['import', file, missing, '--tenant-name', 'catalog-tenant'], { ...process.env, DATABASE_URL: db.url });
    expect(failed.code).toBe(1);
    expect(lastLogLine(failed)).toMatchObject({ error: `cannot import ${missing}: no such file` });
    const { rows: [after] } = await db.pool.query('select count(*)::int as n from app_public.catalog_files');
    expect(after.n).toBe(before.n);
  });
});

describe('finishline tenant', () => {
  test('creates a tenant by name (once) and prints its id; an import for a name unknown says how to create it', async () => {
    const env = { ...process.env, DATABASE_URL: db.url };
    const unknown = await runCli(['import', fixture('good.csv'), '--tenant-name', 'Acme Corp'], env);
    expect(unknown.code).toBe(1);
    expect(lastLogLine(unknown)).toMatchObject({
      msg: 'finishline failed',
      error: 'no tenant named "Acme Corp" (create it with: finishline tenant "Acme Corp")',
    });

    const created = (await runCli(['tenant', 'Acme Corp'], env)).stdout.trim();
    const again = (await runCli(['tenant', 'Acme Corp'], env)).stdout.trim();
    const { rows } = await db.pool.query(`select id from app_public.tenants where name = 'Acme Corp'`);
    expect([created, again]).toEqual([rows[0].id, rows[0].id]);

    const imported = await runCli(['import', fixture('good.csv'), '--tenant-name', 'Acme Corp', '--watch'], env);
    expect(imported.stdout).toMatch(/1\/1 done, 0 failed/);
    const { rows: [products] } = await db.pool.query('select count(*)::int as n from app_public.products where tenant_id = $1', [created]);
    expect(products.n).toBeGreaterThan(0);
  });

  test.each([['empty', ''], ['blank', '   '], ['201 characters long', 'x'.repeat(201)]])('a tenant name that is %s is refused, saying what a name is, and nothing is created', async (_, name) => {
    const env = { ...process.env, DATABASE_URL: db.url };
    const before = (await db.pool.query('select count(*)::int as n from app_public.tenants')).rows[0].n;
    const run = await runCli(['tenant', name], env);
    expect(run.code).toBe(1);
    expect(lastLogLine(run)).toMatchObject({ error: "a tenant's name is 1 to 200 characters, not only spaces" });
    expect((await db.pool.query('select count(*)::int as n from app_public.tenants')).rows[0].n).toBe(before);
  });
});

describe('finishline import --server --token (no database access)', () => {
  test('streams the file to PUT /catalog-files/…, submits and follows the batch through GraphQL', async () => {
    const server = await startServerProcess(db);
    try {
      const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'cli' });
      const file = path.join(dir, 'by-token.csv');
      fs.writeFileSync(file, 'seller,sku,name,price,stock\nToken Shop,TOKEN-1,Lamp by token,12.50,3\nToken Shop,TOKEN-2,Shade by token,4.00,10\n');
      const cli = CLI_PATH;
      const run = promisify(execFile);
      // No DATABASE_URL: the server is the only way in.
      const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', FINISHLINE_TOKEN: token };
      const imported = await run(process.execPath, [cli, 'import', file, '--server', server.url, '--watch'], { env });
      expect(imported.stdout).toMatch(/^uploaded by-token\.csv \(\d+ bytes, sha256 [0-9a-f]{12}…\)$/m);
      expect(imported.stdout).toMatch(/1\/1 done, 0 failed/);
      expect(imported.stdout).toMatch(/"inserted": 2/);
      const { rows } = await db.pool.query(`select sku, name from app_public.products where tenant_id = $1 and sku like 'TOKEN-%' order by sku`, [tenant]);
      expect(rows).toEqual([{ sku: 'TOKEN-1', name: 'Lamp by token' }, { sku: 'TOKEN-2', name: 'Shade by token' }]);

      const batchId = /batch ([0-9a-f-]{36})/.exec(imported.stdout)![1];
      const status = await run(process.execPath, [cli, 'status', batchId, '--server', server.url], { env });
      expect(status.stdout).toContain(`batch ${batchId} (import_catalog): completed`);
      // The URL of its GraphQL endpoint names the server as well.
      const byEndpoint = await run(process.execPath, [cli, 'status', batchId, '--server', `${server.url}/graphql`], { env });
      expect(byEndpoint.stdout).toContain(`batch ${batchId} (import_catalog): completed`);

      // The upload endpoint wants a tenant's token, and a name; every refusal has a code.
      const put = (headers: Record<string, string>, name = 'x.csv') =>
        fetch(`${server.url}/catalog-files/${name}`, { method: 'PUT', headers, body: 'sku,name,price\n' }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
      expect(await put({})).toMatchObject({ status: 401, body: { code: 'FLJWT' } });
      const shopper = signToken(TEST_JWT_SECRET, { role: 'app_shopper', tenant_id: tenant, sub: 'alice' });
      expect(await put({ authorization: `Bearer ${shopper}` })).toMatchObject({ status: 403, body: { code: 'FLCLM' } });
      for (const name of ['', 'a%2Fb.csv', 'a%00b.csv', 'tab%09.csv', 'x'.repeat(256)]) {
        expect(await put({ authorization: `Bearer ${token}` }, name), name).toEqual({
          status: 400,
          body: { code: 'FLREQ', error: 'name the file in the path: PUT /catalog-files/<filename> (1 to 255 characters, no slash or control character)' },
        });
      }
      // A token that outlived its tenant.
      const removed = await createTenant(db);
      await db.pool.query('delete from app_public.tenants where id = $1', [removed]);
      const orphan = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: removed, sub: 'cli' });
      expect(await put({ authorization: `Bearer ${orphan}` })).toEqual({
        status: 403,
        body: { code: 'FLTEN', error: `no tenant ${removed}: the request's tenant_id names no tenant` },
      });
      expect(server.output()).not.toMatch(/"level":"error"/);
      const again = await put({ authorization: `Bearer ${token}` });
      expect(again).toMatchObject({ status: 201, body: { filename: 'x.csv', reused: false } });
      expect(await put({ authorization: `Bearer ${token}` })).toMatchObject({ status: 200, body: { id: again.body.id, reused: true } });
    } finally {
      await server.stop();
    }
  });
});
