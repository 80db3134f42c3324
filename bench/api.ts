// bench:api: how fast the GraphQL API answers "where does my batch stand?" under load.
//
// Builds 10,000 batches of 100 items (1,000,000 items) in a fresh database, starts
// `finishline serve` as a child process, and loads `batchStatusSummaryByBatchId` with autocannon
// (10 connections, loopback only, 10 s) for a random batch each request. Next to it, the same row
// read as plain SQL, sequentially on one pg.Client for the same time: as the owner (the baseline),
// and as app_user in a transaction with the claims set (what PostGraphile sends per request).
//
//   npm run bench:api                                   # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:api
//   BENCH_BATCHES=1000 BENCH_ITEMS_PER_BATCH=10 npm run bench:api   # a quick run
//
// With DATABASE_URL, the server must allow creating databases: the benchmark creates
// finishline_benchapi_<pid> there and drops it at the end. Human-readable lines come first; the
// last line is one JSON object with every figure. Exits non-zero on any failed or wrong response.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import pg from 'pg';
import { pgSettingsFor, signToken } from '../server/auth.ts';
import { startFinishline } from '../test/processes.ts';
import { keepOutput, onLoopback, openBenchDatabase, positiveIntegerFromEnv, runBench } from './support.ts';

const BATCHES = positiveIntegerFromEnv('BENCH_BATCHES', 10_000);
const ITEMS_PER_BATCH = positiveIntegerFromEnv('BENCH_ITEMS_PER_BATCH', 100);
const TENANTS = 4;
/** Batches created per transaction: big enough to be fast, small enough not to hold one huge transaction. */
const BATCHES_PER_TRANSACTION = 1000;
const CONNECTIONS = 10;
const DURATION_S = 10;
const GRAPHQL_WARMUP_S = 2;
const SQL_WARMUP_S = 1;
const P95_TARGET_MS = 20;
/** The whole run (setup included) is bounded; past this it cleans up and fails. */
const OVERALL_TIMEOUT_MS = 15 * 60_000;
const JWT_SECRET = 'finishline-bench-api-secret-0123456789ab';
/** The worker whose heartbeat the benchmark fakes (see createData). */
const BENCH_WORKER_ID = 'bench-api-worker';

const QUERY = `query BatchStatus($id: UUID!) {
  batchStatusSummaryByBatchId(batchId: $id) {
    batchId status totalItems pendingItems processingItems succeededItems failedItems progress stuckReason hasSummary
  }
}`;
/** The same row and columns as QUERY, in SQL. */
const STATUS_SQL = `select batch_id, status, total_items, pending_items, processing_items, succeeded_items, failed_items,
  progress, stuck_reason, has_summary
from app_public.batch_status_summary where batch_id = $1`;
/** How PostGraphile (@dataplan/pg) applies a request's role and claims inside its transaction. */
const SET_SETTINGS_SQL = 'select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el';
/**
 * The server's per-request statement_timeout (GRAPHQL_STATEMENT_TIMEOUT_MS, 5 s by default),
 * repeated here: importing graphql.ts would load PostGraphile into the load generator's process.
 */
const STATEMENT_TIMEOUT_MS = 5000;

