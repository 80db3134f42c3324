// The GraphQL API over HTTP, against a real `finishline serve` and a real worker process.
import { execFileSync } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import {
  createTenant,
  graphql,
  startServerProcess,
  startWorkerProcess,
  TEST_JWT_SECRET,
  useTestDatabase,
  waitFor,
  type ServerProcess,
  type WorkerProcess,
} from './helpers.ts';
import { CLI_PATH } from './processes.ts';
import { startSlowHop } from './slow_hop.ts';

const db = useTestDatabase();
let server: ServerProcess;
let worker: WorkerProcess;
let tenantA: string;
let tenantB: string;
let tokenA: string;
let tokenB: string;
let adminToken: string;

beforeAll(async () => {
  tenantA = await createTenant(db, 'tenant-a');
  tenantB = await createTenant(db, 'tenant-b');
  tokenA = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenantA, sub: 'alice' });
  tokenB = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenantB, sub: 'bob' });
  adminToken = signToken(TEST_JWT_SECRET, { role: 'app_admin', sub: 'root' });
  server = await startServerProcess(db);
  worker = await startWorkerProcess(db);
});
afterAll(async () => {
  await worker?.stop();
  await server?.stop();
});

const SUBMIT = `
  mutation Submit($kind: String!, $items: JSON!, $key: String) {
    submitBatch(input: { kind: $kind, items: $items, idempotencyKey: $key }) { result { id status totalItems } }
  }`;

async function submit(token: string, kind: string, items: unknown[]): Promise<string> {
  const result = await graphql(server.url, SUBMIT, { kind, items }, token);
  expect(result.errors).toBeUndefined();
  return result.data!.submitBatch.result.id;
}

const BATCH = `
  query Batch($id: UUID!) {
    batchById(id: $id) {
      id status totalItems
      statusSummary { status progress pendingItems succeededItems failedItems hasSummary stuckReason }
      runSummary { status succeededItems failedItems errors stats durationSeconds }
      items { totalCount groupedAggregates(groupBy: STATUS) { keys distinctCount { id } } }
    }
  }`;

async function waitForBatchSummary(token: string, id: string) {
  return waitFor(
    async () => {
      const { data } = await graphql(server.url, BATCH, { id }, token);
      return data?.batchById?.runSummary ? data.batchById : null;
    },
    { what: `batch ${id} to be summarised (over GraphQL)` },
  );
}

describe('a batch through GraphQL alone', () => {
  test('is submitted, followed, summarised and aggregated', async () => {
    const id = await submit(tokenA, 'fail', [{ message: 'bad row', fail_times: 0 }, {}, { message: 'bad row', fail_times: 0 }]);
    const batch = await waitForBatchSummary(tokenA, id);
    expect(batch).toMatchObject({
      status: 'completed_with_errors',
      totalItems: 3,
      statusSummary: { status: 'completed_with_errors', progress: '1.0000', pendingItems: 0, succeededItems: 2, failedItems: 1, hasSummary: true, stuckReason: null },
      runSummary: { status: 'completed_with_errors', succeededItems: 2, failedItems: 1, errors: [{ message: 'failed on purpose', count: 1 }] },
      items: { totalCount: 3 },
    });
    const byStatus = Object.fromEntries(
      batch.items.groupedAggregates.map((group: { keys: string[]; distinctCount: { id: string } }) => [group.keys[0], Number(group.distinctCount.id)]),
    );
    expect(byStatus).toEqual({ succeeded: 2, failed: 1 });
  });

  test('requestBatchSummary answers not_finished, ready, and pending when the summary is missing', async () => {
    const REQUEST = `mutation($id: UUID!) { requestBatchSummary(input: { batchId: $id }) { result { state retryAfterSeconds summary { status succeededItems } } } }`;
    const id = await submit(tokenA, 'noop', [{ sleep_ms: 1500 }]);
    const first = await graphql(server.url, REQUEST, { id }, tokenA);
    expect(first.data!.requestBatchSummary.result).toEqual({ state: 'not_finished', retryAfterSeconds: null, summary: null });

    await waitForBatchSummary(tokenA, id);
    const ready = await graphql(server.url, REQUEST, { id }, tokenA);
    expect(ready.data!.requestBatchSummary.result).toEqual({ state: 'ready', retryAfterSeconds: null, summary: { status: 'completed', succeededItems: 1 } });

    await db.pool.query('delete from app_public.run_summaries where batch_id = $1', [id]);
    const pending = await graphql(server.url, REQUEST, { id }, tokenA);
    expect(pending.data!.requestBatchSummary.result).toEqual({ state: 'pending', retryAfterSeconds: 2, summary: null });
  });

  test('an unknown batch id is a clear error with a stable code', async () => {
    const result = await graphql(server.url, `mutation { cancelBatch(input: { batchId: "00000000-0000-4000-8000-000000000001" }) { result { id } } }`, {}, tokenA);
    expect(result.errors).toMatchObject([{ message: 'batch 00000000-0000-4000-8000-000000000001 not found', extensions: { code: 'FLNFD' } }]);
  });

  test('bad input to submitBatch comes back with its code', async () => {
    const result = await graphql(server.url, SUBMIT, { kind: 'teleport', items: [{}] }, tokenA);
    expect(result.errors).toMatchObject([{ message: 'unknown batch kind "teleport"', extensions: { code: 'FLKND' } }]);
  });
});

