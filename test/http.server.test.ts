// The HTTP server of `finishline serve` (a real process) when things go wrong or get big: its
// database refuses connections, drops one mid-upload or does not answer, more uploads arrive than
// it has connections for, a CLI submits thousands of URLs, and it is stopped while a request is
// in flight, a file arrives that is over the size limit, and more websockets than it takes.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { createTenant, graphql, lastLogLine, runCli, startServerProcess, TEST_JWT_SECRET, useTestDatabase, waitFor, type ServerProcess } from './helpers.ts';
import { CLI_PATH } from './processes.ts';

/** This file's limit: its uploads are a few lines each. */
const MAX_CATALOG_FILE_BYTES = 10_000;
/** A bound an operator may give forgotten transactions: an upload waiting for its body is not one. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 1000;
const db = useTestDatabase({
  'finishline.max_catalog_file_bytes': String(MAX_CATALOG_FILE_BYTES),
  idle_in_transaction_session_timeout: String(IDLE_IN_TRANSACTION_TIMEOUT_MS),
});
const admin = new pg.Client({ connectionString: inject('adminUrl') });
let server: ServerProcess;
let tenant: string;
let token: string;

beforeAll(async () => {
  await admin.connect();
  tenant = await createTenant(db);
  token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'uploader' });
  server = await startServerProcess(db);
});
afterAll(async () => {
  await admin.query(`alter database ${db.name} allow_connections true`);
  await server?.stop();
  await admin.end();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A PUT /catalog-files/… whose body is sent a part at a time, when the test says so. */
function startUpload(filename: string) {
  const request = http.request(`${server.url}/catalog-files/${filename}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
  });
  const answered = new Promise<Answer>((resolve, reject) => {
    request.once('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(text) }));
    });
    request.once('error', reject);
  });
  // (Each file its own content: the same content is stored once.)
  request.write(`{"seller": "Shop", "sku": "A-1", "name": ${JSON.stringify(filename)}, "price": 1}\n`);
  return {
    finish() {
      request.end('{"seller": "Shop", "sku": "A-2", "name": "Shade", "price": 2}\n');
      return answered;
    },
  };
}

/** The server's connections that sit in an upload's open transaction, waiting for its body. */
async function uploadBackends(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity where datname = $1 and state = 'idle in transaction' order by backend_start`,
    [db.name],
  );
  return rows.map((row) => row.pid);
}

async function health(): Promise<Answer> {
  const response = await fetch(`${server.url}/health`);
  return { status: response.status, headers: {}, body: await response.json() };
}

describe('a catalog file asked for with another method than PUT', () => {
  // Files are read by imports, not served: a GET, POST or DELETE is told which method the path takes.
  test.each(['GET', 'POST', 'DELETE'])('%s is answered 405 with Allow: PUT and a coded error', async (method) => {
    const response = await fetch(`${server.url}/catalog-files/a.csv`, { method, headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('PUT');
    expect(await response.json()).toEqual({ error: 'catalog files are uploaded, not read: PUT /catalog-files/<filename>', code: 'FLREQ' });
  });
});

describe('an upload whose sender pauses', () => {
  test("longer than the database's idle_in_transaction_session_timeout is stored all the same", async () => {
    const upload = startUpload('paused.jsonl');
    await new Promise((resolve) => setTimeout(resolve, 2.5 * IDLE_IN_TRANSACTION_TIMEOUT_MS));
    expect(await upload.finish()).toMatchObject({ status: 201, body: { filename: 'paused.jsonl', reused: false } });
  });
});

describe('when the database fails', () => {
  test('an upload while the database refuses connections gets a 503, and the server lives on', async () => {
    await admin.query(`alter database ${db.name} allow_connections false`);
    // The server's open connections go too, as in a database restart.
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [db.name]);
    try {
      const refused = await startUpload('b.jsonl').finish();
      expect(refused).toMatchObject({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'the database is not available; try again later' } });
      expect(await health()).toMatchObject({ status: 503, body: { ok: false, problems: [expect.stringMatching(/^database unreachable: /)] } });
      // (An operator's maintenance: not the client's fault, nor the server's; an answer to retry.)
      const query = await graphql(server.url, '{ currentTenantId }', {}, token);
      expect(query).toMatchObject({ status: 503, errors: [{ extensions: { code: 'FLDBU' } }] });
    } finally {
      await admin.query(`alter database ${db.name} allow_connections true`);
    }
    const stored = await startUpload('b.jsonl').finish();
    expect(stored).toMatchObject({ status: 201, body: { filename: 'b.jsonl', reused: false } });
    expect(await graphql(server.url, '{ currentTenantId }', {}, token)).toMatchObject({ status: 200, data: { currentTenantId: tenant } });
    expect(server.output()).not.toMatch(/unhandled|uncaught/i);
  });

  test('a connection lost while an upload streams in fails that upload with a 503 to retry, and the server lives on', async () => {
    const upload = startUpload('lost.jsonl');
    const [backend] = await waitFor(async () => {
      const pids = await uploadBackends();
      return pids.length === 1 && pids;
    }, { what: 'the upload to open its transaction' });
    await admin.query('select pg_terminate_backend($1)', [backend]);
    expect(await upload.finish()).toMatchObject({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'the database is not available; try again later', code: 'FLDBU' } });
    const { rows } = await db.pool.query(`select count(*)::int as n from app_public.catalog_files where filename = 'lost.jsonl'`);
    expect(rows[0].n).toBe(0);
    expect(await startUpload('after.jsonl').finish()).toMatchObject({ status: 201 });
  });
});

