// The `batchProgress(batchId)` subscription: the batch's status summary at once, then at most one
// update a second while its items move, and the end of the stream when the batch is finished.
//
// The database notifies a batch's channel when its status changes and as its done items cross each
// whole percent, with its status and how many items are done as the payload; here those are thinned
// to one a second (the latest wins), repeats and counts older than one already seen are dropped,
// and the stream ends after the state that finished the batch. A batch that finished before the
// LISTEN started is found by reading its state again a while after.
import { createHash } from 'node:crypto';
import type { PgResource, WithPgClient } from 'postgraphile/@dataplan/pg';
import { context, lambda, listen, SafeError, type GrafastSubscriber } from 'postgraphile/grafast';
import { extendSchema, gql } from 'postgraphile/utils';

/** At most one update per batch and subscriber in this time (the finishing one is sent at once). */
export const PROGRESS_INTERVAL_MS = 1000;

const TERMINAL = new Set(['completed', 'completed_with_errors', 'cancelled']);

/** The LISTEN/NOTIFY channel of one batch's progress, named by its tenant and id. */
export function batchProgressTopic(tenantId: string, batchId: string): string {
  // Channel names are at most 63 bytes: a hash of the two ids.
  return `batch_progress:${createHash('md5').update(`${tenantId.toLowerCase()}:${batchId.toLowerCase()}`).digest('hex')}`;
}

/**
 * When an open stream reads its batch's state again: soon after it starts, then at doubling
 * intervals. The state is read before the LISTEN starts, and the database notifies only those
 * listening: a batch that finished in between would otherwise never end its stream.
 */
export const RECHECK_MS = { first: 1000, max: 30_000 };

/** What the subscription asks for: the channel, the batch, and whether it had finished already. */
interface ProgressTopic {
  channel: string;
  batchId: string;
  finished: boolean;
}

/** The batch's state as a notification would carry it once it has finished, or null before. */
type ReadFinished = (batchId: string) => Promise<string | null>;

/** Reads with the request's settings (its role and tenant), as the rest of the subscription does. */
function finishedReader(withPgClient: WithPgClient, pgSettings: Record<string, string | undefined> | null): ReadFinished {
  return async (batchId) => {
    const { rows } = await withPgClient(pgSettings, (client) => client.query<{ state: string }>({
      text: `select status || ':' || total_items as state from app_public.batches where id = $1 and finished_at is not null`,
      values: [batchId],
    }));
    return rows[0]?.state ?? null;
  };
}

/**
 * Wraps the server's LISTEN subscriber: the first event is the current state, then NOTIFY
 * payloads (`<status>:<items done>`) are deduplicated and thinned to one per interval.
 */
function progressSubscriber(pg: GrafastSubscriber, readFinished: ReadFinished): GrafastSubscriber {
  return {
    subscribe(topic) {
      const { channel, batchId, finished } = JSON.parse(String(topic)) as ProgressTopic;
      return progressEvents(finished ? null : pg.subscribe(channel), () => readFinished(batchId), PROGRESS_INTERVAL_MS);
    },
  };
}

/**
 * Whether a payload says more than `than`: another status, or more items done. Transactions that
 * finish a batch's items at once commit in any order, so a count can arrive after a larger one.
 */
function isNewer(payload: string, than: string): boolean {
  const [status, done] = payload.split(':');
  const [thanStatus, thanDone] = than.split(':');
  return status !== thanStatus || Number(done) > Number(thanDone);
}

