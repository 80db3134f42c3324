// Imports one stored catalog file: streams its chunks out of the database through a real parser
// (csv-parse for CSV, a line splitter + JSON.parse for JSON Lines), validates each row, and copies
// the valid ones, 100,000 at a time, into staging tables for SQL to merge, in the caller's
// transaction, while the next 100,000 are parsed.
import { pipeline, Readable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { CsvError, parse as parseCsv, type Options as CsvOptions } from 'csv-parse';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { PermanentItemError } from '../worker/item_task.ts';
import { uuidV7 } from '../uuid.ts';
import { clip, validateRow, type ProductRow, type Rejection, type ReviewRow } from './rows.ts';

/** Characters of CSV gathered into each piece written to the COPY stream. */
const COPY_BUFFER_CHARS = 256 * 1024;
/**
 * Valid rows per chunk, or fewer when their CSV reaches CHUNK_CHARS (bounding what a chunk holds
 * in memory). The database copies (and, for a new seller, merges) each chunk while the next one is
 * parsed; larger chunks spend less on each merge's fixed work, smaller ones start it sooner.
 */
const CHUNK_ROWS = 100_000;
const CHUNK_CHARS = 16 * 1024 * 1024;
/**
 * Rows parsed between two turns of the event loop. The rows come through promises (microtasks),
 * so without these turns the COPY in flight would be written on, and the end of a merge noticed,
 * only when the parser waits for the next chunk of the file.
 */
const ROWS_BETWEEN_TURNS = 1000;
const MAX_REJECTIONS_LISTED = 100;
/**
 * The longest record (CSV) or line (JSON Lines) read, in characters (csv-parse counts the bytes of
 * the field it is reading): far above any valid row, and the most one malformed record (a quote
 * left open, a file without line breaks) can make the parser hold in memory.
 */
export const MAX_RECORD_LENGTH = 1024 * 1024;

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
  content_removed_at: Date | null;
}

type RawRow = { raw: Record<string, unknown>; line: number } | { rejection: Rejection };

