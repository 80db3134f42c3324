// @ts-check
// How numbers, times and states read on the dashboard.

const numberFormat = new Intl.NumberFormat('en');

/** @param {number | string | null | undefined} value */
export function count(value) {
  return value === null || value === undefined ? '–' : numberFormat.format(Number(value));
}

/** @param {number | string} share 0..1 */
export function percent(share) {
  const value = Number(share) * 100;
  return `${value >= 99.95 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

/**
 * A duration in words: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h".
 * @param {number} seconds
 */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.max(0, Math.round(seconds * 1000))} ms`;
  const s = Math.round(seconds);
  if (s < 60) return `${seconds < 10 && !Number.isInteger(seconds) ? seconds.toFixed(1) : s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

/**
 * How long ago: "12 s ago".
 * @param {string | null | undefined} timestamp
 * @param {number} [now]
 */
export function ago(timestamp, now = Date.now()) {
  if (!timestamp) return '–';
  return `${duration((now - Date.parse(timestamp)) / 1000)} ago`;
}

/**
 * In the future: "in 3 h".
 * @param {string | null | undefined} timestamp
 * @param {number} [now]
 */
export function fromNow(timestamp, now = Date.now()) {
  if (!timestamp) return '–';
  const seconds = (Date.parse(timestamp) - now) / 1000;
  return seconds >= 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
}

/** @param {string | null | undefined} timestamp */
export function dateTime(timestamp) {
  if (!timestamp) return '–';
  return new Date(timestamp).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** @param {string} id */
export function shortId(id) {
  return id.slice(0, 8);
}

/** Batch statuses in words. */
export const BATCH_STATUS_LABELS = /** @type {Record<string, string>} */ ({
  pending: 'pending',
  processing: 'processing',
  completed: 'completed',
  completed_with_errors: 'completed with errors',
  cancelled: 'cancelled',
});

export const FINISHED_STATUSES = ['completed', 'completed_with_errors', 'cancelled'];

/** @param {string} status */
export function isFinished(status) {
  return FINISHED_STATUSES.includes(status);
}

/**
 * What `stuck_reason` means, and what the operator can do about it.
 * @type {Record<string, { what: string, todo: string }>}
 */
export const STUCK_REASONS = {
  no_worker_alive: {
    what: 'No worker is running: no heartbeat is fresh.',
    todo: 'Start one (npm run worker, or npm start). The items wait in the queue and run as soon as a worker is up.',
  },
  items_held_by_dead_worker: {
    what: 'A worker stopped while it was running some of these items.',
    todo: 'Nothing to do: the next heartbeat of a live worker gives them back to the queue once the stopped one is seen dead (5 s by default), and another worker runs them.',
  },
  jobs_held_by_dead_worker: {
    what: 'A worker stopped while it held jobs of this batch.',
    todo: 'Nothing to do: the next heartbeat of a live worker unlocks them once the stopped one is seen dead (5 s by default).',
  },
  counters_out_of_date: {
    what: 'The counts say items are pending, but none is.',
    todo: 'The sweeper corrects the counts within a minute. If this stays, check that a worker runs the crontab (sweep_batches).',
  },
  waiting_for_retry_backoff: {
    what: 'Every pending item failed an attempt and waits out its retry backoff.',
    todo: 'It resumes by itself. The failed attempts\u2019 errors say why; cancel the batch if they will fail again.',
  },
  waiting_for_tenant_limit: {
    what: 'Its tenant already runs as many chunks as its limit (max running chunks) allows, in other batches.',
    todo: 'It starts as those finish. The installation\u2019s operator can raise the limit (set_tenant_limit) for chunks enqueued from then on.',
  },
  items_without_job: {
    what: 'Pending items have lost their jobs in the queue.',
    todo: 'The sweeper enqueues them again within a minute. If this stays, check that a worker runs the crontab (sweep_batches).',
  },
  summary_held_by_dead_worker: {
    what: 'The batch finished, but the worker writing its summary stopped.',
    todo: 'Nothing to do: its job is unlocked like that worker\u2019s others, and the summary is written.',
  },
  summary_not_enqueued: {
    what: 'The batch finished, but no job will write its summary.',
    todo: 'Request the summary (it enqueues one at once), or wait for the sweeper.',
  },
};

/** @param {string} reason */
export function stuckReason(reason) {
  return STUCK_REASONS[reason] ?? { what: reason.replace(/_/g, ' '), todo: 'See the README (stuck_reason).' };
}
