// Turns "what one item of kind X does" into the Graphile Worker task that runs a chunk of them.
//
// A chunk job claims its items in one statement (start_items), runs them, and records every
// outcome in one statement (finish_items); the database's triggers keep the counters, schedule
// retries and finalize the batch in that same transaction. Errors thrown by the handler belong
// to the item; only a database error fails the job (and Graphile Worker retries it).
import type { JobHelpers, Task } from 'graphile-worker';

export interface ChunkPayload {
  batch_id: string;
  item_ids: Array<number | string>;
}

/** Throw it from a handler when retrying cannot help (a malformed file): the item fails at once. */
export class PermanentItemError extends Error {
  override name = 'PermanentItemError';
}

export interface ItemContext {
  itemId: string;
  batchId: string;
  /**
   * The tenant the item belongs to. The worker reads past row level security, so whatever the
   * payload names (a file, rows) must be looked up within this tenant.
   */
  tenantId: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** Aborted when the worker is shutting down and waited long enough. */
  signal: AbortSignal;
  helpers: JobHelpers;
}

export interface ItemHandler<P> {
  /** Checks an item's payload; throw to fail the item with that message (without retries). */
  parse(payload: unknown): P;
  /** Does the item's work; what it returns is stored as the item's result (a JSON object). */
  run(payload: P, context: ItemContext): Promise<Record<string, unknown> | void>;
  /** How many items of one chunk run at once (I/O-bound kinds want more than one). */
  concurrency?: number;
}

interface ClaimedItem {
  id: string;
  tenant_id: string;
  payload: unknown;
  attempts: number;
}

interface Outcome {
  id: string;
  error: string | null;
  result: Record<string, unknown> | null;
  permanent: boolean;
}

export function assertChunkPayload(payload: unknown): asserts payload is ChunkPayload {
  const candidate = payload as Partial<ChunkPayload> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.batch_id !== 'string' ||
    !Array.isArray(candidate.item_ids) ||
    !candidate.item_ids.every((id) => typeof id === 'number' || typeof id === 'string')
  ) {
    throw new Error(`not a chunk payload: ${JSON.stringify(payload)}`);
  }
}

/** The string array a payload carries under `field` (ids of a chunk), or an error naming it. */
export function idList(payload: unknown, field: string): string[] {
  const ids = (payload as Record<string, unknown>)[field];
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw new Error(`${field} must be an array of ids`);
  return ids;
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim() === '' ? (error instanceof Error ? error.name : 'unknown error') : message;
}

export function itemTask<P>(handler: ItemHandler<P>): Task {
  return async (payload, helpers) => {
    assertChunkPayload(payload);
    const workerId = helpers.job.locked_by;
    if (!workerId) throw new Error('job has no locked_by: cannot claim items');
    const { rows: items } = await helpers.query<ClaimedItem>(
      'select id, tenant_id, payload, attempts from app_private.start_items($1, $2::bigint[], $3)',
      [payload.batch_id, payload.item_ids, workerId],
    );
    // Nothing left to do: finished, cancelled, or claimed by another run of this job.
    if (items.length === 0) return;

    const outcomes: Outcome[] = [];
    const interrupted: string[] = [];
    let next = 0;
    const lane = async () => {
      while (next < items.length) {
        const item = items[next++];
        if (helpers.abortSignal.aborted) {
          interrupted.push(item.id);
          continue;
        }
        const outcome = await runItem(handler, item, payload.batch_id, helpers);
        // Cut short by the shutdown: not the item's fault, so the attempt is given back.
        if (outcome.error !== null && helpers.abortSignal.aborted) interrupted.push(item.id);
        else outcomes.push(outcome);
      }
    };
    await Promise.all(Array.from({ length: Math.min(handler.concurrency ?? 1, items.length) }, lane));

    if (outcomes.length > 0) {
      await helpers.query('select app_private.finish_items($1, $2::jsonb)', [workerId, JSON.stringify(outcomes)]);
    }
    for (const outcome of outcomes) {
      if (outcome.error !== null) {
        helpers.logger.warn('item failed', { batch_id: payload.batch_id, item_id: outcome.id, error: outcome.error, permanent: outcome.permanent });
      }
    }
    if (interrupted.length > 0) {
      await helpers.query('select app_private.release_items($1, $2::bigint[], null, false)', [workerId, interrupted]);
      helpers.logger.info(`released ${interrupted.length} items interrupted by shutdown`, { batch_id: payload.batch_id });
    }
  };
}

async function runItem<P>(handler: ItemHandler<P>, item: ClaimedItem, batchId: string, helpers: JobHelpers): Promise<Outcome> {
  let parsed: P;
  try {
    parsed = handler.parse(item.payload);
  } catch (error) {
    return { id: item.id, error: `invalid payload: ${errorMessage(error)}`, result: null, permanent: true };
  }
  try {
    const result = await handler.run(parsed, {
      itemId: item.id,
      batchId,
      tenantId: item.tenant_id,
      attempt: item.attempts,
      signal: helpers.abortSignal,
      helpers,
    });
    return { id: item.id, error: null, result: result ?? null, permanent: false };
  } catch (error) {
    return { id: item.id, error: errorMessage(error), result: null, permanent: error instanceof PermanentItemError };
  }
}
