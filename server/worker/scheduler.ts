// The crontab as the worker runs it, and the scheduler's record behind app_public.scheduler_status:
// each entry's schedule, period and next run (written when a worker starts) and its last run
// (written as each scheduled task starts).
import fs from 'node:fs';
import { parseCrontab, type ParsedCronItem, type Task, type TaskList } from 'graphile-worker';
import type pg from 'pg';

/** Where the crontab is, and start_review_scoring's schedule when it is configured (REVIEW_SCORING_CRON). */
export interface CrontabOptions {
  file: string;
  reviewScoringSchedule: string | undefined;
}

/** The checked-in crontab, with the configured schedule of start_review_scoring instead of its own. */
function crontabText({ file, reviewScoringSchedule }: CrontabOptions): string {
  const text = fs.readFileSync(file, 'utf8');
  if (!reviewScoringSchedule) return text;
  return text.replace(/^(\S+\s+){5}(start_review_scoring\b.*)$/m, `${reviewScoringSchedule} $2`);
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

export function parsedCrontab(options: CrontabOptions): { text: string; items: ParsedCronItem[] } {
  const text = crontabText(options);
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

/**
 * Wraps the crontab's tasks so that each run is recorded as it starts (its last run and next
 * run in app_private.scheduled_tasks), whoever the task is: the record of a scheduler that runs.
 */
export function recordingScheduledRuns(taskList: TaskList, items: ParsedCronItem[]): TaskList {
  const scheduled = new Map(items.map((item) => [item.task, item]));
  return Object.fromEntries(Object.entries(taskList).map(([identifier, task]) => {
    const item = scheduled.get(identifier);
    if (!item || !task) return [identifier, task];
    const recorded: Task = async (payload, helpers) => {
      await helpers.query(
        'update app_private.scheduled_tasks set last_run_at = now(), next_run_at = coalesce($2, next_run_at) where task_identifier = $1',
        [identifier, nextRunAt(item, new Date())],
      );
      return task(payload, helpers);
    };
    return [identifier, recorded];
  }));
}

/** Called by a scheduled run that starts batches (the scoring runs): what it started, one per tenant. */
export async function recordScheduledBatches(db: Pick<pg.Pool, 'query'>, task: string, batchIds: string[]): Promise<void> {
  await db.query('update app_private.scheduled_tasks set last_batch_ids = $2::uuid[] where task_identifier = $1', [task, batchIds]);
}
