// bench:recommender — full retrain time for 1,000, 10,000 and 100,000 products (read, embed,
// search and store), next to a brute-force nearest-neighbour search in plain TypeScript over the
// same embeddings in the same run; then the time from one product change to its recommendations
// being updated, with a worker running and the debounce set to 0.
//
// DATABASE_URL names the server (a scratch database is created on it); unset, an embedded one.
// RECOMMENDER_SIZES overrides the catalogue sizes (comma-separated).
import { generateMarketplace } from '../server/demo/generate.ts';
import { EMBEDDING_DIMENSIONS, NEIGHBOURS, corpusTensor, embedProducts, nearestNeighbours, recommenderModels, retrainRecommender } from '../server/ml/recommender.ts';
import { startFinishline, waitFor } from '../test/processes.ts';
import { keepOutput, openBenchDatabase, runBench, stillRunning, within, workerRegistered } from './support.ts';

const SIZES = (process.env.RECOMMENDER_SIZES ?? '1000,10000,100000').split(',').map(Number);
/** Above this many products the baseline searches a sample of queries and scales up. */
const BASELINE_FULL_LIMIT = 10_000;
const BASELINE_SAMPLE = 1_000;
const CHANGES = 5;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** Plain TypeScript: every query against every product, keeping the best NEIGHBOURS + 1. */
function bruteForce(embeddings: Float32Array, n: number, queries: number): number {
  const k = Math.min(NEIGHBOURS + 1, n);
  const best = new Float32Array(k);
  let checksum = 0;
  for (let q = 0; q < queries; q++) {
    best.fill(-Infinity);
    const qOffset = q * EMBEDDING_DIMENSIONS;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      const jOffset = j * EMBEDDING_DIMENSIONS;
      for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) dot += embeddings[qOffset + d] * embeddings[jOffset + d];
      if (dot > best[k - 1]) {
        let i = k - 1;
        while (i > 0 && best[i - 1] < dot) {
          best[i] = best[i - 1];
          i--;
        }
        best[i] = dot;
      }
    }
    checksum += best[k - 1];
  }
  return checksum;
}

async function main(): Promise<Record<string, unknown>> {
  const bench = await openBenchDatabase('recommender');
  const { client } = bench;
  say(`PostgreSQL ${bench.serverVersion}; sizes ${SIZES.join(', ')}; ${EMBEDDING_DIMENSIONS}-dimensional embeddings, ${NEIGHBOURS} neighbours`);
  await recommenderModels();
  const figures: Record<string, number> = {};
  const tenants: Record<number, string> = {};
  for (const size of SIZES) {
    const { rows: [tenant] } = await client.query<{ id: string }>('insert into app_public.tenants (name) values ($1) returning id', [`bench-${size}`]);
    tenants[size] = tenant.id;
    await generateMarketplace(client, { tenantId: tenant.id, sellers: Math.max(5, size / 50), products: size, reviews: 0, seed: size });
    const started = performance.now();
    const outcome = await retrainRecommender(client);
    const seconds = (performance.now() - started) / 1000;
    const approved = Number(outcome.metrics.products);

    const { rows } = await client.query(
      'select * from app_private.recommender_product_texts(array(select id from app_private.recommender_products($1)))',
      [tenant.id],
    );
    const { embedding, search } = await recommenderModels();
    const embeddings = await embedProducts(embedding, rows);
    const all = rows.map((_, i) => i);
    const searchStarted = performance.now();
    await nearestNeighbours(search, embeddings, all, corpusTensor(embeddings, all), Math.min(NEIGHBOURS + 1, approved));
    const searchSeconds = (performance.now() - searchStarted) / 1000;
    const queries = Math.min(approved, approved > BASELINE_FULL_LIMIT ? BASELINE_SAMPLE : approved);
    const baselineStarted = performance.now();
    bruteForce(embeddings, approved, queries);
    const baselineSeconds = ((performance.now() - baselineStarted) / 1000) * (approved / queries);
    say(
      `${String(size).padStart(7)} products (${approved} approved): full retrain ${seconds.toFixed(2)} s` +
        ` (${outcome.metrics.seconds} s before the write); its ONNX search alone ${searchSeconds.toFixed(2)} s,` +
        ` brute-force TypeScript search ${baselineSeconds.toFixed(2)} s` +
        (queries < approved ? ` (estimated from ${queries} queries)` : '') +
        ` (${(baselineSeconds / searchSeconds).toFixed(1)}× slower)`,
    );
    figures[`retrain_seconds_${size}`] = Number(seconds.toFixed(2));
    figures[`search_seconds_${size}`] = Number(searchSeconds.toFixed(2));
    figures[`baseline_search_seconds_${size}`] = Number(baselineSeconds.toFixed(2));
  }

  // One change → its recommendations, through the triggers, the job queue and a worker.
  // (LOG_LEVEL info: the worker says it started at info, and logs nothing per job there.)
  const worker = await startFinishline('worker', { DATABASE_URL: bench.url, WORKER_CONCURRENCY: '2', LOG_LEVEL: 'info', RETRAIN_DEBOUNCE_SECONDS: '0' }, {
    ready: workerRegistered(client),
  });
  keepOutput('finishline worker', worker);
  for (const size of SIZES.filter((s) => s <= 100_000)) {
    const latencies: number[] = [];
    const { rows: products } = await client.query<{ id: string }>(
      `select id from app_public.products where tenant_id = $1 and status = 'approved' order by id limit $2`,
      [tenants[size], CHANGES * 2],
    );
    for (let i = 0; i < CHANGES; i++) {
      const [product, twin] = [products[2 * i].id, products[2 * i + 1].id];
      // The twin becomes an exact copy of the product: it must come first in its list.
      const started = performance.now();
      await client.query(
        `update app_public.products t set name = p.name, description = p.description, category = p.category, price = p.price,
           status = 'approved' from app_public.products p where p.id = $1 and t.id = $2`,
        [product, twin],
      );
      await waitFor(async () => {
        const { rows } = await client.query('select id from app_public.recommendations_for($1, 1)', [product]);
        return rows[0]?.id === twin;
      }, { timeoutMs: 60_000, intervalMs: 10, what: 'the change to show', stillRunning: stillRunning(worker) });
      latencies.push((performance.now() - started) / 1000);
    }
    latencies.sort((a, b) => a - b);
    say(`${String(size).padStart(7)} products: one change visible after ${latencies.map((s) => s.toFixed(2)).join(', ')} s (debounce 0)`);
    figures[`change_visible_median_seconds_${size}`] = Number(latencies[Math.floor(latencies.length / 2)].toFixed(2));
    figures[`change_visible_max_seconds_${size}`] = Number(latencies[latencies.length - 1].toFixed(2));
  }
  await within('stopping the worker', worker.stop());
  return { ...figures, dimensions: EMBEDDING_DIMENSIONS, neighbours: NEIGHBOURS, postgres_version: bench.serverVersion };
}

runBench('bench:recommender', main);
