// Catalog imports cut short: the file's reader connection lost mid-file, and the worker told to
// stop mid-file. The worker must survive the first and stop promptly on the second, and the item
// must run again either way, its attempt unspent (neither is the item's failure). An import is held mid-file by locking the table of file chunks once
// its reader has begun to read them: it then waits for the next chunk for as long as the test wants.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { uploadCatalogFile } from '../server/catalog/upload.ts';
import { createTenant, startWorkerProcess, submitBatch, useTestDatabase, waitFor, waitForSummary, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-interruptions-'));
const ROWS = 30_000;
let tenant: string;

beforeAll(async () => {
  await db.pool.query(`update app_public.batch_kinds set retry_delay = '50 milliseconds' where kind = 'import_catalog'`);
  tenant = await createTenant(db, 'interrupted-tenant');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A CSV catalog of several 1 MB chunks, uploaded. */
async function uploadLargeFile(name: string): Promise<string> {
  const lines = ['seller,sku,name,description,price'];
  for (let i = 0; i < ROWS; i++) lines.push(`${name},${name}-${i},Product ${i},${'a long description '.repeat(25)},${i % 100}.50`);
  const file = path.join(dir, `${name}.csv`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await uploadCatalogFile(client, tenant, file)).id;
  } finally {
    await client.end();
  }
}

/**
 * Starts importing the file and holds the import mid-file: returns the pid of its reader's backend,
 * waiting for the next chunk behind the lock, and the function that lets it go on.
 */
async function importHeldMidFile(fileId: string) {
  const batch = await submitBatch(db, tenant, 'import_catalog', [{ file_id: fileId }]);
  // (pg_stat_activity keeps a connection's last query.) The file has 15 chunks: the reader is far
  // from its end when the lock is taken.
  await waitFor(
    async () => (await db.pool.query(`select 1 from pg_stat_activity where datname = $1 and query like 'select bytes from app_private.catalog_file_chunks%'`, [db.name])).rowCount,
    { what: 'the import to begin reading the file' },
  );
  const lock = await db.pool.connect();
  await lock.query('begin');
  await lock.query('lock table app_private.catalog_file_chunks in access exclusive mode');
  const readerPid = await waitFor(
    async () =>
      (await db.pool.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query like 'select bytes from app_private.catalog_file_chunks%'`,
        [db.name],
      )).rows[0]?.pid,
    { what: 'the reader to wait for its next chunk' },
  );
  const release = async () => {
    await lock.query('rollback');
    lock.release();
  };
  return { batch, readerPid, release };
}

async function itemOf(batchId: string) {
  const { rows } = await db.pool.query('select status, attempts, last_error, result from app_public.batch_items where batch_id = $1', [batchId]);
  return rows[0];
}

test("losing the file's reader connection mid-file gives the item back, its attempt unspent, and the worker goes on", async () => {
  const worker: WorkerProcess = await startWorkerProcess(db);
  const fileId = await uploadLargeFile('ReaderLost');
  const { batch, readerPid, release } = await importHeldMidFile(fileId);
  await db.pool.query('select pg_terminate_backend($1)', [readerPid]);
  await release();

  await waitForSummary(db, batch.id, 60_000);
  // A lost connection is not the item's failure: it ran again on the same attempt.
  expect(await itemOf(batch.id)).toMatchObject({ status: 'succeeded', attempts: 1, result: { rows_read: ROWS, inserted: ROWS, rejected: 0 } });
  expect(worker.output()).toContain('"msg":"gave back 1 interrupted items"');
  expect(worker.output()).not.toContain('"msg":"item failed"');
  // Still the same process, which stops cleanly.
  expect(await worker.stop()).toBe(0);
});

test('SIGTERM stops an import mid-file: the worker exits and the item is pending again, its attempt unspent', async () => {
  const worker = await startWorkerProcess(db);
  const fileId = await uploadLargeFile('Stopped');
  const { batch, release } = await importHeldMidFile(fileId);
  try {
    // The import cannot finish while the chunks are locked: only stopping it lets the worker exit.
    expect(await worker.stop()).toBe(0);
    expect(await itemOf(batch.id)).toMatchObject({ status: 'pending', attempts: 0 });
    const { rows: [staged] } = await db.pool.query(`select count(*)::int as n from app_public.products where tenant_id = $1 and sku like 'Stopped-%'`, [tenant]);
    expect(staged.n).toBe(0);
  } finally {
    await release();
  }

  const next = await startWorkerProcess(db);
  await waitForSummary(db, batch.id, 60_000);
  expect(await itemOf(batch.id)).toMatchObject({ status: 'succeeded', attempts: 1, result: { inserted: ROWS } });
  await next.stop();
});
