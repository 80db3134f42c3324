// Catalog uploads of the same content at the same moment: the one that finishes second gets the
// file of the first, as a later upload of that content would, not a unique-key error.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { storeCatalogFile } from '../server/catalog/upload.ts';
import { createTenant, useTestDatabase, waitFor } from './helpers.ts';

const db = useTestDatabase();
const clients: pg.Client[] = [];
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db);
});
afterAll(() => Promise.all(clients.map((client) => client.end())));

/** A connection of its own, with its backend's pid (to see when it waits for a lock). */
async function connect(): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  clients.push(client);
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  return { client, pid: rows[0].pid };
}

/** Begins a transaction as app_user of the tenant, as a GraphQL request does. */
async function beginAsTenant(client: pg.Client): Promise<void> {
  await client.query('begin');
  await client.query('set local role app_user');
  await client.query(`select set_config('jwt.claims.role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenant]);
}

/** Resolves once the backend `pid` waits for a lock (the other upload's uncommitted file). */
async function waitingForLock(pid: number): Promise<void> {
  await waitFor(
    async () => (await db.pool.query(`select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`, [pid])).rowCount,
    { what: 'the second upload to wait for the first' },
  );
}

async function filesWith(sha256: string) {
  const { rows } = await db.pool.query(
    `select f.id, f.filename, (select count(*)::int from app_private.catalog_file_chunks c where c.file_id = f.id) as chunks
     from app_public.catalog_files f where f.tenant_id = $1 and f.sha256 = $2`,
    [tenant, sha256],
  );
  return rows;
}

test('two uploadCatalogFile calls of the same content, the second finishing while the first is uncommitted, give one file', async () => {
  const content = Buffer.from('seller,sku,name,price\nAcme,A-1,Chef knife,49.90\n').toString('base64');
  const [first, second] = [await connect(), await connect()];
  await beginAsTenant(first.client);
  await beginAsTenant(second.client);
  const { rows: [firstFile] } = await first.client.query('select * from app_public.upload_catalog_file($1, $2)', ['first.csv', content]);
  const secondUpload = second.client.query('select * from app_public.upload_catalog_file($1, $2)', ['second.csv', content]);
  await waitingForLock(second.pid);
  await first.client.query('commit');
  const { rows: [secondFile] } = await secondUpload;
  await second.client.query('commit');

  expect(secondFile).toMatchObject({ id: firstFile.id, filename: 'first.csv', sha256: firstFile.sha256 });
  expect(await filesWith(firstFile.sha256)).toEqual([{ id: firstFile.id, filename: 'first.csv', chunks: 1 }]);
});

test('a streamed upload (CLI, HTTP) finishing while an upload of the same content is uncommitted reuses its file', async () => {
  const content = 'seller,sku,name,price\nAcme,B-1,Bread knife,19.90\n';
  const [first, second] = [await connect(), await connect()];
  await beginAsTenant(first.client);
  const { rows: [firstFile] } = await first.client.query('select * from app_public.upload_catalog_file($1, $2)', ['first.csv', Buffer.from(content).toString('base64')]);
  const streamed = storeCatalogFile(second.client, tenant, 'streamed.csv', (async function* () {
    yield Buffer.from(content);
  })());
  await waitingForLock(second.pid);
  await first.client.query('commit');

  // Its answer describes the file kept, as the GraphQL upload's does: that file's name, not the one sent.
  expect(await streamed).toMatchObject({ id: firstFile.id, filename: 'first.csv', reused: true, sha256: firstFile.sha256 });
  expect(await filesWith(firstFile.sha256)).toEqual([{ id: firstFile.id, filename: 'first.csv', chunks: 1 }]);
});
