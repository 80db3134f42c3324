// Turns "what one item of kind X does" into the Graphile Worker task that runs a chunk of them.
//
// A chunk job claims its items in one statement (advance_items), runs them, and records their
// outcomes (advance_items again) as they come: at most once a second, and once at the end. Small
// claims and outcomes that the worker's slots make at the same time for one batch go together in
// one statement (StatementGroups), which matters most for chunks of one item. The
// database's triggers keep the counters, schedule retries and finalize the batch in those same
// transactions. Errors thrown by the handler belong to the item. A database that is away is not
// the item's fault: claims and outcomes are retried until it is back (and run again when the
// database rolled them back to break a deadlock), and an item whose handler failed because of it
// goes back to the queue with its attempt unspent.
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobHelpers, Task } from 'graphile-worker';
import { isDatabaseUnavailable, isTransactionConflict, whileUnavailable } from '../db/errors.ts';
import { StatementGroups } from './statement_groups.ts';

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

/** The reason a running item's signal is aborted when its batch is cancelled. */
export class BatchCancelledError extends Error {
  override name = 'BatchCancelledError';
}

/**
 * The items this process holds: the ids its chunk jobs claimed, so that two jobs of one worker
 * never run the same item (advance_items hands a worker back what it holds already), and the
 * running chunks by batch, so that cancelling a batch (the database notifies every worker) aborts
 * their handlers' signals and frees their worker's slots.
 */
class RunningItems {
  private readonly held = new Set<string>();
  private readonly byBatch = new Map<string, Set<AbortController>>();

  /** Of the items a job claimed, those no other job of this process holds, held until `release`. */
  hold<T extends { id: string }>(claimed: T[]): T[] {
    const mine = claimed.filter((item) => !this.held.has(item.id));
    for (const item of mine) this.held.add(item.id);
    return mine;
  }

  release(items: Array<{ id: string }>): void {
    for (const item of items) this.held.delete(item.id);
  }

  /** A controller for one chunk of the batch, and the function to call when the chunk is done. */
  track(batchId: string): [AbortController, () => void] {
    const controller = new AbortController();
    let chunks = this.byBatch.get(batchId);
    if (!chunks) this.byBatch.set(batchId, (chunks = new Set()));
    chunks.add(controller);
    return [controller, () => {
      chunks.delete(controller);
      if (chunks.size === 0 && this.byBatch.get(batchId) === chunks) this.byBatch.delete(batchId);
    }];
  }

  /** Aborts the running chunks of a cancelled batch; returns how many there were. */
  cancelBatch(batchId: string): number {
    const chunks = this.byBatch.get(batchId);
    for (const controller of chunks ?? []) controller.abort(new BatchCancelledError(`batch ${batchId} was cancelled`));
    return chunks?.size ?? 0;
  }
}

export const runningItems = new RunningItems();

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
  /** Aborted when the batch is cancelled, or when the worker is shutting down and has waited long enough. */
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
  /**
   * Set when the item did not fail on its own: the worker is shutting down, or the database went
   * away under it. It goes back to the queue with its attempt unspent.
   */
  interrupted?: boolean;
  /** Set when its batch was cancelled meanwhile: the database already says `cancelled`. */
  cancelled?: boolean;
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

/** How often a chunk records the outcomes it has so far: live progress, and less to redo after a crash. */
const FLUSH_INTERVAL_MS = 1000;

/** How many times a statement rolled back to break a deadlock is run again before its error stands. */
const CONFLICT_RETRIES = 5;

/**
 * Retries a statement of the item runner while the database is away, until the worker shuts down,
 * and when PostgreSQL rolled it back to break a deadlock: an outcome lost that way would give its
 * items back with their attempt spent, though nothing failed.
 */
async function retried<T>(statement: () => Promise<T>, helpers: JobHelpers, what: string): Promise<T> {
  for (let conflicts = 0; ; conflicts++) {
    try {
      return await whileUnavailable(statement, { log: helpers.logger, what, signal: helpers.abortSignal });
    } catch (error) {
      if (!isTransactionConflict(error) || conflicts >= CONFLICT_RETRIES || helpers.abortSignal.aborted) throw error;
      helpers.logger.warn(`rolled back by the database while ${what}: running it again`, { error: errorMessage(error) });
    }
  }
}

/**
 * Claims and outcomes of up to this many items go in their (worker, batch) group's next statement:
 * a statement's fixed cost is that of a few items' work. Larger ones run alone, at once.
 */
const GROUPED_UP_TO_ITEMS = 10;

/** The group of a claim or an outcome of `items` items: its worker's and batch's, when it is small. */
const statementGroup = (workerId: string, batchId: string, items: number) =>
  items <= GROUPED_UP_TO_ITEMS ? `${workerId} ${batchId}` : undefined;

