// bench:scale: what more `finishline worker` processes buy, and what they cost in connections.
//
//   npm run bench:scale                                    # embedded PostgreSQL in a temporary directory
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:scale
//   BENCH_SCALE_ITEMS=20000 npm run bench:scale            # a quick run
//
// For 1, 2 and 4 workers (each at the default WORKER_CONCURRENCY 4, all started and registered
// before the batch goes in), one batch of BENCH_SCALE_ITEMS `noop` items, inserted as plain SQL by
// the owner, twice: items that sleep 20 ms (`sleep20`: waiting, as items calling out do) and items
// that do nothing (`noop`: the engine's own cost per item). Items/s is the batch's items over its
// created_at to finished_at (database time: the submitting transaction to the one that recorded
// its last item). The baseline is the same run's one worker; `speedup_4` is 4 workers against it.
// Every setup's finishline connections to the database are sampled from pg_stat_activity while its
// batch runs: the peak, in all and by application_name, against what the README's connection table
// allows (2 x WORKER_CONCURRENCY + 5 a worker; pools open connections only as they need them).
//
// On a 2-core machine the noop figures are bound by the cores, which the database and every worker
// share: more workers cannot do more there. The sleep20 ones show the slots added.
//
// Human-readable lines first; the last line on stdout is one JSON object with every figure.
import pg from 'pg';
import { startFinishline, waitFor, type FinishlineProcess } from '../test/processes.ts';
import { insertNoopBatches, keepOutput, openBenchDatabase, PHASE_TIMEOUT_MS, positiveIntegerFromEnv, runBench, scalar, stillRunning, within, type BenchDatabase } from './support.ts';

const ITEMS = positiveIntegerFromEnv('BENCH_SCALE_ITEMS', 100_000);
const WORKER_COUNTS = [1, 2, 4] as const;
const WORKLOADS = { sleep20: 20, noop: 0 } as const;
/** finishline's default, spelled out so the children do not inherit a WORKER_CONCURRENCY of ours. */
const WORKER_CONCURRENCY = 4;
const SAMPLE_MS = 200;
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Connections {
  peak: number;
  /** The peak of each application_name, seen at any sample. */
  byApplication: Record<string, number>;
}

