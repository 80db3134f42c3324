// Imports one stored catalog file: streams its chunks out of the database through a real parser
// (csv-parse for CSV, readline + JSON.parse for JSON Lines), validates each row, and upserts
// valid rows a few thousand at a time, all in the caller's transaction.
import { Readable } from 'node:stream';
import readline from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import type pg from 'pg';
import { PermanentItemError } from '../item_task.ts';
import { validateRow, type ProductRow, type Rejection, type ReviewRow } from './rows.ts';

const FLUSH_ROWS = 5000;
const MAX_REJECTIONS_LISTED = 100;

export interface ImportStats {
  rows_read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rejected_by_reason: Record<string, number>;
  /** The first rejected rows, with file, line and reason. */
  rejections: Array<{ file: string; line: number; reason: string; message: string }>;
}

interface StoredFile {
  id: string;
  tenant_id: string;
  filename: string;
  size_bytes: string | null;
}

type RawRow = { raw: Record<string, unknown>; line: number } | { rejection: Rejection };

async function* chunksOf(client: pg.PoolClient, fileId: string): AsyncGenerator<Buffer> {
  for (let seq = 0; ; seq++) {
    const { rows } = await client.query<{ bytes: Buffer }>(
      'select bytes from app_private.catalog_file_chunks where file_id = $1 and seq = $2',
      [fileId, seq],
    );
    if (!rows[0]) return;
    yield rows[0].bytes;
  }
}

/** Refuses content that is plainly not text: NUL bytes, or bytes that are not UTF-8. */
function assertText(first: Buffer, filename: string): void {
  const sample = first.subarray(0, 65536);
  if (sample.includes(0)) throw new PermanentItemError(`${filename} is not a catalog: it is binary (it contains NUL bytes)`);
  try {
    // A multi-byte character cut by the sample's end is not an error: drop up to 3 trailing bytes.
    new TextDecoder('utf-8', { fatal: true }).decode(sample.length < 65536 ? sample : sample.subarray(0, sample.length - 3));
  } catch {
    throw new PermanentItemError(`${filename} is not a catalog: it is not UTF-8 text`);
  }
}

async function* csvRows(source: Readable, filename: string): AsyncGenerator<RawRow> {
  const skipped: Rejection[] = [];
  const parser = source.pipe(
    parseCsv({
      bom: true,
      columns: (header: string[]) => {
        const names = header.map((name) => name.trim().toLowerCase());
        if (!names.includes('seller') || !names.includes('sku')) {
          throw new PermanentItemError(
            `${filename} is not a catalog: its header must name the columns seller and sku (found: ${names.slice(0, 10).join(', ') || 'nothing'})`,
          );
        }
        return names;
      },
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      info: true,
    }),
  );
  parser.on('skip', (error: Error & { lines?: number }) => {
    skipped.push({ line: error.lines ?? 0, reason: 'malformed_csv', message: error.message });
  });
  let previousEnd = 1; // the header's line
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
      while (skipped.length > 0) yield { rejection: skipped.shift()! };
      yield { raw: record, line: previousEnd + 1 };
      previousEnd = info.lines;
    }
  } catch (error) {
    // The columns callback refuses the header; csv-parse wraps what it throws.
    const cause = (error as { cause?: unknown }).cause;
    if (error instanceof PermanentItemError) throw error;
    if (cause instanceof PermanentItemError) throw cause;
    throw new PermanentItemError(`${filename} could not be read as CSV: ${(error as Error).message}`);
  }
  for (const rejection of skipped) yield { rejection };
}

async function* jsonLinesRows(source: Readable): AsyncGenerator<RawRow> {
  let line = 0;
  for await (const text of readline.createInterface({ input: source, crlfDelay: Infinity })) {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      yield { rejection: { line, reason: 'invalid_json', message: `not valid JSON: ${(error as Error).message}` } };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { rejection: { line, reason: 'invalid_json', message: 'each line must be a JSON object' } };
      continue;
    }
    yield { raw: value as Record<string, unknown>, line };
  }
}