function progressEvents(
  source: ReturnType<GrafastSubscriber['subscribe']> | null,
  recheck: () => Promise<string | null>,
  intervalMs: number,
): AsyncIterableIterator<string> {
  const ready: string[] = ['current'];
  let waiting: ((result: IteratorResult<string>) => void) | null = null;
  /** No more events come: the stream ends once those queued are read. */
  let ended = source === null;
  let lastSent = '';
  // The current state, sent first, counts as an update.
  let lastSentAt = Date.now();
  let latest: string | null = null;
  /** The newest state notified so far. */
  let newest = '';
  let timer: NodeJS.Timeout | undefined;
  let recheckTimer: NodeJS.Timeout | undefined;
  let recheckIn = RECHECK_MS.first;
  let iterator: AsyncIterator<string> | undefined;

  const deliver = (payload: string) => {
    lastSent = payload;
    lastSentAt = Date.now();
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value: payload, done: false });
    } else ready.push(payload);
  };
  const stop = () => {
    ended = true;
    clearTimeout(timer);
    clearTimeout(recheckTimer);
    // Waiting means nothing is queued: the stream ends now.
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value: undefined, done: true });
    }
    // Once the listening connection went away, the source's return rejects with that error.
    Promise.resolve(iterator?.return?.()).catch(() => {});
  };
  const flushLatest = () => {
    timer = undefined;
    if (latest !== null && latest !== lastSent) deliver(latest);
    latest = null;
  };
  /** A state notified or read again: the finishing one at once, the others one per interval. */
  const receive = (payload: string) => {
    if (ended || payload === lastSent || !isNewer(payload, newest)) return;
    newest = payload;
    if (TERMINAL.has(payload.split(':')[0])) {
      clearTimeout(timer);
      deliver(payload);
      stop();
      return;
    }
    latest = payload;
    const wait = lastSentAt + intervalMs - Date.now();
    if (wait <= 0) flushLatest();
    else timer ??= setTimeout(flushLatest, wait);
  };
  const scheduleRecheck = () => {
    recheckTimer = setTimeout(() => {
      // A failed read (the database away) is tried again at the next one.
      void recheck().then((payload) => payload && receive(payload), () => {}).finally(() => {
        recheckIn = Math.min(recheckIn * 2, RECHECK_MS.max);
        if (!ended) scheduleRecheck();
      });
    }, recheckIn);
  };

  if (source) {
    void (async () => {
      try {
        iterator = (await source)[Symbol.asyncIterator]();
        while (!ended) {
          const { value, done } = await iterator.next();
          if (done) break;
          receive(String(value));
        }
      } catch {
        // The listening connection went away: the client sees the stream end and resubscribes.
      }
      stop();
    })();
    scheduleRecheck();
  }

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      const value = ready.shift();
      if (value !== undefined) return Promise.resolve({ value, done: false });
      if (ended) {
        stop();
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve) => (waiting = resolve));
    },
    return() {
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}

/** `batchProgress(batchId)`, for any batch the token may see (row level security decides). */
export const BatchProgressPlugin = extendSchema((build) => {
  const summaries = (build.input.pgRegistry.pgResources as Record<string, PgResource>).batch_status_summary;
  return {
    typeDefs: gql`
      extend type Subscription {
        """
        The batch's status summary: at once, then at most once a second while its items move,
        and the stream ends after the state in which the batch finished. A batch the token may
        not see is "not found" (FLNFD).
        """
        batchProgress(batchId: UUID!): BatchStatusSummary
      }
    `,
    objects: {
      Subscription: {
        plans: {
          batchProgress: {
            subscribePlan(_$root, { $batchId }) {
              // Read as the request's role: another tenant's batch is not there.
              const $summary = summaries.get({ batch_id: $batchId });
              const $topic = lambda(
                [$batchId, $summary.get('tenant_id'), $summary.get('finished_at')],
                ([batchId, tenantId, finishedAt]) => {
                  if (!tenantId) throw new SafeError(`batch ${String(batchId)} not found`, { code: 'FLNFD' });
                  return JSON.stringify({ channel: batchProgressTopic(String(tenantId), String(batchId)), batchId: String(batchId), finished: finishedAt != null } satisfies ProgressTopic);
                },
              );
              const $subscriber = lambda(
                [context().get('pgSubscriber'), context().get('withPgClient'), context().get('pgSettings')],
                ([pg, withPgClient, pgSettings]) => (pg ? progressSubscriber(pg, finishedReader(withPgClient, pgSettings)) : null),
              );
              return listen($subscriber, $topic);
            },
            plan(_$event, { $batchId }) {
              return summaries.get({ batch_id: $batchId });
            },
          },
        },
      },
    },
  };
});
