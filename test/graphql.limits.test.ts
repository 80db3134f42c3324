// What one GraphQL request may cost, and how a client's mistakes and a database outage are
// answered: each with a code the client can act on, never as an internal error.
import fs from 'node:fs';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../server/auth.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres_cluster.ts';
import { createTenant, graphql, startServerProcess, TEST_JWT_SECRET, useTestDatabase, waitFor, type ServerProcess, type TestDatabase } from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let tenant: string;
let token: string;

beforeAll(async () => {
  tenant = await createTenant(db, 'limits');
  token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant });
  // 30 batches of 1,000 items with 1 kB payloads: enough for a request to be heavy.
  await db.pool.query(`
    do $$
    declare v_batch uuid;
    begin
      for i in 1..30 loop
        insert into app_public.batches (tenant_id, kind) values ('${tenant}', 'noop') returning id into v_batch;
        insert into app_public.batch_items (batch_id, tenant_id, payload)
        select v_batch, '${tenant}', jsonb_build_object('n', n, 'filler', repeat('x', 1000)) from generate_series(1, 1000) n;
      end loop;
    end $$`);
  server = await startServerProcess(db);
});
afterAll(async () => {
  await server?.stop();
});

/** The ten aliases of a thousand batches with a thousand items each that once took the server to 945 MB. */
const HEAVY = `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: allBatches(first: 1000) { nodes { id items(first: 1000) { nodes { payload } } } }`).join(' ')} }`;
/** Just under the limit: 9 batches with 1,000 items each. */
const LARGEST_ALLOWED = `{ allBatches(first: 9) { nodes { id items(first: 1000) { nodes { id payload } } } } }`;

function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('what a request may cost', () => {
  test('a request whose page sizes multiply out past 10,000 rows is refused before it runs', async () => {
    const started = Date.now();
    const result = await graphql(server.url, HEAVY, {}, token);
    expect(result.status).toBe(400);
    expect(result.errors).toMatchObject([{ extensions: { code: 'FLCST' } }]);
    expect(result.errors![0].message).toContain('could fetch 10,010,000 rows');
    expect(Date.now() - started).toBeLessThan(1000);
    // Variables count as literals do.
    const viaVariables = await graphql(server.url, `query($n: Int!, $m: Int!) { allBatches(first: $n) { nodes { items(first: $m) { nodes { id } } } } }`, { n: 1000, m: 100 }, token);
    expect(viaVariables.errors).toMatchObject([{ extensions: { code: 'FLCST' } }]);
  });

  test('a connection must say how many rows it wants', async () => {
    const result = await graphql(server.url, `{ allBatches { nodes { id } } }`, {}, token);
    expect(result.status).toBe(400);
    expect(result.errors).toMatchObject([{ message: 'allBatches is a connection: say how many rows you want with first or last (at most 1000)', extensions: { code: 'FLPAG' } }]);
    // Counts and aggregates need no page size.
    const counted = await graphql(server.url, `{ allBatches { totalCount } }`, {}, token);
    expect(counted.data).toEqual({ allBatches: { totalCount: 30 } });
  });

  test('six heavy requests at once, and six of the largest allowed, keep the server\'s memory bounded', async () => {
    const before = peakRssMb(server.pid);
    const heavy = await Promise.all(Array.from({ length: 6 }, () => graphql(server.url, HEAVY, {}, token)));
    for (const result of heavy) expect(result.errors).toMatchObject([{ extensions: { code: 'FLCST' } }]);
    const allowed = await Promise.all(Array.from({ length: 6 }, () => graphql(server.url, LARGEST_ALLOWED, {}, token)));
    for (const result of allowed) {
      expect(result.errors).toBeUndefined();
      expect(result.data!.allBatches.nodes).toHaveLength(9);
    }
    const after = peakRssMb(server.pid);
    // Each allowed answer is ~10 MB of JSON; the heavy ones run two at a time, so six at once stay
    // far below what one heavy request took before it was refused.
    expect(after, `peak RSS ${before.toFixed(0)} MB before, ${after.toFixed(0)} MB after`).toBeLessThan(450);
  });
});

describe("a client's mistakes get a code that says what to change", () => {
  const SUBMIT = `mutation($items: JSON!, $metadata: JSON, $key: String) {
    submitBatch(input: { kind: "noop", items: $items, metadata: $metadata, idempotencyKey: $key }) { result { id } } }`;

  test('a NUL character in a payload, in metadata or in an idempotency key: FLNUL, and nothing stored', async () => {
    const { rows: [before] } = await db.pool.query<{ n: number }>('select count(*)::int as n from app_public.batches');
    for (const variables of [{ items: [{ a: 'x\u0000y' }] }, { items: [{}], metadata: { note: 'x\u0000' } }, { items: [{}], key: 'key\u0000' }]) {
      const result = await graphql(server.url, SUBMIT, variables, token);
      expect(result.errors, JSON.stringify(variables)).toMatchObject([{ extensions: { code: 'FLNUL' } }]);
      expect(result.errors![0].message).toMatch(/NUL character/);
    }
    const { rows: [after] } = await db.pool.query<{ n: number }>('select count(*)::int as n from app_public.batches');
    expect(after.n).toBe(before.n);
  });

  test('a negative first, last or offset: FLPAG, with a 400', async () => {
    for (const args of ['first: -1', 'last: -1', 'first: 5, offset: -5']) {
      const result = await graphql(server.url, `{ allBatches(${args}) { nodes { id } } }`, {}, token);
      expect(result.status, args).toBe(400);
      expect(result.errors, args).toMatchObject([{ extensions: { code: 'FLPAG' } }]);
    }
    const variable = await graphql(server.url, `query($o: Int) { allBatches(first: 1, offset: $o) { nodes { id } } }`, { o: -1 }, token);
    expect(variable.errors).toMatchObject([{ message: 'offset must be a whole number of at least 0, not -1', extensions: { code: 'FLPAG' } }]);
  });

  test('a request the schema cannot run as sent: FLREQ, with what is wrong, over HTTP and websockets', async () => {
    const mistakes: Array<[string, Record<string, unknown>, RegExp]> = [
      ['{ allBatches(first: 5) { totalCount ', {}, /^Syntax Error: Expected Name, found <EOF>\. \(line 1, column 37\)$/],
      ['{ allBatches(first: 5) { totalCount nope } }', {}, /Cannot query field "nope" on type "BatchConnection"/],
      ['mutation { submitBatch(input: { kind: 5, items: [] }) { result { id } } }', {}, /String cannot represent a non string value: 5/],
      ['query($id: UUID!) { batchById(id: $id) { status } }', { id: 'not-a-uuid' }, /Variable "\$id" got invalid value "not-a-uuid"; Invalid UUID/],
      ['query($id: UUID!) { batchById(id: $id) { status } }', {}, /Variable "\$id" of required type "UUID!" was not provided/],
    ];
    for (const [query, variables, message] of mistakes) {
      const result = await graphql(server.url, query, variables, token);
      expect(result.data, query).toBeUndefined();
      expect(result.errors, query).toMatchObject([{ message: expect.stringMatching(message), extensions: { code: 'FLREQ' } }]);
    }
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ a: allBatches(first: 1) { totalCount } }', operationName: 'B' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ errors: [{ message: 'Unknown operation named "B".', extensions: { code: 'FLREQ' } }] });
    // The code a field's own errors carry is theirs, not FLREQ.
    const unknownKind = await graphql(server.url, 'mutation { submitBatch(input: { kind: "nope", items: [] }) { result { id } } }', {}, token);
    expect(unknownKind.errors).toMatchObject([{ path: ['submitBatch'], extensions: { code: 'FLKND' } }]);

    const client = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });
    try {
      const refused = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query: 'subscription { batchProgress(batchId: "00000000-0000-0000-0000-000000000000") { status nope } }' },
          { next: reject, error: resolve, complete: () => reject(new Error('completed without an error')) });
      });
      expect(refused).toMatchObject([{ message: expect.stringMatching(/Cannot query field "nope" on type "BatchStatusSummary"/), extensions: { code: 'FLREQ' } }]);
    } finally {
      await client.dispose();
    }
  });

  test('a request that runs past the statement timeout: FLTMO', async () => {
    const strict = await startServerProcess(db, { GRAPHQL_STATEMENT_TIMEOUT_MS: '20' });
    try {
      const result = await graphql(strict.url, `{ allBatches(first: 30) { nodes { items { aggregates { distinctCount { payload } } } } } }`, {}, token);
      expect(result.errors?.[0], JSON.stringify(result)).toMatchObject({ extensions: { code: 'FLTMO' } });
      expect(result.errors![0].message).toMatch(/ran longer than the 20 ms a request may run/);
    } finally {
      await strict.stop();
    }
  });
});

describe('a database outage', () => {
  let cluster: PostgresCluster;
  let outageServer: ServerProcess;
  let outageToken: string;
  beforeAll(async () => {
    cluster = await startPostgresCluster({ like: process.env.TEST_DATABASE_URL });
    const target = { url: cluster.url() } as TestDatabase;
    outageServer = await startServerProcess(target);
    const client = await import('pg').then(({ default: pg }) => new pg.Client({ connectionString: cluster.url() }));
    await client.connect();
    const { rows: [{ id }] } = await client.query<{ id: string }>(`insert into app_public.tenants (name) values ('outage') returning id`);
    await client.end();
    outageToken = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: id });
  });
  afterAll(async () => {
    await outageServer?.stop();
    await cluster?.remove();
  });

  test('GraphQL answers 503 with Retry-After while the database is away, and 200 once it is back', async () => {
    expect((await graphql(outageServer.url, '{ allBatches { totalCount } }', {}, outageToken)).status).toBe(200);
    await cluster.stop('fast');
    const response = await fetch(`${outageServer.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${outageToken}` },
      body: JSON.stringify({ query: '{ allBatches { totalCount } }' }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]).toMatchObject({ extensions: { code: 'FLDBU' } });
    expect((await fetch(`${outageServer.url}/health`)).status).toBe(503);
    await cluster.start();
    await waitFor(async () => (await graphql(outageServer.url, '{ allBatches { totalCount } }', {}, outageToken)).status === 200, { what: 'GraphQL to answer again' });
    const notJson = outageServer.output().split('\n').filter((line) => line !== '' && !line.startsWith('{'));
    expect(notJson.slice(0, 20)).toEqual([]);
  });
});
