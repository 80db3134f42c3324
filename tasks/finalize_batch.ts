// Finalizes a batch whose last items were finished by transactions that could not see each other's
// work. Enqueued by settle_batch_if_alone; it waits for them to commit, then settles the batch.
import type { Task } from 'graphile-worker';

interface FinalizeBatchPayload {
  batch_id: string;
}

declare global {
  namespace GraphileWorker {
    interface Tasks {
      finalize_batch: FinalizeBatchPayload;
    }
  }
}

function assertPayload(payload: unknown): asserts payload is FinalizeBatchPayload {
  if (typeof (payload as Partial<FinalizeBatchPayload> | null)?.batch_id !== 'string') {
    throw new Error(`finalize_batch needs {"batch_id": "<uuid>"}, got ${JSON.stringify(payload)}`);
  }
}

export const finalize_batch: Task = async (payload, helpers) => {
  assertPayload(payload);
  const { rows } = await helpers.query<{ status: string | null }>('select app_private.finalize_batch($1) as status', [payload.batch_id]);
  helpers.logger.debug('batch settled', { batch_id: payload.batch_id, status: rows[0].status });
};

export default finalize_batch;
