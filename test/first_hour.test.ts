// A new user's first hour, through the real processes: `finishline start` on an embedded server
// of its own (the demo loaded on first start), a token, a batch by GraphQL and one by plain SQL
// (the one-statement form too), followed live and summarised; the scheduler's view; scoring "now"
// on a fresh install; the sellers and status commands; /metrics through promtool; a clean stop
// whose every log line is JSON; the embedded server's port kept across restarts; a worker
// started beside `npm start` that goes on when `npm start` stops; the embedded server started
// again after a crash; and the one left running by a finishline killed outright, stopped.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphql, lastLogLine, runCli, waitFor } from './helpers.ts';
import { startFinishline, type FinishlineProcess } from './processes.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'finishline-first-hour-'));
// As a new user runs it: no DATABASE_URL (empty is unset), the data directory of the checkout's
// (here a fresh one).
const env = { ...process.env, DATABASE_URL: '', JWT_SECRET: '', FINISHLINE_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' };

type Started = FinishlineProcess;

const start = () => startFinishline('start', env, { timeoutMs: 90_000 });

const cli = (...args: string[]) => runCli(args, env);

let first: Started;
let adminToken: string;
let userToken: string;

beforeAll(async () => {
  first = await start();
  userToken = (await cli('token', '--tenant-name', 'demo')).stdout.trim();
  adminToken = (await cli('token', '--role', 'app_admin')).stdout.trim();
}, 120_000);
afterAll(async () => {
  await first?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const SUBMIT = `mutation ($items: JSON!) { submitBatch(input: { kind: "noop", items: $items }) { result { id } } }`;
const SUMMARY = `mutation ($id: UUID!) { requestBatchSummary(input: { batchId: $id }) { result { state summary { status succeededItems } } } }`;

describe('the first hour', () => {
  test('a batch by GraphQL, followed live over a websocket, then its summary', async () => {
    const submitted = await graphql(first.url, SUBMIT, { items: Array.from({ length: 20 }, () => ({ sleep_ms: 100 })) }, userToken);
    const id = submitted.data!.submitBatch.result.id;
    const client = createClient({ url: `${first.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${userToken}` } });
    const statuses: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe({ query: 'subscription ($id: UUID!) { batchProgress(batchId: $id) { status } }', variables: { id } }, {
        next: (message) => void statuses.push((message.data as { batchProgress: { status: string } }).batchProgress.status),
        error: reject,
        complete: resolve,
      });
    });
    await client.dispose();
    expect(statuses.at(-1)).toBe('completed');
    const summary = await waitFor(async () => {
      const result = (await graphql(first.url, SUMMARY, { id }, userToken)).data!.requestBatchSummary.result;
      return result.state === 'ready' ? result.summary : null;
    }, { what: 'the summary' });
    expect(summary).toEqual({ status: 'completed', succeededItems: 20 });
  });

  test('a batch by plain SQL, as the README shows it: one transaction, and one statement', async () => {
    const url = (await cli('database-url')).stdout.trim();
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const { rows: [{ id: tenant }] } = await db.query(`select id from app_public.tenants where name = 'demo'`);
      await db.query('begin');
      await db.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenant]);
      // The README's example, word for word.
      const { rows: [{ id: batch }] } = await db.query(`
        with b as (insert into app_public.batches (kind) values ('noop') returning id)
        insert into app_public.batch_items (batch_id, payload)
        select b.id, jsonb_build_object('n', n) from b, generate_series(1, 100) n
        returning batch_id as id`);
      await db.query('commit');
      const finished = await waitFor(async () => (await db.query(
        `select status, succeeded_items from app_public.batch_status_summary where batch_id = $1 and has_summary`, [batch])).rows[0],
      { what: 'the plain-SQL batch to finish' });
      expect(finished).toEqual({ status: 'completed', succeeded_items: 100 });

      // As the owner, with no tenant claim, the one-statement form can't know the items' tenant:
      // a clear refusal that says what to write instead.
      const refused = await db.query(`
        with b as (insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id)
        insert into app_public.batch_items (batch_id, payload) select b.id, '{}' from b`, [tenant]).catch((error) => error);
      expect(refused).toMatchObject({ code: 'FLTNI' });
      expect(refused.hint).toMatch(/in a statement after the one that inserts their batch/);
    } finally {
      await db.end();
    }
  });

  test('the scheduler view: every crontab entry registered, none late on a fresh install', async () => {
    const { data } = await graphql(first.url, '{ allSchedulerStatuses(first: 10) { nodes { taskIdentifier isLate nextRunAt } } }', {}, adminToken);
    const byTask = Object.fromEntries(data!.allSchedulerStatuses.nodes.map((node: { taskIdentifier: string }) => [node.taskIdentifier, node]));
    expect(Object.keys(byTask).sort()).toEqual(['prune_finished_batches', 'start_review_scoring', 'sweep_batches']);
    for (const node of Object.values(byTask) as Array<{ isLate: boolean; nextRunAt: string }>) {
      expect(node.isLate).toBe(false);
      expect(new Date(node.nextRunAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    }
  });

  test('scoring now, on a fresh install, scores every review and then every seller', async () => {
    const url = (await cli('database-url')).stdout.trim();
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      // The first start's demo scoring may still run; this run waits its turn and scores what is due.
      const started = await graphql(first.url, 'mutation { triggerAllScoring(input: {}) { result { id kind } } }', {}, adminToken);
      expect(started.errors).toBeUndefined();
      await waitFor(async () => {
        const { rows: [counts] } = await db.query(`
          select (select count(*) from app_public.reviews)::int as reviews, (select count(*) from app_public.review_scores)::int as review_scores,
                 (select count(*) from app_public.sellers)::int as sellers, (select count(*) from app_public.seller_scores)::int as seller_scores`);
        return counts.reviews > 0 && counts.review_scores === counts.reviews && counts.seller_scores === counts.sellers ? counts : null;
      }, { timeoutMs: 90_000, what: 'every review and seller to be scored' });
      const { rows: failed } = await db.query(`select kind, count(*)::int as n from app_public.batch_items i join app_public.batches b on b.id = i.batch_id
        where b.kind in ('score_reviews', 'score_sellers') and i.status = 'failed' group by kind`);
      expect(failed).toEqual([]);
    } finally {
      await db.end();
    }
  });

  test('sellers are listed by name, for a token of one of them; another tenant\'s batch is not found by status', async () => {
    const sellers = await cli('sellers', '--tenant-name', 'demo');
    expect(sellers.code).toBe(0);
    const [name, id] = sellers.stdout.trim().split('\n')[0].split('\t');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const token = await cli('token', '--role', 'app_seller', '--tenant-name', 'demo', '--seller-name', name);
    expect(token.code).toBe(0);
    const me = await graphql(first.url, '{ currentSellerId }', {}, token.stdout.trim());
    expect(me.data).toEqual({ currentSellerId: id });

    await cli('tenant', 'elsewhere');
    const submitted = await graphql(first.url, SUBMIT, { items: [{}] }, userToken);
    const status = await cli('status', submitted.data!.submitBatch.result.id, '--tenant-name', 'elsewhere');
    expect(status.code).toBe(1);
    expect(lastLogLine(status)).toMatchObject({ error: `batch ${submitted.data!.submitBatch.result.id} not found` });
  });

  test('/metrics passes promtool (when installed, as .ci/run does)', async () => {
    const text = await (await fetch(`${first.url}/metrics`)).text();
    expect(text).toContain('finishline_live_workers 1');
    const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((candidate) => fs.existsSync(candidate));
    if (!promtool) return;
    const checked = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile(promtool, ['check', 'metrics'], (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: stdout + stderr }));
      child.stdin!.end(text);
    });
    expect(checked).toEqual({ code: 0, output: '' });
  });

  test('SIGTERM after a subscription: exit 0, every log line one JSON object, no error logged; the port stays on restart', async () => {
    const urlBefore = (await cli('database-url')).stdout.trim();
    expect(await first.stop()).toBe(0);
    const lines = first.output().split('\n').filter((line) => line !== '');
    expect(lines.filter((line) => !line.startsWith('{')).slice(0, 5)).toEqual([]);
    expect(errorsLogged(first)).toEqual([]);

    const again = await start();
    try {
      expect((await cli('database-url')).stdout.trim()).toBe(urlBefore);
    } finally {
      expect(await again.stop()).toBe(0);
    }
    // Only a port taken by something else moves it.
    const port = Number(new URL(urlBefore).port);
    const squatter = net.createServer().listen(port, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const moved = await start();
      const urlAfter = (await cli('database-url')).stdout.trim();
      expect(await moved.stop()).toBe(0);
      expect(new URL(urlAfter).port).not.toBe(String(port));
    } finally {
      squatter.close();
    }
  });

  test('a worker started beside `npm start` goes on when `npm start` stops: it runs the embedded server itself, on the same port', async () => {
    await first.stop(); // (when this test runs alone)
    const owner = await start();
    const worker = await startFinishline('worker', env);
    expect(worker.output()).toContain('using the embedded PostgreSQL already running');
    const url = (await cli('database-url')).stdout.trim();
    expect(await owner.stop()).toBe(0);
    await runsABatch(url, 'the worker left running');
    expect(await worker.stop()).toBe(0);
    expect(worker.output()).toContain('runs the embedded PostgreSQL now');
    expect(errorsLogged(worker)).toEqual([]);
    // The worker stopped the server it took over, as its starter would have.
    const after = await cli('database-url');
    expect({ code: after.code, said: after.stdout + after.stderr }).toEqual({ code: 1, said: expect.stringMatching(/no embedded PostgreSQL runs/) });
  }, 120_000);

  test('the embedded PostgreSQL killed under `npm start` is started again, and `npm start` goes on', async () => {
    await first.stop(); // (when this test runs alone)
    const owner = await start();
    try {
      const url = (await cli('database-url')).stdout.trim();
      const killed = postmasterPid();
      process.kill(killed, 'SIGKILL');
      await runsABatch(url, '`npm start` after its database was killed');
      expect(postmasterPid()).not.toBe(killed);
      expect((await fetch(`${owner.url}/health`)).status).toBe(200);
      expect(owner.output()).toContain('the embedded PostgreSQL stopped unexpectedly: starting it again');
      expect(errorsLogged(owner)).toEqual([]);
    } finally {
      expect(await owner.stop()).toBe(0);
    }
  }, 120_000);

  test('killed with the child that supervises its embedded server (`killall -9 node`), `npm start` stops the server they left running and starts on the same port', async () => {
    await first.stop(); // (when this test runs alone)
    const owner = await start();
    const url = (await cli('database-url')).stdout.trim();
    const left = postmasterPid();
    const { pid: supervisor } = JSON.parse(fs.readFileSync(path.join(dataDir, 'server.json'), 'utf8')) as { pid: number };
    process.kill(supervisor, 'SIGKILL');
    await owner.kill();
    expect(() => process.kill(left, 0)).not.toThrow();
    const again = await start();
    try {
      expect(again.output()).toContain(`stopping the embedded PostgreSQL (process ${left}) that a finishline killed before it left running`);
      expect((await cli('database-url')).stdout.trim()).toBe(url);
      await runsABatch(url, '`npm start` after it was killed');
      expect(errorsLogged(again)).toEqual([]);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 120_000);
});

