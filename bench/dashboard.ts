// bench:dashboard: what the dashboard costs the server.
//
// 1. Page data. 10,000 batches and 1,000,000 items (one batch of 100,000 items, a tenth of them
//    failed; the rest about 90 items each, in every state), a `finishline serve` child process,
//    and the exact GraphQL documents the dashboard's pages send (imported from web/pages), asked
//    one at a time as a browser does: the batches page (a tenant's first page, filtered, a deep
//    page, and the installation operator's page over every tenant) and the page of the
//    100,000-item batch (and its failed items searched by error). Baseline: the batches page's
//    rows read as plain SQL by the database owner.
// 2. Live cost. In the same database, 50 batches running at once (moved along by the benchmark,
//    10 items a batch every 100 ms, as a worker moves them, so that their counters move many times
//    a second), and 50 batchProgress subscriptions over one websocket as the batches page holds
//    them: messages per batch per second at the client, next to the NOTIFYs the database sent
//    (the server's input).
//
//   npm run bench:dashboard                                         # embedded PostgreSQL
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:dashboard
//   BENCH_BATCHES=1000 BENCH_BIG_BATCH_ITEMS=10000 BENCH_ITEMS_PER_BATCH=10 npm run bench:dashboard   # quick
//
// Human-readable lines first; the last line is one JSON object with every figure.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { signToken } from '../server/auth.ts';
import { startFinishline } from '../test/processes.ts';
import { keepOutput, onLoopback, openBenchDatabase, positiveIntegerFromEnv, runBench, type BenchDatabase } from './support.ts';

const BATCHES = positiveIntegerFromEnv('BENCH_BATCHES', 10_000);
const BIG_BATCH_ITEMS = positiveIntegerFromEnv('BENCH_BIG_BATCH_ITEMS', 100_000);
/** The other batches' items: with the big one, 1,000,000 in all by default. */
const ITEMS_PER_BATCH = positiveIntegerFromEnv('BENCH_ITEMS_PER_BATCH', 90);
const TENANTS = 4;
const REQUESTS_PER_VARIANT = positiveIntegerFromEnv('BENCH_REQUESTS', 60);
const LIVE_BATCHES = positiveIntegerFromEnv('BENCH_LIVE_BATCHES', 50);
const LIVE_WINDOW_S = 15;
/** Every TICK_MS, each live batch starts ITEMS_PER_TICK items and finishes the ones before. */
const TICK_MS = 100;
const ITEMS_PER_TICK = 10;
const BATCHES_PAGE_P95_TARGET_MS = 300;
const BATCH_PAGE_P95_TARGET_MS = 500;
const MESSAGES_PER_BATCH_PER_S_TARGET = 1;
const JWT_SECRET = 'finishline-bench-dashboard-secret-0123456789';
const FAKE_WORKER_ID = 'bench-dashboard-worker';

// The documents the pages send, from the pages themselves (plain JavaScript modules: imported by
// path at run time, as tsc does not read them).
const { BATCHES_QUERY, PAGE_SIZE, PROGRESS_SUBSCRIPTION } = (await import(String(new URL('../web/pages/batches.js', import.meta.url)))) as {
  BATCHES_QUERY: string;
  PAGE_SIZE: number;
  PROGRESS_SUBSCRIPTION: string;
};
const { BATCH_QUERY } = (await import(String(new URL('../web/pages/batch.js', import.meta.url)))) as { BATCH_QUERY: string };

const say = (line: string) => process.stdout.write(line + '\n');
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------------------------
// Data

/** Moves items along as workers would: `upto` of them from pending to processing, then some on. */
async function moveItems(client: pg.Client, batchIds: string[], upto: number[], to: 'processing' | 'succeeded' | 'failed', from: number[] = []): Promise<void> {
  if (batchIds.length === 0) return;
  if (to === 'processing') {
    await client.query(
      `update app_public.batch_items i set status = 'processing', locked_by = $3, attempts = 1, started_at = now()
       from unnest($1::uuid[], $2::int[]) as t(batch_id, upto)
       where i.batch_id = t.batch_id and (i.payload->>'n')::int <= t.upto`,
      [batchIds, upto, FAKE_WORKER_ID],
    );
  } else {
    await client.query(
      `update app_public.batch_items i set status = $4, locked_by = null, finished_at = now(),
         last_error = case when $4 = 'failed' then 'upstream said ' || (500 + (i.payload->>'n')::int % 7) || ' for record ' || (i.payload->>'n') end
       from unnest($1::uuid[], $2::int[], $3::int[]) as t(batch_id, upto, after)
       where i.batch_id = t.batch_id and (i.payload->>'n')::int <= t.upto and (i.payload->>'n')::int > t.after`,
      [batchIds, upto, from.length ? from : batchIds.map(() => 0), to],
    );
  }
}