describe('tenant isolation', () => {
  let batchOfA: string;
  beforeAll(async () => {
    batchOfA = await submit(tokenA, 'noop', [{}, {}]);
    await submit(tokenB, 'noop', [{}]);
  });

  test("B can't read A's batches, items, summaries or aggregates", async () => {
    const result = await graphql(
      server.url,
      `query($id: UUID!) {
        batchById(id: $id) { id }
        batchStatusSummaryByBatchId(batchId: $id) { batchId }
        runSummaryByBatchId(batchId: $id) { batchId }
        allBatches(first: 100) { nodes { tenantId } aggregates { sum { totalItems } } }
        allBatchStatusSummaries(first: 100) { nodes { tenantId } }
        allRunSummaries(first: 100) { nodes { tenantId } }
        allTenants(first: 100) { nodes { id } }
      }`,
      { id: batchOfA },
      tokenB,
    );
    expect(result.errors).toBeUndefined();
    const data = result.data!;
    expect(data.batchById).toBeNull();
    expect(data.batchStatusSummaryByBatchId).toBeNull();
    expect(data.runSummaryByBatchId).toBeNull();
    const tenantsSeen = [...data.allBatches.nodes, ...data.allBatchStatusSummaries.nodes, ...data.allRunSummaries.nodes].map((node: { tenantId: string }) => node.tenantId);
    expect(new Set(tenantsSeen)).toEqual(new Set([tenantB]));
    expect(data.allTenants.nodes).toEqual([{ id: tenantB }]);
    const own = await db.pool.query('select coalesce(sum(total_items), 0)::int as n from app_public.batches where tenant_id = $1', [tenantB]);
    expect(Number(data.allBatches.aggregates.sum.totalItems)).toBe(own.rows[0].n);
  });

  test("B can't read A's sellers, products, reviews or scores, nor aggregate them", async () => {
    const { rows: [seller] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'A shop') returning id`, [tenantA]);
    const { rows: [product] } = await db.pool.query(
      `insert into app_public.products (seller_id, sku, name, price) values ($1, 'A-1', 'Lamp', 10) returning id`, [seller.id]);
    const { rows: [review] } = await db.pool.query(
      `insert into app_public.reviews (product_id, author, rating) values ($1, 'ann', 5) returning id`, [product.id]);
    const { rows: [version] } = await db.pool.query(`select id from app_private.store_model_version('review_scorer', $1, 0, '{}', false)`, [Buffer.from([0])]);
    await db.pool.query(`insert into app_public.review_scores (review_id, tenant_id, score, model_version_id) values ($1, $2, 0.2, $3)`, [review.id, tenantA, version.id]);
    await db.pool.query(
      `insert into app_public.seller_scores (seller_id, tenant_id, score, confidence, product_count, review_count, model_version_id) values ($1, $2, 0.8, 0.5, 1, 1, $3)`,
      [seller.id, tenantA, version.id]);
    const query = `{
      allSellers { totalCount } allProducts { totalCount aggregates { sum { price } } }
      allReviews { totalCount aggregates { average { rating } } } allReviewScores { totalCount } allSellerScores { totalCount }
    }`;
    const asB = await graphql(server.url, query, {}, tokenB);
    expect(asB.errors).toBeUndefined();
    expect(asB.data).toMatchObject({
      allSellers: { totalCount: 0 }, allProducts: { totalCount: 0, aggregates: { sum: { price: '0' } } },
      allReviews: { totalCount: 0 }, allReviewScores: { totalCount: 0 }, allSellerScores: { totalCount: 0 },
    });
    const asA = await graphql(server.url, query, {}, tokenA);
    expect(asA.data).toMatchObject({
      allSellers: { totalCount: 1 }, allProducts: { totalCount: 1 }, allReviews: { totalCount: 1, aggregates: { average: { rating: '5.0000000000000000' } } },
      allReviewScores: { totalCount: 1 }, allSellerScores: { totalCount: 1 },
    });
  });

  test("B can't cancel, retry or summarise A's batch", async () => {
    for (const mutation of ['cancelBatch', 'retryFailedItems', 'requestBatchSummary']) {
      const result = await graphql(server.url, `mutation($id: UUID!) { ${mutation}(input: { batchId: $id }) { clientMutationId } }`, { id: batchOfA }, tokenB);
      expect(result.errors).toMatchObject([{ extensions: { code: 'FLNFD' } }]);
    }
    const { rows } = await db.pool.query(`select count(*)::int as n from app_public.batch_items where batch_id = $1 and status = 'cancelled'`, [batchOfA]);
    expect(rows[0].n).toBe(0);
  });

  test('an admin sees every tenant', async () => {
    const result = await graphql(server.url, `{ allTenants(first: 100) { nodes { name } } }`, {}, adminToken);
    expect(result.data!.allTenants.nodes.map((node: { name: string }) => node.name).sort()).toEqual(['tenant-a', 'tenant-b']);
  });

  test('only an admin may trigger scoring', async () => {
    const mutation = `mutation { triggerReviewScoring(input: {}) { result { id kind } } }`;
    const refused = await graphql(server.url, mutation, {}, tokenA);
    expect(refused.errors).toMatchObject([{ message: 'only an admin may do this', extensions: { code: 'FLADM' } }]);
    const allowed = await graphql(server.url, mutation, {}, adminToken);
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data!.triggerReviewScoring.result.map((batch: { kind: string }) => batch.kind)).toEqual(['score_reviews', 'score_reviews']);
    const status = await graphql(server.url, `{ allSchedulerStatuses(first: 100) { nodes { taskIdentifier schedule } } }`, {}, adminToken);
    expect(status.data!.allSchedulerStatuses.nodes.map((node: { taskIdentifier: string }) => node.taskIdentifier).sort()).toEqual(['prune_finished_batches', 'start_review_scoring', 'sweep_batches']);
    const denied = await graphql(server.url, `{ allSchedulerStatuses(first: 100) { nodes { taskIdentifier } } }`, {}, tokenA);
    expect(denied.errors).toMatchObject([{ extensions: { code: '42501' } }]);
  });

  test('anonymous requests see nothing and change nothing', async () => {
    const read = await graphql(server.url, `{ allBatches(first: 100) { nodes { id } } }`);
    expect(read).toMatchObject({ status: 200, data: { allBatches: { nodes: [] } } });
    // A batch one may not see is null, as for any row.
    const one = await graphql(server.url, `query ($id: UUID!) { batchById(id: $id) { id statusSummary { status } } }`, { id: batchOfA });
    expect(one).toMatchObject({ status: 200, data: { batchById: null } });
    expect(one.errors).toBeUndefined();
    // Only the kind it tried: scoring runs started by the admin test may still be appearing.
    const before = await db.pool.query(`select count(*)::int as n from app_public.batches where kind = 'noop'`);
    const write = await graphql(server.url, SUBMIT, { kind: 'noop', items: [{}] });
    expect(write.errors).toMatchObject([{ extensions: { code: '42501' } }]);
    const after = await db.pool.query(`select count(*)::int as n from app_public.batches where kind = 'noop'`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  test('a forged or expired token is refused with 401', async () => {
    const forged = signToken('another-secret-that-is-long-enough-too', { role: 'app_admin' });
    expect((await graphql(server.url, '{ currentTenantId }', {}, forged)).status).toBe(401);
    const expired = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenantA }, -10);
    expect((await graphql(server.url, '{ currentTenantId }', {}, expired)).status).toBe(401);
  });

  test('`finishline token` mints a token the server accepts', async () => {
    const cli = CLI_PATH;
    const token = execFileSync(process.execPath, [cli, 'token', '--role', 'app_user', '--tenant-name', 'tenant-a'], {
      env: { ...process.env, DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET },
      encoding: 'utf8',
    }).trim();
    const result = await graphql(server.url, '{ currentTenantId }', {}, token);
    expect(result.data).toEqual({ currentTenantId: tenantA });
  });
});

describe('limits and malformed requests', () => {
  test('a too-deep query is refused', async () => {
    const deep = `{ allBatches(first: 1) { nodes { ${'tenant { batches(first: 1) { nodes { '.repeat(4)} id ${'} } } '.repeat(4)} } } }`;
    const result = await graphql(server.url, deep, {}, tokenA);
    expect(result.errors, JSON.stringify(result)).toHaveLength(1);
    expect(result.errors?.[0], JSON.stringify(result)).toMatchObject({ extensions: { code: "FLDEP" } });
    expect(result.errors?.[0].message).toMatch(/levels deep; at most 12/);
  });

  test('a page size over the cap is refused, literal or variable', async () => {
    const literal = await graphql(server.url, `{ allBatches(first: 5000) { nodes { id } } }`, {}, tokenA);
    expect(literal.errors?.[0]).toMatchObject({ message: 'first may be at most 1000', extensions: { code: 'FLPAG' } });
    const variable = await graphql(server.url, `query($n: Int) { allBatches(first: $n) { nodes { id } } }`, { n: 5000 }, tokenA);
    expect(variable.status).toBe(400);
    expect(variable.errors?.[0]).toMatchObject({ message: 'first may be at most 1000', extensions: { code: 'FLPAG' } });
  });

  test('a request body over 8 MB, or a query document over 100,000 characters, is refused with 413', async () => {
    const body = await graphql(server.url, SUBMIT, { kind: 'noop', items: Array.from({ length: 600_000 }, () => ({ sleep_ms: 0 })) }, tokenA);
    expect(body.status).toBe(413);
    const long = `{ ${'currentTenantId '.repeat(7_000)}}`;
    const query = await graphql(server.url, long, {}, tokenA);
    expect(query.status).toBe(413);
    expect(query.errors?.[0].message).toBe(`the query is ${long.length} characters long; at most 100000 are allowed (pass data as variables)`);
  });

  test('malformed JSON gets a 400', async () => {
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(response.status).toBe(400);
  });

  test('a variable of the wrong type gets a clear error', async () => {
    const result = await graphql(server.url, `query($id: UUID!) { batchById(id: $id) { id } }`, { id: 42 }, tokenA);
    expect(result.errors?.[0].message).toMatch(/\$id/);
  });
});

describe('live progress', () => {
  const PROGRESS = `subscription($id: UUID!) { batchProgress(batchId: $id) { status succeededItems } }`;
  type ProgressEvent = { at: number; status: string; succeededItems: number };

  /** Every message of a subscription, with when it came, until it completes or fails. */
  async function follow(token: string | undefined, id: string, whileListening: (events: ProgressEvent[]) => Promise<void> = async () => {}, serverUrl = server.url) {
    const events: ProgressEvent[] = [];
    const client = createClient({
      url: serverUrl.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
    });
    const ended = new Promise<{ completed: boolean; error?: unknown }>((resolve) => {
      client.subscribe({ query: PROGRESS, variables: { id } }, {
        next: (message) => {
          if (message.errors) return resolve({ completed: false, error: message.errors });
          events.push({ at: Date.now(), ...(message.data as { batchProgress: { status: string; succeededItems: number } }).batchProgress });
        },
        error: (error) => resolve({ completed: false, error }),
        complete: () => resolve({ completed: true }),
      });
    });
    await whileListening(events);
    const outcome = await Promise.race([ended, new Promise<{ completed: boolean; error?: unknown }>((resolve) => setTimeout(() => resolve({ completed: false, error: 'timeout' }), 60_000))]);
    await client.dispose();
    return { events, ...outcome };
  }

  test('batchProgress sends the state at once, then at most one update a second while items finish, and completes with the batch', async () => {
    // One item per job, so that items finish one by one; no worker until we listen.
    await db.pool.query(`update app_public.batch_kinds set chunk_size = 1 where kind = 'noop'`);
    await worker.stop();
    const id = await submit(tokenA, 'noop', Array.from({ length: 40 }, () => ({ sleep_ms: 100 })));
    const { events, completed } = await follow(tokenA, id, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      worker = await startWorkerProcess(db);
    });
    await db.pool.query(`update app_public.batch_kinds set chunk_size = 500 where kind = 'noop'`);

    expect(completed).toBe(true);
    expect(events[0]).toMatchObject({ status: 'pending', succeededItems: 0 });
    expect(events.at(-1)).toMatchObject({ status: 'completed', succeededItems: 40 });
    const counts = events.map((event) => event.succeededItems);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    // No repeats, and no more than one a second (the final state comes at once).
    for (let i = 1; i < events.length; i++) {
      expect(events[i]).not.toMatchObject({ status: events[i - 1].status, succeededItems: events[i - 1].succeededItems });
      if (i < events.length - 1) expect(events[i].at - events[i - 1].at).toBeGreaterThanOrEqual(900);
    }
    // Four seconds of work: updates came while it ran, not only at the end.
    expect(events.length).toBeGreaterThanOrEqual(4);
  });

  test('batchProgress of a finished batch sends its final state and completes', async () => {
    const id = await submit(tokenA, 'noop', [{}]);
    await waitForBatchSummary(tokenA, id);
    const { events, completed } = await follow(tokenA, id);
    expect(completed).toBe(true);
    expect(events.map(({ status, succeededItems }) => ({ status, succeededItems }))).toEqual([{ status: 'completed', succeededItems: 1 }]);
  });

  // The subscription reads the batch's state, then starts to LISTEN: the database notifies only
  // those listening, so a batch that finished in between was never told to it and its stream
  // stayed open. Here the server's LISTEN connection crosses a slow network.
  test('batchProgress of a batch that finishes before the server listens still ends, with the final state', async () => {
    const hop = await startSlowHop(db.url, 1500);
    const slowListen = await startServerProcess(db, { DIRECT_DATABASE_URL: hop.url });
    try {
      const id = await submit(tokenA, 'noop', [{ sleep_ms: 60_000 }]);
      const { events, completed, error } = await follow(tokenA, id, async (events) => {
        await waitFor(async () => events.length > 0, { what: 'the first progress event' });
        const cancelled = await graphql(slowListen.url, 'mutation($id: UUID!) { cancelBatch(input: { batchId: $id }) { result { status } } }', { id }, tokenA);
        expect(cancelled.errors).toBeUndefined();
      }, slowListen.url);
      expect(error).toBeUndefined();
      expect(completed).toBe(true);
      expect(events[0].status).not.toBe('cancelled');
      expect(events.at(-1)).toMatchObject({ status: 'cancelled', succeededItems: 0 });
    } finally {
      await slowListen.stop();
      await hop.close();
    }
  });

  test('batchProgress refuses a bad token and another tenant\'s batch with a clear error', async () => {
    const id = await submit(tokenA, 'noop', [{}]);
    const forged = signToken('another-secret-that-is-long-enough-too', { role: 'app_user', tenant_id: tenantA });
    const bad = await follow(forged, id);
    expect(JSON.stringify(bad.error)).toContain('invalid token');
    expect(JSON.stringify(bad.error)).toContain('FLJWT');
    const other = await follow(tokenB, id);
    expect(other.events).toEqual([]);
    expect(JSON.stringify(other.error)).toContain(`batch ${id} not found`);
  });
});

describe('/health and /metrics', () => {
  test('/health is 200 with a live worker and names the problem when there is none', async () => {
    const healthy = await fetch(`${server.url}/health`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toMatchObject({ ok: true, problems: [], live_workers: 1 });

    await db.pool.query(`update app_private.workers set last_seen_at = now() - interval '1 hour'`);
    const beat = await waitFor(async () => {
      const response = await fetch(`${server.url}/health`);
      return response.status === 503 ? response.json() : null;
    }, { timeoutMs: 3000, intervalMs: 10, what: '/health to report no worker' }).catch(() => null);
    // The worker beats again within a second or so; if we caught the gap, it said why.
    if (beat) expect((beat as { problems: string[] }).problems).toEqual(['no worker has a fresh heartbeat: batches will not move']);
    await waitFor(async () => (await fetch(`${server.url}/health`)).status === 200, { what: 'the worker to beat again' });
  });

  // A load balancer's or uptime monitor's probe may ask with HEAD.
  test('HEAD /health and HEAD /metrics answer as GET does, without a body', async () => {
    for (const path of ['/health', '/metrics']) {
      const response = await fetch(`${server.url}${path}`, { method: 'HEAD' });
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toMatch(path === '/health' ? /^application\/json/ : /^text\/plain/);
      expect(await response.text(), path).toBe('');
    }
  });

  test('/metrics is Prometheus text whose counters move when a batch runs', async () => {
    const scrape = async () => {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/);
      }
      const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      return {
        succeeded: value('finishline_items{kind="noop",status="succeeded"}'),
        completed: value('finishline_batches{kind="noop",status="completed"}'),
        workers: value('finishline_live_workers'),
        requests: value('finishline_graphql_request_duration_seconds_count{status="200"}'),
      };
    };
    const before = await scrape();
    const id = await submit(tokenA, 'noop', [{}, {}, {}]);
    await waitForBatchSummary(tokenA, id);
    const after = await scrape();
    expect(after.succeeded).toBe(before.succeeded + 3);
    expect(after.completed).toBe(before.completed + 1);
    expect(after.workers).toBe(1);
    expect(after.requests).toBeGreaterThan(before.requests);
  });
});
