// The database blinks while a batch runs: restarts (clean and crashed), a failover that leaves
// the connections open to the old server unanswered, every connection of the worker terminated,
// and ten seconds of connections killed again and again. Each fault is tried FAULT_REPEATS times
// (5) on a cluster of this file's own, against a real worker and server, and counted, not
// sampled: every item succeeded on its first attempt, the batch finalized once and was summarised
// once, it finished within 15 s of the database coming back (25 after a failover), both
// processes are still running and healthy (a client followed the batch's progress over graphql-ws
// through the fault), and subscribing again gets the batch's final state.
import { createClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { blackhole } from './blackhole.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres_cluster.ts';
import { startServerProcess, startWorkerProcess, TEST_JWT_SECRET, waitFor, type ServerProcess, type TestDatabase, type WorkerProcess } from './helpers.ts';

const REPEATS = Number(process.env.FAULT_REPEATS ?? 5);
const ITEMS = 20_000;
/** Slow enough that a fault lands in the middle of the batch. */
const SLEEP_MS = 50;

/** Strikes; what it returns undoes what must last until the batch has finished. */
type Fault = (cluster: PostgresCluster) => Promise<void | (() => Promise<void>)>;
const FAULTS: Record<string, Fault> = {
  'pg_ctl restart -m fast': (cluster) => cluster.restart('fast'),
  'pg_ctl restart -m immediate': (cluster) => cluster.restart('immediate'),
  'every backend of the worker terminated once': async (cluster) => {
    await cluster.terminate(`application_name = 'finishline worker'`);
  },
  // A failover to another machine at the same address: the connections open to the old one are
  // never answered again, nor closed (their packets are dropped until the run is over), while new
  // connections reach the new server. (The test's own connections are spared: they watch.)
  'a failover: the connections open to the old server never answered again': async (cluster) => {
    const client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    const letThrough = await blackhole(client, `application_name like 'finishline %'`).finally(() => client.end());
    await cluster.restart('immediate');
    return letThrough;
  },
  '10 s of flapping (terminated every 0.3-0.5 s)': async (cluster) => {
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      await cluster.terminate(`application_name = 'finishline worker'`).catch(() => 0);
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 200));
    }
  },
};

/**
 * Seconds the batch may take to finish once the database is back, where not 15: after a failover
 * the worker first waits UNANSWERED_AFTER_MS (10 s) for a heartbeat's answer that never comes.
 */
const SECONDS_TO_FINISH: Record<string, number> = { 'a failover: the connections open to the old server never answered again': 25 };

interface Count {
  runs: number;
  items: number;
  succeeded: number;
  attemptsSpentOnFaults: number;
  finalizations: number;
  summaries: number;
  worstSecondsAfterBack: number;
}
const counts: Record<string, Count> = {};

afterAll(() => {
  // The counts, as a table in the test output.
  console.log(['fault | runs | items | succeeded | attempts spent on faults | finalizations | summaries | worst s to finish after the database was back',
    ...Object.entries(counts).map(([fault, c]) => `${fault} | ${c.runs} | ${c.items} | ${c.succeeded} | ${c.attemptsSpentOnFaults} | ${c.finalizations} | ${c.summaries} | ${c.worstSecondsAfterBack.toFixed(1)}`)].join('\n'));
});

