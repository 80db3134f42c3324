// Kind `noop`: does nothing, after `sleep_ms` if asked; stands for work in tests and benchmarks.
import { setTimeout as sleep } from 'node:timers/promises';
import { itemTask, type ChunkPayload } from '../server/worker/item_task.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      noop: ChunkPayload;
    }
  }
}

const MAX_SLEEP_MS = 2 ** 31 - 1;

interface NoopPayload {
  sleep_ms: number;
}

export const noop = itemTask<NoopPayload>({
  // Sleeping items overlap, as real I/O-bound items would.
  concurrency: 50,
  parse(payload) {
    const { sleep_ms = 0 } = payload as { sleep_ms?: unknown };
    // A timer waits at most 2^31 - 1 ms: a longer one would fire at once.
    if (typeof sleep_ms !== 'number' || !(sleep_ms >= 0 && sleep_ms <= MAX_SLEEP_MS)) {
      throw new Error(`sleep_ms must be a number of milliseconds from 0 to ${MAX_SLEEP_MS}`);
    }
    return { sleep_ms };
  },
  async run({ sleep_ms }, { signal }) {
    if (sleep_ms > 0) {
      await sleep(sleep_ms, undefined, { signal }).catch(() => {
        throw new Error('interrupted');
      });
      return { slept_ms: sleep_ms };
    }
  },
});

export default noop;