/** Samples the database's connections until `stop` is called; resolves with the peaks. */
function sampleConnections(url: string): { stop(): Promise<Connections> } {
  const client = new pg.Client({ connectionString: url, application_name: 'bench:scale sampler' });
  const seen: Connections = { peak: 0, byApplication: {} };
  let sampling = true;
  const done = (async () => {
    await client.connect();
    try {
      while (sampling) {
        const { rows } = await client.query<{ application_name: string; n: number }>(
          `select application_name, count(*)::int as n from pg_stat_activity
           where datname = current_database() and application_name like 'finishline%' group by application_name`);
        seen.peak = Math.max(seen.peak, rows.reduce((sum, row) => sum + row.n, 0));
        for (const row of rows) seen.byApplication[row.application_name] = Math.max(seen.byApplication[row.application_name] ?? 0, row.n);
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    async stop() {
      sampling = false;
      await done;
      return seen;
    },
  };
}

interface Setup {
  workers: number;
  workload: keyof typeof WORKLOADS;
  itemsPerSecond: number;
  seconds: number;
  connections: Connections;
}

async function runSetup(bench: BenchDatabase, tenantId: string, workers: number, workload: keyof typeof WORKLOADS): Promise<Setup> {
  const db = bench.client;
  const registered = (n: number) => async () => (await scalar<number>(db, 'select count(*)::int as value from app_private.workers')) === n;
  await waitFor(registered(0), { what: 'the previous setup\'s workers to be forgotten' }).catch(async (error: Error) => {
    const { rows } = await db.query('select id, pid, started_at, last_seen_at, now() as now from app_private.workers');
    throw new Error(`${error.message}: ${JSON.stringify(rows)}`);
  });
  const env = { DATABASE_URL: bench.url, WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), LOG_LEVEL: 'info' };
  const started: FinishlineProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const worker = await startFinishline('worker', env);
    keepOutput(`finishline worker ${i + 1} (${workers} workers, ${workload})`, worker);
    started.push(worker);
  }
  const anyExited = () => started.forEach((worker) => stillRunning(worker)());
  await waitFor(registered(workers), { what: `${workers} workers to register`, stillRunning: anyExited });
  const sampler = sampleConnections(bench.url);
  const [batchId] = await insertNoopBatches(db, tenantId, { items: ITEMS, sleepMs: WORKLOADS[workload] });
  await waitFor(async () => (await scalar<number>(db,
    'select count(*)::int as value from app_public.batch_status_summary where batch_id = $1 and finished_at is not null and has_summary', [batchId])) === 1,
  { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 100, what: `the batch (${workers} workers, ${workload}) to finish`, stillRunning: anyExited });
  const connections = await sampler.stop();
  await Promise.all(started.map((worker) => worker.stop()));
  const { rows: [row] } = await db.query<{ status: string; succeeded: number; seconds: number }>(
    `select s.status, s.succeeded_items as succeeded, extract(epoch from b.finished_at - b.created_at)::float as seconds
     from app_public.batches b join app_public.batch_status_summary s on s.batch_id = b.id where b.id = $1`, [batchId]);
  if (row.status !== 'completed' || row.succeeded !== ITEMS) throw new Error(`batch ${batchId} ended ${row.status} with ${row.succeeded} of ${ITEMS} items succeeded`);
  // Each setup starts on a tidy database, as the first did.
  await db.query('vacuum analyze app_public.batch_items, app_public.batches, graphile_worker._private_jobs');
  const itemsPerSecond = ITEMS / row.seconds;
  const byApplication = Object.entries(connections.byApplication).map(([name, n]) => `${name} ${n}`).join(', ');
  say(`  ${workers} worker${workers > 1 ? 's' : ''}, ${workload}: ${Math.round(itemsPerSecond)} items/s (${row.seconds.toFixed(1)} s); ` +
    `connections at most ${connections.peak} (${byApplication})`);
  return { workers, workload, itemsPerSecond, seconds: row.seconds, connections };
}

runBench('bench:scale', async () => {
  const bench = await within('creating the database', openBenchDatabase('scale'));
  const tenantId = (await bench.client.query<{ id: string }>(`insert into app_public.tenants (name) values ('bench-scale') returning id`)).rows[0].id;
  say(`bench:scale: PostgreSQL ${bench.serverVersion}; batches of ${ITEMS} noop items; workers at WORKER_CONCURRENCY ${WORKER_CONCURRENCY}`);
  const figures: Record<string, unknown> = {};
  for (const workload of Object.keys(WORKLOADS) as Array<keyof typeof WORKLOADS>) {
    say(`${workload} (items ${WORKLOADS[workload] ? `sleep ${WORKLOADS[workload]} ms` : 'do nothing'}):`);
    const setups: Setup[] = [];
    for (const workers of WORKER_COUNTS) setups.push(await within(`${workers} workers, ${workload}`, runSetup(bench, tenantId, workers, workload)));
    for (const setup of setups) {
      figures[`${workload}_items_per_s_${setup.workers}`] = Math.round(setup.itemsPerSecond);
      figures[`${workload}_connections_${setup.workers}`] = setup.connections.peak;
    }
    const speedup = setups[setups.length - 1].itemsPerSecond / setups[0].itemsPerSecond;
    figures[`${workload}_speedup_4`] = Number(speedup.toFixed(2));
    say(`  4 workers against 1: ${speedup.toFixed(2)}x`);
  }
  return { ...figures, items: ITEMS, worker_concurrency: WORKER_CONCURRENCY, postgres_version: bench.serverVersion };
});
