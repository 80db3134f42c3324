// The scheduler's view tells the truth for every crontab entry: its last run (whichever task it
// is), its next run, and lateness only when it really has not run for twice its period.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { asRole, startWorkerProcess, useTestDatabase, waitFor, type WorkerProcess } from './helpers.ts';

const db = useTestDatabase();
let worker: WorkerProcess;

beforeAll(async () => {
  worker = await startWorkerProcess(db);
});
afterAll(() => worker?.stop());

const statusOf = (task: string) =>
  asRole(db, 'app_admin', {}, async (client) => (await client.query('select * from app_public.scheduler_status where task_identifier = $1', [task])).rows[0]);

test('every crontab entry is registered with its next run, and is not late on a fresh start', async () => {
  for (const task of ['sweep_batches', 'start_review_scoring', 'prune_finished_batches']) {
    const status = await statusOf(task);
    expect(status, task).toMatchObject({ last_run_at: null, is_late: false });
    expect(status.next_run_at.getTime()).toBeGreaterThan(Date.now() - 60_000);
  }
});

test('a run of the sweeper is recorded as its last run, like any scheduled task\'s', async () => {
  await db.pool.query(`select graphile_worker.add_job('sweep_batches', '{}', queue_name => 'finishline_sweeper')`);
  const status = await waitFor(async () => {
    const current = await statusOf('sweep_batches');
    return current.last_run_at ? current : null;
  }, { what: 'the sweep to be recorded' });
  expect(status.is_late).toBe(false);
  expect(Date.now() - status.last_run_at.getTime()).toBeLessThan(30_000);
});

test('a task that has not run for twice its period is late; one that never ran, twice its period after it was scheduled', async () => {
  await db.pool.query(`update app_private.scheduled_tasks set last_run_at = now() - interval '3 minutes' where task_identifier = 'sweep_batches'`);
  expect(await statusOf('sweep_batches')).toMatchObject({ is_late: true });
  await db.pool.query(`update app_private.scheduled_tasks set last_run_at = null, registered_at = now() - 3 * period where task_identifier = 'start_review_scoring'`);
  expect(await statusOf('start_review_scoring')).toMatchObject({ is_late: true });
});