function say(line: string): void {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------------------------------------
// The data (in a database of its own from bench/support.ts).

interface BatchRef {
  id: string;
  tenantId: string;
}

interface BenchData {
  tenantIds: string[];
  batches: BatchRef[];
  items: number;
  batchesByStatus: Record<string, number>;
}

/**
 * How far along batch number `seq` is, so that reads meet the mix a busy deployment shows: a
 * backlog not touched for minutes, batches half done, half done with items running, finished.
 */
function progressOf(seq: number): { succeeded: number; processing: number; backlog: boolean } {
  const half = Math.floor(ITEMS_PER_BATCH / 2);
  switch (seq % 4) {
    case 0:
      return { succeeded: 0, processing: 0, backlog: true };
    case 1:
      return { succeeded: half, processing: 0, backlog: false };
    case 2:
      return { succeeded: half, processing: Math.max(1, Math.floor(ITEMS_PER_BATCH / 10)), backlog: false };
    default:
      return { succeeded: ITEMS_PER_BATCH, processing: 0, backlog: false };
  }
}

/** Runs `fn` in a transaction on `client`. */
async function inTransaction<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query('begin');
  try {
    const result = await fn();
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

/** One transaction: `count` batches (numbers from `firstSeq`) with their items, moved along in bulk. */
async function createBatchGroup(client: pg.Client, tenantIds: string[], firstSeq: number, count: number): Promise<void> {
  await inTransaction(client, async () => {
    const { rows } = await client.query<{ id: string; seq: number }>(
      `insert into app_public.batches (tenant_id, kind, metadata)
       select ($3::uuid[])[1 + g % cardinality($3::uuid[])], 'noop', jsonb_build_object('bench_seq', g)
       from generate_series($1::int, $2::int) g
       returning id, (metadata->>'bench_seq')::int as seq`,
      [firstSeq, firstSeq + count - 1, tenantIds],
    );
    const ids = rows.map((row) => row.id);
    // The payload numbers the items within their batch, so that "the first n items" is set-based.
    // Ordered by batch: a batch's items then lie together on disk, as submit_batch leaves them
    // (without it the planner puts generate_series outside, and scatters each batch over 100 pages).
    await client.query(
      `insert into app_public.batch_items (batch_id, tenant_id, payload)
       select b.id, b.tenant_id, jsonb_build_object('n', n)
       from app_public.batches b cross join generate_series(1, $2::int) n
       where b.id = any($1::uuid[])
       order by b.id, n`,
      [ids, ITEMS_PER_BATCH],
    );
    const plans = rows.map((row) => ({ id: row.id, ...progressOf(row.seq) }));
    // Items move pending → processing → succeeded, as a worker would move them; the triggers keep
    // the counters and the batches' statuses right.
    const moved = plans.filter((plan) => plan.succeeded + plan.processing > 0);
    await client.query(
      `update app_public.batch_items i
       set status = 'processing', locked_by = $3, attempts = 1, started_at = now()
       from unnest($1::uuid[], $2::int[]) as t(batch_id, upto)
       where i.batch_id = t.batch_id and (i.payload->>'n')::int <= t.upto`,
      [moved.map((plan) => plan.id), moved.map((plan) => plan.succeeded + plan.processing), BENCH_WORKER_ID],
    );
    const done = plans.filter((plan) => plan.succeeded > 0);
    await client.query(
      `update app_public.batch_items i
       set status = 'succeeded', locked_by = null, finished_at = now()
       from unnest($1::uuid[], $2::int[]) as t(batch_id, upto)
       where i.batch_id = t.batch_id and (i.payload->>'n')::int <= t.upto`,
      [done.map((plan) => plan.id), done.map((plan) => plan.succeeded)],
    );
    // A backlog batch has not moved for ten minutes: stuck_reason then also looks for its jobs.
    await client.query(
      `update app_private.batch_counter_slots set updated_at = now() - interval '10 minutes' where batch_id = any($1::uuid[])`,
      [plans.filter((plan) => plan.backlog).map((plan) => plan.id)],
    );
  });
}

async function createData(url: string, database: string): Promise<BenchData> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A live worker, as in any real deployment: without one, stuck_reason stops at
    // `no_worker_alive` and the view does less work than it does in production. Its heartbeat is
    // fresh for a day so that nothing needs to beat while the benchmark runs (new connections,
    // the server's among them, read the setting).
    await client.query(`alter database ${pg.escapeIdentifier(database)} set finishline.worker_stale_after = '1 day'`);
    await client.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ($1, $2, $3, 4)`, [
      BENCH_WORKER_ID,
      os.hostname(),
      process.pid,
    ]);
    const { rows: tenants } = await client.query<{ id: string }>(
      `insert into app_public.tenants (name) select 'bench-api-' || g from generate_series(1, $1::int) g returning id`,
      [TENANTS],
    );
    const tenantIds = tenants.map((tenant) => tenant.id);
    for (let first = 0; first < BATCHES; first += BATCHES_PER_TRANSACTION) {
      await createBatchGroup(client, tenantIds, first, Math.min(BATCHES_PER_TRANSACTION, BATCHES - first));
    }
    // Inserting items enqueued one noop job per chunk; no worker runs, so they stay queued, like a
    // backlog would. Fresh statistics and visibility maps, as autovacuum would have left them.
    await client.query('vacuum analyze');
    const { rows: batches } = await client.query<{ id: string; tenant_id: string }>('select id, tenant_id from app_public.batches');
    const { rows: statuses } = await client.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from app_public.batches group by status order by status',
    );
    const { rows: itemCount } = await client.query<{ n: number }>('select count(*)::int as n from app_public.batch_items');
    return {
      tenantIds,
      batches: batches.map((row) => ({ id: row.id, tenantId: row.tenant_id })),
      items: itemCount[0].n,
      batchesByStatus: Object.fromEntries(statuses.map((row) => [row.status, row.n])),
    };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The server, as a child process whose output is kept for a failure report.

/** `finishline serve` on the database; resolves with its GraphQL endpoint on the loopback address. */
async function startServer(databaseUrl: string): Promise<string> {
  const server = await startFinishline('serve', { DATABASE_URL: databaseUrl, PORT: '0', JWT_SECRET, LOG_LEVEL: 'info' });
  keepOutput('finishline serve', server);
  return `${onLoopback(server.url)}/graphql`;
}

// ---------------------------------------------------------------------------------------------
// Measuring.

interface Figures {
  count: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function figuresOf(latenciesMs: number[], elapsedMs: number): Figures {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    perSecond: sorted.length / (elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

function randomOf<T>(list: T[]): T {
  return list[Math.floor(Math.random() * list.length)];
}

interface PreparedRequest {
  batchId: string;
  body: string;
  headers: Record<string, string>;
}

/** One body and token per batch, built up front so that the load generator does not pay for it. */
function prepareRequests(batches: BatchRef[]): PreparedRequest[] {
  const tokens = new Map<string, string>();
  return batches.map((batch) => {
    let token = tokens.get(batch.tenantId);
    if (!token) {
      token = signToken(JWT_SECRET, { role: 'app_user', tenant_id: batch.tenantId, sub: 'bench-api' }, '2h');
      tokens.set(batch.tenantId, token);
    }
    return {
      batchId: batch.id,
      body: JSON.stringify({ query: QUERY, variables: { id: batch.id } }),
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    };
  });
}

interface BatchStatusResponse {
  data?: { batchStatusSummaryByBatchId?: { batchId?: string } | null };
  errors?: unknown[];
}

/** What is wrong with a response for `batchId`, or null when it is the batch's status. */
function problemWith(status: number, body: string, batchId: string | undefined): string | null {
  if (status !== 200) return `HTTP ${status}: ${body.slice(0, 500)}`;
  let parsed: BatchStatusResponse;
  try {
    parsed = JSON.parse(body) as BatchStatusResponse;
  } catch {
    return `not JSON: ${body.slice(0, 500)}`;
  }
  if (parsed.errors) return `errors: ${body.slice(0, 500)}`;
  const row = parsed.data?.batchStatusSummaryByBatchId;
  if (!row || row.batchId !== batchId) return `not the status of batch ${batchId}: ${body.slice(0, 500)}`;
  return null;
}

interface LoadResult extends Figures {
  non2xx: number;
  wrongResponses: number;
  connectionErrors: number;
  timeouts: number;
  firstProblem: string | null;
  autocannonP50: number;
  autocannonP99: number;
}

/** autocannon for `seconds`, each request for a random batch; latencies from every response. */
async function loadGraphQL(url: string, requests: PreparedRequest[], seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let wrongResponses = 0;
  let firstProblem: string | null = null;
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: CONNECTIONS,
        duration: seconds,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            // Each connection sends one request at a time, so its context names the batch asked for.
            setupRequest(request, context) {
              const next = randomOf(requests);
              (context as { batchId?: string }).batchId = next.batchId;
              return { ...request, body: next.body, headers: next.headers };
            },
            onResponse(status, body, context) {
              const problem = problemWith(status, body, (context as { batchId?: string }).batchId);
              if (problem) {
                wrongResponses++;
                firstProblem ??= problem;
              }
            },
          },
        ],
      },
      (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
  const elapsedMs = performance.now() - started;
  return {
    ...figuresOf(latencies, elapsedMs),
    non2xx: result.non2xx,
    wrongResponses,
    connectionErrors: result.errors,
    timeouts: result.timeouts,
    firstProblem,
    autocannonP50: result.latency.p50,
    autocannonP99: result.latency.p99,
  };
}

/** Sequential queries on one connection for `seconds`; the latency of each `runOne`. */
async function loadSql(client: pg.Client, batches: BatchRef[], seconds: number, runOne: (batch: BatchRef) => Promise<void>): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const batch = randomOf(batches);
    const before = performance.now();
    await runOne(batch);
    latencies.push(performance.now() - before);
  }
  return figuresOf(latencies, performance.now() - started);
}

/** The baseline: the view's row as the database owner (no row level security), one prepared statement. */
function ownerQuery(client: pg.Client): (batch: BatchRef) => Promise<void> {
  return async (batch) => {
    const { rows } = await client.query({ name: 'bench_status_owner', text: STATUS_SQL, values: [batch.id] });
    if (rows.length !== 1) throw new Error(`plain SQL found ${rows.length} rows for batch ${batch.id}`);
  };
}

/** The view's row as PostGraphile reads it: a transaction with app_user's role and claims. */
function appUserQuery(client: pg.Client): (batch: BatchRef) => Promise<void> {
  const settingsByTenant = new Map<string, string>();
  return async (batch) => {
    let settings = settingsByTenant.get(batch.tenantId);
    if (!settings) {
      const pgSettings = pgSettingsFor({ role: 'app_user', tenant_id: batch.tenantId, sub: 'bench-api' }, STATEMENT_TIMEOUT_MS);
      settings = JSON.stringify(Object.entries(pgSettings));
      settingsByTenant.set(batch.tenantId, settings);
    }
    await client.query('begin');
    try {
      await client.query({ name: 'bench_set_settings', text: SET_SETTINGS_SQL, values: [settings] });
      const { rows } = await client.query({ name: 'bench_status_app_user', text: STATUS_SQL, values: [batch.id] });
      if (rows.length !== 1) throw new Error(`plain SQL as app_user found ${rows.length} rows for batch ${batch.id}`);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    }
  };
}

// ---------------------------------------------------------------------------------------------

function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

function rate(value: number, unit: string): string {
  return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

async function main(): Promise<Record<string, unknown>> {
  say(`bench:api: the batch status over GraphQL against plain SQL (${BATCHES.toLocaleString('en-US')} batches × ${ITEMS_PER_BATCH} items)`);
  const setupStarted = performance.now();
  const bench = await openBenchDatabase('api');
  const database = { url: bench.url, source: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded' };
  const databaseName = new URL(database.url).pathname.slice(1);
  const { rows: versionRows } = await bench.client.query<{ version: string; random_page_cost: string }>(
    `select current_setting('server_version') as version, current_setting('random_page_cost') as random_page_cost`,
  );
  const { version, random_page_cost: randomPageCost } = versionRows[0];
  say(`database: PostgreSQL ${version} (${database.source}), database ${databaseName}, random_page_cost ${randomPageCost}`);

  const data = await createData(database.url, databaseName);
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const statusList = Object.entries(data.batchesByStatus)
    .map(([status, n]) => `${n.toLocaleString('en-US')} ${status}`)
    .join(', ');
  say(
    `setup: ${TENANTS} tenants, ${data.batches.length.toLocaleString('en-US')} batches (${statusList}), ` +
      `${data.items.toLocaleString('en-US')} items, migrated and filled in ${setupSeconds.toFixed(1)} s`,
  );
  if (data.batches.length !== BATCHES || data.items !== BATCHES * ITEMS_PER_BATCH) {
    throw new Error(`expected ${BATCHES} batches and ${BATCHES * ITEMS_PER_BATCH} items`);
  }

  const serverUrl = await startServer(database.url);
  const requests = prepareRequests(data.batches);

  say(`GraphQL: warming up for ${GRAPHQL_WARMUP_S} s, then ${CONNECTIONS} connections for ${DURATION_S} s at ${serverUrl}`);
  const warmup = await loadGraphQL(serverUrl, requests, GRAPHQL_WARMUP_S);
  const graphql = await loadGraphQL(serverUrl, requests, DURATION_S);
  const problems = [warmup, graphql].reduce((n, run) => n + run.non2xx + run.wrongResponses + run.connectionErrors + run.timeouts, 0);
  if (problems > 0) {
    const run = graphql.firstProblem || graphql.non2xx || graphql.connectionErrors ? graphql : warmup;
    throw new Error(
      `GraphQL load had failures: ${run.non2xx} non-2xx, ${run.wrongResponses} wrong or error responses, ` +
        `${run.connectionErrors} connection errors, ${run.timeouts} timeouts; first: ${run.firstProblem ?? '(none recorded)'}`,
    );
  }
  const targetMet = graphql.p95 < P95_TARGET_MS;
  say(
    `GraphQL  batchStatusSummaryByBatchId, ${CONNECTIONS} connections: ${rate(graphql.perSecond, 'requests/s')}, ` +
      `p50 ${ms(graphql.p50)}, p95 ${ms(graphql.p95)} (target < ${P95_TARGET_MS} ms: ${targetMet ? 'met' : 'MISSED'}), ` +
      `p99 ${ms(graphql.p99)}, max ${ms(graphql.max)}; ${graphql.count.toLocaleString('en-US')} requests, all 200 without errors`,
  );
  say(`         (autocannon's own histogram: p50 ${graphql.autocannonP50} ms, p99 ${graphql.autocannonP99} ms)`);

  const sqlClient = new pg.Client({ connectionString: database.url });
  await sqlClient.connect();
  bench.onCleanup(() => sqlClient.end());
  const asOwner = ownerQuery(sqlClient);
  await loadSql(sqlClient, data.batches, SQL_WARMUP_S, asOwner);
  const sql = await loadSql(sqlClient, data.batches, DURATION_S, asOwner);
  say(
    `SQL      baseline: one pg.Client, sequential, as the owner, ${DURATION_S} s: ${rate(sql.perSecond, 'queries/s')}, ` +
      `p50 ${ms(sql.p50)}, p95 ${ms(sql.p95)}, p99 ${ms(sql.p99)}, max ${ms(sql.max)}`,
  );
  const asAppUser = appUserQuery(sqlClient);
  await loadSql(sqlClient, data.batches, SQL_WARMUP_S, asAppUser);
  const sqlAppUser = await loadSql(sqlClient, data.batches, DURATION_S, asAppUser);
  say(
    `SQL      as app_user like PostGraphile (begin; set_config; select; commit), ${DURATION_S} s: ` +
      `${rate(sqlAppUser.perSecond, 'transactions/s')}, p50 ${ms(sqlAppUser.p50)}, p95 ${ms(sqlAppUser.p95)}, ` +
      `p99 ${ms(sqlAppUser.p99)}, max ${ms(sqlAppUser.max)}`,
  );

  return {
    graphql_requests_per_s: round(graphql.perSecond, 1),
    graphql_p50_ms: round(graphql.p50),
    graphql_p95_ms: round(graphql.p95),
    graphql_p99_ms: round(graphql.p99),
    graphql_max_ms: round(graphql.max),
    graphql_requests: graphql.count,
    graphql_p95_target_ms: P95_TARGET_MS,
    graphql_p95_target_met: targetMet,
    sql_queries_per_s: round(sql.perSecond, 1),
    sql_p50_ms: round(sql.p50, 3),
    sql_p95_ms: round(sql.p95, 3),
    sql_p99_ms: round(sql.p99, 3),
    sql_app_user_tx_per_s: round(sqlAppUser.perSecond, 1),
    sql_app_user_p50_ms: round(sqlAppUser.p50, 3),
    sql_app_user_p95_ms: round(sqlAppUser.p95, 3),
    sql_app_user_p99_ms: round(sqlAppUser.p99, 3),
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    tenants: TENANTS,
    batches: data.batches.length,
    items: data.items,
    setup_seconds: round(setupSeconds, 1),
    database: database.source,
    postgres_version: version,
  };
}

runBench('bench:api', main, { timeoutMs: OVERALL_TIMEOUT_MS });
