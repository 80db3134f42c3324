// Marketplace roles over HTTP: sellers manage their own products, admins approve or reject them,
// shoppers see what is approved and review it. Every refused case is checked, as the database
// owner, to have written nothing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { JWT_AUDIENCE, signToken, type Claims } from '../server/auth.ts';
import { createTenant, graphql, startServerProcess, TEST_JWT_SECRET, useTestDatabase, type GraphQLResult, type ServerProcess } from './helpers.ts';
import { CLI_PATH } from './processes.ts';

const execFileAsync = promisify(execFile);
const db = useTestDatabase();
let server: ServerProcess;
let tenant: string;
let otherTenant: string;
let shopOne: string;
let shopTwo: string;
let foreignShop: string;
const token: Record<string, string> = {};

const sign = (claims: Claims) => signToken(TEST_JWT_SECRET, claims);

beforeAll(async () => {
  tenant = await createTenant(db, 'market');
  otherTenant = await createTenant(db, 'elsewhere');
  const sellers = await db.pool.query<{ id: string; name: string }>(
    `insert into app_public.sellers (tenant_id, name) values ($1, 'Shop One'), ($1, 'Shop Two'), ($2, 'Foreign Shop') returning id, name`,
    [tenant, otherTenant],
  );
  const id = (name: string) => sellers.rows.find((row) => row.name === name)!.id;
  [shopOne, shopTwo, foreignShop] = [id('Shop One'), id('Shop Two'), id('Foreign Shop')];
  Object.assign(token, {
    seller1: sign({ role: 'app_seller', tenant_id: tenant, seller_id: shopOne, sub: 'shop-one' }),
    seller2: sign({ role: 'app_seller', tenant_id: tenant, seller_id: shopTwo, sub: 'shop-two' }),
    // A token whose seller is not one of its tenant's (it can't act as that seller).
    sellerMismatch: sign({ role: 'app_seller', tenant_id: tenant, seller_id: foreignShop, sub: 'foreign' }),
    alice: sign({ role: 'app_shopper', tenant_id: tenant, sub: 'alice' }),
    bob: sign({ role: 'app_shopper', tenant_id: tenant, sub: 'bob' }),
    carol: sign({ role: 'app_shopper', tenant_id: otherTenant, sub: 'carol' }),
    operator: sign({ role: 'app_user', tenant_id: tenant, sub: 'operator' }),
    admin: sign({ role: 'app_admin', sub: 'root' }),
    otherAdmin: sign({ role: 'app_admin', tenant_id: otherTenant, sub: 'elsewhere-admin' }),
  });
  server = await startServerProcess(db);
});
afterAll(async () => {
  await server?.stop();
});

const PRODUCT_FIELDS = 'id sellerId tenantId sku name price currency stock status rejectionReason';
const CREATE = `
  mutation($sku: String!, $name: String!, $price: BigFloat!, $stock: Int, $currency: String, $description: String) {
    createProduct(input: { sku: $sku, name: $name, price: $price, stock: $stock, currency: $currency, description: $description }) {
      result { ${PRODUCT_FIELDS} }
    }
  }`;
const UPDATE = `
  mutation($id: UUID!, $name: String, $price: BigFloat, $stock: Int) {
    updateProduct(input: { id: $id, name: $name, price: $price, stock: $stock }) { result { ${PRODUCT_FIELDS} } }
  }`;
const DELETE = `mutation($id: UUID!) { deleteProduct(input: { id: $id }) { result { ${PRODUCT_FIELDS} } } }`;
const APPROVE = `mutation($id: UUID!) { approveProduct(input: { id: $id }) { result { ${PRODUCT_FIELDS} } } }`;
const REJECT = `mutation($id: UUID!, $reason: String) { rejectProduct(input: { id: $id, reason: $reason }) { result { ${PRODUCT_FIELDS} } } }`;
const REVIEW = `
  mutation($productId: UUID!, $rating: Int!, $title: String, $body: String) {
    writeReview(input: { productId: $productId, rating: $rating, title: $title, body: $body }) {
      result { id productId tenantId author rating title body }
    }
  }`;

