// The per-host limit on requests in flight, shared by every worker process through the database
// (app_private.host_leases): a request takes one of its host's N slots first and gives it back
// after. No transaction stays open during a request; a dead worker's slot lapses by itself.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobHelpers } from 'graphile-worker';
import { RetryItemLaterError } from '../worker/item_task.ts';

/** Gives the slot back; never throws (a slot that cannot be released lapses on its own). */
export type Release = () => Promise<void>;

export interface HostLimiter {
  /** Waits until a slot of the host is free and takes it; rejects when waiting took too long. */
  acquire(host: string, signal: AbortSignal): Promise<Release>;
  /** Tells every worker to leave the host alone for `ms` (a Retry-After). */
  coolDown(host: string, ms: number, reason: string): Promise<void>;
}

export interface DatabaseHostLimiterOptions {
  query: JobHelpers['query'];
  logger: Pick<JobHelpers['logger'], 'warn'>;
  /** Names the holder of the slots (worker and item); a random suffix is added per request. */
  holder: string;
  maxPerHost: number;
  /** How long a slot is held at most: the request's total timeout plus a margin. */
  leaseMs: number;
  /** How long to wait for a free slot before giving up (the attempt fails and is retried). */
  hostWaitMs: number;
  /** A host cooling down for longer than this is not waited for: RetryAfterError at once. */
  maxCooldownWaitMs: number;
}

/** Thrown when no slot could be had; not permanent: the item is retried after its backoff. */
export class HostBusyError extends Error {
  override name = 'HostBusyError';
}

/**
 * The host asked for no requests before `until` (Retry-After), later than the attempt waits: the
 * item is best tried again then. `requestSent`: this attempt got the 429 (or 503) itself (it
 * counts), rather than being held back by a pause another request was asked for.
 */
export class RetryAfterError extends RetryItemLaterError {
  override name = 'RetryAfterError';
  constructor(message: string, until: Date, requestSent: boolean) {
    super(message, until, requestSent);
  }
}

function aborted(signal: AbortSignal): Error {
  return new Error('interrupted by worker shutdown', { cause: signal.reason });
}

export function databaseHostLimiter(options: DatabaseHostLimiterOptions): HostLimiter {
  const { query, logger, maxPerHost, leaseMs, hostWaitMs, maxCooldownWaitMs } = options;
  return {
    async acquire(host, signal) {
      const holder = `${options.holder}:${randomUUID()}`;
      const deadline = Date.now() + hostWaitMs;
      // Polling, with growing jittered pauses: a slot is held for one request, so a short wait.
      let pause = 20;
      for (;;) {
        if (signal.aborted) throw aborted(signal);
        const { rows } = await query<{ slot: number | null; wait_ms: number | null; cooldown_until: Date | null }>(
          'select slot, wait_ms, cooldown_until from app_private.acquire_host_lease($1, $2, $3, $4::interval)',
          [host, maxPerHost, holder, `${leaseMs} milliseconds`],
        );
        const { slot, wait_ms: cooldownMs, cooldown_until: cooldownUntil } = rows[0];
        if (slot !== null) {
          return async () => {
            try {
              await query('select app_private.release_host_lease($1, $2, $3)', [host, slot, holder]);
            } catch (error) {
              logger.warn(`could not release a slot of ${host}; it lapses in ${leaseMs} ms`, { error });
            }
          };
        }
        let wait: number;
        if (cooldownMs !== null) {
          if (cooldownMs > maxCooldownWaitMs) {
            // (The same message for every item held back by one pause: the run summary groups them.)
            throw new RetryAfterError(`${host} asked for no requests before ${cooldownUntil!.toISOString()} (Retry-After)`, cooldownUntil!, false);
          }
          wait = cooldownMs;
        } else {
          if (Date.now() >= deadline) {
            throw new HostBusyError(`no free slot for ${host} within ${hostWaitMs} ms (at most ${maxPerHost} requests at a time)`);
          }
          wait = Math.min(pause * (0.5 + Math.random()), Math.max(deadline - Date.now(), 1));
          pause = Math.min(pause * 1.5, 250);
        }
        await sleep(wait, undefined, { signal }).catch(() => {
          throw aborted(signal);
        });
      }
    },
    async coolDown(host, ms, reason) {
      try {
        await query('select app_private.cool_down_host($1, $2::interval, $3)', [host, `${ms} milliseconds`, reason]);
      } catch (error) {
        logger.warn(`could not record that ${host} asked for a pause`, { error });
      }
    },
  };
}
