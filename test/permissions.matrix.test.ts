// Every role against every table, view, function and subscription of app_public, each cell
// asserted against a second tenant's rows. The lists come from the database and the GraphQL
// schema, and each must have its row in the expectations below: a new table, view, function,
// grant or subscription fails this test until someone has decided who may use it.
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken, type Claims } from '../server/auth.ts';
import { graphql, startServerProcess, TEST_JWT_SECRET, useTestDatabase, type ServerProcess } from './helpers.ts';

const db = useTestDatabase();

type Role = 'anonymous' | 'user' | 'seller' | 'shopper' | 'admin' | 'operator';
const ROLES: Role[] = ['anonymous', 'user', 'seller', 'shopper', 'admin', 'operator'];
const PG_ROLE: Record<Role, string> = {
  anonymous: 'app_anonymous', user: 'app_user', seller: 'app_seller', shopper: 'app_shopper', admin: 'app_admin', operator: 'app_admin',
};

/** One tenant's rows, made by the fixture below. */
interface TenantRows {
  tenant: string;
  seller: string;
  approved: string;
  approved2: string;
  pending: string;
  review: string;
  finishedBatch: string;
  runningBatch: string;
  file: string;
}
const A = {} as TenantRows;
const B = {} as TenantRows;

/** The claims each role's request carries: always of tenant A (but the operator's, which names none). */
function claimsOf(role: Role): Record<string, string> {
  switch (role) {
    case 'anonymous': return {};
    case 'user': return { tenant_id: A.tenant };
    case 'seller': return { tenant_id: A.tenant, seller_id: A.seller, sub: 'seller-a' };
    case 'shopper': return { tenant_id: A.tenant, sub: 'shopper-a' };
    case 'admin': return { tenant_id: A.tenant, sub: 'admin-a' };
    case 'operator': return { sub: 'operator' };
  }
}

// ---------------------------------------------------------------------------------------------
// Expectations. `own`: its tenant's rows (and only those); `all`: every tenant's; `none`: no row
// (row level security answers empty); `denied`: no privilege at all (42501); `global`: rows that
// belong to no tenant (kinds, models, schedules).

type Read = 'own' | 'all' | 'none' | 'denied' | 'global';
interface RelationCase {
  /** The column naming the row's tenant; null for installation-wide rows. */
  tenantColumn: string | null;
  read: Record<Role, Read>;
}
const tenantTable = (read: Partial<Record<Role, Read>> = {}): Record<Role, Read> => ({
  anonymous: 'none', user: 'own', seller: 'denied', shopper: 'denied', admin: 'own', operator: 'all', ...read,
});
const installationOnly: Record<Role, Read> = { anonymous: 'denied', user: 'denied', seller: 'denied', shopper: 'denied', admin: 'none', operator: 'global' };
const RELATIONS: Record<string, RelationCase> = {
  tenants: { tenantColumn: 'id', read: tenantTable({ seller: 'own', shopper: 'own' }) },
  batch_kinds: { tenantColumn: null, read: { anonymous: 'global', user: 'global', seller: 'denied', shopper: 'denied', admin: 'global', operator: 'global' } },
  batches: { tenantColumn: 'tenant_id', read: tenantTable() },
  batch_items: { tenantColumn: 'tenant_id', read: tenantTable() },
  batch_status_summary: { tenantColumn: 'tenant_id', read: tenantTable() },
  run_summaries: { tenantColumn: 'tenant_id', read: tenantTable() },
  sellers: { tenantColumn: 'tenant_id', read: tenantTable({ seller: 'own', shopper: 'own' }) },
  products: { tenantColumn: 'tenant_id', read: tenantTable({ seller: 'own', shopper: 'own' }) },
  reviews: { tenantColumn: 'tenant_id', read: tenantTable({ seller: 'own', shopper: 'own' }) },
  catalog_files: { tenantColumn: 'tenant_id', read: tenantTable() },
  scraped_pages: { tenantColumn: 'tenant_id', read: tenantTable() },
  model_versions: { tenantColumn: null, read: { anonymous: 'denied', user: 'global', seller: 'denied', shopper: 'denied', admin: 'global', operator: 'global' } },
  review_scores: { tenantColumn: 'tenant_id', read: tenantTable() },
  seller_scores: { tenantColumn: 'tenant_id', read: tenantTable() },
  product_recommendations: { tenantColumn: 'tenant_id', read: tenantTable({ seller: 'own', shopper: 'own' }) },
  scheduler_status: { tenantColumn: null, read: { anonymous: 'denied', user: 'denied', seller: 'denied', shopper: 'denied', admin: 'global', operator: 'global' } },
  // What every tenant shares (the dashboard's Workers & queue page): the installation's operator's only.
  workers: { tenantColumn: null, read: { ...installationOnly } },
  task_queues: { tenantColumn: null, read: { ...installationOnly } },
  recent_sweeper_repairs: { tenantColumn: null, read: { ...installationOnly } },
};