function call(who: string | undefined, query: string, variables: Record<string, unknown> = {}) {
  return graphql(server.url, query, variables, who === undefined ? undefined : token[who]);
}

function ok<T>(result: GraphQLResult, field: string): T {
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data![field].result as T;
}

interface Product {
  id: string;
  sellerId: string;
  tenantId: string;
  sku: string;
  name: string;
  price: string;
  currency: string;
  stock: number;
  status: string;
  rejectionReason: string | null;
}

let skuCounter = 0;
/** A product of the seller (created over GraphQL), optionally approved or rejected by the admin. */
async function product(seller: 'seller1' | 'seller2', status: 'pending' | 'approved' | 'rejected' = 'pending'): Promise<Product> {
  const created = ok<Product>(await call(seller, CREATE, { sku: `SKU-${++skuCounter}`, name: `Thing ${skuCounter}`, price: '10.00' }), 'createProduct');
  if (status === 'approved') return ok<Product>(await call('admin', APPROVE, { id: created.id }), 'approveProduct');
  if (status === 'rejected') return ok<Product>(await call('admin', REJECT, { id: created.id, reason: 'blurry photo' }), 'rejectProduct');
  return created;
}

/** Both marketplace tables as the database owner sees them. */
async function snapshot() {
  const products = await db.pool.query('select * from app_public.products order by id');
  const reviews = await db.pool.query('select * from app_public.reviews order by id');
  return { products: products.rows, reviews: reviews.rows };
}

/** Runs a request that must be refused with `code`, and checks that it wrote nothing. */
async function expectRefused(request: () => Promise<GraphQLResult>, code: string, message?: RegExp): Promise<GraphQLResult> {
  const before = await snapshot();
  const result = await request();
  expect(result.errors, JSON.stringify(result)).toMatchObject([{ extensions: { code } }]);
  if (message) expect(result.errors![0].message).toMatch(message);
  expect(await snapshot()).toEqual(before);
  return result;
}

/** Runs a query the GraphQL schema refuses (no such field or argument), and checks that it wrote nothing. */
async function expectInvalid(request: () => Promise<GraphQLResult>, message: RegExp): Promise<void> {
  const before = await snapshot();
  const result = await request();
  expect(result.data ?? null).toBeNull();
  expect(result.errors?.map((error) => error.message).join('\n')).toMatch(message);
  expect(await snapshot()).toEqual(before);
}

/**
 * The SQL backstop: one statement run as a role with its claims, as a request would, then rolled
 * back. Its error code (null when it ran) and how many rows it touched.
 */