async function insertBatches(client: pg.Client, tenantIds: string[], firstSeq: number, count: number, items: number): Promise<Array<{ id: string; seq: number }>> {
  const { rows } = await client.query<{ id: string; seq: number }>(
    `insert into app_public.batches (tenant_id, kind, metadata, created_at)
     select ($3::uuid[])[1 + g % cardinality($3::uuid[])], case when g % 3 = 0 then 'fail' else 'noop' end,
            jsonb_build_object('bench_seq', g), now() - make_interval(secs => ($4::int - g) * 30)
     from generate_series($1::int, $2::int) g
     returning id, (metadata->>'bench_seq')::int as seq`,
    [firstSeq, firstSeq + count - 1, tenantIds, BATCHES],
  );
  await client.query(
    `insert into app_public.batch_items (batch_id, tenant_id, payload)
     select b.id, b.tenant_id, jsonb_build_object('n', n)
     from app_public.batches b cross join generate_series(1, $2::int) n
     where b.id = any($1::uuid[]) order by b.id, n`,
    [rows.map((row) => row.id), items],
  );
  return rows;
}

interface PageData {
  tenantIds: string[];
  bigBatchId: string;
  items: number;
}

async function createPageData(bench: BenchDatabase): Promise<PageData> {
  const client = bench.client;
  const database = new URL(bench.url).pathname.slice(1);
  // A live worker, so that stuck_reason does all its work (as in bench:api); nothing runs jobs.
  await client.query(`alter database ${pg.escapeIdentifier(database)} set finishline.worker_stale_after = '1 day'`);
  await client.query('insert into app_private.workers (id, hostname, pid, concurrency) values ($1, $2, $3, 4)', [FAKE_WORKER_ID, os.hostname(), process.pid]);
  const { rows: tenants } = await client.query<{ id: string }>(
    `insert into app_public.tenants (name) select 'bench-dashboard-' || g from generate_series(1, $1::int) g returning id`, [TENANTS]);
  const tenantIds = tenants.map((tenant) => tenant.id);
  // The big batch: the newest of the first tenant, a tenth of its items failed, a tenth running.
  await client.query('begin');
  const [big] = await insertBatches(client, [tenantIds[0]], BATCHES - 1, 1, BIG_BATCH_ITEMS);
  await client.query('commit');
  await client.query('begin');
  await moveItems(client, [big.id], [Math.floor(BIG_BATCH_ITEMS * 0.9)], 'processing');
  await moveItems(client, [big.id], [Math.floor(BIG_BATCH_ITEMS * 0.7)], 'succeeded');
  await moveItems(client, [big.id], [Math.floor(BIG_BATCH_ITEMS * 0.8)], 'failed', [Math.floor(BIG_BATCH_ITEMS * 0.7)]);
  await client.query('commit');
  // The others, a thousand per transaction, in every state: untouched, half done, running, done.
  for (let first = 0; first < BATCHES - 1; first += 1000) {
    await client.query('begin');
    const rows = await insertBatches(client, tenantIds, first, Math.min(1000, BATCHES - 1 - first), ITEMS_PER_BATCH);
    const started = rows.filter((row) => row.seq % 4 !== 0);
    await moveItems(client, started.map((row) => row.id), started.map(() => ITEMS_PER_BATCH), 'processing');
    // Finished batches of kind fail (every third) end with five failed items.
    const failing = rows.filter((row) => row.seq % 4 === 3 && row.seq % 3 === 0);
    const done = rows.filter((row) => row.seq % 4 === 3 || row.seq % 4 === 1);
    const succeededOf = (row: { seq: number }) => (row.seq % 4 === 1 ? Math.floor(ITEMS_PER_BATCH / 2) : row.seq % 3 === 0 ? ITEMS_PER_BATCH - 5 : ITEMS_PER_BATCH);
    await moveItems(client, done.map((row) => row.id), done.map(succeededOf), 'succeeded');
    await moveItems(client, failing.map((row) => row.id), failing.map(() => ITEMS_PER_BATCH), 'failed', failing.map(() => ITEMS_PER_BATCH - 5));
    await client.query('commit');
  }
  await client.query('vacuum analyze');
  const { rows: [{ n }] } = await client.query<{ n: number }>('select count(*)::int as n from app_public.batch_items');
  return { tenantIds, bigBatchId: big.id, items: n };
}

