// Scheduled scoring: a review scorer trained on the labelled reviews, review and seller scoring
// runs as batches (from the crontab, or an admin), one chunk retried alone when it fails.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateMarketplace } from '../server/demo/generate.ts';
import { trainAndStoreReviewScorer } from '../server/ml/models.ts';
import { asRole, createTenant, startWorkerProcess, useTestDatabase, waitFor, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  tenant = await createTenant(db, 'scoring-tenant');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await generateMarketplace(client, { tenantId: tenant, sellers: 40, products: 400, reviews: 6000, seed: 7, labelledShare: 0.6 });
  // Edge cases on purpose: a seller with no products, a product with no reviews.
  await client.query(`insert into app_public.sellers (tenant_id, name) values ($1, 'Empty shop')`, [tenant]);
  await client.end();
  await db.pool.query(`update app_public.batch_kinds set retry_delay = '50 milliseconds' where kind in ('score_reviews', 'score_sellers')`);
});
afterAll(() => worker?.stop());

async function batchesOf(kind: string) {
  const { rows } = await db.pool.query(
    `select b.id, b.status, b.total_items, s.succeeded_items, s.failed_items, b.finished_at from app_public.batches b
     join app_public.batch_status_summary s on s.batch_id = b.id where b.kind = $1 and b.tenant_id = $2 order by b.created_at`,
    [kind, tenant],
  );
  return rows;
}