describe('uploads and the connection pool', () => {
  test('uploads take at most all but one of the server\'s 4 connections: the next gets a 503, /health still answers', async () => {
    const uploads = ['one', 'two', 'three'].map((name) => startUpload(`${name}.jsonl`));
    await waitFor(async () => (await uploadBackends()).length === 3, { what: 'three uploads to hold a connection each' });

    const fourth = await startUpload('four.jsonl').finish();
    expect(fourth).toMatchObject({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'the server is taking 3 uploads at once already; try again shortly', code: 'FLBSY' } });
    // No worker runs in this test: /health says so, rather than waiting for a connection.
    expect(await health()).toMatchObject({ status: 503, body: { problems: ['no worker has a fresh heartbeat: batches will not move'] } });

    for (const upload of uploads) expect(await upload.finish()).toMatchObject({ status: 201 });
  });

  test('/health answers 503 when the database does not answer in time, rather than keep the probe waiting', async () => {
    const blocker = await db.pool.connect();
    try {
      await blocker.query('begin');
      // (This file's databases end idle transactions after a second: this one waits on purpose.)
      await blocker.query('set local idle_in_transaction_session_timeout = 0');
      await blocker.query('lock table app_private.migrations in access exclusive mode');
      const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(20_000) });
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 503,
        body: { ok: false, problems: ['the database did not answer within 5000 ms'] },
      });
    } finally {
      await blocker.query('rollback');
      blocker.release();
    }
  });
});

describe('a file over finishline.max_catalog_file_bytes', () => {
  test('is refused with 413 FLBIG, whether its size is declared or found as it streams, and nothing of it is stored', async () => {
    const body = `${'{"seller": "Shop", "sku": "B-1", "name": "Big", "price": 1}\n'.repeat(400)}`;
    expect(body.length).toBeGreaterThan(MAX_CATALOG_FILE_BYTES);
    const declared = await fetch(`${server.url}/catalog-files/big.jsonl`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body });
    expect({ status: declared.status, body: await declared.json() }).toEqual({
      status: 413,
      body: { code: 'FLBIG', error: `catalog file "big.jsonl" is larger than the limit of ${MAX_CATALOG_FILE_BYTES} bytes (finishline.max_catalog_file_bytes)` },
    });
    // Chunked: no length is declared, and the limit is passed part of the way through.
    const streamed = await fetch(`${server.url}/catalog-files/big.jsonl`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}` },
      body: Readable.toWeb(Readable.from([body.slice(0, 6000), body.slice(6000)])) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect({ status: streamed.status, body: await streamed.json() }).toMatchObject({ status: 413, body: { code: 'FLBIG' } });
    const { rows } = await db.pool.query(`select count(*)::int as n from app_public.catalog_files where filename = 'big.jsonl'`);
    expect(rows[0].n).toBe(0);
    expect(server.output().split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });
});

describe('finishline scrape --server', () => {
  test('submits 3,000 URLs as one batch of 3,000 items', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-scrape-'));
    const file = path.join(dir, 'urls.txt');
    fs.writeFileSync(file, Array.from({ length: 3_000 }, (_, i) => `https://shop-${i % 7}.example.com/catalog/products/${i}?ref=finishline-test\n`).join(''));
    const cli = CLI_PATH;
    // No DATABASE_URL: the server is the only way in.
    const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', FINISHLINE_TOKEN: token };
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'scrape', file, '--server', server.url], { env }).finally(() =>
      fs.rmSync(dir, { recursive: true }));
    const batchId = /^batch ([0-9a-f-]{36}) \(3000 pages\)$/m.exec(stdout)?.[1];
    expect(batchId, stdout).toBeDefined();
    const { rows } = await db.pool.query(
      `select b.kind, b.total_items, count(i.*)::int as items, count(distinct i.payload ->> 'url')::int as urls
       from app_public.batches b join app_public.batch_items i on i.batch_id = b.id where b.id = $1 group by b.id`,
      [batchId],
    );
    expect(rows).toEqual([{ kind: 'scrape_pages', total_items: 3_000, items: 3_000, urls: 3_000 }]);
  });

  test('a file that lists no URL, or is not there, fails the command and submits nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-scrape-'));
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '# nothing yet\n\n');
    const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', FINISHLINE_TOKEN: token };
    const scrape = (file: string) => runCli(['scrape', file, '--server', server.url], env);
    const { rows: [before] } = await db.pool.query('select count(*)::int as n from app_public.batches');
    const [none, missing] = await Promise.all([scrape(empty), scrape(path.join(dir, 'missing.txt'))]).finally(() => fs.rmSync(dir, { recursive: true }));
    expect(none.code).toBe(1);
    expect(none.stdout).toContain(`${empty} lists no URLs`);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(`cannot read ${path.join(dir, 'missing.txt')}: no such file`);
    const { rows: [after] } = await db.pool.query('select count(*)::int as n from app_public.batches');
    expect(after.n).toBe(before.n);
  });
});