/** The only writes any request role may attempt at all (table privileges); row level security narrows them. */
const WRITE_PRIVILEGES = new Set([
  'tenants:insert:admin', 'tenants:update:admin', 'tenants:delete:admin',
  'tenants:insert:operator', 'tenants:update:operator', 'tenants:delete:operator',
  'batches:insert:user', 'batches:insert:admin', 'batches:insert:operator',
  'batch_items:insert:user', 'batch_items:insert:admin', 'batch_items:insert:operator',
  'products:insert:seller', 'products:update:seller', 'products:delete:seller',
  'products:update:admin', 'products:update:operator',
  'reviews:insert:seller', 'reviews:insert:shopper',
]);

// ---------------------------------------------------------------------------------------------
// Acting as a role, in a transaction that is always rolled back.

interface Attempt<T> {
  value?: T;
  error?: { code?: string; message: string };
}

async function as<T>(role: Role, fn: (client: pg.PoolClient) => Promise<T>, setup?: (client: pg.PoolClient) => Promise<void>): Promise<Attempt<T>> {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await setup?.(client);
    await client.query('savepoint attempt');
    await client.query(`select set_config('role', $1, true)`, [PG_ROLE[role]]);
    for (const [claim, value] of Object.entries({ role: PG_ROLE[role], ...claimsOf(role) })) {
      await client.query('select set_config($1, $2, true)', [`jwt.claims.${claim}`, value]);
    }
    try {
      return { value: await fn(client) };
    } catch (error) {
      await client.query('rollback to savepoint attempt');
      const { code, message } = error as { code?: string; message: string };
      return { error: { code, message } };
    }
  } finally {
    await client.query('rollback');
    client.release();
  }
}

/** Back to the database owner with no claims, within the transaction. */
async function asOwner(client: pg.PoolClient): Promise<void> {
  await client.query(`select set_config('role', 'none', true), set_config('jwt.claims.tenant_id', '', true),
    set_config('jwt.claims.seller_id', '', true), set_config('jwt.claims.sub', '', true), set_config('jwt.claims.role', '', true)`);
}

/** What a tenant's rows of a relation look like, read as the owner (row level security off). */
async function fingerprint(client: pg.PoolClient, relation: string, tenantColumn: string, tenant: string): Promise<string> {
  await asOwner(client);
  const { rows } = await client.query<{ md5: string | null }>(
    `select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as md5 from app_public.${relation} t where ${tenantColumn} = $1`,
    [tenant],
  );
  return rows[0].md5 ?? '';
}

// ---------------------------------------------------------------------------------------------
// The fixture: the same rows for tenants A and B.

