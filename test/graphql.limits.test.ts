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

  // Each field at the top level is a statement of its own: 1,400 aliases of one count took 11 s.
  test('a request of more than 50 fields at its top level, aliases and fragments counted, is refused before it runs', async () => {
    const aliases = (n: number) => Array.from({ length: n }, (_, i) => `a${i}: allBatchStatusSummaries(first: 1) { totalCount }`).join(' ');
    const started = Date.now();
    const refused = await graphql(server.url, `{ ${aliases(1400)} }`, {}, token);
    expect(refused).toMatchObject({ status: 400, errors: [{ extensions: { code: 'FLCST' } }] });
    expect(refused.errors![0].message).toBe('this request asks for 1,400 fields at its top level (aliases count, each is a query of its own); at most 50 are allowed: send several requests');
    expect(Date.now() - started).toBeLessThan(1000);
    const viaFragment = await graphql(server.url, `query { ...more b: currentTenantId } fragment more on Query { ${aliases(50)} }`, {}, token);
    expect(viaFragment.errors).toMatchObject([{ extensions: { code: 'FLCST' } }]);
    const fifty = await graphql(server.url, `{ ${aliases(49)} __typename t: currentTenantId }`, {}, token);
    expect(fifty.errors).toBeUndefined();
  });

  // A few hundred bytes that expand to 2^40 fields: each fragment spreads the next twice. The
  // limits' own walks and the query planner followed every spread, and one such request held the
  // server's only thread.
  test('a document whose fragments each spread the next twice is refused at once, at the top level or below', async () => {
    const chain = (on: string) => Array.from({ length: 40 }, (_, i) => `fragment F${i} on ${on} { ...F${i + 1} ...F${i + 1} }`).join(' ');
    let started = Date.now();
    const atTop = await graphql(server.url, `query { ...F0 } ${chain('Query')} fragment F40 on Query { currentTenantId }`, {}, token);
    expect(atTop).toMatchObject({ status: 400, errors: [{ extensions: { code: 'FLCST' } }] });
    expect(Date.now() - started).toBeLessThan(1000);
    started = Date.now();
    const query = `query { batchById(id: "00000000-0000-4000-8000-000000000001") { ...F0 } } ${chain('Batch')} fragment F40 on Batch { id }`;
    const message = 'this request asks for 1,099,511,627,777 fields once its fragments are spread where they are used; at most 10,000 are allowed';
    const below = await graphql(server.url, query, {}, token);
    expect(below).toMatchObject({ status: 400, errors: [{ message, extensions: { code: 'FLCST' } }] });
    expect(Date.now() - started).toBeLessThan(1000);
    started = Date.now();
    const client = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });
    try {
      const refused = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query }, { next: reject, error: resolve, complete: () => reject(new Error('completed without an error')) });
      });
      expect(refused).toMatchObject([{ message, extensions: { code: 'FLCST' } }]);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await client.dispose();
    }
  });

  test('one websocket runs at most 100 operations at once: the next gets FLBSY, and runs once another has ended', async () => {
    // No worker runs in this file: the batch stays pending, and every subscription to it open.
    // (A tenant of its own: the other tests count this one's batches.)
    const follower = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: await createTenant(db), sub: 'follower' });
    const submitted = await graphql(server.url, 'mutation { submitBatch(input: { kind: "noop", items: [{}] }) { result { id } } }', {}, follower);
    const batchId = submitted.data!.submitBatch.result.id;
    const client = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${follower}` } });
    const follow = () => {
      let first!: (value: unknown) => void;
      const answered = new Promise((resolve) => (first = resolve));
      const unsubscribe = client.subscribe({ query: 'subscription($id: UUID!) { batchProgress(batchId: $id) { status } }', variables: { id: batchId } },
        { next: first, error: first, complete: () => {} });
      return { answered, unsubscribe };
    };
    try {
      const running = Array.from({ length: 100 }, follow);
      for (const { answered } of running) expect(await answered).toMatchObject({ data: { batchProgress: { status: 'pending' } } });
      expect(await follow().answered).toMatchObject([{ message: 'this connection runs 100 operations already, as many as one may: complete one first', extensions: { code: 'FLBSY' } }]);
      running[0].unsubscribe();
      await waitFor(async () => {
        const next = await follow().answered;
        return (next as { data?: unknown }).data !== undefined;
      }, { what: 'an operation to run once another has ended' });
    } finally {
      await client.dispose();
    }
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

  test('a payload nested thousands of levels deep: FLDEP, with a 400; a lone surrogate: 22P02, saying so; a priority past its type: 22003; nothing stored, nothing logged as an error', async () => {
    const { rows: [before] } = await db.pool.query<{ n: number }>('select count(*)::int as n from app_public.batches');
    // Written out as text: JSON.stringify itself runs out of stack on values this deep.
    const nestedText = (levels: number) => `${'{"value": ['.repeat(levels / 2)}"leaf"${']}'.repeat(levels / 2)}`;
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      body: `{"query": ${JSON.stringify(SUBMIT)}, "variables": {"items": [{}], "metadata": ${nestedText(5000)}}}`,
    });
    expect({ status: response.status, body: await response.json() }).toMatchObject({
      status: 400,
      body: { errors: [{ message: 'the variable $metadata nests arrays and objects more than 100 levels deep; at most 100 are allowed', extensions: { code: 'FLDEP' } }] },
    });
    // (JSON.stringify writes a lone surrogate as an escape, which PostgreSQL refuses.)
    const surrogate = await graphql(server.url, SUBMIT, { items: [{ name: 'x\ud800' }] }, token);
    expect(surrogate.errors).toMatchObject([{ message: 'invalid input syntax for type json: Unicode low surrogate must follow a high surrogate.', extensions: { code: '22P02' } }]);
    const priority = await graphql(server.url, `mutation($p: Int) { submitBatch(input: { kind: "noop", items: [{}], priority: $p }) { result { id } } }`, { p: 40000 }, token);
    expect(priority.errors).toMatchObject([{ message: 'value "40000" is out of range for type smallint', extensions: { code: '22003' } }]);
    const { rows: [after] } = await db.pool.query<{ n: number }>('select count(*)::int as n from app_public.batches');
    expect(after.n).toBe(before.n);
    // As deep as a payload may be, it is stored.
    const accepted = await graphql(server.url, SUBMIT, { items: [JSON.parse(nestedText(98))] }, token);
    expect(accepted.errors).toBeUndefined();
    expect(server.output().split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });

  test('a date PostgreSQL cannot read (22007) or hold (22008) is answered with its own message, not as an internal error', async () => {
    const count = (createdAt: string) => graphql(server.url, `query($at: Datetime) { allBatches(condition: { createdAt: $at }) { totalCount } }`, { at: createdAt }, token);
    expect((await count('not a date')).errors).toMatchObject([{ message: 'invalid input syntax for type timestamp with time zone: "not a date"', extensions: { code: '22007' } }]);
    expect((await count('294277-01-01T00:00:00Z')).errors).toMatchObject([{ message: 'timestamp out of range: "294277-01-01T00:00:00Z"', extensions: { code: '22008' } }]);
    expect(server.output().split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });

  test('a cursor that is not one, or is of another ordering: FLREQ, with what to send instead', async () => {
    const ordered = await graphql(server.url, `{ allBatches(first: 1, orderBy: CREATED_AT_DESC) { pageInfo { endCursor } } }`, {}, token);
    for (const after of ['garbage', ordered.data!.allBatches.pageInfo.endCursor ?? 'WzFd']) {
      const result = await graphql(server.url, `query($after: Cursor) { allBatches(after: $after) { totalCount } }`, { after }, token);
      expect(result.errors, after).toMatchObject([{ message: expect.stringMatching(/^Invalid (cursor|'after' cursor)/), extensions: { code: 'FLREQ' } }]);
    }
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

  test('a body that is no GraphQL request, or a method or media type /graphql does not take: FLREQ; a body too large: FLLEN', async () => {
    const post = (body: string | Buffer, headers: Record<string, string> = {}) => fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}`, ...headers },
      body,
    });
    const refusals: Array<[string, Promise<Response>, number]> = [
      ['not JSON', post('{"query": "{ allBatches { totalCount } }"'), 400],
      ['a JSON array', post('[1, 2]'), 400],
      ['no query', post('{"variables": {}}'), 400],
      ['a media type it does not answer', post(JSON.stringify({ query: '{ __typename }' }), { accept: 'text/csv' }), 406],
      ['a body over 8 MB', post(Buffer.alloc(8_100_000, 'a')), 413],
    ];
    for (const [what, answer, status] of refusals) {
      const response = await answer;
      expect(response.status, what).toBe(status);
      const body = await response.json() as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors, what).toMatchObject([{ message: expect.any(String), extensions: { code: status === 413 ? 'FLLEN' : 'FLREQ' } }]);
      // Too large says how large it may be, and where a bigger batch goes instead.
      if (status === 413) {
        expect(body.errors[0].message).toBe('the request body is larger than 8,000,000 bytes: submit its items as several batches, or insert them with SQL (finishline import for catalog files)');
      }
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

describe('a request the database rolls back as a conflict', () => {
  test('answers FLCON, saying nothing happened and to send it again, and logs no error', async () => {
    // A conflict on demand: a trigger that fails a batch whose metadata asks for it as PostgreSQL
    // fails a serializable transaction that lost a race.
    await db.pool.query(`
      create function raise_conflict() returns trigger language plpgsql as $$
      begin
        raise exception 'could not serialize access due to read/write dependencies among transactions' using errcode = '40001';
      end $$;
      create trigger conflict before insert on app_public.batches for each row when (new.metadata ? 'conflict') execute function raise_conflict()`);
    try {
      const result = await graphql(server.url, 'mutation { submitBatch(input: { kind: "noop", items: [{}], metadata: { conflict: true } }) { result { id } } }', {}, token);
      expect(result.errors).toMatchObject([{ message: 'the request conflicted with another at the same moment, and the database rolled it back: nothing of it happened; send it again', extensions: { code: 'FLCON' } }]);
      expect(server.output().split('\n').filter((line) => line.includes('"level":"error"'))).toEqual([]);
    } finally {
      await db.pool.query('drop trigger conflict on app_public.batches; drop function raise_conflict()');
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
