// The crontab as the worker runs it, and the scheduler's record behind app_public.scheduler_status:
// each entry's schedule, period and next run (written when a worker starts) and its last run
// (written by the task).
import fs from 'node:fs';
import { parseCrontab, type ParsedCronItem } from 'graphile-worker';
import type pg from 'pg';

export const crontabPath = new URL('../tasks/crontab', import.meta.url);

const fivePartSchedule = /^(\S+\s+){4}\S+$/;

/** The checked-in crontab, with REVIEW_SCORING_CRON (if set) as start_review_scoring's schedule. */
export function crontabText(): string {
  const text = fs.readFileSync(crontabPath, 'utf8');
  const override = process.env.REVIEW_SCORING_CRON?.trim();
  if (!override) return text;
  if (!fivePartSchedule.test(override)) throw new Error(`REVIEW_SCORING_CRON must have five fields, like "0 2 * * *", not "${override}"`);
  return text.replace(/^(\S+\s+){5}(start_review_scoring\b.*)$/m, `${override} $2`);
}

function scheduleOf(text: string, task: string): string {
  const line = text.split('\n').find((entry) => !entry.startsWith('#') && entry.split(/\s+/)[5] === task);
  return line ? line.split(/\s+/).slice(0, 5).join(' ') : '';
}

/** The next minute (UTC) after `from` at which the item runs, within a year. */
export function nextRunAt(item: ParsedCronItem, from: Date): Date | null {
  const at = new Date(from);
  at.setUTCSeconds(0, 0);
  for (let minutes = 0; minutes < 366 * 24 * 60; minutes++) {
    at.setUTCMinutes(at.getUTCMinutes() + 1);
    const digest = { min: at.getUTCMinutes(), hour: at.getUTCHours(), date: at.getUTCDate(), month: at.getUTCMonth() + 1, dow: at.getUTCDay() };
    if (item.match(digest)) return new Date(at);
  }
  return null;
}

/** The typical gap between two runs: from the next run to the one after it. */
function periodOf(item: ParsedCronItem, from: Date): number {
  const next = nextRunAt(item, from);
  const after = next ? nextRunAt(item, next) : null;
  return next && after ? (after.getTime() - next.getTime()) / 1000 : 24 * 3600;
}

export function parsedCrontab(): { text: string; items: ParsedCronItem[] } {
  const text = crontabText();
  return { text, items: parseCrontab(text) };
}

/** Records each crontab entry's schedule, period and next run. */
export async function registerSchedules(db: Pick<pg.Pool, 'query'>, text: string, items: ParsedCronItem[]): Promise<void> {
  const now = new Date();
  for (const item of items) {
    await db.query(
      `insert into app_private.scheduled_tasks (task_identifier, schedule, period, next_run_at)
       values ($1, $2, make_interval(secs => $3), $4)
       on conflict (task_identifier) do update set schedule = excluded.schedule, period = excluded.period,
         next_run_at = excluded.next_run_at`,
      [item.task, scheduleOf(text, item.task), periodOf(item, now), nextRunAt(item, now)],
    );
  }
}

/** Called by a scheduled task when it runs: its last run, the batches it started, its next run. */
export async function recordScheduledRun(db: Pick<pg.Pool, 'query'>, task: string, batchIds: string[] = []): Promise<void> {
  const item = parsedCrontab().items.find((candidate) => candidate.task === task);
  await db.query(
    `update app_private.scheduled_tasks set last_run_at = now(), last_batch_ids = $2::uuid[], next_run_at = coalesce($3, next_run_at)
     where task_identifier = $1`,
    [task, batchIds, item ? nextRunAt(item, new Date()) : null],
  );
}
