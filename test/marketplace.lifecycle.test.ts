// A product's whole life through GraphQL alone: a seller creates it (pending, hidden), an admin
// approves it (visible, and recommended once the debounced retrain has run), the seller edits it
// (pending again: hidden from shoppers and from recommendations), an admin approves it again.
// The recommender's retrain follows each change by itself: a server and a worker, no test hooks.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signToken, type Claims } from '../server/auth.ts';
import {
  createTenant,
  graphql,
  startServerProcess,
  startWorkerProcess,
  TEST_JWT_SECRET,
  useTestDatabase,
  waitFor,
  type GraphQLResult,
  type ServerProcess,
  type WorkerProcess,
} from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let worker: WorkerProcess;
const token: Record<string, string> = {};
let neighbour: string;
let knives: string[];

const sign = (claims: Claims) => signToken(TEST_JWT_SECRET, claims);

beforeAll(async () => {
  // The worker first: it sets the debounce that the seeding below is enqueued with.
  worker = await startWorkerProcess(db, { env: { RETRAIN_DEBOUNCE_SECONDS: '1', RETRAIN_MAX_WAIT_SECONDS: '10' } });
  const tenant = await createTenant(db, 'lifecycle');
  const { rows: [shop] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Blade Works') returning id`, [tenant]);
  const { rows: [other] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Garden Things') returning id`, [tenant]);
  // The catalogue the new product joins: knives of the same shop and garden goods of another.
  const { rows } = await db.pool.query(
    `insert into app_public.products (seller_id, sku, name, description, category, price, status)
     select $1::uuid, 'knife-' || i, 'Damascus chef knife ' || i || ' inch', 'Hand-forged Damascus steel chef knife.', 'kitchen/knives', 80 + i, 'approved'
     from generate_series(6, 10) i
     union all
     select $2::uuid, 'hose-' || i, 'Garden hose ' || i || ' m', 'Flexible garden hose with spray nozzle.', 'garden/watering', 20 + i, 'approved'
     from generate_series(10, 30, 5) i
     returning id, sku`,
    [shop.id, other.id],
  );
  neighbour = rows.find((row) => row.sku === 'knife-8')!.id;
  knives = rows.filter((row) => row.sku.startsWith('knife-')).map((row) => row.id);
  Object.assign(token, {
    seller: sign({ role: 'app_seller', tenant_id: tenant, seller_id: shop.id, sub: 'blade-works' }),
    shopper: sign({ role: 'app_shopper', tenant_id: tenant, sub: 'alice' }),
    admin: sign({ role: 'app_admin', tenant_id: tenant, sub: 'moderator' }),
  });
  server = await startServerProcess(db);
});
afterAll(async () => {
  await server?.stop();
  await worker?.stop();
});

function call(who: string, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult> {
  return graphql(server.url, query, variables, token[who]);
}

function data(result: GraphQLResult): Record<string, any> {
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data!;
}

async function activeRecommender(): Promise<string | null> {
  const result = data(await call('admin', `{
    allModelVersions(condition: { kind: "recommender" }, orderBy: TRAINED_AT_DESC, first: 1) { nodes { id isActive } } }`));
  const newest = result.allModelVersions.nodes[0];
  return newest?.isActive ? newest.id : null;
}

async function shopperSees(id: string): Promise<boolean> {
  return data(await call('shopper', `query($id: UUID!) { productById(id: $id) { id status } }`, { id })).productById !== null;
}

async function recommendedWith(id: string): Promise<string[]> {
  const result = data(await call('shopper', `query($id: UUID!) { recommendationsFor(productId: $id, first: 10) { id } }`, { id }));
  return result.recommendationsFor.map((product: { id: string }) => product.id);
}

/** Waits for the retrain that follows a change: a new active recommender version. */
async function nextRetrain(after: string | null): Promise<string> {
  return waitFor(async () => {
    const id = await activeRecommender();
    return id && id !== after ? id : false;
  }, { timeoutMs: 20_000, what: 'the retrain after the change' });
}

test('create → pending → approve → visible and recommended → edit → pending and hidden → approve again', async () => {
  // The first retrain covers the catalogue as it was seeded.
  let version = await nextRetrain(null);
  // Its four sibling knives come before the garden hoses.
  expect((await recommendedWith(neighbour)).slice(0, 4).sort()).toEqual(knives.filter((id) => id !== neighbour).sort());

  const created = data(await call('seller', `
    mutation { createProduct(input: { sku: "knife-new", name: "Damascus chef knife 8 inch", price: "88.00",
      description: "Hand-forged Damascus steel chef knife.", category: "kitchen/knives" }) { result { id status } } }`));
  const product = created.createProduct.result.id;
  expect(created.createProduct.result.status).toBe('pending');
  expect(await shopperSees(product)).toBe(false);

  const approved = data(await call('admin', `mutation($id: UUID!) { approveProduct(input: { id: $id }) { result { status } } }`, { id: product }));
  expect(approved.approveProduct.result.status).toBe('approved');
  expect(await shopperSees(product)).toBe(true);
  version = await nextRetrain(version);
  // A twin of the neighbour: first in its list; the knives lead its own.
  expect((await recommendedWith(neighbour))[0]).toBe(product);
  expect((await recommendedWith(product)).slice(0, 5).sort()).toEqual([...knives].sort());

  const edited = data(await call('seller', `mutation($id: UUID!) { updateProduct(input: { id: $id, price: "95.00" }) { result { status } } }`, { id: product }));
  expect(edited.updateProduct.result.status).toBe('pending');
  // Hidden at once, before the retrain: from shoppers and from every recommendation list.
  expect(await shopperSees(product)).toBe(false);
  expect(await recommendedWith(neighbour)).not.toContain(product);
  version = await nextRetrain(version);
  expect(await recommendedWith(neighbour)).not.toContain(product);

  data(await call('admin', `mutation($id: UUID!) { approveProduct(input: { id: $id }) { result { status } } }`, { id: product }));
  expect(await shopperSees(product)).toBe(true);
  await nextRetrain(version);
  // (Its new price band makes it a near twin now, among the other knives.)
  expect((await recommendedWith(neighbour)).slice(0, 5)).toContain(product);
});