/** Counts the terminal-state notifications of one batch: one per finalization. Reconnects after a restart. */
function countFinalizations(cluster: PostgresCluster, channel: string) {
  let finalizations = 0;
  let stopped = false;
  const seen: string[] = [];
  let client: pg.Client | undefined;
  // One connection at a time: connect, listen, wait for it to end, and again.
  const listen = async (): Promise<void> => {
    while (!stopped) {
      const candidate = new pg.Client({ connectionString: cluster.url(), application_name: 'fault test listener' });
      candidate.on('error', () => {});
      const ended = new Promise<void>((resolve) => candidate.once('end', () => resolve()));
      candidate.on('notification', (message) => {
        if (process.env.FAULT_DEBUG) seen.push(message.payload ?? '');
        if (/^(completed|completed_with_errors|cancelled):/.test(message.payload ?? '')) finalizations++;
      });
      try {
        await candidate.connect();
        await candidate.query(`listen "${channel}"`);
        client = candidate;
        await ended;
      } catch {
        await candidate.end().catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  void listen();
  return {
    count: () => finalizations,
    async stop() {
      stopped = true;
      if (process.env.FAULT_DEBUG) console.log('NOTIFICATIONS', seen.slice(-12).join(' '));
      await client?.end().catch(() => {});
    },
  };
}

/**
 * A client following a batch's progress over graphql-ws, as the dashboard does: the last state
 * it heard, and how its stream ended.
 */
function followProgress(serverUrl: string, token: string, batchId: string) {
  let last: { status: string; succeededItems: number } | undefined;
  const client = createClient({
    url: serverUrl.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  const ended = new Promise<string>((resolve) => client.subscribe(
    { query: 'subscription($id: UUID!) { batchProgress(batchId: $id) { status succeededItems } }', variables: { id: batchId } },
    {
      next: (message) => void (message.data && (last = (message.data as { batchProgress: typeof last }).batchProgress)),
      error: (error) => resolve(`error: ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      complete: () => resolve('complete'),
    }));
  return { last: () => last, ended, dispose: () => client.dispose() };
}

/**
 * Asks the server for the batch's status over GraphQL, as many clients at once as its pool has
 * connections: what it answered (the status, or the error's code) and after how many seconds.
 */
async function askStatus(serverUrl: string, token: string, batchId: string, clients: number) {
  return Promise.all(Array.from({ length: clients }, async () => {
    const asked = Date.now();
    const response = await fetch(`${serverUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'query($id: UUID!) { batchStatusSummaryByBatchId(batchId: $id) { status } }', variables: { id: batchId } }),
    });
    const body = await response.json() as { data?: { batchStatusSummaryByBatchId: { status: string } }; errors?: { extensions?: { code?: string } }[] };
    return { answer: body.data?.batchStatusSummaryByBatchId?.status ?? body.errors?.[0]?.extensions?.code, seconds: (Date.now() - asked) / 1000 };
  }));
}

/** GRAPHQL_POOL_SIZE's default: the connections a burst of requests spreads over. */
const GRAPHQL_POOL_SIZE = 10;

for (const [fault, inject] of Object.entries(FAULTS)) {
  describe(fault, () => {
    let cluster: PostgresCluster;
    let target: TestDatabase;
    let worker: WorkerProcess;
    let server: ServerProcess;
    let tenant: string;
    let token: string;

    beforeAll(async () => {
      cluster = await startPostgresCluster({ like: process.env.TEST_DATABASE_URL });
      const pool = new pg.Pool({ connectionString: cluster.url(), max: 4, application_name: 'fault test' });
      pool.on('error', () => {});
      target = { name: 'finishline', url: cluster.url(), pool };
      tenant = (await pool.query<{ id: string }>(`insert into app_public.tenants (name) values ('faults') returning id`)).rows[0].id;
      token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'faults' });
      worker = await startWorkerProcess(target);
      server = await startServerProcess(target);
      counts[fault] = { runs: 0, items: 0, succeeded: 0, attemptsSpentOnFaults: 0, finalizations: 0, summaries: 0, worstSecondsAfterBack: 0 };
    });
    afterAll(async () => {
      if (process.env.FAULT_DEBUG) console.log('WORKER OUTPUT\n' + worker.output().split('\n').filter((l) => !l.includes('"level":"info"') || l.includes('tarting') || l.includes('topp')).slice(-60).join('\n'));
      await server?.stop();
      await worker?.stop();
      await target?.pool.end();
      await cluster?.remove();
    });

    test.each(Array.from({ length: REPEATS }, (_, i) => i + 1))(`run %i: every item succeeds on its first attempt, the batch finishes once`, async () => {
      const { pool } = target;
      const client = await pool.connect();
      let batchId: string;
      try {
        await client.query('begin');
        await client.query(`select set_config('role', 'app_user', true), set_config('jwt.claims.tenant_id', $1, true)`, [tenant]);
        ({ rows: [{ id: batchId }] } = await client.query<{ id: string }>(
          `select id from app_public.submit_batch('noop', (select jsonb_agg(jsonb_build_object('sleep_ms', $1::int)) from generate_series(1, $2)))`,
          [SLEEP_MS, ITEMS]));
        await client.query('commit');
      } finally {
        client.release();
      }
      const { rows: [{ channel }] } = await pool.query<{ channel: string }>(
        `select 'batch_progress:' || md5(tenant_id || ':' || id) as channel from app_public.batches where id = $1`, [batchId]);
      const finalizations = countFinalizations(cluster, channel);
      // A client follows the batch's progress through the fault.
      const following = followProgress(server.url, token, batchId);
      let undo: void | (() => Promise<void>) = undefined;
      try {
        // The fault strikes once a quarter of the items are done.
        await waitFor(async () => {
          if (worker.exitCode() !== null) throw new Error(`the worker exited:\n${worker.output().slice(-3000)}`);
          const { rows } = await pool.query<{ done: number }>('select succeeded_items + failed_items as done from app_public.batch_status_summary where batch_id = $1', [batchId]);
          return rows[0].done >= ITEMS / 4;
        }, { timeoutMs: 60_000, intervalMs: 100, what: 'a quarter of the batch' });
        // Requests just before the fault leave the server's GraphQL connections open and idle;
        // those right after it are sent on them.
        await askStatus(server.url, token, batchId, GRAPHQL_POOL_SIZE);
        undo = await inject(cluster);
        const back = Date.now();
        const asked = askStatus(server.url, token, batchId, GRAPHQL_POOL_SIZE);

        const finished = await waitFor(async () => {
          try {
            const { rows } = await pool.query<{ finished_at: Date | null; has_summary: boolean }>(
              'select finished_at, has_summary from app_public.batch_status_summary where batch_id = $1', [batchId]);
            return rows[0].finished_at && rows[0].has_summary ? rows[0] : null;
          } catch {
            return null;
          }
        }, { timeoutMs: 60_000, intervalMs: 100, what: 'the batch to finish with its summary' }).catch(async (error: Error) => {
          // What the worker said, and where the batch stands: what a failure here needs to be understood.
          const status = await pool.query('select * from app_public.batch_status_summary where batch_id = $1', [batchId]).then((r) => r.rows[0], () => null);
          const notes = worker.output().split('\n').filter((line) => line && !line.includes('"level":"info"')).slice(-40).join('\n');
          throw new Error(`${error.message}\nbatch: ${JSON.stringify(status)}\nworker (warnings and errors, last 40):\n${notes}`);
        });

        const { rows: [items] } = await pool.query<{ n: number; succeeded: number; over_one: number }>(
          `select count(*)::int as n, count(*) filter (where status = 'succeeded')::int as succeeded,
             coalesce(sum(attempts - 1) filter (where attempts > 1), 0)::int as over_one
           from app_public.batch_items where batch_id = $1`, [batchId]);
        const { rows: [{ summaries }] } = await pool.query<{ summaries: number }>('select count(*)::int as summaries from app_public.run_summaries where batch_id = $1', [batchId]);
        await new Promise((resolve) => setTimeout(resolve, 500));
        const secondsAfterBack = (finished.finished_at!.getTime() - back) / 1000;
        if (process.env.FAULT_DEBUG) console.log('REPAIRS', JSON.stringify((await pool.query('select repair, details from app_private.sweeper_repairs order by id desc limit 5')).rows));

        const count = counts[fault];
        count.runs++;
        count.items += items.n;
        count.succeeded += items.succeeded;
        count.attemptsSpentOnFaults += items.over_one;
        count.finalizations += finalizations.count();
        count.summaries += summaries;
        count.worstSecondsAfterBack = Math.max(count.worstSecondsAfterBack, secondsAfterBack);

        expect(items).toEqual({ n: ITEMS, succeeded: ITEMS, over_one: 0 });
        expect(finalizations.count()).toBe(1);
        expect(summaries).toBe(1);
        expect(secondsAfterBack).toBeLessThan(SECONDS_TO_FINISH[fault] ?? 15);
        // Every request sent right after the fault was answered: the batch's status, or the
        // coded "the database is unavailable" (a client's cue to ask again), never a hang.
        if (process.env.FAULT_DEBUG) console.log('ANSWERS', JSON.stringify(await asked));
        for (const { answer, seconds } of await asked) {
          expect(answer).toMatch(/^(processing|completed|FLDBU)$/);
          expect(seconds).toBeLessThan(20);
        }
        // Both processes still run, and say they are healthy.
        expect(worker.exitCode()).toBeNull();
        expect(server.exitCode()).toBeNull();
        await waitFor(async () => (await fetch(`${server.url}/health`)).status === 200, { timeoutMs: 15_000, what: '/health to be 200' });
        // The client's stream went on to the batch's end, or ended with the listening connection;
        // subscribing again then gets the final state.
        const again = followProgress(server.url, token, batchId);
        try {
          expect(await again.ended).toBe('complete');
          expect(again.last()).toEqual({ status: 'completed', succeededItems: ITEMS });
        } finally {
          await again.dispose();
        }
      } finally {
        await undo?.();
        await finalizations.stop();
        await following.dispose();
      }
    });

    test('every line the worker and the server logged is one JSON object', () => {
      for (const output of [worker.output(), server.output()]) {
        const notJson = output.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
        expect(notJson.slice(0, 10)).toEqual([]);
      }
    });
  });
}