/** The embedded server's postmaster, from the file PostgreSQL keeps in its data directory. */
function postmasterPid(): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Waits for the database at url to answer, then submits a batch of 20 items and waits for it to complete. */
async function runsABatch(url: string, where: string): Promise<void> {
  const client = await waitFor(async () => {
    const candidate = new pg.Client({ connectionString: url });
    candidate.on('error', () => {});
    return candidate.connect().then(() => candidate, () => null);
  }, { timeoutMs: 30_000, what: 'the embedded server to answer at the same URL' });
  try {
    await client.query('begin');
    const { rows: [batch] } = await client.query(
      `insert into app_public.batches (tenant_id, kind) select id, 'noop' from app_public.tenants where name = 'demo' returning id`);
    await client.query(`insert into app_public.batch_items (batch_id, payload) select $1, '{}' from generate_series(1, 20)`, [batch.id]);
    await client.query('commit');
    await waitFor(async () => (await client.query('select status from app_public.batches where id = $1', [batch.id])).rows[0].status === 'completed',
      { timeoutMs: 30_000, what: `the batch to complete on ${where}` });
  } finally {
    await client.end();
  }
}

/** The lines a process logged at level error (the first three). */
function errorsLogged(process: FinishlineProcess): unknown[] {
  return process.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line)).filter((line) => line.level === 'error').slice(0, 3);
}