describe('websockets', () => {
  test('past MAX_WEBSOCKETS a new one is refused with 503 FLBSY, while HTTP requests go on; one closed makes room', async () => {
    const limited = await startServerProcess(db, { MAX_WEBSOCKETS: '2' });
    const url = `${limited.url.replace(/^http/, 'ws')}/graphql`;
    /** A handshake: open (no status), or refused with the server's status and body. */
    const connect = () => new Promise<{ close(): void; status?: number; body?: string }>((resolve) => {
      const socket = new WebSocket(url, 'graphql-transport-ws');
      // (A refused handshake ends in an error event too: the answer below says what happened.)
      socket.on('error', () => {});
      socket.once('open', () => resolve({ close: () => socket.close() }));
      socket.once('unexpected-response', (request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ close: () => request.destroy(), status: response.statusCode, body }));
      });
    });
    try {
      const held = [await connect(), await connect()];
      expect(held.map((answer) => answer.status)).toEqual([undefined, undefined]);
      const refused = await connect();
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body!).errors[0]).toMatchObject({ extensions: { code: 'FLBSY' }, message: expect.stringMatching(/2 websockets/) });
      expect(await graphql(limited.url, '{ __typename }', {}, token)).toMatchObject({ status: 200, data: { __typename: 'Query' } });
      held[0].close();
      await waitFor(async () => {
        const again = await connect();
        again.close();
        return again.status === undefined;
      }, { what: 'a websocket to be taken once one closed' });
      for (const answer of held) answer.close();
      refused.close();
    } finally {
      await limited.stop();
    }
  });
});

describe('a port taken', () => {
  test('by another program: the server says which port, and what to set', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const run = await runCli(['serve'], { ...process.env, DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, PORT: String(port) });
      expect(run.code).toBe(1);
      expect(lastLogLine(run)).toMatchObject({
        level: 'error', msg: 'finishline failed', error: `port ${port} is in use (another finishline, or another program): stop it, or set PORT to a free port`,
      });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('shutdown', () => {
  test('SIGTERM lets a GraphQL request in flight finish, then the server exits', async () => {
    const body = JSON.stringify({ query: '{ currentTenantId }' });
    const request = http.request(`${server.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.once('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, text }));
      });
      request.once('error', reject);
    });
    // Half the body now, so that the request is in flight when the signal comes.
    await new Promise<void>((resolve) => request.write(body.slice(0, 10), () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const exited = server.stop();
    await waitFor(() => server.output().includes('"msg":"shutting down"'), { what: 'the server to start shutting down' });
    request.end(body.slice(10));

    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ data: { currentTenantId: tenant } });
    expect(await exited).toBe(0);
    // Every step of the shutdown went through (the database pool closed, PostGraphile released).
    expect(server.output()).not.toContain('shutdown step failed');
  });
});
