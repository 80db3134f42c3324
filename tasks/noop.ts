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

interface NoopPayload {
  sleep_ms: number;
}

export const noop = itemTask<NoopPayload>({
  // Sleeping items overlap, as real I/O-bound items would.
  concurrency: 50,
  parse(payload) {
    const { sleep_ms = 0 } = payload as { sleep_ms?: unknown };
    if (typeof sleep_ms !== 'number' || !Number.isFinite(sleep_ms) || sleep_ms < 0) {
      throw new Error('sleep_ms must be a non-negative number');
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
