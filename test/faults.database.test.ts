// The database blinks while a batch runs: restarts (clean and crashed), a failover that leaves
// the connections open to the old server unanswered, every connection of the worker terminated,
// ten seconds of connections killed again and again, and writes refused for a while. Each fault
// is tried FAULT_REPEATS times (5) on a cluster of this file's own, against a real worker and
// server, and counted, not sampled: every item succeeded on its first attempt, the batch
// finalized once and was summarised once, it finished within 15 s of the database coming back
// (25 after a failover), both processes are still running and healthy (a client followed the
// batch's progress over graphql-ws through the fault), subscribing again gets the batch's final
// state, and neither logged an error. Then `finishline status --watch` through an outage, a
// connection cut mid-answer and an expiring token; and settings an operator may give the
// database: an idle_session_timeout, serializable as the default isolation, and other date and
// interval styles.
import { createClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { blackhole } from './blackhole.ts';
import { startConnectionCutter } from './connection_cutter.ts';
import { startPostgresCluster, type PostgresCluster } from './postgres_cluster.ts';
import { createTenant, graphql, lastLogLine, runCli, startServerProcess, startWorkerProcess, TEST_JWT_SECRET, useTestDatabase, waitFor, type ServerProcess, type TestDatabase, type WorkerProcess } from './helpers.ts';

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
  // What a failover can leave for a moment (the address still on the old primary, now a standby),
  // or a guard against a full disk: every connection stays up, every write is refused (25006).
  'read-only for 3 s (default_transaction_read_only)': async (cluster) => {
    const client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    try {
      await client.query('alter system set default_transaction_read_only = on');
      await client.query('select pg_reload_conf()');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await client.query('alter system reset default_transaction_read_only');
      await client.query('select pg_reload_conf()');
    } finally {
      await client.end();
    }
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

/** A PostgreSQL cluster of its own (a fault takes it down), with finishline's database on it as a test target. */
async function faultTarget(poolSize: number): Promise<{ cluster: PostgresCluster; target: TestDatabase }> {
  const cluster = await startPostgresCluster({ like: process.env.TEST_DATABASE_URL });
  const pool = new pg.Pool({ connectionString: cluster.url(), max: poolSize, application_name: 'fault test' });
  pool.on('error', () => {});
  return { cluster, target: { name: 'finishline', url: cluster.url(), pool } };
}

for (const [fault, inject] of Object.entries(FAULTS)) {
  describe(fault, () => {
    let cluster: PostgresCluster;
    let target: TestDatabase;
    let worker: WorkerProcess;
    let server: ServerProcess;
    let tenant: string;
    let token: string;

    beforeAll(async () => {
      ({ cluster, target } = await faultTarget(4));
      tenant = (await target.pool.query<{ id: string }>(`insert into app_public.tenants (name) values ('faults') returning id`)).rows[0].id;
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

    // An operator pages on error lines: an outage both processes ride out says warnings only
    // (connections lost, reconnecting), its libraries' lines included.
    test('nothing was logged at level error', () => {
      for (const output of [worker.output(), server.output()]) {
        const errors = output.split('\n').filter((line) => line.startsWith('{') && JSON.parse(line).level === 'error');
        expect(errors.slice(0, 10)).toEqual([]);
      }
    });
  });
}

// `finishline status --watch` follows a batch to its summary, straight from the database or through
// the server with a token: the database going away while it watches is waited out, not an exit;
// a token that expires ends it, with what to do next.
describe('finishline status --watch, when its database or its token goes away', () => {
  let cluster: PostgresCluster;
  let target: TestDatabase;
  let worker: WorkerProcess;
  let server: ServerProcess;

  beforeAll(async () => {
    ({ cluster, target } = await faultTarget(2));
    worker = await startWorkerProcess(target);
    server = await startServerProcess(target);
  });
  afterAll(async () => {
    await server?.stop();
    await worker?.stop();
    await target?.pool.end();
    await cluster?.remove();
  });

  /** A new tenant with one noop batch of `items` items sleeping `sleepMs` each. */
  async function tenantWithBatch(name: string, items: number, sleepMs: number): Promise<{ tenant: string; batch: { id: string } }> {
    const tenant = (await target.pool.query<{ id: string }>(`insert into app_public.tenants (name) values ($1) returning id`, [name])).rows[0].id;
    const { rows: [batch] } = await target.pool.query<{ id: string }>(`
      with b as (insert into app_public.batches (tenant_id, kind) values ($1, 'noop') returning id),
        items as (insert into app_public.batch_items (batch_id, tenant_id, payload)
          select b.id, $1, jsonb_build_object('sleep_ms', $3::int) from b, generate_series(1, $2::int))
      select id from b`, [tenant, items, sleepMs]);
    return { tenant, batch };
  }

  test('both ways, the watch says the database is away, waits, and ends with the summary', async () => {
    const { tenant, batch } = await tenantWithBatch('watcher', 3000, 300);
    const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'watcher' });
    const env = { ...process.env, DATABASE_URL: cluster.url(), LOG_LEVEL: 'warning' };
    const watches = [
      runCli(['status', batch.id, '--watch', '--tenant', tenant], env),
      runCli(['status', batch.id, '--watch', '--server', server.url, '--token', token], env),
    ];
    await waitFor(async () => (await target.pool.query(`select succeeded_items from app_public.batch_status_summary where batch_id = $1`, [batch.id])).rows[0]?.succeeded_items > 0,
      { what: 'the batch to be under way' });
    // Down for 3 s, so that every watch asks while it is (a quick restart is often ridden out
    // between two asks, unseen).
    await cluster.stop('fast');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await cluster.start();
    for (const watch of await Promise.all(watches)) {
      // A watch that ended early says why on stderr: show it with any failure below.
      const why = `exit ${watch.code}, stderr: ${watch.stderr}`;
      expect(watch.stdout, why).toMatch(/^the database is unavailable: still watching \(.+\)$/m);
      expect(watch.stdout, why).toMatch(/^the database is back$/m);
      expect(watch.stdout, why).toContain(`batch ${batch.id} (noop): completed\n  3000 succeeded`);
      expect(watch.code, why).toBe(0);
    }
  });

  test('a token that expires while it watches ends the watch, saying that the batch goes on and how to follow it', async () => {
    const { tenant, batch } = await tenantWithBatch('short token', 1, 6000);
    const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'watcher' }, '2s');
    const watch = await runCli(['status', batch.id, '--watch', '--server', server.url, '--token', token], { ...process.env, LOG_LEVEL: 'warning' });
    expect(watch.code).toBe(1);
    expect(lastLogLine(watch)).toMatchObject({
      msg: 'finishline failed',
      error: `invalid token: jwt expired (FLJWT): batch ${batch.id} goes on; follow it with a new token: finishline status ${batch.id} --watch --server ${server.url} --token <token>`,
    });
    const { rows: [status] } = await target.pool.query(`select status from app_public.batches where id = $1`, [batch.id]);
    expect(status.status).not.toBe('cancelled');
  });

  // The worst moment for a client that holds its connection: the answer has come, the end of it
  // has not, and the connection is gone. pg reports that as an 'error' event as well as failing
  // the query; nothing listened to it, and it ended the process.
  test('a connection cut in the middle of an answer is waited out too', async () => {
    const { tenant, batch } = await tenantWithBatch('cut watcher', 100, 100);
    const cutter = await startConnectionCutter(cluster.url());
    try {
      // The batch's id is in every answer about its status: the first is cut before it ends.
      cutter.arm(batch.id);
      const watch = await runCli(['status', batch.id, '--watch', '--tenant', tenant], { ...process.env, DATABASE_URL: cutter.url, LOG_LEVEL: 'warning' });
      const why = `exit ${watch.code}, stderr: ${watch.stderr}`;
      expect(cutter.cuts()).toBe(1);
      expect(watch.stdout, why).toMatch(/^the database is unavailable: still watching \(Connection terminated unexpectedly\)$/m);
      expect(watch.stdout, why).toContain(`batch ${batch.id} (noop): completed\n  100 succeeded`);
      expect(watch.code, why).toBe(0);
    } finally {
      await cutter.close();
    }
  });
});

