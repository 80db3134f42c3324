// Repairs what crashes leave behind (see app_private.sweep_batches). Runs every minute from the
// crontab, and at once when a worker's heartbeat notices a dead peer.
import type { Task } from 'graphile-worker';
import { withoutStatementTimeout } from '../server/db/session.ts';

declare global {
  namespace GraphileWorker {
    interface Tasks {
      sweep_batches: Record<string, never>;
    }
  }
}

export const sweep_batches: Task = async (_payload, helpers) => {
  // (It checks every unfinished batch's counters against its items.)
  const { rows } = await helpers.withPgClient((client) => withoutStatementTimeout(client, () =>
    client.query<{ repairs: Record<string, number> }>('select app_private.sweep_batches() as repairs')));
  const repairs = rows[0].repairs;
  if (Object.keys(repairs).length > 0) helpers.logger.warn('sweeper repaired what a crash left', { repairs });
};

export default sweep_batches;
