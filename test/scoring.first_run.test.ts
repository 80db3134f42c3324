// "Score now" on a fresh installation: an admin's triggerAllScoring before any review scorer was
// ever trained trains one first, then scores every review, then every seller.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { generateMarketplace } from '../server/demo/generate.ts';
import { asRole, createTenant, startWorkerProcess, useTestDatabase, waitFor, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db, 'first-scoring');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await generateMarketplace(client, { tenantId: tenant, sellers: 12, products: 120, reviews: 1500, seed: 3, labelledShare: 0.6 });
  await client.end();
  worker = await startWorkerProcess(db);
});
afterAll(() => worker?.stop());

test('triggerAllScoring with no review scorer yet trains one, then scores every review and every seller', async () => {
  const { rows: [{ models }] } = await db.pool.query(`select count(*)::int as models from app_public.model_versions where kind = 'review_scorer'`);
  expect(models).toBe(0);
  await asRole(db, 'app_admin', {}, (client) => client.query('select * from app_public.trigger_all_scoring()'));
  const counts = await waitFor(async () => {
    const { rows: [row] } = await db.pool.query(`
      select (select count(*) from app_public.reviews)::int as reviews, (select count(*) from app_public.review_scores)::int as review_scores,
             (select count(*) from app_public.sellers)::int as sellers, (select count(*) from app_public.seller_scores)::int as seller_scores`);
    return row.review_scores === row.reviews && row.seller_scores === row.sellers ? row : null;
  }, { timeoutMs: 90_000, what: 'every review and every seller to be scored' });
  expect(counts).toMatchObject({ reviews: 1500, sellers: 12 });
  const { rows: failed } = await db.pool.query(`select count(*)::int as n from app_public.batch_items where status = 'failed'`);
  expect(failed[0].n).toBe(0);
  const { rows: versions } = await db.pool.query(`select is_active from app_public.model_versions where kind = 'review_scorer'`);
  expect(versions).toEqual([{ is_active: true }]);
});
