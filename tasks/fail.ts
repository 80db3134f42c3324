// Kind `fail`: fails with the payload's `message`; with `fail_times: n`, only its first n attempts.
import { itemTask, type ChunkPayload } from '../server/worker/item_task.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      fail: ChunkPayload;
    }
  }
}

interface FailPayload {
  message: string;
  fail_times: number | null;
}

export const fail = itemTask<FailPayload>({
  parse(payload) {
    const { message = 'failed on purpose', fail_times = null } = payload as { message?: unknown; fail_times?: unknown };
    if (typeof message !== 'string') throw new Error('message must be a string');
    if (fail_times !== null && (typeof fail_times !== 'number' || !Number.isInteger(fail_times) || fail_times < 0)) {
      throw new Error('fail_times must be a non-negative integer');
    }
    return { message, fail_times };
  },
  async run({ message, fail_times }, { attempt }) {
    if (fail_times === null || attempt <= fail_times) throw new Error(message);
    return { attempts_needed: attempt };
  },
});

export default fail;
