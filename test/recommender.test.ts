// Product recommendations: the database enqueues a debounced retrain on every product change that
// matters (even with no worker running), the retrain runs once per burst and by the ceiling under
// a steady stream, readers only ever see approved products, incremental retrains give the full
// rebuild's answer, and a failed retrain leaves the last good version serving.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateMarketplace } from '../server/demo/generate.ts';
import { cachedEmbeddings, recommenderModels, retrainRecommender } from '../server/ml/recommender.ts';
import { asRole, asTenant, createTenant, startWorkerProcess, useTestDatabase, waitFor, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let sellerId: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db, 'recommender-tenant');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await generateMarketplace(client, { tenantId: tenant, sellers: 20, products: 600, reviews: 0, seed: 11 });
  await client.end();
  const { rows } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Knife shop') returning id`, [tenant]);
  sellerId = rows[0].id;
});
afterAll(() => worker?.stop());

async function startWorker(env: Record<string, string>) {
  await worker?.stop();
  worker = await startWorkerProcess(db, { concurrency: 2, env });
  return worker;
}

/** Retrains run so far by the current worker (those that stored a version and those that found nothing new). */
function retrainsRun(): number {
  return (worker!.output().match(/"msg":"recommender (retrained|already up to date)"/g) ?? []).length;
}

async function activeVersion(): Promise<{ id: string; metrics: Record<string, any> } | undefined> {
  const { rows } = await db.pool.query(`select id, metrics from app_public.model_versions where kind = 'recommender' and is_active`);
  return rows[0];
}

async function pendingRetrain(): Promise<{ seconds_away: number; attempts: number; last_error: string | null } | undefined> {
  const { rows } = await db.pool.query(
    `select extract(epoch from run_at - now())::float as seconds_away, attempts, last_error
     from graphile_worker.jobs where key = 'retrain_recommender' and locked_at is null`,
  );
  return rows[0];
}

async function approvedProduct(offset = 0): Promise<string> {
  const { rows } = await db.pool.query(
    `select p.id from app_public.products p where p.tenant_id = $1 and p.status = 'approved'
       and exists (select from app_public.product_recommendations r where r.product_id = p.id)
     order by p.id offset $2 limit 1`,
    [tenant, offset],
  );
  return rows[0].id;
}

async function recommendationsFor(productId: string, first = 10): Promise<string[]> {
  return asTenant(db, tenant, async (client) => {
    const { rows } = await client.query('select id from app_public.recommendations_for($1, $2)', [productId, first]);
    return rows.map((row) => row.id);
  });
}

describe('what enqueues a retrain', () => {
  beforeAll(() => db.pool.query(`update app_private.recommender_settings set debounce = '60 seconds', max_wait = '600 seconds'`));

  async function enqueuedBy(sql: string, params: unknown[] = []) {
    await db.pool.query(`select graphile_worker.remove_job('retrain_recommender')`);
    await db.pool.query(sql, params);
    return pendingRetrain();
  }

  test('creating, editing, approving, rejecting or deleting an approved product does, debounced', async () => {
    const created = await enqueuedBy(
      `insert into app_public.products (seller_id, sku, name, price, status) values ($1, 'k-1', 'Chef knife', 49, 'approved')`,
      [sellerId],
    );
    expect(created?.seconds_away).toBeGreaterThan(55);
    expect(await enqueuedBy(`update app_public.products set description = 'Forged steel.' where sku = 'k-1'`)).toBeDefined();
    expect(await enqueuedBy(`update app_public.products set status = 'rejected', rejection_reason = 'blurry photo' where sku = 'k-1'`)).toBeDefined();
    expect(await enqueuedBy(`update app_public.products set status = 'approved', rejection_reason = null where sku = 'k-1'`)).toBeDefined();
    expect(await enqueuedBy(`delete from app_public.products where sku = 'k-1'`)).toBeDefined();
  });

  test('changes the recommender does not read, or to pending products, do not', async () => {
    await db.pool.query(`insert into app_public.products (seller_id, sku, name, price, status) values ($1, 'k-2', 'Paring knife', 19, 'pending')`, [sellerId]);
    expect(await enqueuedBy(`update app_public.products set name = 'Small paring knife' where sku = 'k-2'`)).toBeUndefined();
    expect(await enqueuedBy(`update app_public.products set stock = stock + 1 where status = 'approved' and tenant_id = $1`, [tenant])).toBeUndefined();
    expect(await enqueuedBy(`delete from app_public.products where sku = 'k-2'`)).toBeUndefined();
  });

  test('a product write never waits for or fails on the worker: with none running it commits and leaves the job', async () => {
    await db.pool.query(`select graphile_worker.remove_job('retrain_recommender')`);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // A long transaction that changed products holds no lock on the job until it commits.
    await client.query('begin');
    await client.query(`update app_public.products set name = name || ' (v2)' where tenant_id = $1 and status = 'approved' and sku like '%1'`, [tenant]);
    await db.pool.query(`update app_public.products set description = description || '.' where tenant_id = $1 and status = 'approved' and sku like '%2'`, [tenant]);
    expect(await pendingRetrain()).toBeDefined();
    await client.query('commit');
    await client.end();
    expect((await db.pool.query(`select count(*)::int as n from graphile_worker.jobs where key = 'retrain_recommender'`)).rows[0].n).toBe(1);
  });
});