async function makeTenant(client: pg.PoolClient, name: string, rows: TenantRows): Promise<void> {
  const one = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await client.query<R>(sql, params)).rows[0];
  rows.tenant = (await one<{ id: string }>('insert into app_public.tenants (name) values ($1) returning id', [name])).id;
  rows.seller = (await one<{ id: string }>(`insert into app_public.sellers (tenant_id, name, domain) values ($1, 'shop', $2) returning id`, [rows.tenant, `${name}.example`])).id;
  const product = async (sku: string, status: string) =>
    (await one<{ id: string }>(
      `insert into app_public.products (seller_id, sku, name, price, status) values ($1, $2, $3, 10, $4) returning id`,
      [rows.seller, sku, `${name} ${sku}`, status],
    )).id;
  rows.approved = await product('approved', 'approved');
  rows.approved2 = await product('approved-2', 'approved');
  rows.pending = await product('pending', 'pending');
  rows.review = (await one<{ id: string }>(
    `insert into app_public.reviews (product_id, author, rating, body) values ($1, 'someone', 4, 'good') returning id`, [rows.approved],
  )).id;
  await client.query(`insert into app_public.scraped_pages (tenant_id, url, final_url, http_status) values ($1, $2, $2, 200)`, [rows.tenant, `https://${name}.example/`]);
  await client.query(`insert into app_public.review_scores (review_id, tenant_id, score, model_version_id)
    select $1, $2, 0.1, id from app_public.model_versions where kind = 'review_scorer'`, [rows.review, rows.tenant]);
  await client.query(`insert into app_public.seller_scores (seller_id, tenant_id, score, confidence, product_count, review_count, model_version_id)
    select $1, $2, 0.8, 0.5, 3, 1, id from app_public.model_versions where kind = 'seller_scorer'`, [rows.seller, rows.tenant]);
  await client.query(`insert into app_public.product_recommendations (product_id, rank, recommended_product_id, score, model_version_id, tenant_id)
    select $1, 1, $2, 0.9, id, $3 from app_public.model_versions where kind = 'recommender'`, [rows.approved, rows.approved2, rows.tenant]);

  // Batches are submitted as the tenant, as a client would; then one finishes (an item succeeded,
  // one failed, the summary written) and one stays pending (no worker runs in this file).
  await client.query('begin');
  await client.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [rows.tenant]);
  rows.finishedBatch = (await one<{ id: string }>(`select id from app_public.submit_batch('noop', '[{"n": 1}, {"n": 2}]', '{"secret": "finished"}')`)).id;
  rows.runningBatch = (await one<{ id: string }>(`select id from app_public.submit_batch('noop', '[{"n": 3}]', '{"secret": "running"}')`)).id;
  rows.file = (await one<{ id: string }>(`select id from app_public.upload_catalog_file('catalog.csv', $1)`, [Buffer.from(`seller,sku,name,price\nshop,x-${name},X,1\n`).toString('base64')])).id;
  await client.query('commit');
  await client.query(`update app_public.batch_items set status = 'processing', locked_by = 'fixture', attempts = 1, started_at = now() where batch_id = $1`, [rows.finishedBatch]);
  await client.query(`update app_public.batch_items set status = case when payload->>'n' = '1' then 'succeeded' else 'failed' end,
    last_error = case when payload->>'n' = '2' then 'secret error of ${name}' end, locked_by = null, finished_at = now() where batch_id = $1`, [rows.finishedBatch]);
  await client.query('select app_private.write_run_summary($1)', [rows.finishedBatch]);
}

let server: ServerProcess;
const tokens = {} as Record<Role, string | undefined>;

