// Streams a catalog file (from disk, or an HTTP request body) into the database in 1 MB chunks,
// hashing as it goes: the file is never whole in memory, and the same content uploaded twice is
// stored once.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

export interface UploadedFile {
  id: string;
  filename: string;
  sizeBytes: number;
  sha256: string;
  /** True when the tenant had uploaded the same content before (that file is returned). */
  reused: boolean;
}

/** The file is over `finishline.max_catalog_file_bytes`; nothing of it is kept. */
export class CatalogFileTooLarge extends Error {
  readonly code = 'FLBIG';
  readonly maxBytes: number;
  constructor(filename: string, maxBytes: number) {
    super(`catalog file "${filename}" is larger than the limit of ${maxBytes} bytes (finishline.max_catalog_file_bytes)`);
    this.maxBytes = maxBytes;
  }
}

const CHUNK_BYTES = 1024 * 1024;

/** Regroups a stream's pieces (a request body comes in ~64 kB) into chunks of CHUNK_BYTES. */
async function* rechunk(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    pending.push(piece);
    pendingBytes += piece.length;
    while (pendingBytes >= CHUNK_BYTES) {
      const joined = Buffer.concat(pending);
      yield joined.subarray(0, CHUNK_BYTES);
      pending = [joined.subarray(CHUNK_BYTES)];
      pendingBytes = pending[0].length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/** Stores a file of the tenant from any byte stream, in one transaction on `client`. */
export async function storeCatalogFile(client: pg.ClientBase, tenantId: string, filename: string, source: AsyncIterable<Buffer>): Promise<UploadedFile> {
  await client.query('begin');
  try {
    // The transaction waits for the body between chunks, at the sender's pace (which the HTTP
    // server's idle timeout bounds): a bound an operator gave idle transactions, for those a client
    // forgot, would end an upload whose sender paused, as if the database had gone away.
    await client.query('set local idle_in_transaction_session_timeout = 0');
    // The tenant is checked as a request's is (FLTEN): a token or --tenant may name one that is gone.
    await client.query(`select set_config('jwt.claims.tenant_id', $1, true), app_private.require_tenant_id()`, [tenantId]);
    const { rows: [{ id, max }] } = await client.query<{ id: string; max: string }>(
      'insert into app_public.catalog_files (tenant_id, filename) values ($1, $2) returning id, app_private.max_catalog_file_bytes() as max',
      [tenantId, filename],
    );
    const hash = createHash('sha256');
    let size = 0;
    let seq = 0;
    for await (const chunk of rechunk(source)) {
      size += chunk.length;
      if (size > Number(max)) throw new CatalogFileTooLarge(filename, Number(max));
      hash.update(chunk);
      await client.query('insert into app_private.catalog_file_chunks (file_id, seq, bytes) values ($1, $2, $3)', [id, seq++, chunk]);
    }
    const sha256 = hash.digest('hex');
    const { rows: [kept] } = await client.query<{ id: string }>('select app_private.finish_catalog_upload($1, $2, $3) as id', [id, size, sha256]);
    // The tenant's file of the same content, when there is one, is kept instead: its name is the
    // answer's. Read by a statement of its own, which sees that file even if it committed meanwhile.
    const { rows: [{ filename: keptName }] } = await client.query<{ filename: string }>('select filename from app_public.catalog_files where id = $1', [kept.id]);
    await client.query('commit');
    return { id: kept.id, filename: keptName, sizeBytes: size, sha256, reused: kept.id !== id };
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

export async function uploadCatalogFile(client: pg.ClientBase, tenantId: string, filePath: string): Promise<UploadedFile> {
  // Opened here, so that a file that cannot be opened rejects: a stream opening it would emit the
  // error before anything listens, and that crashes the process.
  const file = await fs.promises.open(filePath);
  const source = file.createReadStream({ highWaterMark: CHUNK_BYTES });
  try {
    return await storeCatalogFile(client, tenantId, path.basename(filePath), source);
  } finally {
    source.destroy(); // (closes the file, also when the upload failed before reading it)
  }
}
