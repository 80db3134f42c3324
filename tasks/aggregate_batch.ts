// Writes a finished batch's run summary. Enqueued by the transaction that finalizes the batch.
import type { Task } from 'graphile-worker';
import { withoutStatementTimeout } from '../server/db/session.ts';

interface AggregateBatchPayload {
  batch_id: string;
}

declare global {
  namespace GraphileWorker {
    interface Tasks {
      aggregate_batch: AggregateBatchPayload;
    }
  }
}

function assertPayload(payload: unknown): asserts payload is AggregateBatchPayload {
  if (typeof (payload as Partial<AggregateBatchPayload> | null)?.batch_id !== 'string') {
    throw new Error(`aggregate_batch needs {"batch_id": "<uuid>"}, got ${JSON.stringify(payload)}`);
  }
}

export const aggregate_batch: Task = async (payload, helpers) => {
  assertPayload(payload);
  // (A summary of a million items takes seconds.)
  const { rows } = await helpers.withPgClient((client) => withoutStatementTimeout(client, () =>
    client.query<{ written: boolean }>('select app_private.write_run_summary($1) as written', [payload.batch_id])));
  // Not written: the batch was re-opened (or deleted) since, and its next finalization enqueues us
  // again; or its items were pruned, and its summary stays as it was.
  if (rows[0].written) helpers.logger.info('run summary written', { batch_id: payload.batch_id });
};

export default aggregate_batch;