// Operators end sessions idle too long (idle_session_timeout), for connections a client leaked.
// finishline keeps some idle on purpose: the worker's pool and the LISTEN connections, which the
// worker hears of new jobs on and the server follows batches by.
describe("under an operator's idle_session_timeout of 1 s", () => {
  const db = useTestDatabase({ idle_session_timeout: '1s' });

  test('the worker and the server keep their connections: nothing is lost, a batch submitted after a quiet while runs and is followed to its end', async () => {
    const worker = await startWorkerProcess(db);
    const server = await startServerProcess(db);
    try {
      const tenant = await createTenant(db);
      const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant, sub: 'quiet' });
      await new Promise((resolve) => setTimeout(resolve, 4000));
      const submitted = await graphql(server.url, 'mutation { submitBatch(input: { kind: "noop", items: [{}, {}, {}] }) { result { id } } }', {}, token);
      const client = createClient({ url: `${server.url.replace(/^http/, 'ws')}/graphql`, connectionParams: { authorization: `Bearer ${token}` } });
      try {
        const statuses = await new Promise<string[]>((resolve, reject) => {
          const seen: string[] = [];
          client.subscribe({ query: 'subscription($id: UUID!) { batchProgress(batchId: $id) { status } }', variables: { id: submitted.data!.submitBatch.result.id } },
            { next: (message) => seen.push((message.data as { batchProgress: { status: string } }).batchProgress.status), error: reject, complete: () => resolve(seen) });
        });
        expect(statuses.at(-1)).toBe('completed');
      } finally {
        await client.dispose();
      }
      for (const output of [worker.output(), server.output()]) {
        expect(output.split('\n').filter((line) => line.includes('idle-session timeout'))).toEqual([]);
      }
    } finally {
      await server.stop();
      await worker.stop();
    }
  });
});