// ---------------------------------------------------------------------------------------------
// Measuring

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface Timing {
  p50: number;
  p95: number;
  max: number;
  bytes: number;
}

/** Sends the document `count` times, one after another; fails on any error. */
async function timeRequests(url: string, token: string, query: string, variables: () => Record<string, unknown>, count: number): Promise<Timing> {
  const latencies: number[] = [];
  let bytes = 0;
  for (let i = 0; i < count + 3; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables: variables() }),
    });
    const text = await response.text();
    const elapsed = performance.now() - started;
    const body = JSON.parse(text) as { errors?: unknown[]; data?: unknown };
    if (response.status !== 200 || body.errors || !body.data) throw new Error(`request failed (${response.status}): ${text.slice(0, 500)}`);
    // The first three warm the server's plan caches.
    if (i >= 3) latencies.push(elapsed);
    bytes = text.length;
  }
  const sorted = latencies.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1], bytes };
}

function describeTiming(name: string, timing: Timing): string {
  return `${name}: p50 ${timing.p50.toFixed(1)} ms, p95 ${timing.p95.toFixed(1)} ms, max ${timing.max.toFixed(1)} ms (${Math.round(timing.bytes / 1024)} KB)`;
}

async function timeSql(client: pg.Client, sql: string, values: unknown[], count: number): Promise<Timing> {
  const latencies: number[] = [];
  for (let i = 0; i < count + 3; i++) {
    const started = performance.now();
    await client.query({ name: `bench_${createHash('md5').update(sql).digest('hex').slice(0, 8)}`, text: sql, values });
    if (i >= 3) latencies.push(performance.now() - started);
  }
  const sorted = latencies.sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1], bytes: 0 };
}

async function measurePages(): Promise<{ figures: Record<string, unknown>; bench: BenchDatabase; serverUrl: string }> {
  const setupStarted = performance.now();
  const bench = await openBenchDatabase('dashboard');
  say(`database: PostgreSQL ${bench.serverVersion} (${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'})`);
  const data = await createPageData(bench);
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  say(`setup: ${TENANTS} tenants, ${BATCHES.toLocaleString('en')} batches, ${data.items.toLocaleString('en')} items (one batch of ${BIG_BATCH_ITEMS.toLocaleString('en')}) in ${setupSeconds.toFixed(1)} s`);
  const server = await startFinishline('serve', { DATABASE_URL: bench.url, PORT: '0', JWT_SECRET, LOG_LEVEL: 'info' });
  keepOutput('finishline serve', server);
  const serverUrl = onLoopback(server.url);
  const operatorToken = signToken(JWT_SECRET, { role: 'app_user', tenant_id: data.tenantIds[0] }, '2h');
  const installationToken = signToken(JWT_SECRET, { role: 'app_admin' }, '2h');
  const page = { kind: null, status: null, tenantId: null, createdAfter: null, createdBefore: null, first: PAGE_SIZE, offset: 0, severalTenants: false };
  const tenantBatches = Math.ceil(BATCHES / TENANTS);
  const batchesPage = {
    first: await timeRequests(serverUrl, operatorToken, BATCHES_QUERY, () => page, REQUESTS_PER_VARIANT),
    filtered: await timeRequests(serverUrl, operatorToken, BATCHES_QUERY, () => ({ ...page, kind: 'noop', status: 'processing', createdAfter: new Date(Date.now() - 86_400_000).toISOString() }), REQUESTS_PER_VARIANT),
    deep: await timeRequests(serverUrl, operatorToken, BATCHES_QUERY, () => ({ ...page, offset: Math.floor(Math.random() * (tenantBatches - PAGE_SIZE)) }), REQUESTS_PER_VARIANT),
    everyTenant: await timeRequests(serverUrl, installationToken, BATCHES_QUERY, () => ({ ...page, severalTenants: true }), REQUESTS_PER_VARIANT),
  };
  for (const [name, timing] of Object.entries(batchesPage)) say(describeTiming(`batches page (${name})`, timing));
  const batchPage = {
    first: await timeRequests(serverUrl, operatorToken, BATCH_QUERY, () => ({ id: data.bigBatchId, errorContains: null, failedOffset: 0 }), REQUESTS_PER_VARIANT),
    searched: await timeRequests(serverUrl, operatorToken, BATCH_QUERY, () => ({ id: data.bigBatchId, errorContains: `said ${500 + Math.floor(Math.random() * 7)}`, failedOffset: 20 }), REQUESTS_PER_VARIANT),
  };
  for (const [name, timing] of Object.entries(batchPage)) say(describeTiming(`page of the ${BIG_BATCH_ITEMS.toLocaleString('en')}-item batch (${name})`, timing));
  const baseline = await timeSql(bench.client, 'select * from app_public.batch_status_summary where tenant_id = $1 order by created_at desc limit 50', [data.tenantIds[0]], REQUESTS_PER_VARIANT);
  say(describeTiming('baseline: the batches page\'s rows in plain SQL, as the owner', baseline));
  const batchesP95 = Math.max(...Object.values(batchesPage).map((t) => t.p95));
  const batchP95 = Math.max(...Object.values(batchPage).map((t) => t.p95));
  say(`batches page p95 (worst variant) ${batchesP95.toFixed(1)} ms: target < ${BATCHES_PAGE_P95_TARGET_MS} ms ${batchesP95 < BATCHES_PAGE_P95_TARGET_MS ? 'met' : 'MISSED'}; ` +
    `batch page p95 ${batchP95.toFixed(1)} ms: target < ${BATCH_PAGE_P95_TARGET_MS} ms ${batchP95 < BATCH_PAGE_P95_TARGET_MS ? 'met' : 'MISSED'}`);
  const figures = {
    batches: BATCHES,
    items: data.items,
    big_batch_items: BIG_BATCH_ITEMS,
    setup_seconds: round(setupSeconds),
    ...Object.fromEntries(Object.entries(batchesPage).flatMap(([name, t]) => [[`batches_page_${name}_p50_ms`, round(t.p50)], [`batches_page_${name}_p95_ms`, round(t.p95)]])),
    ...Object.fromEntries(Object.entries(batchPage).flatMap(([name, t]) => [[`batch_page_${name}_p50_ms`, round(t.p50)], [`batch_page_${name}_p95_ms`, round(t.p95)]])),
    baseline_sql_batches_rows_p95_ms: round(baseline.p95, 2),
    batches_page_p95_ms: round(batchesP95),
    batches_page_p95_target_met: batchesP95 < BATCHES_PAGE_P95_TARGET_MS,
    batch_page_p95_ms: round(batchP95),
    batch_page_p95_target_met: batchP95 < BATCH_PAGE_P95_TARGET_MS,
    postgres_version: bench.serverVersion,
  };
  return { figures, bench, serverUrl };
}

