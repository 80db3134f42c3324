// When a chunk's outcomes cannot be recorded, its items must not stay `processing` with no job to
// run them: they go back to the queue (their attempt spent), and fail with the reason once their
// attempts are used up. A trigger of this test's database makes recording fail for items whose
// payload has `fault`, and makes giving them back fail once.
import { beforeAll, expect, test } from 'vitest';
import { createTenant, startWorkerProcess, submitBatch, useTestDatabase, waitForSummary } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;

beforeAll(async () => {
  tenant = await createTenant(db, 'outcomes-tenant');
  await db.pool.query(`
    create sequence public.test_release_faults;
    create function public.test_outcome_faults() returns trigger language plpgsql volatile as $$
    begin
      if new.status = 'succeeded' then
        raise exception 'injected fault: outcomes cannot be recorded';
      end if;
      -- A sequence, not a table: its count survives the rollback of the failing statement.
      if nextval('public.test_release_faults') = 1 then
        raise exception 'injected fault: items cannot be given back';
      end if;
      return new;
    end
    $$;
    create trigger _000_test_outcome_faults before update of status on app_public.batch_items
      for each row when (old.status = 'processing' and new.payload ? 'fault') execute function public.test_outcome_faults();
  `);
});

test('items whose outcomes cannot be recorded run again, then fail with the reason; the worker goes on', async () => {
  const worker = await startWorkerProcess(db);
  const batch = await submitBatch(db, tenant, 'noop', [{ fault: true }]);
  await waitForSummary(db, batch.id);
  const { rows: [item] } = await db.pool.query('select status, attempts, last_error from app_public.batch_items where batch_id = $1', [batch.id]);
  expect(item).toEqual({ status: 'failed', attempts: 3, last_error: 'its outcome could not be recorded: injected fault: outcomes cannot be recorded' });
  // Giving them back failed once, and was tried again.
  expect(worker.output()).toContain('could not give the items back');

  const next = await submitBatch(db, tenant, 'noop', [{}, {}]);
  expect(await waitForSummary(db, next.id)).toMatchObject({ status: 'completed', succeeded_items: 2 });
  expect(await worker.stop()).toBe(0);
});