beforeAll(async () => {
  const client = await db.pool.connect();
  try {
    for (const kind of ['review_scorer', 'seller_scorer', 'recommender']) {
      await client.query(`insert into app_public.model_versions (kind, training_rows, is_active) values ($1, 0, true)`, [kind]);
    }
    await makeTenant(client, 'tenant-a', A);
    await makeTenant(client, 'tenant-b', B);
    await client.query(`insert into app_private.scheduled_tasks (task_identifier, schedule, period, last_run_at, last_batch_ids)
      values ('matrix_task', '* * * * *', '1 minute', now(), array[$1::uuid])`, [B.finishedBatch]);
    // A worker's heartbeat and a repair, for the views of what tenants share (the queue has the
    // fixture's batches' jobs).
    await client.query(`insert into app_private.workers (id, hostname, pid, concurrency) values ('matrix-worker', 'matrix', 1, 1)`);
    await client.query(`insert into app_private.sweeper_repairs (repair, batch_id, details) values ('corrected_counters', $1, '{}')`, [B.finishedBatch]);
  } finally {
    client.release();
  }
  for (const role of ROLES) {
    tokens[role] = role === 'anonymous' ? undefined : signToken(TEST_JWT_SECRET, { role: PG_ROLE[role], ...claimsOf(role) } as Claims);
  }
  server = await startServerProcess(db);
});
afterAll(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------------------------

describe('tables and views', () => {
  test('every table and view of app_public has its row in the matrix, and row level security where it holds tenant rows', async () => {
    const { rows } = await db.pool.query<{ relname: string; relkind: string; rls: boolean; invoker: boolean; has_tenant: boolean }>(`
      select c.relname, c.relkind, c.relrowsecurity as rls,
        coalesce('security_invoker=true' = any(c.reloptions), false) as invoker,
        exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as has_tenant
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'app_public' and c.relkind in ('r', 'v', 'm', 'p', 'f')`);
    expect(rows.map((row) => row.relname).sort()).toEqual(Object.keys(RELATIONS).sort());
    for (const row of rows) {
      if (RELATIONS[row.relname].tenantColumn === null) continue;
      // Tenant rows: a table with row level security, or a view that runs as its caller.
      if (row.relkind === 'r') expect(row.rls, `${row.relname} has row level security`).toBe(true);
      else expect(row.invoker || row.relname === 'scheduler_status', `${row.relname} runs as its caller`).toBe(true);
    }
  });

  for (const [relation, { tenantColumn, read }] of Object.entries(RELATIONS)) {
    test.each(ROLES)(`read ${relation} as %s`, async (role) => {
      const expected = read[role];
      const column = tenantColumn ?? 'null';
      const attempt = await as(role, async (client) => (await client.query<{ t: string | null }>(`select ${column}::text as t from app_public.${relation}`)).rows);
      if (expected === 'denied') {
        expect(attempt.error?.code, JSON.stringify(attempt)).toBe('42501');
        return;
      }
      expect(attempt.error, JSON.stringify(attempt.error)).toBeUndefined();
      const tenants = new Set(attempt.value!.map((row) => row.t));
      if (expected === 'global') expect(attempt.value!.length).toBeGreaterThan(0);
      if (expected === 'none') expect(attempt.value).toEqual([]);
      if (expected === 'own') {
        expect(tenants.has(A.tenant), `${role} sees its own ${relation}`).toBe(true);
        expect([...tenants].every((tenant) => tenant === A.tenant), `${role} sees only its own ${relation}`).toBe(true);
      }
      if (expected === 'all') expect(tenants.has(A.tenant) && tenants.has(B.tenant)).toBe(true);
    });
  }

  test('a tenant admin reads the schedules, but not the batch another tenant\'s run started', async () => {
    const admin = await as('admin', async (client) => (await client.query(`select last_batch_id from app_public.scheduler_status where task_identifier = 'matrix_task'`)).rows);
    expect(admin.value).toEqual([{ last_batch_id: null }]);
    const operator = await as('operator', async (client) => (await client.query(`select last_batch_id from app_public.scheduler_status where task_identifier = 'matrix_task'`)).rows);
    expect(operator.value).toEqual([{ last_batch_id: B.finishedBatch }]);
  });

  test('what each role may write is exactly the list (table privileges)', async () => {
    const { rows } = await db.pool.query<{ relname: string }>(`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'app_public' and c.relkind in ('r', 'v')`);
    const granted = new Set<string>();
    for (const { relname } of rows) {
      for (const op of ['insert', 'update', 'delete'] as const) {
        for (const role of ROLES) {
          const { rows: [{ ok }] } = await db.pool.query<{ ok: boolean }>(
            op === 'delete' ? 'select has_table_privilege($1, $2, $3) as ok' : 'select has_any_column_privilege($1, $2, $3) as ok',
            [PG_ROLE[role], `app_public.${relname}`, op.toUpperCase()],
          );
          if (ok) granted.add(`${relname}:${op}:${role}`);
        }
      }
    }
    expect([...granted].sort()).toEqual([...WRITE_PRIVILEGES].sort());
  });

  // Each write a role may attempt, aimed at tenant B: refused (or touching nothing) for every role
  // but the installation's operator, and B's rows as they were.
  const insertInto: Record<string, (client: pg.PoolClient) => Promise<unknown>> = {
    tenants: (client) => client.query(`insert into app_public.tenants (name) values ('made by an attempt')`),
    batches: (client) => client.query(`insert into app_public.batches (tenant_id, kind) values ($1, 'noop')`, [B.tenant]),
    batch_items: (client) => client.query(`insert into app_public.batch_items (batch_id, tenant_id) values ((select id from app_public.batches where metadata->>'made' = 'by the owner'), $1)`, [B.tenant]),
    products: (client) => client.query(`insert into app_public.products (seller_id, sku, name, price) values ($1, 'attempt', 'attempt', 1)`, [B.seller]),
    reviews: (client) => client.query(`insert into app_public.reviews (product_id, author, rating) values ($1, 'shopper-a', 5)`, [B.approved]),
  };
  // batch_items: items join a batch in the transaction that created it, so the owner makes one of B's first.
  const ownerMakesBatchOfB = async (client: pg.PoolClient) => {
    await client.query(`insert into app_public.batches (tenant_id, kind, metadata) values ($1, 'noop', '{"made": "by the owner"}')`, [B.tenant]);
  };
  // A column each role may update (an admin decides a product's status; a seller edits its name).
  const updateOf = (relation: string, role: Role) => (relation === 'products' && role !== 'seller' ? 'status = status' : 'name = name');

  for (const cell of WRITE_PRIVILEGES) {
    const [relation, op, role] = cell.split(':') as [string, 'insert' | 'update' | 'delete', Role];
    const tenantColumn = RELATIONS[relation].tenantColumn!;
    test(`${op} into ${relation} as ${role}, aimed at another tenant`, async () => {
      let before = '';
      let after = '';
      const attempt = await as(role, async (client) => {
        const result =
          op === 'insert' ? await insertInto[relation](client)
          : op === 'update' ? await client.query(`update app_public.${relation} set ${updateOf(relation, role)} where ${tenantColumn} = $1`, [B.tenant])
          : await client.query(`delete from app_public.${relation} where ${tenantColumn} = $1`, [B.tenant]);
        after = await fingerprint(client, relation, tenantColumn, B.tenant);
        return result as pg.QueryResult;
      }, async (client) => {
        if (relation === 'batch_items') await ownerMakesBatchOfB(client);
        before = await fingerprint(client, relation, tenantColumn, B.tenant);
      });
      if (role === 'operator') {
        // The installation's operator may; that it could is checked, not what it changed.
        expect(attempt.error, JSON.stringify(attempt.error)).toBeUndefined();
        return;
      }
      if (op === 'insert') {
        expect(attempt.error?.code, `${role} inserting a row of another tenant into ${relation}: ${JSON.stringify(attempt)}`).toMatch(/^(42501|23503|FL...)$/);
      } else {
        expect(attempt.error, JSON.stringify(attempt.error)).toBeUndefined();
        expect(attempt.value!.rowCount, `${role} ${op} of another tenant's ${relation}`).toBe(0);
        expect(after).toBe(before);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Functions (the mutations and custom queries). Each case calls the function as the role with
// tenant B's ids (or in a way that could reach B) and asserts what must happen; then B's rows
// are compared with what they were.

type Call = (sql: string, params?: unknown[]) => Promise<Attempt<Record<string, unknown>[]>>;
interface FunctionCase {
  /** Roles that may execute it at all; the others get 42501. */
  callers: Role[];
  check(role: Role, call: Call): Promise<void>;
}

const everyone: Role[] = ['anonymous', 'user', 'seller', 'shopper', 'admin', 'operator'];
const refusedWith = (attempt: Attempt<unknown>, codes: string[]) => expect(codes, JSON.stringify(attempt)).toContain(attempt.error?.code);

const FUNCTIONS: Record<string, FunctionCase> = {
  current_tenant_id: { callers: everyone, async check(role, call) {
    const { value } = await call('select app_public.current_tenant_id() as v');
    expect(value![0].v).toBe(claimsOf(role).tenant_id ?? null);
  } },
  current_seller_id: { callers: everyone, async check(role, call) {
    expect((await call('select app_public.current_seller_id() as v')).value![0].v).toBe(role === 'seller' ? A.seller : null);
  } },
  current_user_sub: { callers: everyone, async check(role, call) {
    expect((await call('select app_public.current_user_sub() as v')).value![0].v).toBe(claimsOf(role).sub ?? null);
  } },
  current_user_is_admin: { callers: everyone, async check(role, call) {
    expect((await call('select app_public.current_user_is_admin() as v')).value![0].v).toBe(role === 'admin' || role === 'operator');
  } },
  current_user_sees_all_tenants: { callers: everyone, async check(role, call) {
    expect((await call('select app_public.current_user_sees_all_tenants() as v')).value![0].v).toBe(role === 'operator');
  } },
  submit_batch: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call(`select tenant_id from app_public.submit_batch('noop', '[{}]')`);
    if (role === 'operator') return refusedWith(attempt, ['FLTEN']);
    expect(attempt.value).toEqual([{ tenant_id: A.tenant }]);
  } },
  cancel_batch: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select status from app_public.cancel_batch($1)', [B.runningBatch]);
    if (role === 'operator') expect(attempt.value).toEqual([{ status: 'cancelled' }]);
    else refusedWith(attempt, ['FLNFD']);
  } },
  retry_failed_items: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select status from app_public.retry_failed_items($1)', [B.finishedBatch]);
    if (role === 'operator') expect(attempt.value).toEqual([{ status: 'processing' }]);
    else refusedWith(attempt, ['FLNFD']);
  } },
  request_batch_summary: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select state, (summary).batch_id from app_public.request_batch_summary($1)', [B.finishedBatch]);
    if (role === 'operator') expect(attempt.value).toEqual([{ state: 'ready', batch_id: B.finishedBatch }]);
    else refusedWith(attempt, ['FLNFD']);
  } },
  upload_catalog_file: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call(`select tenant_id from app_public.upload_catalog_file('x.csv', $1)`, [Buffer.from('seller,sku\n').toString('base64')]);
    if (role === 'operator') return refusedWith(attempt, ['FLTEN']);
    expect(attempt.value).toEqual([{ tenant_id: A.tenant }]);
  } },
  set_tenant_limit: { callers: ['admin', 'operator'], async check(role, call) {
    // A tenant's admin may not lift its own tenant's limit; the operator sets any tenant's.
    const own = await call('select max_running_chunks from app_public.set_tenant_limit($1, 3)', [A.tenant]);
    const other = await call('select max_running_chunks from app_public.set_tenant_limit($1, 3)', [B.tenant]);
    if (role !== 'operator') return (refusedWith(own, ['FLADM']), refusedWith(other, ['FLADM']));
    expect([own.value, other.value]).toEqual([[{ max_running_chunks: 3 }], [{ max_running_chunks: 3 }]]);
  } },
  prune_finished_batches: { callers: ['admin', 'operator'], async check(role, call) {
    // Nothing is that old: the call removes nothing, whoever may make it.
    const attempt = await call(`select items, batches, more from app_public.prune_finished_batches('100 years', '100 years')`);
    if (role !== 'operator') return refusedWith(attempt, ['FLADM']);
    expect(attempt.value).toEqual([{ items: '0', batches: '0', more: false }]);
  } },
  trigger_review_scoring: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select tenant_id from app_public.trigger_review_scoring()');
    if (role !== 'admin' && role !== 'operator') return refusedWith(attempt, ['FLADM']);
    const tenants = new Set(attempt.value!.map((row) => row.tenant_id));
    expect(tenants.has(B.tenant)).toBe(role === 'operator');
    expect(tenants.has(A.tenant)).toBe(true);
  } },
  trigger_seller_scoring: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select tenant_id from app_public.trigger_seller_scoring()');
    if (role !== 'admin' && role !== 'operator') return refusedWith(attempt, ['FLADM']);
    expect(new Set(attempt.value!.map((row) => row.tenant_id)).has(B.tenant)).toBe(role === 'operator');
  } },
  trigger_all_scoring: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select tenant_id from app_public.trigger_all_scoring()');
    if (role !== 'admin' && role !== 'operator') return refusedWith(attempt, ['FLADM']);
    expect(new Set(attempt.value!.map((row) => row.tenant_id)).has(B.tenant)).toBe(role === 'operator');
  } },
  trigger_review_scorer_training: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select app_public.trigger_review_scorer_training() as v');
    if (role !== 'admin' && role !== 'operator') refusedWith(attempt, ['FLADM']);
    else expect(attempt.error).toBeUndefined();
  } },
  approve_product: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select status from app_public.approve_product($1)', [B.pending]);
    if (role === 'operator') expect(attempt.value).toEqual([{ status: 'approved' }]);
    else refusedWith(attempt, role === 'admin' ? ['FLPNF'] : ['FLADM']);
  } },
  reject_product: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    const attempt = await call(`select status from app_public.reject_product($1, 'no')`, [B.approved]);
    if (role === 'operator') expect(attempt.value).toEqual([{ status: 'rejected' }]);
    else refusedWith(attempt, role === 'admin' ? ['FLPNF'] : ['FLADM']);
  } },
  create_product: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    const attempt = await call(`select tenant_id, seller_id from app_public.create_product('new', 'New', 5)`);
    if (role === 'seller') expect(attempt.value).toEqual([{ tenant_id: A.tenant, seller_id: A.seller }]);
    else refusedWith(attempt, ['FLROL']);
  } },
  update_product: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    refusedWith(await call(`select id from app_public.update_product($1, name => 'taken over')`, [B.approved]), role === 'seller' ? ['FLPNF'] : ['FLROL']);
  } },
  delete_product: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    refusedWith(await call('select id from app_public.delete_product($1)', [B.approved]), role === 'seller' ? ['FLPNF'] : ['FLROL']);
  } },
  write_review: { callers: ['user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    refusedWith(await call('select id from app_public.write_review($1, 5)', [B.approved]), role === 'seller' || role === 'shopper' ? ['FLNAP'] : ['FLROL']);
  } },
  search_batches: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const ids = (attempt: Attempt<Record<string, unknown>[]>) => new Set(attempt.value!.map((row) => row.id));
    const all = ids(await call('select id from app_public.search_batches()'));
    expect(all.has(A.finishedBatch)).toBe(true);
    expect(all.has(B.finishedBatch)).toBe(role === 'operator');
    const ofB = await call('select id from app_public.search_batches(tenant_id => $1)', [B.tenant]);
    expect(ofB.value!.length > 0).toBe(role === 'operator');
  } },
  batches_failed_items: { callers: ['user', 'admin', 'operator'], async check(role, call) {
    const found = await call('select i.last_error from app_public.batches b, app_public.batches_failed_items(b) i where b.id = $1', [B.finishedBatch]);
    expect(found.value).toEqual(role === 'operator' ? [{ last_error: 'secret error of tenant-b' }] : []);
    // A batch row made up by the caller names B's batch: its items are still B's, so not there.
    const forged = await call(`select i.last_error from app_public.batches_failed_items(jsonb_populate_record(null::app_public.batches, jsonb_build_object('id', $1::uuid))) i`, [B.finishedBatch]);
    expect(forged.value!.length).toBe(role === 'operator' ? 1 : 0);
  } },
  recommended_products: { callers: ['anonymous', 'user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select id from app_public.recommended_products($1)', [B.approved]);
    expect(attempt.value).toEqual(role === 'operator' ? [{ id: B.approved2 }] : []);
  } },
  recommendations_for: { callers: ['anonymous', 'user', 'seller', 'shopper', 'admin', 'operator'], async check(role, call) {
    const attempt = await call('select id from app_public.recommendations_for($1)', [B.approved]);
    expect(attempt.value).toEqual(role === 'operator' ? [{ id: B.approved2 }] : []);
  } },
};