describe('the retrain job', () => {
  test('after a restart nothing is lost: the retrain left by the writes runs when a worker starts, at its debounce', async () => {
    // Queued under a 60 s debounce; the worker starts with 3 s, which moves the waiting job.
    expect((await pendingRetrain())?.seconds_away).toBeGreaterThan(30);
    await startWorker({ RETRAIN_DEBOUNCE_SECONDS: '3', RETRAIN_MAX_WAIT_SECONDS: '60' });
    const version = await waitFor(async () => (await activeVersion()) ?? false, { timeoutMs: 30_000, what: 'a first recommender version' });
    expect(version.metrics).toMatchObject({ mode: 'full', changed: version.metrics.products });
    expect(await recommendationsFor(await approvedProduct())).toHaveLength(10);
  });

  test('1,000 updates in a burst, with a creation, an approval, a rejection and a deletion, give exactly one retrain', async () => {
    const before = await activeVersion();
    const runsBefore = retrainsRun();
    const ids = (await db.pool.query(`select id from app_public.products where tenant_id = $1 and status = 'approved' order by id limit 103`, [tenant])).rows.map((row) => row.id);
    const [rejected, deleted, edited] = [ids.pop(), ids.pop(), ids];
    const started = Date.now();
    await db.pool.query(`insert into app_public.products (seller_id, sku, name, price, status) values ($1, 'burst-1', 'Carving knife', 39, 'approved')`, [sellerId]);
    await db.pool.query(`update app_public.products set status = 'approved' where id = (select id from app_public.products where tenant_id = $1 and status = 'pending' limit 1)`, [tenant]);
    await db.pool.query(`update app_public.products set status = 'rejected' where id = $1`, [rejected]);
    await db.pool.query(`delete from app_public.products where id = $1`, [deleted]);
    for (let i = 0; i < 1000; i++) {
      await db.pool.query(`update app_public.products set description = description || $2 where id = $1`, [edited[i % edited.length], ` w${i}`]);
    }
    const burstSeconds = (Date.now() - started) / 1000;
    expect(burstSeconds).toBeLessThan(10);
    const after = await waitFor(async () => {
      const version = await activeVersion();
      return version && version.id !== before!.id ? version : false;
    }, { timeoutMs: 30_000, what: 'the retrain after the burst' });
    // Another debounce and a half of quiet: no second retrain follows.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(retrainsRun() - runsBefore).toBe(1);
    expect((await activeVersion())!.id).toBe(after.id);
    // 101 edited (one of them approved just now) and one created; one rejected and one deleted.
    expect(after.metrics).toMatchObject({ mode: 'incremental', changed: 103, removed: 2 });
  });

  test('a steady stream of changes still retrains by the ceiling', async () => {
    await startWorker({ RETRAIN_DEBOUNCE_SECONDS: '3', RETRAIN_MAX_WAIT_SECONDS: '4' });
    const before = await activeVersion();
    const id = await approvedProduct(3);
    // A change every 0.5 s for 9 s: the debounce alone (3 s) would wait until the stream ends.
    const streamStarted = Date.now();
    let retrainedAt: number | undefined;
    for (let i = 0; Date.now() - streamStarted < 9000; i++) {
      await db.pool.query(`update app_public.products set name = $2 where id = $1`, [id, `Stream ${i}`]);
      if (retrainedAt === undefined && (await activeVersion())!.id !== before!.id) retrainedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(retrainedAt).toBeDefined();
    expect((retrainedAt! - streamStarted) / 1000).toBeLessThan(8);
  });

  test('a failing retrain is retried with backoff and leaves the previous version active', async () => {
    await startWorker({ RETRAIN_DEBOUNCE_SECONDS: '0', RETRAIN_MAX_WAIT_SECONDS: '60' });
    await waitFor(async () => !(await pendingRetrain()) && !(await db.pool.query(`select 1 from graphile_worker.jobs where key = 'retrain_recommender'`)).rowCount, { what: 'no retrain in flight' });
    const before = await activeVersion();
    const product = await approvedProduct();
    const served = await recommendationsFor(product);
    // A failure the database raises while the new lists are written (a trigger the test owns).
    await db.pool.query(`create function public.fail_recommendations() returns trigger language plpgsql as $$ begin raise exception 'disk full (injected)'; end $$`);
    await db.pool.query(`create trigger fail_writes before insert on app_public.product_recommendations for each statement execute function public.fail_recommendations()`);
    try {
      await db.pool.query(`update app_public.products set name = name || ' (renamed)' where id = $1`, [product]);
      const failed = await waitFor(async () => {
        const job = await pendingRetrain();
        return job && job.attempts >= 1 ? job : false;
      }, { what: 'the retrain to fail' });
      expect(failed.last_error).toContain('disk full (injected)');
      expect(failed.seconds_away).toBeGreaterThan(0);
      expect((await activeVersion())!.id).toBe(before!.id);
      expect(await recommendationsFor(product)).toEqual(served);
    } finally {
      await db.pool.query(`drop trigger fail_writes on app_public.product_recommendations`);
      await db.pool.query(`drop function public.fail_recommendations()`);
    }
    // The retry (after Graphile Worker's backoff) succeeds.
    await waitFor(async () => (await activeVersion())!.id !== before!.id, { timeoutMs: 30_000, what: 'the retry to succeed' });
  });

  test('a single change is visible soon after its debounce', async () => {
    const product = await approvedProduct(5);
    const target = await approvedProduct(6);
    const { rows: [source] } = await db.pool.query('select name, description, category, price from app_public.products where id = $1', [product]);
    // Make `target` a twin of `product`: it must become its first recommendation.
    await db.pool.query('update app_public.products set name = $2, description = $3, category = $4, price = $5 where id = $1', [target, source.name, source.description, source.category, source.price]);
    await waitFor(async () => (await recommendationsFor(product, 1))[0] === target, { timeoutMs: 10_000, what: 'the twin to be recommended' });
  });
});

describe('what readers see', () => {
  test('a deleted or rejected product is never recommended, even before the retrain', async () => {
    await worker?.stop();
    worker = undefined;
    const product = await approvedProduct(1);
    const [first, second] = await recommendationsFor(product);
    await db.pool.query(`update app_public.products set status = 'rejected' where id = $1`, [first]);
    await db.pool.query(`delete from app_public.products where id = $1`, [second]);
    const now = await recommendationsFor(product);
    expect(now).not.toContain(first);
    expect(now).not.toContain(second);
    await retrainRecommender(db.pool);
    const { rows } = await db.pool.query(
      'select count(*)::int as n from app_public.product_recommendations where recommended_product_id = any($1)',
      [[first, second]],
    );
    expect(rows[0].n).toBe(0);
    expect(await recommendationsFor(product)).toHaveLength(10);
  });

  test('similar products (same category, similar text) rank above unrelated ones', async () => {
    const knives = [
      ['k-10', 'Chef knife stainless steel 20 cm', 'Forged stainless steel chef knife with a full tang.', 'cutlery/knives', 59],
      ['k-11', 'Santoku knife stainless steel 18 cm', 'Stainless steel santoku knife, hollow edge.', 'cutlery/knives', 55],
      ['k-12', 'Bread knife stainless steel serrated', 'Serrated stainless steel bread knife.', 'cutlery/knives', 35],
      ['k-13', 'Mountain bike tyre 29 inch', 'Tubeless ready tyre for trail riding.', 'outdoor/cycling', 45],
      ['k-14', 'Yoga mat non-slip 6 mm', 'A non-slip yoga mat for home workouts.', 'outdoor/yoga', 29],
    ];
    for (const [sku, name, description, category, price] of knives) {
      await db.pool.query(
        `insert into app_public.products (seller_id, sku, name, description, category, price, status) values ($1, $2, $3, $4, $5, $6, 'approved')`,
        [sellerId, sku, name, description, category, price],
      );
    }
    await retrainRecommender(db.pool);
    const ids = Object.fromEntries((await db.pool.query(`select sku, id from app_public.products where seller_id = $1`, [sellerId])).rows.map((row) => [row.sku, row.id]));
    const forChef = await recommendationsFor(ids['k-10']);
    expect(forChef.slice(0, 2).sort()).toEqual([ids['k-11'], ids['k-12']].sort());
    expect(forChef).not.toContain(ids['k-13']);

    // On the generated catalogue: recommendations share the product's category far more often than chance.
    const { rows: [shares] } = await db.pool.query(
      `select avg((p.category = q.category)::int)::float as recommended,
              (select avg((a.category = b.category)::int)::float from app_public.products a
                 join app_public.products b on a.id < b.id and a.tenant_id = b.tenant_id
                 where a.tenant_id = $1 and a.status = 'approved' and b.status = 'approved') as chance
       from app_public.product_recommendations r
       join app_public.products p on p.id = r.product_id
       join app_public.products q on q.id = r.recommended_product_id
       where r.tenant_id = $1 and r.rank <= 5`,
      [tenant],
    );
    expect(shares.recommended).toBeGreaterThan(0.8);
    expect(shares.recommended).toBeGreaterThan(4 * shares.chance);
  });

  test('an incremental retrain gives the same lists as a full rebuild', async () => {
    await db.pool.query(
      `update app_public.products set description = description || ' Now with a leather sheath.'
       where id in (select id from app_public.products where tenant_id = $1 and status = 'approved' order by id desc limit 7)`,
      [tenant],
    );
    await db.pool.query(`delete from app_public.products where id in (select id from app_public.products where tenant_id = $1 and status = 'approved' order by id limit 2)`, [tenant]);
    const incremental = await retrainRecommender(db.pool);
    expect(incremental.metrics).toMatchObject({ mode: 'incremental', changed: 7, removed: 2 });
    expect(incremental.metrics.recomputed).toBeLessThan(Number(incremental.metrics.products) / 4);
    const lists = async () =>
      (await db.pool.query(
        `select product_id, array_agg(round(score::numeric, 4) order by rank) as scores
         from app_public.product_recommendations where tenant_id = $1 group by product_id order by product_id`,
        [tenant],
      )).rows;
    const afterIncremental = await lists();
    // A version with another spec forces a full rebuild.
    await db.pool.query(`update app_public.model_versions set metrics = metrics || '{"spec": "older"}' where kind = 'recommender' and is_active`);
    const full = await retrainRecommender(db.pool);
    expect(full.metrics).toMatchObject({ mode: 'full' });
    // Scores, not ids: products with identical text tie, and ties may come in either order.
    expect(await lists()).toEqual(afterIncremental);
  });
});

/**
 * Runs a retrain that reads the changes and computes its lists, then waits to store them (a test
 * connection holds the active version's row) while `meanwhile` runs; returns what it returned.
 */
async function retrainInterrupted(meanwhile: () => Promise<unknown>) {
  const blocker = new pg.Client({ connectionString: db.url });
  await blocker.connect();
  try {
    await blocker.query('begin');
    await blocker.query(`select from app_public.model_versions where kind = 'recommender' and is_active for update`);
    const [outcome] = await Promise.all([
      retrainRecommender(db.pool),
      (async () => {
        await waitFor(
          async () => (await db.pool.query(`select from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%store_recommendations%'`)).rowCount,
          { what: 'the retrain to wait before storing' },
        );
        await meanwhile();
        await blocker.query('commit');
      })(),
    ]);
    return outcome;
  } finally {
    await blocker.end();
  }
}

describe('what a retrain consumes', () => {
  test('a change that commits while a retrain runs, with an id below those it read, is left for the retrain its commit queued', async () => {
    // Two small tenants: an import-like transaction on one stays open while the other's change commits.
    const [importing, other] = [await createTenant(db), await createTenant(db)];
    const ids: Record<string, string> = {};
    for (const tenantId of [importing, other]) {
      const { rows: [seller] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Shop') returning id`, [tenantId]);
      const { rows } = await db.pool.query(
        `insert into app_public.products (seller_id, sku, name, description, category, price, status) values
           ($1, 'chef', 'Chef knife stainless steel', 'Forged chef knife.', 'kitchen/knives', 59, 'approved'),
           ($1, 'hose', 'Garden hose 20 m', 'Flexible garden hose.', 'garden/watering', 25, 'approved'),
           ($1, 'mat', 'Yoga mat non-slip', 'A mat for home workouts.', 'outdoor/yoga', 29, 'approved'),
           ($1, 'tyre', 'Mountain bike tyre', 'Tubeless tyre for trails.', 'outdoor/cycling', 45, 'approved')
         returning sku, id`,
        [seller.id],
      );
      for (const row of rows) ids[`${tenantId}/${row.sku}`] = row.id;
    }
    await retrainRecommender(db.pool);
    const firstFor = (productId: string) =>
      asTenant(db, importing, async (client) => (await client.query('select id from app_public.recommendations_for($1, 1)', [productId])).rows[0]?.id);
    expect(await firstFor(ids[`${importing}/chef`])).not.toBe(ids[`${importing}/mat`]);

    const longTransaction = new pg.Client({ connectionString: db.url });
    await longTransaction.connect();
    try {
      await longTransaction.query('begin');
      // The mat becomes the chef knife's twin: its change takes an id now, and commits last.
      await longTransaction.query(
        `update app_public.products m set name = c.name, description = c.description, category = c.category, price = c.price
         from app_public.products c where m.id = $1 and c.id = $2`,
        [ids[`${importing}/mat`], ids[`${importing}/chef`]],
      );
      // The other tenant's change takes a higher id and commits at once.
      await db.pool.query(`update app_public.products set name = 'Garden hose 25 m' where id = $1`, [ids[`${other}/hose`]]);
      // A retrain reads that one; the long transaction commits before the retrain stores.
      await retrainInterrupted(async () => {
        // The queued job is the one running this retrain: done, it leaves the queue.
        await db.pool.query(`select graphile_worker.remove_job('retrain_recommender')`);
        await longTransaction.query('commit');
      });
    } finally {
      await longTransaction.end();
    }

    const { rows: left } = await db.pool.query('select tenant_id from app_private.recommender_changes');
    expect(left).toEqual([{ tenant_id: importing }]);
    // The retrain its commit queued picks it up.
    expect(await pendingRetrain()).toBeDefined();
    await retrainRecommender(db.pool);
    expect(await firstFor(ids[`${importing}/chef`])).toBe(ids[`${importing}/mat`]);
  });
});

describe('deleting a tenant', () => {
  /** A tenant with approved and pending products and a review; `left` counts what remains of it. */
  async function tenantToDelete() {
    const id = await createTenant(db);
    const { rows: [seller] } = await db.pool.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Closing down') returning id`, [id]);
    await db.pool.query(
      `insert into app_public.products (seller_id, sku, name, price, status)
       select $1, 'p-' || i, 'Kettle ' || i, 20 + i, case when i <= 4 then 'approved' else 'pending' end from generate_series(1, 5) i`,
      [seller.id],
    );
    await db.pool.query(`insert into app_public.reviews (product_id, author, rating) select id, 'ann', 4 from app_public.products where seller_id = $1 and sku = 'p-1'`, [seller.id]);
    const left = async () =>
      (await db.pool.query(
        `select (select count(*) from app_public.tenants where id = $1)::int as tenants,
                (select count(*) from app_public.sellers where tenant_id = $1)::int as sellers,
                (select count(*) from app_public.products where tenant_id = $1)::int as products,
                (select count(*) from app_public.reviews where tenant_id = $1)::int as reviews,
                (select count(*) from app_public.product_recommendations where tenant_id = $1)::int as recommendations,
                (select count(*) from app_private.recommender_inputs where tenant_id = $1)::int as recommender_inputs,
                (select count(*) from app_private.recommender_changes where tenant_id = $1)::int as recommender_changes`,
        [id],
      )).rows[0];
    const remove = () => asRole(db, 'app_admin', {}, (client) => client.query('delete from app_public.tenants where id = $1', [id]));
    return { id, sellerId: seller.id as string, left, remove };
  }
  const nothing = { tenants: 0, sellers: 0, products: 0, reviews: 0, recommendations: 0, recommender_inputs: 0, recommender_changes: 0 };

  test('an admin deletes a tenant with approved products, reviews and recommendations; nothing of it is left', async () => {
    const doomed = await tenantToDelete();
    await retrainRecommender(db.pool);
    // And a change not yet retrained.
    await db.pool.query(`update app_public.products set name = 'Kettle, steel' where seller_id = $1 and sku = 'p-2'`, [doomed.sellerId]);
    expect(await doomed.left()).toMatchObject({ tenants: 1, products: 5, recommendations: 12, recommender_inputs: 4, recommender_changes: 1 });

    expect((await doomed.remove()).rowCount).toBe(1);
    expect(await doomed.left()).toEqual(nothing);
    // The recommender goes on for the other tenants.
    await retrainRecommender(db.pool);
    expect(await recommendationsFor(await approvedProduct())).toHaveLength(10);
  });

  test('a tenant deleted while a retrain computes its lists: the retrain stores the others and nothing of it', async () => {
    const doomed = await tenantToDelete();
    const product = await approvedProduct(2);
    await db.pool.query(`update app_public.products set name = name || ' (new)' where id = $1`, [product]);
    const outcome = await retrainInterrupted(async () => expect((await doomed.remove()).rowCount).toBe(1));
    expect(outcome.versionId).not.toBeNull();
    expect(await doomed.left()).toEqual(nothing);
    expect(await recommendationsFor(product)).toHaveLength(10);
  });
});

describe('the embedding cache', () => {
  test('filling up during a retrain keeps the embeddings that retrain still needs', async () => {
    const { embedding } = await recommenderModels();
    const { rows: products } = await db.pool.query(`select id, content_key from app_private.recommender_products($1) limit 6`, [tenant]);
    const embeddingsOf = cachedEmbeddings(4);
    await embeddingsOf(db.pool, embedding, products.slice(0, 3));
    // 3 cached and 3 to compute: over the limit of 4, so the cache is emptied.
    const embeddings = await embeddingsOf(db.pool, embedding, products);
    const expected = await cachedEmbeddings(100)(db.pool, embedding, products);
    // (Up to float error: products embedded in other blocks are summed in another order.)
    expect(Math.max(...embeddings.map((value, i) => Math.abs(value - expected[i])))).toBeLessThan(1e-5);
  });
});