async function sqlAs(role: string, claims: Record<string, string>, sql: string, params: unknown[] = []): Promise<{ code: string | null; rows: number }> {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local role ${role}`);
    for (const [claim, value] of Object.entries({ role, ...claims })) {
      await client.query('select set_config($1, $2, true)', [`jwt.claims.${claim}`, value]);
    }
    const result = await client.query(sql, params);
    return { code: null, rows: result.rowCount ?? 0 };
  } catch (error) {
    return { code: (error as { code?: string }).code ?? 'unknown', rows: 0 };
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}

const REFUSED = { code: '42501', rows: 0 };
const NO_ROW = { code: null, rows: 0 };

async function ownerRow(id: string) {
  const { rows } = await db.pool.query('select * from app_public.products where id = $1', [id]);
  return rows[0];
}

describe('a seller creates products for itself only', () => {
  test('allowed: a seller creates a pending product of its own shop', async () => {
    const created = ok<Product>(
      await call('seller1', CREATE, { sku: 'LAMP-1', name: 'Lamp', price: '19.99', stock: 3, description: 'Bright' }),
      'createProduct',
    );
    expect(created).toMatchObject({ sellerId: shopOne, tenantId: tenant, sku: 'LAMP-1', price: '19.99', currency: 'EUR', stock: 3, status: 'pending', rejectionReason: null });
    expect(await ownerRow(created.id)).toMatchObject({ seller_id: shopOne, tenant_id: tenant, status: 'pending', price: '19.99', description: 'Bright' });
    // A free product with no stock is fine too.
    ok(await call('seller1', CREATE, { sku: 'FREE-1', name: 'Sticker', price: '0' }), 'createProduct');
  });

  test('refused: shoppers, the operator, admins and anonymous requests create nothing', async () => {
    const variables = { sku: 'X-1', name: 'X', price: '1.00' };
    await expectRefused(() => call('alice', CREATE, variables), 'FLROL', /only a seller may do this/);
    await expectRefused(() => call('operator', CREATE, variables), 'FLROL');
    await expectRefused(() => call('admin', CREATE, variables), 'FLROL');
    await expectRefused(() => call(undefined, CREATE, variables), '42501');
    // A token whose seller is another tenant's.
    await expectRefused(() => call('sellerMismatch', CREATE, variables), 'FLROL', /no seller of its tenant/);
  });

  test('refused: a seller names no other seller (the API has no such argument; SQL refuses it too)', async () => {
    await expectInvalid(
      () => call('seller1', `mutation { createProduct(input: { sku: "Y", name: "Y", price: "1", sellerId: "${shopTwo}" }) { result { id } } }`),
      /sellerId/,
    );
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `insert into app_public.products (seller_id, sku, name, price) values ($1, 'Y', 'Y', 1)`, [shopTwo])).toEqual(REFUSED);
    const { rows } = await db.pool.query(`select count(*)::int as n from app_public.products where sku = 'Y'`);
    expect(rows[0].n).toBe(0);
  });

  test('refused: a seller sets no status when creating (no such argument; SQL refuses the column)', async () => {
    await expectInvalid(
      () => call('seller1', `mutation { createProduct(input: { sku: "Z", name: "Z", price: "1", status: "approved" }) { result { id } } }`),
      /status/,
    );
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `insert into app_public.products (seller_id, sku, name, price, status) values ($1, 'Z', 'Z', 1, 'approved')`, [shopOne])).toEqual(REFUSED);
  });

  test('refused: prices with more than two decimals, negative prices and stock, bad currencies, repeated SKUs', async () => {
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: 'P', price: '1.234' }), 'FLINV', /price 1\.234 has more than two decimals/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: 'P', price: '-1' }), 'FLINV', /price must be zero or more/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: 'P', price: '1', stock: -1 }), 'FLINV', /stock must be zero or more/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: 'P', price: '1', currency: 'eur' }), 'FLINV', /currency/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: 'P', price: '10000000000' }), 'FLINV', /too large/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'P-1', name: '', price: '1' }), 'FLINV', /name/);
    await expectRefused(() => call('seller1', CREATE, { sku: 'LAMP-1', name: 'Lamp again', price: '1' }), 'FLSKU', /LAMP-1/);
  });
});

describe('who sees which products', () => {
  let pending: Product;
  let approved: Product;
  let rejected: Product;
  let othersPending: Product;
  let othersApproved: Product;
  beforeAll(async () => {
    pending = await product('seller1');
    approved = await product('seller1', 'approved');
    rejected = await product('seller1', 'rejected');
    othersPending = await product('seller2');
    othersApproved = await product('seller2', 'approved');
  });
  const ids = async (who: string | undefined) => {
    const result = await call(who, `{ allProducts(first: 100) { nodes { id status } } }`);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return new Set<string>(result.data!.allProducts.nodes.map((node: { id: string }) => node.id));
  };

  test('shoppers see approved products only: a pending or rejected product is invisible to them', async () => {
    const seen = await ids('alice');
    expect(seen.has(approved.id) && seen.has(othersApproved.id)).toBe(true);
    for (const hidden of [pending, rejected, othersPending]) expect(seen.has(hidden.id)).toBe(false);
    const byId = await call('alice', `query($id: UUID!) { productById(id: $id) { id } }`, { id: pending.id });
    expect(byId.errors).toBeUndefined();
    expect(byId.data!.productById).toBeNull();
    const statuses = await call('alice', `{ allProducts(first: 100) { nodes { status } } }`);
    expect(new Set(statuses.data!.allProducts.nodes.map((node: { status: string }) => node.status))).toEqual(new Set(['approved']));
  });

  test("a seller sees approved products and its own pending and rejected ones, not another seller's pending ones", async () => {
    const seen = await ids('seller1');
    for (const visible of [pending, approved, rejected, othersApproved]) expect(seen.has(visible.id)).toBe(true);
    expect(seen.has(othersPending.id)).toBe(false);
    const own = await call('seller1', `query($id: UUID!) { productById(id: $id) { status rejectionReason } }`, { id: rejected.id });
    expect(own.data!.productById).toEqual({ status: 'rejected', rejectionReason: 'blurry photo' });
  });

  test("shoppers of another tenant see none of this tenant's products", async () => {
    const seen = await ids('carol');
    for (const hidden of [pending, approved, rejected, othersPending, othersApproved]) expect(seen.has(hidden.id)).toBe(false);
  });

  test("the tenant's operator and admins see every product, as before", async () => {
    for (const who of ['operator', 'admin']) {
      const seen = await ids(who);
      for (const visible of [pending, approved, rejected, othersPending, othersApproved]) expect(seen.has(visible.id)).toBe(true);
    }
  });

  test('anonymous requests see no products', async () => {
    const result = await call(undefined, `{ allProducts(first: 100) { nodes { id } } }`);
    expect(result).toMatchObject({ status: 200, data: { allProducts: { nodes: [] } } });
  });

  test("shoppers see the tenant's shops; sellers their own shop and the others'; nobody another tenant's", async () => {
    const sellers = async (who: string) =>
      (await call(who, `{ allSellers(first: 100) { nodes { id } } }`)).data!.allSellers.nodes.map((node: { id: string }) => node.id).sort();
    expect(await sellers('alice')).toEqual([shopOne, shopTwo].sort());
    expect(await sellers('seller1')).toEqual([shopOne, shopTwo].sort());
    expect(await sellers('carol')).toEqual([foreignShop]);
    const embedded = await call('alice', `query($id: UUID!) { productById(id: $id) { seller { name } } }`, { id: approved.id });
    expect(embedded.data!.productById).toEqual({ seller: { name: 'Shop One' } });
  });
});

describe('a seller edits and deletes its own products only', () => {
  test('allowed: editing an approved product sends it back to pending', async () => {
    const approved = await product('seller1', 'approved');
    const updated = ok<Product>(await call('seller1', UPDATE, { id: approved.id, price: '12.50', stock: 7 }), 'updateProduct');
    expect(updated).toMatchObject({ id: approved.id, price: '12.50', stock: 7, status: 'pending', name: approved.name });
    expect(await ownerRow(approved.id)).toMatchObject({ price: '12.50', stock: 7, status: 'pending' });
  });

  test('allowed: editing a rejected product sends it back to pending and clears the reason', async () => {
    const rejected = await product('seller1', 'rejected');
    const updated = ok<Product>(await call('seller1', UPDATE, { id: rejected.id, name: 'Better photo' }), 'updateProduct');
    expect(updated).toMatchObject({ name: 'Better photo', status: 'pending', rejectionReason: null });
  });

  test('allowed: an edit that changes nothing keeps the product approved', async () => {
    const approved = await product('seller1', 'approved');
    const updated = ok<Product>(await call('seller1', UPDATE, { id: approved.id, price: approved.price }), 'updateProduct');
    expect(updated.status).toBe('approved');
  });

  test("refused: a seller edits another seller's product (approved: FLOWN; pending, so invisible: FLPNF)", async () => {
    const othersApproved = await product('seller2', 'approved');
    const othersPending = await product('seller2');
    await expectRefused(() => call('seller1', UPDATE, { id: othersApproved.id, price: '1.00' }), 'FLOWN', /belongs to another seller/);
    await expectRefused(() => call('seller1', UPDATE, { id: othersPending.id, price: '1.00' }), 'FLPNF', /not found/);
    expect(await ownerRow(othersApproved.id)).toMatchObject({ price: '10.00', status: 'approved' });
    // The backstop: row level security lets the statement touch no row.
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `update app_public.products set price = 1 where id = $1`, [othersApproved.id])).toEqual(NO_ROW);
  });

  test('refused: shoppers, the operator and admins edit no product', async () => {
    const approved = await product('seller1', 'approved');
    for (const who of ['alice', 'operator', 'admin']) {
      await expectRefused(() => call(who, UPDATE, { id: approved.id, price: '1.00' }), 'FLROL');
    }
    await expectRefused(() => call(undefined, UPDATE, { id: approved.id, price: '1.00' }), '42501');
  });

  test('refused: an edit to a price with three decimals or a negative stock', async () => {
    const approved = await product('seller1', 'approved');
    await expectRefused(() => call('seller1', UPDATE, { id: approved.id, price: '9.999' }), 'FLINV', /more than two decimals/);
    await expectRefused(() => call('seller1', UPDATE, { id: approved.id, stock: -5 }), 'FLINV', /stock/);
    expect(await ownerRow(approved.id)).toMatchObject({ price: '10.00', status: 'approved' });
  });

  test('refused: a seller changes status directly (no such argument or mutation; SQL refuses the column)', async () => {
    const pending = await product('seller1');
    await expectInvalid(() => call('seller1', `mutation { updateProduct(input: { id: "${pending.id}", status: "approved" }) { result { id } } }`), /status/);
    await expectInvalid(
      () => call('seller1', `mutation { updateProductById(input: { id: "${pending.id}", productPatch: { status: "approved" } }) { product { id } } }`),
      /updateProductById/,
    );
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `update app_public.products set status = 'approved' where id = $1`, [pending.id])).toEqual(REFUSED);
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `update app_public.products set rejection_reason = 'x' where id = $1`, [pending.id])).toEqual(REFUSED);
    expect((await ownerRow(pending.id)).status).toBe('pending');
  });

  test('allowed: a seller deletes its own product, and gets it back', async () => {
    const approved = await product('seller1', 'approved');
    const deleted = ok<Product>(await call('seller1', DELETE, { id: approved.id }), 'deleteProduct');
    expect(deleted).toMatchObject({ id: approved.id, sku: approved.sku });
    expect(await ownerRow(approved.id)).toBeUndefined();
  });

  test("refused: a seller deletes another seller's product; shoppers, the operator and admins delete nothing", async () => {
    const othersApproved = await product('seller2', 'approved');
    await expectRefused(() => call('seller1', DELETE, { id: othersApproved.id }), 'FLOWN');
    for (const who of ['alice', 'operator', 'admin']) await expectRefused(() => call(who, DELETE, { id: othersApproved.id }), 'FLROL');
    await expectRefused(() => call(undefined, DELETE, { id: othersApproved.id }), '42501');
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne },
      `delete from app_public.products where id = $1`, [othersApproved.id])).toEqual(NO_ROW);
    expect(await ownerRow(othersApproved.id)).toBeDefined();
  });

  test("edits by the database owner (catalog imports, scrapes) keep a product's approval; a seller's edit does not", async () => {
    // (The migration exempts admins and the owner from the back-to-pending trigger; sellers' edits are covered above.)
    const approved = await product('seller1', 'approved');
    await db.pool.query(`update app_public.products set description = 'imported text' where id = $1`, [approved.id]);
    expect(await ownerRow(approved.id)).toMatchObject({ description: 'imported text', status: 'approved' });
    // A statement that sets the status itself is an admin's decision and is left alone.
    await db.pool.query(`update app_public.products set stock = 99, status = 'rejected' where id = $1`, [approved.id]);
    expect(await ownerRow(approved.id)).toMatchObject({ stock: 99, status: 'rejected' });
    ok(await call('seller1', UPDATE, { id: approved.id, stock: 98 }), 'updateProduct');
    expect(await ownerRow(approved.id)).toMatchObject({ stock: 98, status: 'pending', rejection_reason: null });
  });

  test('an owner that is not a superuser (a managed PostgreSQL) keeps the approval too', async () => {
    // A role that has the owner's rights but not its superuser attribute, as the master user of a
    // managed PostgreSQL has.
    const owner = `fl_owner_like_${process.pid}_${Date.now()}`;
    const { rows: [{ name }] } = await db.pool.query<{ name: string }>('select current_user as name');
    await db.pool.query(`create role ${owner} nosuperuser; grant ${name} to ${owner}`);
    try {
      const approved = await product('seller1', 'approved');
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        await client.query(`set local role ${owner}`);
        await client.query(`update app_public.products set price = 12.5 where id = $1`, [approved.id]);
        await client.query('commit');
      } finally {
        client.release();
      }
      expect(await ownerRow(approved.id)).toMatchObject({ price: '12.50', status: 'approved' });
    } finally {
      await db.pool.query(`drop role ${owner}`);
    }
  });
});

describe('only an admin approves or rejects', () => {
  test('allowed: an admin approves, then rejects with a reason, then approves again (clearing it)', async () => {
    const pending = await product('seller1');
    expect(ok<Product>(await call('admin', APPROVE, { id: pending.id }), 'approveProduct')).toMatchObject({ status: 'approved', rejectionReason: null });
    const seen = await call('alice', `query($id: UUID!) { productById(id: $id) { id } }`, { id: pending.id });
    expect(seen.data!.productById).toEqual({ id: pending.id });

    const rejected = ok<Product>(await call('admin', REJECT, { id: pending.id, reason: 'counterfeit' }), 'rejectProduct');
    expect(rejected).toMatchObject({ status: 'rejected', rejectionReason: 'counterfeit' });
    expect(await ownerRow(pending.id)).toMatchObject({ status: 'rejected', rejection_reason: 'counterfeit' });
    const hidden = await call('alice', `query($id: UUID!) { productById(id: $id) { id } }`, { id: pending.id });
    expect(hidden.data!.productById).toBeNull();

    expect(ok<Product>(await call('admin', APPROVE, { id: pending.id }), 'approveProduct')).toMatchObject({ status: 'approved', rejectionReason: null });
    // The reason is optional.
    expect(ok<Product>(await call('admin', REJECT, { id: pending.id }), 'rejectProduct')).toMatchObject({ status: 'rejected', rejectionReason: null });
  });

  test('refused: a seller approves its own product, or rejects another; shoppers and the operator neither', async () => {
    const own = await product('seller1');
    const othersApproved = await product('seller2', 'approved');
    await expectRefused(() => call('seller1', APPROVE, { id: own.id }), 'FLADM', /only an admin may do this/);
    await expectRefused(() => call('seller1', REJECT, { id: othersApproved.id, reason: 'competitor' }), 'FLADM');
    for (const who of ['alice', 'operator']) {
      await expectRefused(() => call(who, APPROVE, { id: own.id }), 'FLADM');
      await expectRefused(() => call(who, REJECT, { id: othersApproved.id }), 'FLADM');
    }
    await expectRefused(() => call(undefined, APPROVE, { id: own.id }), '42501');
  });

  test("refused: an admin token of another tenant approves or rejects none of this tenant's products", async () => {
    const pending = await product('seller1');
    await expectRefused(() => call('otherAdmin', APPROVE, { id: pending.id }), 'FLPNF');
    await expectRefused(() => call('otherAdmin', REJECT, { id: pending.id, reason: 'no' }), 'FLPNF');
    // Its own tenant's products it may.
    const { rows: [foreign] } = await db.pool.query(
      `insert into app_public.products (seller_id, sku, name, price) values ($1, 'F-1', 'Foreign', 5) returning id`, [foreignShop]);
    expect(ok<Product>(await call('otherAdmin', APPROVE, { id: foreign.id }), 'approveProduct').status).toBe('approved');
  });

  test('refused: too long a rejection reason', async () => {
    const pending = await product('seller1');
    await expectRefused(() => call('admin', REJECT, { id: pending.id, reason: 'x'.repeat(1001) }), 'FLINV', /reason/);
  });
});

describe('reviews', () => {
  let approved: Product;
  let pending: Product;
  let rejected: Product;
  let othersApproved: Product;
  beforeAll(async () => {
    approved = await product('seller1', 'approved');
    pending = await product('seller1');
    rejected = await product('seller1', 'rejected');
    othersApproved = await product('seller2', 'approved');
  });

  test('allowed: a shopper reviews an approved product, under its own subject; the counters follow', async () => {
    const review = ok<{ author: string; tenantId: string; rating: number }>(
      await call('alice', REVIEW, { productId: approved.id, rating: 4, title: 'Good', body: 'Works well' }),
      'writeReview',
    );
    expect(review).toMatchObject({ productId: approved.id, tenantId: tenant, author: 'alice', rating: 4, title: 'Good', body: 'Works well' });
    const { rows } = await db.pool.query('select reviews, rating_sum::int from app_private.product_review_stats where product_id = $1', [approved.id]);
    expect(rows).toEqual([{ reviews: 1, rating_sum: 4 }]);
    const seen = await call('bob', `query($id: UUID!) { productById(id: $id) { reviews(first: 100) { nodes { author rating } } } }`, { id: approved.id });
    expect(seen.data!.productById.reviews.nodes).toEqual([{ author: 'alice', rating: 4 }]);
  });

  test('refused: a second review by the same author', async () => {
    await expectRefused(() => call('alice', REVIEW, { productId: approved.id, rating: 1 }), 'FLREV', /alice already reviewed/);
    // Another author may.
    ok(await call('bob', REVIEW, { productId: approved.id, rating: 5 }), 'writeReview');
  });

  test('refused: a review of a pending, rejected or unknown product', async () => {
    await expectRefused(() => call('alice', REVIEW, { productId: pending.id, rating: 5 }), 'FLNAP', /not approved/);
    await expectRefused(() => call('alice', REVIEW, { productId: rejected.id, rating: 5 }), 'FLNAP');
    await expectRefused(() => call('alice', REVIEW, { productId: '00000000-0000-4000-8000-000000000001', rating: 5 }), 'FLNAP');
    await expectRefused(() => call('carol', REVIEW, { productId: approved.id, rating: 5 }), 'FLNAP');
    // The backstop: a direct insert for a pending product breaks the insert policy.
    expect(await sqlAs('app_shopper', { tenant_id: tenant, sub: 'alice' },
      `insert into app_public.reviews (product_id, author, rating) values ($1, 'alice', 5)`, [pending.id])).toEqual(REFUSED);
  });

  test("refused: a seller reviews its own product; allowed: another shop's approved product", async () => {
    await expectRefused(() => call('seller1', REVIEW, { productId: approved.id, rating: 5 }), 'FLSLF', /its own product/);
    await expectRefused(() => call('seller1', REVIEW, { productId: pending.id, rating: 5 }), 'FLSLF');
    expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne, sub: 'shop-one' },
      `insert into app_public.reviews (product_id, author, rating) values ($1, 'shop-one', 5)`, [approved.id])).toEqual(REFUSED);
    const review = ok<{ author: string }>(await call('seller1', REVIEW, { productId: othersApproved.id, rating: 3 }), 'writeReview');
    expect(review.author).toBe('shop-one');
  });

  test('refused: the operator, admins and anonymous requests write no review; nor a bad rating', async () => {
    await expectRefused(() => call('operator', REVIEW, { productId: othersApproved.id, rating: 5 }), 'FLROL');
    await expectRefused(() => call('admin', REVIEW, { productId: othersApproved.id, rating: 5 }), 'FLROL');
    await expectRefused(() => call(undefined, REVIEW, { productId: othersApproved.id, rating: 5 }), '42501');
    await expectRefused(() => call('bob', REVIEW, { productId: othersApproved.id, rating: 6 }), 'FLINV', /rating/);
    // A seller token without a subject has no name to sign a review with.
    const anonymousSeller = sign({ role: 'app_seller', tenant_id: tenant, seller_id: shopTwo });
    await expectRefused(() => graphql(server.url, REVIEW, { productId: approved.id, rating: 5 }, anonymousSeller), 'FLSUB');
  });

  test('refused: a shopper writes under another name (no such argument; SQL refuses it)', async () => {
    await expectInvalid(
      () => call('bob', `mutation { writeReview(input: { productId: "${othersApproved.id}", rating: 5, author: "alice" }) { result { id } } }`),
      /author/,
    );
    expect(await sqlAs('app_shopper', { tenant_id: tenant, sub: 'bob' },
      `insert into app_public.reviews (product_id, author, rating) values ($1, 'mallory', 5)`, [othersApproved.id])).toEqual(REFUSED);
  });

  test("refused: a seller changes or deletes reviews, even of its own products (no mutation; SQL refuses it)", async () => {
    await expectInvalid(
      () => call('seller1', `mutation { updateReviewById(input: { id: "00000000-0000-4000-8000-000000000001", reviewPatch: { rating: 5 } }) { review { id } } }`),
      /updateReviewById/,
    );
    const before = await snapshot();
    for (const sql of [
      `update app_public.reviews set rating = 5 where product_id = $1`,
      `delete from app_public.reviews where product_id = $1`,
    ]) {
      expect(await sqlAs('app_seller', { tenant_id: tenant, seller_id: shopOne, sub: 'shop-one' }, sql, [approved.id])).toEqual(REFUSED);
      expect(await sqlAs('app_shopper', { tenant_id: tenant, sub: 'alice' }, sql, [approved.id])).toEqual(REFUSED);
    }
    expect(await snapshot()).toEqual(before);
  });

  test('reviews are seen with their product: a product sent back to pending hides its reviews from shoppers', async () => {
    const product = await call('seller1', UPDATE, { id: approved.id, name: 'Renamed' });
    expect(product.data!.updateProduct.result.status).toBe('pending');
    const asShopper = await call('bob', `{ allReviews(first: 100) { nodes { productId } } }`);
    expect(asShopper.data!.allReviews.nodes.map((node: { productId: string }) => node.productId)).not.toContain(approved.id);
    const asSeller = await call('seller1', `{ allReviews(first: 100) { nodes { productId } } }`);
    expect(asSeller.data!.allReviews.nodes.map((node: { productId: string }) => node.productId)).toContain(approved.id);
    const asOperator = await call('operator', `{ allReviews(first: 100) { nodes { productId } } }`);
    expect(asOperator.data!.allReviews.nodes.map((node: { productId: string }) => node.productId)).toContain(approved.id);
  });
});

describe('tokens', () => {
  test('seller and shopper tokens must carry what their role needs', () => {
    expect(() => sign({ role: 'app_seller', tenant_id: tenant })).toThrow(/seller_id/);
    expect(() => sign({ role: 'app_seller', seller_id: shopOne })).toThrow(/tenant_id/);
    expect(() => sign({ role: 'app_seller', tenant_id: tenant, seller_id: 'shop-one' })).toThrow(/uuid/);
    expect(() => sign({ role: 'app_shopper', tenant_id: tenant })).toThrow(/sub/);
    expect(() => sign({ role: 'app_user', tenant_id: tenant, seller_id: shopOne })).toThrow(/only an app_seller/);
  });

  test('the server refuses a signed seller token without a seller_id with 403', async () => {
    const raw = jwt.sign({ role: 'app_seller', tenant_id: tenant }, TEST_JWT_SECRET, { algorithm: 'HS256', audience: JWT_AUDIENCE });
    expect((await graphql(server.url, '{ currentSellerId }', {}, raw)).status).toBe(403);
  });

  test('`finishline token` mints seller (by id or by name) and shopper tokens the server accepts', async () => {
    const cli = CLI_PATH;
    // Asynchronously: a blocked event loop would miss the server closing idle keep-alive sockets.
    const mint = async (...args: string[]) =>
      (await execFileAsync(process.execPath, [cli, 'token', ...args], { env: { ...process.env, DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET }, encoding: 'utf8' })).stdout.trim();
    const [byName, byId, shopper] = await Promise.all([
      mint('--role', 'app_seller', '--tenant-name', 'market', '--seller-name', 'Shop Two', '--sub', 'two'),
      mint('--role', 'app_seller', '--tenant', tenant, '--seller-id', shopOne),
      mint('--role', 'app_shopper', '--tenant-name', 'market', '--sub', 'alice'),
    ]);
    const who = `{ currentTenantId currentSellerId currentUserSub }`;
    expect((await graphql(server.url, who, {}, byName)).data).toEqual({ currentTenantId: tenant, currentSellerId: shopTwo, currentUserSub: 'two' });
    expect((await graphql(server.url, who, {}, byId)).data).toEqual({ currentTenantId: tenant, currentSellerId: shopOne, currentUserSub: null });
    expect((await graphql(server.url, who, {}, shopper)).data).toEqual({ currentTenantId: tenant, currentSellerId: null, currentUserSub: 'alice' });
  });
});
