// finishline behind a transaction-mode PgBouncer: `serve` with DATABASE_URL through the pooler and
// DIRECT_DATABASE_URL at the database, a worker on the database. The pooler shares one server
// connection among every client, so that any session state one request left behind (a role, a
// tenant's claim, a prepared statement) would show in the next one's answer.
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import {
  createTenant,
  graphql,
  lastLogLine,
  runCli,
  startServerProcess,
  startWorkerProcess,
  TEST_JWT_SECRET,
  useTestDatabase,
  waitFor,
  type ServerProcess,
  type WorkerProcess,
} from './helpers.ts';
import { PGBOUNCER_PATH, startPgBouncer, type PgBouncer } from './pgbouncer.ts';

const db = useTestDatabase();

/** The server's pools, small enough that a burst of requests fills them. */
const GRAPHQL_POOL_SIZE = 3;
const SERVER_POOL_SIZE = 2;
const WORKER_CONCURRENCY = 1;

describe.skipIf(!PGBOUNCER_PATH)('behind PgBouncer in transaction mode (skipped when pgbouncer is not installed: apt-get install pgbouncer)', () => {
  let bouncer: PgBouncer;
  let server: ServerProcess;
  let worker: WorkerProcess;
  let pooledUrl: string;
  let tenantA: string;
  let tenantB: string;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    tenantA = await createTenant(db, 'pooled-a');
    tenantB = await createTenant(db, 'pooled-b');
    tokenA = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenantA, sub: 'alice' });
    tokenB = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenantB, sub: 'bob' });
    // One server connection for every client of the database: requests take turns on it.
    bouncer = await startPgBouncer(db.url, { poolSize: 1 });
    pooledUrl = bouncer.url(db.name);
    server = await startServerProcess(db, {
      DATABASE_URL: pooledUrl,
      DIRECT_DATABASE_URL: db.url,
      GRAPHQL_POOL_SIZE: String(GRAPHQL_POOL_SIZE),
      SERVER_POOL_SIZE: String(SERVER_POOL_SIZE),
    });
    worker = await startWorkerProcess(db, { concurrency: WORKER_CONCURRENCY });
  });
  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await bouncer?.stop();
  });

  const SUBMIT = `
    mutation Submit($kind: String!, $items: JSON!, $metadata: JSON) {
      submitBatch(input: { kind: $kind, items: $items, metadata: $metadata }) { result { id tenantId } }
    }`;

  async function submit(token: string, kind: string, items: unknown[]): Promise<string> {
    const result = await graphql(server.url, SUBMIT, { kind, items }, token);
    expect(result.errors).toBeUndefined();
    return result.data!.submitBatch.result.id;
  }

  const BATCH = `
    query Batch($id: UUID!) {
      batchById(id: $id) {
        id tenantId status totalItems
        runSummary { status succeededItems failedItems }
        items { totalCount groupedAggregates(groupBy: STATUS) { keys distinctCount { id } } }
      }
    }`;

  async function summarised(token: string, id: string) {
    return waitFor(async () => {
      const { data } = await graphql(server.url, BATCH, { id }, token);
      return data?.batchById?.runSummary ? data.batchById : null;
    }, { what: `batch ${id} to be summarised (over GraphQL, through PgBouncer)` });
  }

  test('the server sees the pooler and sends its GraphQL queries unprepared, saying so once', () => {
    expect(server.output().match(/GraphQL queries are sent unprepared/g)).toHaveLength(1);
  });

  test('queries and mutations run under the token\'s role and tenant: submitBatch, batchById, aggregates', async () => {
    const id = await submit(tokenA, 'fail', [{ message: 'bad row', fail_times: 0 }, {}, { message: 'bad row', fail_times: 0 }]);
    const batch = await summarised(tokenA, id);
    expect(batch).toMatchObject({ tenantId: tenantA, status: 'completed_with_errors', totalItems: 3, runSummary: { succeededItems: 2, failedItems: 1 } });
    const byStatus = Object.fromEntries(batch.items.groupedAggregates.map((group: { keys: string[]; distinctCount: { id: string } }) => [group.keys[0], Number(group.distinctCount.id)]));
    expect(byStatus).toEqual({ succeeded: 2, failed: 1 });
    const seenByB = await graphql(server.url, BATCH, { id }, tokenB);
    expect(seenByB.errors).toBeUndefined();
    expect(seenByB.data!.batchById).toBeNull();
  });

  test('a catalog file uploaded with PUT /catalog-files/… is stored in one transaction and imports', async () => {
    const put = (name: string, body: string | Buffer, token: string) =>
      fetch(`${server.url}/catalog-files/${name}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body })
        .then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, any> }));
    // Three chunks of a megabyte: several statements of one transaction, on whichever connection it got.
    const large = Buffer.alloc(2_500_000, 'seller,sku,name,price\n');
    const stored = await put('large.csv', large, tokenA);
    expect(stored).toMatchObject({ status: 201, body: { filename: 'large.csv', sizeBytes: large.length, reused: false } });
    const { rows: [chunks] } = await db.pool.query('select count(*)::int as n from app_private.catalog_file_chunks where file_id = $1', [stored.body.id]);
    expect(chunks.n).toBe(3);

    const small = await put('pooled.csv', 'seller,sku,name,price,stock\nPooled Shop,POOL-1,Lamp,12.50,3\n', tokenA);
    expect(small).toMatchObject({ status: 201 });
    const batch = await summarised(tokenA, await submit(tokenA, 'import_catalog', [{ file_id: small.body.id }]));
    expect(batch).toMatchObject({ status: 'completed' });
    const { rows } = await db.pool.query(`select tenant_id, name from app_public.products where sku = 'POOL-1'`);
    expect(rows).toEqual([{ tenant_id: tenantA, name: 'Lamp' }]);

    const FILES = `{ allCatalogFiles(first: 10) { nodes { filename tenantId } } }`;
    expect((await graphql(server.url, FILES, {}, tokenA)).data!.allCatalogFiles.nodes.map((file: { filename: string }) => file.filename).sort()).toEqual(['large.csv', 'pooled.csv']);
    expect((await graphql(server.url, FILES, {}, tokenB)).data!.allCatalogFiles.nodes).toEqual([]);
  });

  test('batchProgress over graphql-ws sends updates until the batch finishes (its LISTEN on the direct connection)', async () => {
    // One item per job, each a few hundred milliseconds, one job at a time: a few seconds of updates.
    await db.pool.query(`update app_public.batch_kinds set chunk_size = 1 where kind = 'noop'`);
    try {
      const id = await submit(tokenA, 'noop', Array.from({ length: 10 }, () => ({ sleep_ms: 300 })));
      const events: Array<{ status: string; succeededItems: number }> = [];
      const client = createClient({
        url: server.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${tokenA}` },
        retryAttempts: 0,
      });
      const outcome = await new Promise<{ completed: boolean; error?: unknown }>((resolve) => {
        const timer = setTimeout(() => resolve({ completed: false, error: 'timeout' }), 60_000);
        client.subscribe({ query: `subscription($id: UUID!) { batchProgress(batchId: $id) { status succeededItems } }`, variables: { id } }, {
          next: (message) => {
            if (message.errors) return resolve({ completed: false, error: message.errors });
            events.push((message.data as { batchProgress: { status: string; succeededItems: number } }).batchProgress);
          },
          error: (error) => resolve({ completed: false, error }),
          complete: () => {
            clearTimeout(timer);
            resolve({ completed: true });
          },
        });
      });
      await client.dispose();
      expect(outcome).toEqual({ completed: true });
      expect(events.at(-1)).toEqual({ status: 'completed', succeededItems: 10 });
      // Updates came while it ran, not only its first and last states.
      expect(events.length).toBeGreaterThanOrEqual(3);
    } finally {
      await db.pool.query(`update app_public.batch_kinds set chunk_size = 500 where kind = 'noop'`);
    }
  });

  test("two tenants' interleaved requests on one shared server connection never see each other's claims or rows", async () => {
    const CLAIMS = `{ currentTenantId currentUserSub allBatches(first: 1000) { totalCount nodes { tenantId } } }`;
    const tenants = [
      { tenantId: tenantA, token: tokenA, sub: 'alice' },
      { tenantId: tenantB, token: tokenB, sub: 'bob' },
    ];
    await submit(tokenB, 'noop', [{}]);
    const requests = Array.from({ length: 120 }, (_, i) => {
      const { tenantId, token, sub } = tenants[i % 2];
      // Every third request is a mutation: its batch must land in its own tenant.
      if (i % 3 === 0) {
        return graphql(server.url, SUBMIT, { kind: 'noop', items: [{}], metadata: { by: sub } }, token).then((result) => ({ kind: 'mutation' as const, tenantId, sub, result }));
      }
      return graphql(server.url, CLAIMS, {}, token).then((result) => ({ kind: 'query' as const, tenantId, sub, result }));
    });
    const answers = await Promise.all(requests);
    const ownBatches = async (tenantId: string) =>
      (await db.pool.query('select id from app_public.batches where tenant_id = $1', [tenantId])).rows.map((row) => row.id as string);
    const own = { [tenantA]: new Set(await ownBatches(tenantA)), [tenantB]: new Set(await ownBatches(tenantB)) };
    for (const { kind, tenantId, sub, result } of answers) {
      expect(result.errors, `${kind} of ${sub}`).toBeUndefined();
      if (kind === 'mutation') {
        expect(result.data!.submitBatch.result.tenantId).toBe(tenantId);
        expect(own[tenantId].has(result.data!.submitBatch.result.id)).toBe(true);
        continue;
      }
      expect(result.data).toMatchObject({ currentTenantId: tenantId, currentUserSub: sub });
      const seen = new Set(result.data!.allBatches.nodes.map((node: { tenantId: string }) => node.tenantId));
      expect(seen).toEqual(new Set([tenantId]));
    }
    const { rows: metadata } = await db.pool.query<{ tenant_id: string; by: string }>(`select tenant_id, metadata->>'by' as by from app_public.batches where metadata ? 'by'`);
    expect(metadata).toHaveLength(40);
    for (const row of metadata) expect(row.tenant_id).toBe(row.by === 'alice' ? tenantA : tenantB);

    // The one server connection, as the database owner right after: no claim, role or prepared
    // statement of the requests is left on it.
    const servers = (await bouncer.admin<{ database: string }>('show servers')).filter((row) => row.database === db.name);
    expect(servers).toHaveLength(1);
    const owner = new pg.Client({ connectionString: pooledUrl });
    await owner.connect();
    try {
      const { rows: [state] } = await owner.query(`
        select nullif(current_setting('jwt.claims.tenant_id', true), '') as tenant_id,
               nullif(current_setting('jwt.claims.sub', true), '') as sub,
               current_setting('role') as role, current_user as "user",
               (select count(*)::int from pg_prepared_statements) as prepared`);
      expect(state).toEqual({ tenant_id: null, sub: null, role: 'none', user: 'postgres', prepared: 0 });
    } finally {
      await owner.end();
    }
  });

  test('the connections are those of the README: the pools to DATABASE_URL, LISTEN and the worker to DIRECT_DATABASE_URL', async () => {
    // Bursts that fill the server's pools: with one server connection behind the pooler, every
    // request waits there, holding a connection of its pool.
    await Promise.all(Array.from({ length: 20 }, () => graphql(server.url, '{ currentTenantId }', {}, tokenA)));
    await Promise.all(Array.from({ length: 10 }, () => fetch(`${server.url}/metrics`).then((response) => response.text())));

    const clients = await bouncer.admin<{ database: string; application_name: string }>('show clients');
    const pooled = countBy(clients.filter((row) => row.database === db.name).map((row) => row.application_name));
    // PgBouncer's own connections to the server show in pg_stat_activity as well: by their ports.
    const bouncerPorts = (await bouncer.admin<{ database: string; local_port: number }>('show servers')).map((row) => Number(row.local_port));
    const { rows } = await db.pool.query<{ application_name: string; client_port: number }>(
      'select application_name, client_port from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [db.name]);
    const direct = countBy(rows.filter((row) => !bouncerPorts.includes(row.client_port)).map((row) => row.application_name));

    expect(pooled).toEqual({ 'finishline graphql': GRAPHQL_POOL_SIZE, 'finishline server': SERVER_POOL_SIZE });
    expect(direct['finishline listen']).toBe(1);
    // The worker's pool (2 × concurrency + 4, opened as needed) and its liveness connection.
    expect(direct['finishline worker']).toBeGreaterThanOrEqual(2);
    expect(direct['finishline worker']).toBeLessThanOrEqual(2 * WORKER_CONCURRENCY + 5);
    expect(Object.keys(direct).filter((name) => name.startsWith('finishline')).sort()).toEqual(['finishline listen', 'finishline worker']);
  });

  test('no prepared statement went missing on the way: the server logged no error about one', () => {
    expect(server.output()).not.toMatch(/prepared statement/i);
    expect(server.output()).not.toMatch(/"level":"error"/);
  });

  test('a worker, migrate or start whose direct connection goes through the pooler is refused, saying what to set', async () => {
    const refusal = (run: Awaited<ReturnType<typeof runCli>>) => {
      expect(run.code).not.toBe(0);
      return String(lastLogLine(run).error);
    };
    const base = { JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info' };
    const worker = refusal(await runCli(['worker'], { ...base, DATABASE_URL: db.url, DIRECT_DATABASE_URL: pooledUrl }));
    expect(worker).toMatch(new RegExp(
      `^DIRECT_DATABASE_URL \\(${escape(pooledUrl)}\\) goes through a connection pooler \\(the connection says it is served by process -?\\d+, but pg_backend_pid\\(\\) is \\d+\\): ` +
        'the worker needs a direct connection for its LISTEN and advisory locks; set DIRECT_DATABASE_URL to the database itself$'));
    expect(refusal(await runCli(['worker'], { ...base, DATABASE_URL: pooledUrl }))).toMatch(
      new RegExp(`^DIRECT_DATABASE_URL \\(unset, so DATABASE_URL: ${escape(pooledUrl)}\\) goes through a connection pooler .*; set DIRECT_DATABASE_URL to the database itself$`));
    expect(refusal(await runCli(['migrate'], { ...base, DATABASE_URL: pooledUrl, DIRECT_DATABASE_URL: pooledUrl }))).toMatch(
      /goes through a connection pooler .*: migrations need a direct connection for their advisory locks; set DIRECT_DATABASE_URL to the database itself$/);
    expect(refusal(await runCli(['start'], { ...base, DATABASE_URL: pooledUrl }))).toMatch(/goes through a connection pooler/);

    // With the direct connection given, migrate runs (and finds nothing to do).
    const migrated = await runCli(['migrate'], { ...base, DATABASE_URL: pooledUrl, DIRECT_DATABASE_URL: db.url });
    expect(migrated.code).toBe(0);
    expect(lastLogLine(migrated)).toMatchObject({ msg: 'database schema is current', migrations_applied: 0 });
  });
});

describe.skipIf(!PGBOUNCER_PATH)('behind PgBouncer in statement mode', () => {
  // Such a pooler refuses transactions, and every GraphQL request runs in one: a server that
  // started would answer every request "the database is unavailable", for good.
  test('serve refuses to start, saying that the pooler refuses transactions and what to set', async () => {
    const bouncer = await startPgBouncer(db.url, { poolMode: 'statement' });
    try {
      const run = await runCli(['serve'], { JWT_SECRET: TEST_JWT_SECRET, PORT: '0', DATABASE_URL: bouncer.url(db.name), DIRECT_DATABASE_URL: db.url });
      expect(run.code).toBe(1);
      expect(lastLogLine(run).error).toBe(
        `DATABASE_URL (${bouncer.url(db.name)}) goes through a connection pooler that refuses transactions ` +
          '("transaction blocks not allowed in statement pooling mode"), and every GraphQL request runs in one: set its pool_mode to transaction');
    } finally {
      await bouncer.stop();
    }
  }, 60_000);
});

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
