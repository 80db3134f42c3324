// bench:scoring: a whole review scoring run over 1,000,000 generated reviews (features, inference,
// writes), next to the naive way (one review at a time: read it, score it, UPDATE it) on 20,000
// reviews in the same run, and the seller run over 10,000 sellers that follows.
//
//   npm run bench:scoring                                # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:scoring
//   BENCH_REVIEWS=100000 npm run bench:scoring           # a quick run
//
// The last line printed is one JSON object with every figure.
import { generateMarketplace } from '../server/demo/generate.ts';
import { activeModel, trainAndStoreReviewScorer } from '../server/ml/models.ts';
import { FEATURE_COUNT, featurize, type ReviewFeatureRow } from '../server/ml/review_features.ts';
import { scoreReviews } from '../server/ml/scoring.ts';
import { startFinishline, waitFor } from '../test/processes.ts';
import { keepOutput, openBenchDatabase, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, stillRunning, within, workerRegistered } from './support.ts';

const REVIEWS = positiveIntegerFromEnv('BENCH_REVIEWS', 1_000_000);
/** Chunk jobs the worker runs at once (WORKER_CONCURRENCY of the worker it starts). */
const CONCURRENCY = positiveIntegerFromEnv('BENCH_CONCURRENCY', 2);
const SELLERS = Math.max(10, Math.round(REVIEWS / 100));
const PRODUCTS = SELLERS * 10;
const NAIVE_REVIEWS = Math.min(20_000, REVIEWS);
const TARGET_SECONDS = 60;
const TARGET_SPEEDUP = 20;
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<Record<string, unknown>> {
  const bench = await openBenchDatabase('scoring');
  const { client, url: dbUrl, serverVersion: server_version } = bench;
  let started = performance.now();
  const { rows: [tenant] } = await client.query<{ id: string }>(`insert into app_public.tenants (name) values ('bench') returning id`);
  await generateMarketplace(client, { tenantId: tenant.id, sellers: SELLERS, products: PRODUCTS, reviews: REVIEWS, seed: 1 });
  // The new products enqueued a recommender retrain: not what this measures, and it would share
  // the worker with the scoring run.
  await client.query(`select graphile_worker.remove_job('retrain_recommender')`);
  await client.query('analyze');
  say(`generated ${SELLERS} sellers, ${PRODUCTS} products, ${REVIEWS} reviews in ${((performance.now() - started) / 1000).toFixed(1)} s; PostgreSQL ${server_version}`);

  started = performance.now();
  const trained = await trainAndStoreReviewScorer(client);
  if (!trained) throw new Error('no labelled reviews to train on');
  const trainSeconds = (performance.now() - started) / 1000;
  say(`training:             ${trainSeconds.toFixed(1)} s on ${trained.metrics.training_rows} rows, held-out AUC ${Number(trained.metrics.auc).toFixed(3)}`);

  // Naive baseline: one review at a time, in this process, with the same model.
  const model = (await activeModel(client, 'review_scorer'))!;
  const { rows: sample } = await client.query<{ id: string }>('select id from app_public.reviews order by id limit $1', [NAIVE_REVIEWS]);
  started = performance.now();
  for (const { id } of sample) {
    const { rows } = await client.query<ReviewFeatureRow>('select * from app_private.review_features(array[$1::uuid])', [id]);
    const [score] = await scoreReviews(model.session, featurize(rows), 1, FEATURE_COUNT);
    await client.query(
      `insert into app_public.review_scores (review_id, tenant_id, score, model_version_id) values ($1, $2, $3, $4)
       on conflict (review_id) do update set score = excluded.score, model_version_id = excluded.model_version_id, scored_at = now()`,
      [id, tenant.id, score, model.id],
    );
  }
  const naiveSeconds = (performance.now() - started) / 1000;
  const naivePerS = NAIVE_REVIEWS / naiveSeconds;
  say(`naive baseline:       ${naivePerS.toFixed(0)} reviews/s (${NAIVE_REVIEWS} reviews one at a time, ${naiveSeconds.toFixed(1)} s)`);
  // Those scores count as stale for the run below, which scores everything.
  await client.query('truncate app_public.review_scores');

  // (LOG_LEVEL info: the worker says it started at info, and logs nothing per job there.)
  const worker = await startFinishline('worker', { DATABASE_URL: dbUrl, WORKER_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'info' }, {
    ready: workerRegistered(client),
  });
  keepOutput('finishline worker', worker);

  started = performance.now();
  const { rows: [run] } = await client.query<{ id: string; total_items: number }>(
    'select id, total_items from app_private.start_review_scoring($1)',
    [tenant.id],
  );
  const finishedAt = await waitFor(async () => {
    const { rows } = await client.query<{ finished_at: Date | null; status: string }>('select finished_at, status from app_public.batches where id = $1', [run.id]);
    return rows[0].finished_at && rows[0];
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 100, what: 'the review run', stillRunning: stillRunning(worker) });
  const runSeconds = (performance.now() - started) / 1000;
  const { rows: [{ scored }] } = await client.query<{ scored: number }>('select count(*)::int as scored from app_public.review_scores');
  if (finishedAt.status !== 'completed' || scored !== REVIEWS) throw new Error(`review run ${finishedAt.status} with ${scored} scores`);
  const runPerS = REVIEWS / runSeconds;
  const speedup = runPerS / naivePerS;
  say(`scoring run:          ${runPerS.toFixed(0)} reviews/s (${REVIEWS} reviews in ${run.total_items} chunks, ${runSeconds.toFixed(1)} s; target < ${TARGET_SECONDS} s) ${runSeconds < TARGET_SECONDS ? 'ok' : 'MISSED'}`);
  say(`speed-up over naive:  ${speedup.toFixed(1)}x (target >= ${TARGET_SPEEDUP}x) ${speedup >= TARGET_SPEEDUP ? 'ok' : 'MISSED'}`);

  const sellerRun = await waitFor(async () => {
    const { rows } = await client.query<{ started: Date; finished_at: Date | null; total_items: number }>(
      `select created_at as started, finished_at, total_items from app_public.batches where kind = 'score_sellers' order by created_at desc limit 1`,
    );
    return rows[0]?.finished_at && rows[0];
  }, { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 100, what: 'the seller run', stillRunning: stillRunning(worker) });
  const sellerSeconds = (sellerRun.finished_at!.getTime() - sellerRun.started.getTime()) / 1000;
  say(`seller run:           ${SELLERS} sellers in ${sellerSeconds.toFixed(2)} s (${sellerRun.total_items} chunks)`);
  await within('stopping the worker', worker.stop());

  return {
    reviews: REVIEWS,
    sellers: SELLERS,
    products: PRODUCTS,
    training_seconds: Number(trainSeconds.toFixed(2)),
    holdout_auc: Number(Number(trained.metrics.auc).toFixed(4)),
    run_seconds: Number(runSeconds.toFixed(2)),
    run_reviews_per_s: Math.round(runPerS),
    naive_reviews: NAIVE_REVIEWS,
    naive_reviews_per_s: Math.round(naivePerS),
    speedup: Number(speedup.toFixed(1)),
    seller_run_seconds: Number(sellerSeconds.toFixed(2)),
    worker_concurrency: CONCURRENCY,
    postgres_version: server_version,
  };
}

runBench('bench:scoring', main);