describe('training', () => {
  test('produces an ONNX model with held-out AUC clearly above chance, stored as the active version', async () => {
    const outcome = await trainAndStoreReviewScorer(db.pool);
    expect(outcome).not.toBeNull();
    expect(outcome!.activated).toBe(true);
    // Labels carry 5% noise and fakes are ~10%: a clear margin above chance (0.5) is what to expect.
    expect(outcome!.metrics.auc).toBeGreaterThan(0.7);
    const { rows } = await db.pool.query(
      `select v.kind, v.is_active, v.training_rows, v.metrics, length(f.onnx) as bytes from app_public.model_versions v
       join app_private.model_files f on f.model_version_id = v.id where v.id = $1`,
      [outcome!.versionId],
    );
    expect(rows[0]).toMatchObject({ kind: 'review_scorer', is_active: true });
    expect(rows[0].training_rows).toBeGreaterThan(500);
    expect(rows[0].bytes).toBeGreaterThan(1000);
  });

  test('a new version that is worse on held-out data is kept out, and says why', async () => {
    // Scramble the labels: whatever is learnt from them is no better than chance.
    await db.pool.query(`update app_public.reviews set moderation_verdict = case when random() < 0.5 then 'fake' else 'genuine' end where moderation_verdict is not null`);
    const before = await db.pool.query(`select id from app_public.model_versions where kind = 'review_scorer' and is_active`);
    const outcome = await trainAndStoreReviewScorer(db.pool, 2);
    expect(outcome!.activated).toBe(false);
    expect(String(outcome!.metrics.kept_out_because)).toMatch(/held-out AUC .* is below the active version's/);
    const after = await db.pool.query(`select id from app_public.model_versions where kind = 'review_scorer' and is_active`);
    expect(after.rows).toEqual(before.rows);
  });
});

describe('scoring runs', () => {
  beforeAll(async () => {
    worker = await startWorkerProcess(db);
  });

  test('an admin starts a review run; a seller run follows by itself; every score is in [0, 1] with its model version', async () => {
    const batches = await asRole(db, 'app_admin', { tenant_id: tenant }, async (client) => {
      const { rows } = await client.query('select id, kind, total_items from app_public.trigger_review_scoring()');
      return rows;
    });
    expect(batches).toHaveLength(1);
    expect(batches[0].total_items).toBe(6); // 6,000 reviews in chunks of 1,000
    await waitFor(async () => (await batchesOf('score_sellers')).some((batch) => batch.finished_at), { timeoutMs: 60_000, what: 'the seller run' });

    const [reviewRun] = await batchesOf('score_reviews');
    expect(reviewRun).toMatchObject({ status: 'completed', succeeded_items: 6 });
    const { rows: [reviews] } = await db.pool.query(
      `select count(*)::int as scored, min(score) as min, max(score) as max, count(distinct model_version_id)::int as versions,
              bool_and(model_version_id = (select id from app_public.model_versions where kind = 'review_scorer' and is_active)) as active
       from app_public.review_scores where tenant_id = $1`,
      [tenant],
    );
    expect(reviews).toMatchObject({ scored: 6000, versions: 1, active: true });
    expect(reviews.min).toBeGreaterThanOrEqual(0);
    expect(reviews.max).toBeLessThanOrEqual(1);

    const { rows: sellers } = await db.pool.query(
      `select s.name, ss.score, ss.confidence, ss.product_count, ss.review_count from app_public.sellers s
       join app_public.seller_scores ss on ss.seller_id = s.id where s.tenant_id = $1`,
      [tenant],
    );
    const { rows: [{ n: sellerCount }] } = await db.pool.query('select count(*)::int as n from app_public.sellers where tenant_id = $1', [tenant]);
    expect(sellers).toHaveLength(sellerCount);
    const empty = sellers.find((seller) => seller.name === 'Empty shop');
    expect(empty).toMatchObject({ score: 0.5, confidence: 0, product_count: 0, review_count: 0 });
    expect(sellers.every((seller) => seller.score >= 0 && seller.score <= 1 && seller.confidence >= 0 && seller.confidence < 1)).toBe(true);
  });

  test('a second run has nothing to do and completes at once, empty', async () => {
    const [again] = await asRole(db, 'app_admin', { tenant_id: tenant }, async (client) => (await client.query('select * from app_public.trigger_review_scoring()')).rows);
    expect(again.total_items).toBe(0);
    // Completed by the commit that created it.
    const { rows } = await db.pool.query('select status from app_public.batches where id = $1', [again.id]);
    expect(rows[0].status).toBe('completed');
  });

  test('editing a review makes it due again', async () => {
    const { rows: [review] } = await db.pool.query(`select id from app_public.reviews where tenant_id = $1 limit 1`, [tenant]);
    const due = async () => (await db.pool.query('select count(*)::int as n from app_private.reviews_due($1)', [tenant])).rows[0].n;
    expect(await due()).toBe(0);
    await db.pool.query(`update app_public.reviews set body = body || ' (edited)' where id = $1`, [review.id]);
    expect(await due()).toBe(1);
  });

  test('a non-admin may not start scoring', async () => {
    await expect(
      asRole(db, 'app_user', { tenant_id: tenant }, (client) => client.query('select * from app_public.trigger_review_scoring()')),
    ).rejects.toMatchObject({ code: 'FLADM', message: 'only an admin may do this' });
  });

  test("a tenant cannot submit a scoring batch (its ids could name another tenant's reviews)", async () => {
    const other = await createTenant(db, 'scoring-other-tenant');
    const { rows: [review] } = await db.pool.query('select id from app_public.reviews where tenant_id = $1 limit 1', [tenant]);
    const refused = { code: 'FLRUN', message: `batches of kind "score_reviews" are started by finishline's scoring runs, not submitted` };
    await expect(
      asRole(db, 'app_user', { tenant_id: other }, (client) =>
        client.query(`select * from app_public.submit_batch('score_reviews', $1::jsonb)`, [JSON.stringify([{ review_ids: [review.id] }])])),
    ).rejects.toMatchObject(refused);
    // Plain SQL is a submission too.
    await expect(
      asRole(db, 'app_user', { tenant_id: other }, (client) => client.query(`insert into app_public.batches (kind) values ('score_reviews')`)),
    ).rejects.toMatchObject(refused);
    const { rows: [count] } = await db.pool.query(`select count(*)::int as n from app_public.batches where tenant_id = $1`, [other]);
    expect(count.n).toBe(0);
  });

  test('a chunk that fails is retried alone', async () => {
    // A fault in this test database only: the first write of scores for chunk 2 fails.
    await db.pool.query(`
      -- A sequence, because nextval survives the rollback that the fault causes.
      create sequence public.injected_faults;
      create function public.fail_once() returns trigger language plpgsql as $$
      begin
        if nextval('public.injected_faults') = 1 then raise exception 'injected fault'; end if;
        return null;
      end $$;
      create trigger fail_once after insert on app_public.review_scores for each statement
        when (pg_trigger_depth() = 0) execute function public.fail_once();
    `);
    await db.pool.query(`update app_public.reviews set body = body || '!' where tenant_id = $1`, [tenant]);
    const { rows: [run] } = await db.pool.query(
      `select id from app_private.start_scoring_run($1, 'score_reviews', array(select app_private.reviews_due($1)), 1000)`,
      [tenant],
    );
    await waitFor(async () => (await db.pool.query('select finished_at from app_public.batches where id = $1', [run.id])).rows[0].finished_at, {
      timeoutMs: 60_000,
      what: 'the run to finish',
    });
    const { rows: items } = await db.pool.query('select attempts, status from app_public.batch_items where batch_id = $1 order by id', [run.id]);
    expect(items).toHaveLength(6);
    expect(items.every((item) => item.status === 'succeeded')).toBe(true);
    expect(items.map((item) => item.attempts).sort()).toEqual([1, 1, 1, 1, 1, 2]);
    await db.pool.query('drop trigger fail_once on app_public.review_scores');
  });
});

describe('the crontab', () => {
  test('starts a review run on its schedule, recorded in scheduler_status', async () => {
    await worker?.stop();
    worker = await startWorkerProcess(db, { env: { REVIEW_SCORING_CRON: '* * * * *' } });
    await db.pool.query(`update app_public.reviews set rating = rating where tenant_id = $1`, [tenant]);
    const status = await waitFor(
      async () => {
        const { rows } = await asRole(db, 'app_admin', {}, (client) =>
          client.query(`select * from app_public.scheduler_status where task_identifier = 'start_review_scoring'`),
        );
        return rows[0]?.last_batch_id ? rows[0] : null;
      },
      { timeoutMs: 75_000, intervalMs: 500, what: 'the crontab to start a run' },
    );
    expect(status).toMatchObject({ schedule: '* * * * *', is_late: false });
    expect(status.next_run_at.getTime()).toBeGreaterThan(status.last_run_at.getTime());
    expect(status.last_batch_id).not.toBeNull();
  }, 90_000);
});
