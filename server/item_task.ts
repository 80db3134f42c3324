// Turns "what one item of kind X does" into the Graphile Worker task that runs a chunk of them.
//
// A chunk job claims its items in one statement (start_items), runs them, and records every
// outcome in one statement (finish_items); the database's triggers keep the counters, schedule
// retries and finalize the batch in that same transaction. Errors thrown by the handler belong
// to the item; only a database error fails the job (and Graphile Worker retries it).
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobHelpers, Task } from 'graphile-worker';

export interface ChunkPayload {
  batch_id: string;
  item_ids: Array<number | string>;
}

/** Throw it from a handler when retrying cannot help (a malformed file): the item fails at once. */
export class PermanentItemError extends Error {
  override name = 'PermanentItemError';
}

/**
 * Throw it from a handler when the item is best run again at a known time (a host's Retry-After)
 * rather than after the kind's backoff: the item waits in `pending` until `runAfter`. With
 * `attemptCounts` false (the item was held back before doing anything) its attempt is given
 * back; with it true, an item on its last attempt fails with this error instead.
 */
export class RetryItemLaterError extends Error {
  override name = 'RetryItemLaterError';
  readonly runAfter: Date;
  readonly attemptCounts: boolean;
  constructor(message: string, runAfter: Date, attemptCounts: boolean) {
    super(message);
    this.runAfter = runAfter;
    this.attemptCounts = attemptCounts;
  }
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
  /** Set when the handler asked for the item to run again at a known time. */
  retryLater?: RetryItemLaterError;
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

/** Characters of an error message an item keeps. */
const MAX_ERROR_CHARS = 2000;

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.trim() === '') return error instanceof Error ? error.name : 'unknown error';
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}…` : message;
}

/** PostgreSQL's text and json cannot hold NUL, nor half of a surrogate pair: those become U+FFFD. */
export function storable(text: string): string {
  return text.replace(/\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
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

    // Put back to wait first; finish_items then passes over them (no longer processing) and
    // fails those whose counted attempt was their last.
    for (const { id, error, retryLater } of outcomes) {
      if (!retryLater) continue;
      await helpers.query('select app_private.defer_items($1, $2::bigint[], $3, $4, $5)', [
        workerId, [id], retryLater.runAfter, storable(error ?? ''), retryLater.attemptCounts,
      ]);
      helpers.logger.info('item to run again later', { batch_id: payload.batch_id, item_id: id, run_after: retryLater.runAfter, reason: error });
    }
    if (outcomes.length > 0) await recordOutcomes(helpers, workerId, outcomes);
    for (const outcome of outcomes) {
      if (outcome.error !== null && !outcome.retryLater) {
        helpers.logger.warn('item failed', { batch_id: payload.batch_id, item_id: outcome.id, error: outcome.error, permanent: outcome.permanent });
      }
    }
    if (interrupted.length > 0) {
      await helpers.query('select app_private.release_items($1, $2::bigint[], null, false)', [workerId, interrupted]);
      helpers.logger.info(`released ${interrupted.length} items interrupted by shutdown`, { batch_id: payload.batch_id });
    }
  };
}

/** Delays between attempts to give back items whose outcomes could not be recorded. */
const RELEASE_RETRY_MS = { first: 100, max: 10_000 };

/**
 * Records the chunk's outcomes. When that fails (a value PostgreSQL refuses, a lost connection),
 * a retry of the job would claim nothing (the items are `processing`, not `pending`) and the
 * sweeper leaves a live worker's items alone, so the items are given back here, their attempt
 * spent: they run again, or fail with the reason after their last attempt. The release is retried
 * until it works or the worker shuts down; then forget_worker gives them back, or, with the
 * database out of reach, the heartbeat stops and the sweeper releases them.
 */
async function recordOutcomes(helpers: JobHelpers, workerId: string, outcomes: Outcome[]): Promise<void> {
  try {
    await helpers.query('select app_private.finish_items($1, $2::jsonb)', [
      workerId,
      JSON.stringify(outcomes, (key, value: unknown) => (key === 'retryLater' ? undefined : typeof value === 'string' ? storable(value) : value)),
    ]);
    return;
  } catch (error) {
    const reason = storable(`its outcome could not be recorded: ${errorMessage(error)}`);
    const ids = outcomes.map((outcome) => outcome.id);
    helpers.logger.error('could not record outcomes: giving the items back', { item_ids: ids, error: reason });
    for (let delay = RELEASE_RETRY_MS.first; ; delay = Math.min(delay * 2, RELEASE_RETRY_MS.max)) {
      try {
        await helpers.query('select app_private.release_items($1, $2::bigint[], $3, true)', [workerId, ids, reason]);
        return;
      } catch (releaseError) {
        if (helpers.abortSignal.aborted) throw releaseError;
        helpers.logger.error(`could not give the items back: trying again in ${delay} ms`, { item_ids: ids, error: errorMessage(releaseError) });
        await sleep(delay, undefined, { signal: helpers.abortSignal }).catch(() => {});
      }
    }
  }
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
    return {
      id: item.id,
      error: errorMessage(error),
      result: null,
      permanent: error instanceof PermanentItemError,
      ...(error instanceof RetryItemLaterError ? { retryLater: error } : {}),
    };
  }
}