/** Tenant B's rows, everywhere, as the owner sees them. */
async function everythingOfB(client: pg.PoolClient): Promise<string> {
  const prints: string[] = [];
  for (const [relation, { tenantColumn }] of Object.entries(RELATIONS)) {
    // Tables only: a view's computed columns (stuck_reason) depend on who reads them.
    if (tenantColumn && relation !== 'batch_status_summary') prints.push(`${relation}:${await fingerprint(client, relation, tenantColumn, B.tenant)}`);
  }
  return prints.join('\n');
}

describe('functions', () => {
  test('every function of app_public has its row in the matrix, and exactly its callers may execute it', async () => {
    const { rows } = await db.pool.query<{ proname: string; oid: number }>(
      `select p.proname, p.oid from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'app_public'`);
    expect(rows.map((row) => row.proname).sort()).toEqual(Object.keys(FUNCTIONS).sort());
    const callers: Record<string, Role[]> = {};
    for (const { proname, oid } of rows) {
      callers[proname] = [];
      for (const role of ROLES) {
        const { rows: [{ ok }] } = await db.pool.query<{ ok: boolean }>('select has_function_privilege($1, $2::oid, \'execute\') as ok', [PG_ROLE[role], oid]);
        if (ok) callers[proname].push(role);
      }
    }
    expect(callers).toEqual(Object.fromEntries(Object.entries(FUNCTIONS).map(([name, { callers }]) => [name, callers])));
  });

  for (const [name, { callers, check }] of Object.entries(FUNCTIONS)) {
    test.each(callers)(`${name} as %s, given another tenant's ids`, async (role) => {
      let before = '';
      let after = '';
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        before = await everythingOfB(client);
        const call: Call = async (sql, params = []) => {
          await client.query('savepoint attempt');
          await client.query(`select set_config('role', $1, true)`, [PG_ROLE[role]]);
          for (const [claim, value] of Object.entries({ role: PG_ROLE[role], ...claimsOf(role) })) {
            await client.query('select set_config($1, $2, true)', [`jwt.claims.${claim}`, value]);
          }
          try {
            const { rows } = await client.query(sql, params);
            await client.query('release savepoint attempt');
            return { value: rows };
          } catch (error) {
            await client.query('rollback to savepoint attempt');
            const { code, message } = error as { code?: string; message: string };
            return { error: { code, message } };
          } finally {
            await asOwner(client);
          }
        };
        await check(role, call);
        after = await everythingOfB(client);
      } finally {
        await client.query('rollback');
        client.release();
      }
      if (role !== 'operator') expect(after).toBe(before);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Through GraphQL: every root connection of a tenant-owned type, and every subscription.

describe('through GraphQL', () => {
  test('no root connection shows another tenant\'s rows to any token of tenant A', async () => {
    const introspection = await graphql(server.url, `{ __schema { queryType { fields { name type { name kind ofType { name } } } } } }`, {}, tokens.operator);
    const fields = (introspection.data!.__schema.queryType.fields as Array<{ name: string; type: { name: string | null; ofType: { name: string } | null } }>)
      .filter((field) => (field.type.name ?? field.type.ofType?.name ?? '').endsWith('Connection'))
      .map((field) => field.name);
    expect(fields.length).toBeGreaterThan(10);
    for (const field of fields) {
      const hasTenant = await graphql(server.url, `{ ${field}(first: 1) { nodes { __typename } } }`, {}, tokens.operator);
      const typename = (hasTenant.data?.[field]?.nodes?.[0]?.__typename) as string | undefined;
      const tenantField = typename === 'Tenant' ? 'id' : 'tenantId';
      for (const role of ROLES) {
        const result = await graphql(server.url, `{ ${field}(first: 1000) { nodes { ... on ${typename ?? 'Query'} { ${typename ? tenantField : '__typename'} } } } }`, {}, tokens[role]);
        const seen = new Set(((result.data?.[field]?.nodes ?? []) as Array<Record<string, string>>).map((node) => node[tenantField]));
        if (role === 'operator') continue;
        expect(seen.has(B.tenant), `${field} as ${role}: ${JSON.stringify(result).slice(0, 300)}`).toBe(false);
      }
    }
  });

  test('every subscription refuses another tenant\'s batch, and only the operator follows it', async () => {
    const introspection = await graphql(server.url, `{ __schema { subscriptionType { fields { name } } } }`, {}, tokens.operator);
    const subscriptions = (introspection.data!.__schema.subscriptionType.fields as Array<{ name: string }>).map((field) => field.name);
    expect(subscriptions).toEqual(['batchProgress']);
    for (const role of ROLES) {
      const first = await firstEvent(tokens[role], `subscription ($id: UUID!) { batchProgress(batchId: $id) { batchId tenantId status } }`, { id: B.finishedBatch });
      if (role === 'operator') expect(first).toMatchObject({ data: { batchProgress: { batchId: B.finishedBatch, tenantId: B.tenant } } });
      else expect(JSON.stringify(first)).not.toContain(B.tenant);
    }
  });
});

/** The first message a subscription yields (data or errors), or `timeout` after 3 s. */
async function firstEvent(token: string | undefined, query: string, variables: Record<string, unknown>): Promise<unknown> {
  const client = createClient({
    url: `${server.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
  });
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), 3000);
      client.subscribe({ query, variables }, {
        next: (value) => { clearTimeout(timer); resolve(value); },
        error: (error) => { clearTimeout(timer); resolve({ errors: Array.isArray(error) ? error : [String((error as Error).message ?? error)] }); },
        complete: () => { clearTimeout(timer); resolve('complete'); },
      });
    });
  } finally {
    await client.dispose();
  }
}