/** A job's claim of its chunk's items, or the outcomes of some of them. */
type StepRequest = { helpers: JobHelpers; batchId: string; workerId: string } & (
  | { claim: string[] }
  | { outcomes: Outcome[] }
);

/** A claim's items; for outcomes, the batch to finalize (or null). */
type StepAnswer = ClaimedItem[] | string | null;

/**
 * The claims and outcomes of one worker's jobs for one batch, made together by advance_items.
 * The batch to finalize goes to the first outcomes alone: another's finalize_batch would only wait
 * for it, and find it done.
 */
const steps = new StatementGroups<StepRequest, StepAnswer>(async (requests) => {
  const [{ helpers, batchId, workerId }] = requests;
  const claimIds = requests.flatMap((request) => ('claim' in request ? request.claim : []));
  const outcomes = requests.flatMap((request) => ('outcomes' in request ? request.outcomes : []));
  const { rows } = await retried(() => helpers.query<ClaimedItem & { batch_to_finalize: string | null }>(
    'select id, tenant_id, payload, attempts, batch_to_finalize from app_private.advance_items($1, $2, $3::bigint[], $4::jsonb)',
    [workerId, batchId, claimIds, JSON.stringify(outcomes, (key, value: unknown) => (key === 'retryLater' ? undefined : typeof value === 'string' ? storable(value) : value))],
  ), helpers, outcomes.length === 0 ? 'claiming items' : claimIds.length === 0 ? 'recording outcomes' : 'recording outcomes and claiming items');
  // The last row has no item: it names the batch to finalize, if any.
  let batchToFinalize = rows.at(-1)!.batch_to_finalize;
  const claimed = rows.slice(0, -1);
  return requests.map((request) => {
    if ('claim' in request) {
      const mine = new Set(request.claim);
      return claimed.filter((item) => mine.has(item.id));
    }
    const answer = batchToFinalize;
    batchToFinalize = null;
    return answer;
  });
});

export function itemTask<P>(handler: ItemHandler<P>): Task {
  return async (payload, helpers) => {
    assertChunkPayload(payload);
    const workerId = helpers.job.locked_by;
    if (!workerId) throw new Error('job has no locked_by: cannot claim items');
    // Should the claim never succeed (a shutdown while the database is away), the job fails and
    // Graphile Worker runs it again: its items are still pending, or held by this worker.
    const claimed = await steps.run(statementGroup(workerId, payload.batch_id, payload.item_ids.length), {
      helpers, batchId: payload.batch_id, workerId, claim: payload.item_ids.map(String),
    }) as ClaimedItem[];
    const items = runningItems.hold(claimed);
    // Nothing left to do: finished, cancelled, or claimed by another run of this job.
    if (items.length === 0) return;
    try {
      await runChunk(handler, items, payload.batch_id, workerId, helpers);
    } finally {
      // The chunk fails only when the worker stops: the items it did not record are given back
      // by forget_worker, or by the sweeper once the worker is seen dead.
      runningItems.release(items);
    }
  };
}

async function runChunk<P>(handler: ItemHandler<P>, items: ClaimedItem[], batchId: string, workerId: string, helpers: JobHelpers): Promise<void> {
  const done: Outcome[] = [];
  let lastFlush = Date.now();
  let recording = Promise.resolve();
  const flush = () => {
    const outcomes = done.splice(0);
    lastFlush = Date.now();
    recording = recording.then(() => recordOutcomes(helpers, workerId, batchId, outcomes));
    return recording;
  };
  // One signal for the whole chunk: its items share their batch, and so its cancellation.
  const [cancellation, untrack] = runningItems.track(batchId);
  const signal = AbortSignal.any([helpers.abortSignal, cancellation.signal]);
  // Each of the chunk's running items may listen to it (a sleep, a fetch): no leak to warn of.
  setMaxListeners(0, signal);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      done.push(cancellation.signal.aborted
        ? { id: item.id, error: null, result: null, permanent: false, cancelled: true }
        : helpers.abortSignal.aborted
          ? { id: item.id, error: null, result: null, permanent: false, interrupted: true }
          : await runItem(handler, item, batchId, signal, cancellation.signal, helpers));
      if (Date.now() - lastFlush >= FLUSH_INTERVAL_MS) await flush();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(handler.concurrency ?? 1, items.length) }, lane));
  } finally {
    untrack();
  }
  await flush();
}

/**
 * Records a set of outcomes. Items to run again at a known time are put back to wait first;
 * advance_items then passes over them (no longer processing) and fails those whose counted attempt
 * was their last. Interrupted items go back to the queue with their attempt unspent; cancelled
 * ones are recorded as such already.
 */