async function* chunksOf(client: pg.ClientBase, file: StoredFile): AsyncGenerator<Buffer> {
  let read = 0;
  for (let seq = 0; ; seq++) {
    const { rows } = await client.query<{ bytes: Buffer }>(
      'select bytes from app_private.catalog_file_chunks where file_id = $1 and seq = $2',
      [file.id, seq],
    );
    if (!rows[0]) {
      // Each piece is read in a statement of its own: a prune that removed the file meanwhile
      // leaves fewer bytes than it has, which must not pass for the whole file.
      if (read !== Number(file.size_bytes)) {
        throw new PermanentItemError(`catalog file ${file.filename} was removed while it was read (retention): upload it again`);
      }
      return;
    }
    read += rows[0].bytes.length;
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

/** What most CSV records span: one line, no CRLF counted twice. */
const ONE_LINE = { breaks: 0, crlfs: 0 };

/**
 * The line each CSV record starts on. csv-parse gives the line a record (or an error) is at, and
 * counts a CRLF inside a quoted field as two lines; the record's raw text, which begins with the
 * blank lines before it, gives the lines it spans and the CRLFs counted twice.
 */
function csvLines() {
  let doubled = 0; // CRLFs inside quoted fields so far
  let skippedStart = 0; // the malformed record being skipped, as csv-parse counts
  let skippedDoubled = 0;
  const span = (raw: string) => {
    // Most records: one line, ended by a bare LF (or by the end of the file).
    const lf = raw.indexOf('\n');
    if ((lf === -1 || lf === raw.length - 1) && !raw.includes('\r')) return ONE_LINE;
    // Not the blank lines before it, nor a line break it ends on (not counted yet).
    const text = raw.replace(/^[\r\n]+/, '').replace(/[\r\n]$/, '');
    return { breaks: text.match(/[\r\n]/g)?.length ?? 0, crlfs: text.match(/\r\n/g)?.length ?? 0 };
  };
  return {
    record(lines: number, raw: string): number {
      doubled += skippedDoubled;
      skippedStart = skippedDoubled = 0;
      const { breaks, crlfs } = span(raw);
      const line = lines - breaks - doubled;
      doubled += crlfs;
      return line;
    },
    /** Where a malformed record starts; undefined for a further error in the record skipped last. */
    skipped(lines: number, raw: string): number | undefined {
      const { breaks, crlfs } = span(raw);
      const start = lines - breaks;
      const again = start === skippedStart;
      if (!again) doubled += skippedDoubled;
      skippedStart = start;
      skippedDoubled = crlfs;
      return again ? undefined : start - doubled;
    },
  };
}

/** A CSV record as on_record leaves it: its fields by column, its line, the malformed records skipped before it. */
interface CsvRecord {
  record: Record<string, unknown>;
  line: number;
  skippedBefore: Rejection[];
}

/** The records of a CSV catalog (its header names the columns), with rows it cannot read as rejections. */
export async function* csvRows(source: Readable, filename: string): AsyncGenerator<RawRow> {
  const skipped: Rejection[] = [];
  const lines = csvLines();
  // The header names the columns; each record becomes an object of them here (csv-parse's
  // `columns` option does the same, a third slower). Fields past the header's are ignored.
  let names: string[] | undefined;
  const named = (fields: string[]): Record<string, unknown> => {
    const record: Record<string, unknown> = {};
    for (let i = 0, n = Math.min(fields.length, names!.length); i < n; i++) record[names![i]] = fields[i];
    return record;
  };
  // Called as the parser goes (ahead of the loop below), in step with on_skip: each record takes
  // its line, and the rows skipped before it. (csv-parse's types miss that `info` and `raw` wrap
  // the record it is given.)
  const onRecord = ({ record, info, raw }: { record: string[]; info: { lines: number }; raw: string }): CsvRecord | null => {
    const line = lines.record(info.lines, raw);
    if (names === undefined) {
      names = record.map((name) => name.trim().toLowerCase());
      if (!names.includes('seller') || !names.includes('sku')) {
        throw new PermanentItemError(
          `${filename} is not a catalog: its header must name the columns seller and sku (found: ${clip(names.slice(0, 10).join(', ')) || 'nothing'})`,
        );
      }
      return null; // (a record returned as null is left out)
    }
    return { record: named(record), line, skippedBefore: skipped.splice(0) };
  };
  const parser = parseCsv({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_LENGTH,
    info: true,
    raw: true,
    on_skip: (error: CsvError | undefined, raw: string | undefined) => {
      const line = lines.skipped((error as CsvError & { lines: number }).lines, raw ?? '');
      // Past the limit csv-parse cannot find where the record ends: the rest of the file is unreadable.
      if (error?.code === 'CSV_MAX_RECORD_SIZE') {
        throw new PermanentItemError(
          `${filename} could not be read as CSV: the record at line ${line ?? 'unknown'} is longer than ${MAX_RECORD_LENGTH} characters (is a quote left open?)`,
        );
      }
      if (line !== undefined) skipped.push({ line, reason: 'malformed_csv', message: clip(error?.message ?? 'malformed record') });
    },
    on_record: onRecord as unknown as CsvOptions['on_record'],
  });
  // A failing source (the chunk query's connection lost) fails the parser, hence the loop below.
  pipeline(source, parser, () => {});
  try {
    for await (const { record, line, skippedBefore } of parser as AsyncIterable<CsvRecord>) {
      for (const rejection of skippedBefore) yield { rejection };
      yield { raw: record, line };
    }
  } catch (error) {
    // on_record refuses the header; csv-parse may wrap what it throws.
    const cause = (error as { cause?: unknown }).cause;
    if (error instanceof PermanentItemError) throw error;
    if (cause instanceof PermanentItemError) throw cause;
    // Not the file's fault (a lost connection, a shutdown): the item may be retried.
    if (!(error instanceof CsvError)) throw error;
    throw new PermanentItemError(`${filename} could not be read as CSV: ${clip(error.message)}`);
  }
  for (const rejection of skipped) yield { rejection };
}

/** The lines of a text stream, split as readline splits them; a line longer than MAX_RECORD_LENGTH is null. */
async function* linesOf(source: Readable): AsyncGenerator<string | null> {
  const decoder = new StringDecoder('utf8');
  let line = '';
  let tooLong = false; // the line being read: its text is dropped, its end awaited
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const text = line + decoder.write(chunk);
    // A CR at the end may be the first half of a CRLF.
    const held = text.endsWith('\r') ? 1 : 0;
    const parts = text.slice(0, text.length - held).split(/\r\n|\r|\n/);
    line = parts.pop()! + (held ? '\r' : '');
    for (const part of parts) {
      yield tooLong ? null : part;
      tooLong = false;
    }
    if (line.length > MAX_RECORD_LENGTH) {
      tooLong = true;
      line = '';
    }
  }
  line += decoder.end();
  if (tooLong || line !== '') yield tooLong ? null : line;
}

async function* jsonLinesRows(source: Readable): AsyncGenerator<RawRow> {
  let line = 0;
  for await (const text of linesOf(source)) {
    line++;
    if (text === null) {
      yield { rejection: { line, reason: 'too_long', message: `the line is longer than ${MAX_RECORD_LENGTH} characters` } };
      continue;
    }
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      yield { rejection: { line, reason: 'invalid_json', message: `not valid JSON: ${clip((error as Error).message)}` } };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { rejection: { line, reason: 'invalid_json', message: 'each line must be a JSON object' } };
      continue;
    }
    yield { raw: value as Record<string, unknown>, line };
  }
}