// An operator's default isolation of serializable: finishline's statements are written for read
// committed (claims skip locked rows, counters are kept in slots), and under serializable
// concurrent ones are rolled back as conflicts.
describe("under an operator's default_transaction_isolation = serializable", () => {
  const db = useTestDatabase({ default_transaction_isolation: 'serializable' });

  test('eight batches submitted at once through GraphQL all go in, and two workers run every item on its first attempt, logging no error', async () => {
    const workers = [await startWorkerProcess(db), await startWorkerProcess(db)];
    const server = await startServerProcess(db);
    try {
      const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: await createTenant(db), sub: 'strict' });
      const items = Array.from({ length: 2000 }, () => ({ sleep_ms: 1 }));
      const submitted = await Promise.all(Array.from({ length: 8 }, () =>
        graphql(server.url, 'mutation($items: JSON!) { submitBatch(input: { kind: "noop", items: $items }) { result { id } } }', { items }, token)));
      for (const result of submitted) expect(result.errors).toBeUndefined();
      const ids = submitted.map((result) => result.data!.submitBatch.result.id as string);
      await waitFor(async () => (await db.pool.query(`select count(*)::int as n from app_public.run_summaries where batch_id = any($1::uuid[])`, [ids])).rows[0].n === 8,
        { timeoutMs: 60_000, what: 'the eight batches to finish with their summaries' });
      const { rows: [items_] } = await db.pool.query(`select count(*) filter (where status = 'succeeded')::int as succeeded, max(attempts)::int as attempts
        from app_public.batch_items where batch_id = any($1::uuid[])`, [ids]);
      expect(items_).toEqual({ succeeded: 16000, attempts: 1 });
      for (const output of [...workers.map((worker) => worker.output()), server.output()]) {
        expect(output.split('\n').filter((line) => line.includes('"level":"error"')).slice(0, 5)).toEqual([]);
      }
    } finally {
      await server.stop();
      await Promise.all(workers.map((worker) => worker.stop()));
    }
  });
});

// An operator's DateStyle, IntervalStyle and time zone change how PostgreSQL prints timestamps and
// intervals (under 'SQL, DMY': 08/12/2026 06:40:00 IST), which the drivers read back.
describe("under an operator's DateStyle = 'SQL, DMY', IntervalStyle = iso_8601 and time zone Asia/Kolkata", () => {
  const db = useTestDatabase({ datestyle: 'SQL, DMY', intervalstyle: 'iso_8601', timezone: 'Asia/Kolkata' });

  test('a worker started again runs no daily task again; a batch with a retry runs, and is reported, as under the defaults', async () => {
    await (await startWorkerProcess(db)).stop();
    const worker = await startWorkerProcess(db);
    const server = await startServerProcess(db);
    try {
      const token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: await createTenant(db), sub: 'styles' });
      const submitted = await graphql(server.url, 'mutation { submitBatch(input: { kind: "fail", items: [{ message: "once", fail_times: 1 }, { fail_times: 0 }] }) { result { id } } }', {}, token);
      const id = submitted.data!.submitBatch.result.id as string;
      await waitFor(async () => (await db.pool.query('select 1 from app_public.run_summaries where batch_id = $1', [id])).rowCount === 1,
        { timeoutMs: 30_000, what: 'the batch to finish with its summary' });
      const read = await graphql(server.url, `query ($id: UUID!) { batchById(id: $id) {
        status createdAt finishedAt runSummary { durationSeconds } items(first: 2, orderBy: ID_ASC) { nodes { attempts status } } } }`, { id }, token);
      expect(read.errors).toBeUndefined();
      const batch = read.data!.batchById;
      expect({ status: batch.status, items: batch.items.nodes }).toEqual({
        status: 'completed', items: [{ attempts: 2, status: 'succeeded' }, { attempts: 1, status: 'succeeded' }] });
      expect(Math.abs(Date.parse(batch.createdAt) - Date.now())).toBeLessThan(60_000);
      // The first attempt's failure waits the kind's retry_delay (1 s) before the second.
      expect(Number(batch.runSummary.durationSeconds)).toBeGreaterThanOrEqual(1);
      expect(Number(batch.runSummary.durationSeconds)).toBeLessThan(30);
      const { rows } = await db.pool.query(`select task_identifier, last_run_at is not null as ran from app_public.scheduler_status
        where task_identifier in ('start_review_scoring', 'prune_finished_batches') order by 1`);
      expect(rows).toEqual([{ task_identifier: 'prune_finished_batches', ran: false }, { task_identifier: 'start_review_scoring', ran: false }]);
      for (const output of [worker.output(), server.output()]) {
        expect(output.split('\n').filter((line) => line.includes('"level":"error"')).slice(0, 5)).toEqual([]);
      }
    } finally {
      await server.stop();
      await worker.stop();
    }
  });
});