export async function importCatalogFile(client: pg.PoolClient, fileId: string): Promise<ImportStats> {
  const { rows } = await client.query<StoredFile>(
    'select id, tenant_id, filename, size_bytes from app_public.catalog_files where id = $1',
    [fileId],
  );
  const file = rows[0];
  if (!file) throw new PermanentItemError(`catalog file ${fileId} does not exist`);
  if (file.size_bytes === null) throw new PermanentItemError(`catalog file ${file.filename} was never completely uploaded`);
  if (file.size_bytes === '0') throw new PermanentItemError(`${file.filename} is not a catalog: it is empty`);

  const chunks = chunksOf(client, file.id);
  const first = await chunks.next();
  if (first.done) throw new PermanentItemError(`${file.filename} is not a catalog: it is empty`);
  assertText(first.value, file.filename);
  const source = Readable.from((async function* () {
    yield first.value;
    yield* chunks;
  })());
  const jsonLines = /\.(jsonl|ndjson)$/i.test(file.filename) || (!/\.csv$/i.test(file.filename) && first.value.toString('utf8', 0, 64).trimStart().replace(/^\uFEFF/, '').startsWith('{'));
  const rawRows = jsonLines ? jsonLinesRows(source) : csvRows(source, file.filename);

  const stats: ImportStats = { rows_read: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, rejected_by_reason: {}, rejections: [] };
  const reject = (rejection: Rejection) => {
    stats.rejected++;
    stats.rejected_by_reason[rejection.reason] = (stats.rejected_by_reason[rejection.reason] ?? 0) + 1;
    if (stats.rejections.length < MAX_REJECTIONS_LISTED) stats.rejections.push({ file: file.filename, ...rejection });
  };
  const add = (counts: { inserted: number; updated: number; unchanged: number }) => {
    stats.inserted += counts.inserted;
    stats.updated += counts.updated;
    stats.unchanged += counts.unchanged;
  };

  let seller: { name: string; id: string } | undefined;
  const firstLineOfSku = new Map<string, number>();
  const reviewKeys = new Set<string>();
  let products: ProductRow[] = [];
  let reviews: ReviewRow[] = [];
  const flush = async () => {
    if (!seller) return;
    if (products.length > 0) {
      const { rows: [result] } = await client.query<{ counts: { inserted: number; updated: number; unchanged: number } }>(
        'select app_private.upsert_catalog_products($1, $2, $3::jsonb) as counts',
        [file.tenant_id, seller.id, JSON.stringify(products)],
      );
      add(result.counts);
      products = [];
    }
    if (reviews.length > 0) {
      const { rows: [result] } = await client.query<{ counts: { inserted: number; updated: number; unchanged: number; unknown_product_lines: number[] } }>(
        'select app_private.upsert_catalog_reviews($1, $2, $3::jsonb) as counts',
        [file.tenant_id, seller.id, JSON.stringify(reviews)],
      );
      add(result.counts);
      for (const line of result.counts.unknown_product_lines) {
        reject({ line, reason: 'unknown_product', message: `the seller has no product with this sku (products must come before their reviews)` });
      }
      reviews = [];
    }
  };

  for await (const item of rawRows) {
    stats.rows_read++;
    if ('rejection' in item) {
      reject(item.rejection);
      continue;
    }
    const checked = validateRow(item.raw, item.line);
    if ('rejection' in checked) {
      reject(checked.rejection);
      continue;
    }
    if (!seller) {
      const { rows: [row] } = await client.query<{ id: string }>('select app_private.catalog_seller($1, $2) as id', [file.tenant_id, checked.seller]);
      seller = { name: checked.seller, id: row.id };
    } else if (checked.seller !== seller.name) {
      reject({ line: item.line, reason: 'other_seller', message: `a catalog file is for one seller: this row names "${checked.seller}", the file "${seller.name}"` });
      continue;
    }
    const { row } = checked;
    if (row.type === 'product') {
      const firstLine = firstLineOfSku.get(row.sku);
      if (firstLine !== undefined) {
        reject({ line: row.line, reason: 'duplicate_sku', message: `sku "${row.sku}" already appears at line ${firstLine}` });
        continue;
      }
      firstLineOfSku.set(row.sku, row.line);
      products.push(row);
    } else {
      const key = `${row.sku}\u0000${row.author}`;
      if (reviewKeys.has(key)) {
        reject({ line: row.line, reason: 'duplicate_review', message: `"${row.author}" already reviewed sku "${row.sku}" earlier in the file` });
        continue;
      }
      reviewKeys.add(key);
      reviews.push(row);
    }
    if (products.length + reviews.length >= FLUSH_ROWS) await flush();
  }
  await flush();
  if (stats.rows_read === 0) throw new PermanentItemError(`${file.filename} is not a catalog: it has no rows`);
  return stats;
}