/** The staged columns a row fills, as CSV for COPY: text quoted (so '' is an empty string), null unquoted. */
const ROW_COLUMNS = [
  'type', 'line', 'sku', 'name', 'description', 'category', 'price', 'currency', 'stock',
  'author', 'rating', 'title', 'body', 'verified_purchase', 'helpful_votes', 'unhelpful_votes',
] as const;
/** First the id the row gets if it is new, made here (see uuid.ts). */
const STAGING_COLUMNS = ['id', ...ROW_COLUMNS];
function stagingLine(row: ProductRow | ReviewRow): string {
  const record = row as unknown as Record<string, unknown>;
  const values = ROW_COLUMNS.map((column) => {
    const value = record[column];
    if (value === undefined || value === null) return '';
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return `"${String(value).replaceAll('"', '""')}"`;
  });
  return `${uuidV7()},${values.join(',')}\n`;
}

/**
 * Imports a stored file of the tenant. `reader` streams its chunks; `writer` holds the import's
 * transaction (the caller's), into which the valid rows are copied and merged.
 */
export async function importCatalogFile(
  reader: pg.ClientBase,
  writer: pg.ClientBase,
  fileId: string,
  tenantId: string,
  { signal, rowsPerChunk = CHUNK_ROWS }: { signal?: AbortSignal; rowsPerChunk?: number } = {},
): Promise<ImportStats> {
  // Another tenant's file is one this tenant cannot name: the same answer as no file at all.
  const { rows } = await reader.query<StoredFile>(
    'select id, tenant_id, filename, size_bytes, content_removed_at from app_public.catalog_files where id = $1 and tenant_id = $2',
    [fileId, tenantId],
  );
  const file = rows[0];
  if (!file) throw new PermanentItemError(`catalog file ${fileId} does not exist`);
  if (file.size_bytes === null) throw new PermanentItemError(`catalog file ${file.filename} was never completely uploaded`);
  if (file.content_removed_at) {
    throw new PermanentItemError(`catalog file ${file.filename} was removed on ${file.content_removed_at.toISOString()}, past its retention: upload it again`);
  }
  if (file.size_bytes === '0') throw new PermanentItemError(`${file.filename} is not a catalog: it is empty`);

  const fileChunks = chunksOf(reader, file);
  const first = await fileChunks.next();
  if (first.done) throw new PermanentItemError(`${file.filename} is not a catalog: it is empty`);
  assertText(first.value, file.filename);
  // Read ahead by one chunk only.
  const source = Readable.from((async function* () {
    yield first.value;
    yield* fileChunks;
  })(), { highWaterMark: 1 });
  const jsonLines = /\.(jsonl|ndjson)$/i.test(file.filename) || (!/\.csv$/i.test(file.filename) && first.value.toString('utf8', 0, 64).trimStart().replace(/^\uFEFF/, '').startsWith('{'));
  const rawRows = jsonLines ? jsonLinesRows(source) : csvRows(source, file.filename);

  const stats: ImportStats = { rows_read: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, rejected_by_reason: {}, rejections: [] };
  // Rejections past the (bounded) lists the merge returns still count.
  const countUnlisted = (count: number, reason: string) => {
    if (count <= 0) return;
    stats.rejected += count;
    stats.rejected_by_reason[reason] = (stats.rejected_by_reason[reason] ?? 0) + count;
  };
  const reject = (rejection: Rejection) => {
    stats.rejected++;
    stats.rejected_by_reason[rejection.reason] = (stats.rejected_by_reason[rejection.reason] ?? 0) + 1;
    if (stats.rejections.length < MAX_REJECTIONS_LISTED) stats.rejections.push({ file: file.filename, ...rejection });
  };

  await writer.query('select app_private.create_catalog_staging()');
  let sellerName: string | undefined;
  // The valid rows as COPY's CSV, a chunk at a time, in pieces. The pieces are bytes at once: a
  // chunk waits seconds for its COPY, long enough for strings to reach V8's old generation, which
  // is collected too seldom: a large import's memory would grow with the file.
  async function* stagedChunks(): AsyncGenerator<Buffer[]> {
    let pieces: Buffer[] = [];
    let pending = '';
    let chunkRows = 0;
    let chunkChars = 0;
    for await (const item of rawRows) {
      signal?.throwIfAborted();
      if (stats.rows_read % ROWS_BETWEEN_TURNS === 0) await new Promise((resolve) => setImmediate(resolve));
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
      sellerName ??= checked.seller;
      if (checked.seller !== sellerName) {
        reject({ line: item.line, reason: 'other_seller', message: `a catalog file is for one seller: this row names "${checked.seller}", the file "${sellerName}"` });
        continue;
      }
      pending += stagingLine(checked.row);
      chunkRows++;
      if (pending.length >= COPY_BUFFER_CHARS) {
        pieces.push(Buffer.from(pending));
        chunkChars += pending.length;
        pending = '';
      }
      if (chunkRows === rowsPerChunk || chunkChars >= CHUNK_CHARS) {
        if (pending !== '') pieces.push(Buffer.from(pending));
        yield pieces;
        pieces = [];
        pending = '';
        chunkRows = chunkChars = 0;
      }
    }
    if (pending !== '') pieces.push(Buffer.from(pending));
    if (pieces.length > 0) yield pieces;
  }

  const addMerged = (merged: ChunkMerge | StagingMerge) => {
    for (const counts of 'reviews' in merged ? [merged.products, merged.reviews] : [merged.products]) {
      stats.inserted += counts.inserted;
      stats.updated += counts.updated;
      stats.unchanged += counts.unchanged;
    }
    for (const duplicate of merged.duplicates.rows) {
      reject(
        duplicate.type === 'product'
          ? { line: duplicate.line, reason: 'duplicate_sku', message: `sku "${duplicate.sku}" already appears at line ${duplicate.first_line}` }
          : { line: duplicate.line, reason: 'duplicate_review', message: `"${duplicate.author}" already reviewed sku "${duplicate.sku}" at line ${duplicate.first_line}` },
      );
    }
    countUnlisted(merged.duplicates.count - merged.duplicates.rows.length, 'duplicate_sku');
  };

  // A new seller's products are merged a chunk at a time (merge_catalog_chunk); otherwise every
  // row is staged and merged at the end. Either way the database copies (and merges) a chunk
  // while the next one is parsed here.
  let sellerId: string | undefined;
  let byChunks = false;
  const writeChunk = async (pieces: Buffer[]) => {
    const table = byChunks ? 'catalog_chunk' : 'catalog_staging';
    await pipelineAsync(Readable.from(pieces), writer.query(copyFrom(`copy pg_temp.${table} (${STAGING_COLUMNS.join(', ')}) from stdin with (format csv)`)));
    if (byChunks) {
      const { rows: [{ merged }] } = await writer.query<{ merged: ChunkMerge }>('select app_private.merge_catalog_chunk($1, $2) as merged', [file.tenant_id, sellerId]);
      addMerged(merged);
    }
  };
  let writing: Promise<void> | undefined;
  try {
    for await (const pieces of stagedChunks()) {
      await writing;
      if (sellerId === undefined) {
        sellerId = (await writer.query<{ id: string }>('select app_private.catalog_seller($1, $2) as id', [file.tenant_id, sellerName])).rows[0].id;
        byChunks = (await writer.query<{ empty: boolean }>('select app_private.lock_catalog_seller($1) as empty', [sellerId])).rows[0].empty;
      }
      writing = writeChunk(pieces);
      // Awaited before the next chunk is written, or below; a failure waits until then.
      writing.catch(() => {});
    }
    await writing;
  } finally {
    // When parsing failed meanwhile, the caller's rollback must come after the chunk's statements.
    await writing?.catch(() => {});
  }
  if (stats.rows_read === 0) throw new PermanentItemError(`${file.filename} is not a catalog: it has no rows`);
  if (sellerId === undefined) return stats;

  // The staged rows: all of them, or (merged by chunks) the reviews.
  const { rows: [{ merged }] } = await writer.query<{ merged: StagingMerge }>('select app_private.merge_catalog_staging($1, $2) as merged', [file.tenant_id, sellerId]);
  addMerged(merged);
  const { reviews } = merged;
  for (const line of reviews.unknown_product_lines) {
    reject({ line, reason: 'unknown_product', message: `no product of ${sellerName} has this sku` });
  }
  countUnlisted(reviews.unknown_products - reviews.unknown_product_lines.length, 'unknown_product');
  return stats;
}

/** What merge_catalog_chunk returns. */
interface ChunkMerge {
  products: { inserted: number; updated: number; unchanged: number };
  duplicates: { count: number; rows: Array<{ line: number; first_line: number; type: 'product' | 'review'; sku: string; author: string | null }> };
}

/** What merge_catalog_staging returns: the reviews too. */
interface StagingMerge extends ChunkMerge {
  reviews: { inserted: number; updated: number; unchanged: number; unknown_products: number; unknown_product_lines: number[] };
}