async function recordOutcomes(helpers: JobHelpers, workerId: string, batchId: string, outcomes: Outcome[]): Promise<void> {
  for (const { id, error, retryLater } of outcomes) {
    if (!retryLater) continue;
    await retried(() => helpers.query('select app_private.defer_items($1, $2::bigint[], $3, $4, $5)', [
      workerId, [id], retryLater.runAfter, storable(error ?? ''), retryLater.attemptCounts,
    ]), helpers, 'deferring an item');
    helpers.logger.info('item to run again later', { batch_id: batchId, item_id: id, run_after: retryLater.runAfter, reason: error });
  }
  const finished = outcomes.filter((outcome) => !outcome.interrupted && !outcome.cancelled);
  if (finished.length > 0) await recordFinished(helpers, workerId, batchId, finished);
  for (const outcome of finished) {
    if (outcome.error !== null && !outcome.retryLater) {
      helpers.logger.warn('item failed', { batch_id: batchId, item_id: outcome.id, error: outcome.error, permanent: outcome.permanent });
    }
  }
  const interrupted = outcomes.filter((outcome) => outcome.interrupted).map((outcome) => outcome.id);
  if (interrupted.length > 0) {
    // With the database still away when the worker stops, its heartbeat stops too, and the
    // items are given back, their attempts unspent, once the database is back.
    await retried(() => helpers.query('select app_private.release_items($1, $2::bigint[], null, false)', [workerId, interrupted]), helpers, 'giving interrupted items back');
    helpers.logger.info(`gave back ${interrupted.length} interrupted items`, { batch_id: batchId });
  }
}

/**
 * Records the outcomes of items that ran to their end. While the database is away they are
 * retried: what happened is known and must not be lost. When they cannot be stored at all (a
 * value PostgreSQL refuses), a retry of the job would claim nothing (the items are `processing`)
 * and the sweeper leaves a live worker's items alone, so the items are given back here with their
 * attempt spent: they run again, or fail with the reason after their last attempt.
 */
async function recordFinished(helpers: JobHelpers, workerId: string, batchId: string, outcomes: Outcome[]): Promise<void> {
  let batchToFinalize: string | null;
  try {
    batchToFinalize = await steps.run(statementGroup(workerId, batchId, outcomes.length), { helpers, batchId, workerId, outcomes }) as string | null;
  } catch (error) {
    if (isDatabaseUnavailable(error)) throw error;
    const reason = storable(`its outcome could not be recorded: ${errorMessage(error)}`);
    const ids = outcomes.map((outcome) => outcome.id);
    helpers.logger.error('could not record outcomes: giving the items back', { item_ids: ids, error: reason });
    // Whatever the error, until it works or the worker stops: left `processing`, the items would
    // wait for this worker to die. (On a stop, forget_worker gives them back.)
    for (let delay = GIVE_BACK_RETRY_MS.first; ; delay = Math.min(delay * 2, GIVE_BACK_RETRY_MS.max)) {
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
  // Other transactions were finishing the batch's last items along with this one, and none could
  // see them all: finalize_batch waits for them to commit, then finalizes the batch (its job, which
  // the database enqueued, would do the same a little later).
  if (batchToFinalize) {
    await retried(() => helpers.query('select app_private.finalize_batch($1)', [batchToFinalize]), helpers, 'finalizing the batch');
  }
}

/** Delays between attempts to give back items whose outcomes could not be recorded. */
const GIVE_BACK_RETRY_MS = { first: 100, max: 10_000 };

async function runItem<P>(handler: ItemHandler<P>, item: ClaimedItem, batchId: string, signal: AbortSignal, cancelled: AbortSignal, helpers: JobHelpers): Promise<Outcome> {
  let parsed: P;
  try {
    parsed = handler.parse(item.payload);
  } catch (error) {
    return { id: item.id, error: `invalid payload: ${errorMessage(error)}`, result: null, permanent: true };
  }
  try {
    const result = await handler.run(parsed, { itemId: item.id, batchId, tenantId: item.tenant_id, attempt: item.attempts, signal, helpers });
    return { id: item.id, error: null, result: result ?? null, permanent: false };
  } catch (error) {
    if (cancelled.aborted) return { id: item.id, error: null, result: null, permanent: false, cancelled: true };
    if (helpers.abortSignal.aborted || isDatabaseUnavailable(error)) return { id: item.id, error: null, result: null, permanent: false, interrupted: true };
    return {
      id: item.id,
      error: errorMessage(error),
      result: null,
      permanent: error instanceof PermanentItemError,
      ...(error instanceof RetryItemLaterError ? { retryLater: error } : {}),
    };
  }
}