/** The LISTEN channel of a batch's progress (as batchProgressTopic in server/http/batch_progress.ts names it). */
function progressChannel(tenantId: string, batchId: string): string {
  return `batch_progress:${createHash('md5').update(`${tenantId}:${batchId}`).digest('hex')}`;
}

/**
 * 50 batches running at once, moved along the way a worker moves items (a chunk to processing,
 * then to succeeded) by one statement for all of them every TICK_MS: each batch's counters move
 * several times a second, as a fast batch's do. No worker runs their jobs: the steps are the
 * benchmark's, so that every batch is running for the whole window, whatever the machine.
 */
async function measureLiveCost(bench: BenchDatabase, serverUrl: string): Promise<Record<string, unknown>> {
  const client = bench.client;
  const { rows: [{ id: tenantId }] } = await client.query<{ id: string }>("insert into app_public.tenants (name) values ('bench-live') returning id");
  const token = signToken(JWT_SECRET, { role: 'app_user', tenant_id: tenantId }, '2h');
  const ticks = Math.ceil(((LIVE_WINDOW_S + 5) * 1000) / TICK_MS);
  await client.query('begin');
  const { rows } = await client.query<{ id: string }>(
    `insert into app_public.batches (tenant_id, kind) select $1, 'noop' from generate_series(1, $2::int) returning id`, [tenantId, LIVE_BATCHES]);
  const batchIds = rows.map((row) => row.id);
  await client.query(
    `insert into app_public.batch_items (batch_id, tenant_id, payload)
     select b, $2, jsonb_build_object('n', n) from unnest($1::uuid[]) b cross join generate_series(1, $3::int) n order by b, n`,
    [batchIds, tenantId, ticks * ITEMS_PER_TICK],
  );
  await client.query('commit');

  // What the database announces: every NOTIFY of these batches' progress.
  const listener = new pg.Client({ connectionString: bench.url });
  await listener.connect();
  bench.onCleanup(() => listener.end());
  const notifies = new Map<string, number>();
  const byChannel = new Map(batchIds.map((id) => [progressChannel(tenantId, id), id]));
  let counting = false;
  listener.on('notification', ({ channel }) => {
    const id = byChannel.get(channel);
    if (id && counting) notifies.set(id, (notifies.get(id) ?? 0) + 1);
  });
  for (const channel of byChannel.keys()) await listener.query(`listen "${channel}"`);

  // What the server sends: the batches page's subscriptions, one per row, over one websocket.
  const messages = new Map<string, number>();
  const ws = createClient({ url: `${serverUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });
  bench.onCleanup(async () => ws.dispose());
  for (const batchId of batchIds) {
    ws.subscribe({ query: PROGRESS_SUBSCRIPTION, variables: { batchId } }, {
      next: (result) => {
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        if (counting) messages.set(batchId, (messages.get(batchId) ?? 0) + 1);
      },
      error: (error) => process.stderr.write(`subscription failed: ${JSON.stringify(error)}\n`),
      complete: () => {},
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // The steps: tick k starts items of chunk k and finishes those of chunk k - 1, in every batch,
  // named by id (a batch's items got consecutive ids, in order).
  const { rows: firsts } = await client.query<{ first: string }>(
    'select min(id) as first from app_public.batch_items where batch_id = any($1) group by batch_id', [batchIds]);
  const idsOfChunk = (k: number) => firsts.flatMap(({ first }) => Array.from({ length: ITEMS_PER_TICK }, (_, i) => String(BigInt(first) + BigInt(k * ITEMS_PER_TICK + i))));
  let tick = 0;
  const step = async () => {
    await client.query(
      `update app_public.batch_items set status = 'processing', locked_by = $2, attempts = 1, started_at = now()
       where id = any($1::bigint[]) and status = 'pending'`,
      [idsOfChunk(tick), FAKE_WORKER_ID]);
    if (tick > 0) {
      await client.query(
        `update app_public.batch_items set status = 'succeeded', locked_by = null, finished_at = now()
         where id = any($1::bigint[]) and status = 'processing'`,
        [idsOfChunk(tick - 1)]);
    }
    tick++;
  };
  const stepping = (async () => {
    while (tick < ticks - 1) {
      const started = performance.now();
      await step();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (performance.now() - started))));
    }
  })();
  // Counted over a fixed window once the batches are under way.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  counting = true;
  const windowStarted = performance.now();
  await new Promise((resolve) => setTimeout(resolve, LIVE_WINDOW_S * 1000));
  counting = false;
  const seconds = (performance.now() - windowStarted) / 1000;
  const { rows: [{ unfinished }] } = await client.query<{ unfinished: number }>('select count(*)::int as unfinished from app_public.batches where id = any($1) and finished_at is null', [batchIds]);
  await stepping;
  const perBatch = (counts: Map<string, number>) => batchIds.map((id) => (counts.get(id) ?? 0) / seconds);
  const messageRates = perBatch(messages);
  const notifyRates = perBatch(notifies);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const maxMessages = Math.max(...messageRates);
  // One message a second, counted in a window that may open just before one and close just after
  // another: the window's length plus one.
  const targetMet = Math.max(...batchIds.map((id) => messages.get(id) ?? 0)) <= Math.floor(seconds * MESSAGES_PER_BATCH_PER_S_TARGET) + 1;
  say(`live: ${LIVE_BATCHES} batches running (${unfinished} of them all through the ${seconds.toFixed(1)} s window), one subscription each: ` +
    `server sent ${mean(messageRates).toFixed(2)} messages per batch per second (most: ${maxMessages.toFixed(2)}); ` +
    `the database announced ${mean(notifyRates).toFixed(2)} changes per batch per second. ` +
    `Target <= ${MESSAGES_PER_BATCH_PER_S_TARGET}: ${targetMet ? 'met' : 'MISSED'}`);
  await bench.cleanUp();
  return {
    live_batches: LIVE_BATCHES,
    live_window_s: round(seconds),
    live_batches_running_through_window: unfinished,
    messages_per_batch_per_s: round(mean(messageRates), 2),
    messages_per_batch_per_s_max: round(maxMessages, 2),
    notifies_per_batch_per_s: round(mean(notifyRates), 2),
    messages_per_batch_per_s_target_met: targetMet,
  };
}

runBench('bench:dashboard', async () => {
  say(`bench:dashboard: the dashboard's page data and live updates (${BATCHES.toLocaleString('en')} batches)`);
  const pages = await measurePages();
  const live = await measureLiveCost(pages.bench, pages.serverUrl);
  return { ...pages.figures, ...live };
});
