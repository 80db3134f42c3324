// @ts-check
// Schedules (admins): the crontab's tasks, a late one as an alarm, and "run now" for scoring and
// training. An admin token with a tenant starts runs for its tenant; without one, for every tenant.
import { useState } from 'preact/hooks';
import { graphql } from '../lib/api.js';
import { ago, dateTime, fromNow, shortId } from '../lib/format.js';
import { ErrorMessage, html, PageHeading, StatusBadge, useNow, useQuery, useSession } from '../lib/ui.js';

const SCHEDULES_QUERY = `
  query Schedules {
    allSchedulerStatuses(first: 100, orderBy: TASK_IDENTIFIER_ASC) {
      nodes { taskIdentifier schedule lastRunAt nextRunAt isLate lastBatchId lastBatchStatus }
    }
  }`;

/** What each scheduled task does, for the table. */
const TASK_PURPOSES = /** @type {Record<string, string>} */ ({
  sweep_batches: 'Repairs what crashes left: items of dead workers, counters, missing summaries.',
  start_review_scoring: 'Scores the reviews that need it; seller scoring follows.',
  prune_finished_batches: 'Removes finished work past its retention (ITEM_RETENTION_DAYS, BATCH_RETENTION_DAYS): items, old catalog files, old batches.',
});

const RUNS = [
  { name: 'triggerReviewScoring', label: 'Score reviews now', startsBatches: true, note: 'seller scoring follows when it finishes' },
  { name: 'triggerSellerScoring', label: 'Score sellers now', startsBatches: true, note: '' },
  { name: 'triggerAllScoring', label: 'Score reviews, then sellers, now', startsBatches: true, note: '' },
  { name: 'triggerReviewScorerTraining', label: 'Train the review scorer now', startsBatches: false, note: 'runs in the background; Models shows whether the new version became active' },
];

export function SchedulesPage() {
  const { data, error, loading, reload } = useQuery(SCHEDULES_QUERY, {}, { pollMs: 10_000 });
  const now = useNow(5000);
  const rows = data?.allSchedulerStatuses.nodes ?? [];
  const late = rows.filter((/** @type {any} */ row) => row.isLate);
  return html`
    <section>
      <${PageHeading} title="Schedules" />
      <${ErrorMessage} error=${error} prefix="Could not load the schedules" />
      ${late.length ? html`
        <div class="alarm" role="alert">
          <strong>${late.length === 1 ? '1 scheduled task is late' : `${late.length} scheduled tasks are late`}:</strong>
          ${late.map((/** @type {any} */ row) => row.taskIdentifier).join(', ')} has not run for twice its period. Is a worker running the crontab?
        </div>` : null}
      ${loading && !data ? html`<p class="muted">Loading\u2026</p>` : null}
      ${data ? html`
        <div class="table-scroll">
          <table class="data schedules">
            <thead><tr><th scope="col">Task</th><th scope="col">Schedule (UTC)</th><th scope="col">Last run</th><th scope="col">Next run</th><th scope="col">Last batch</th></tr></thead>
            <tbody>
              ${rows.map((/** @type {any} */ row) => html`
                <tr data-task=${row.taskIdentifier} class=${row.isLate ? 'late' : ''}>
                  <th scope="row" data-label="Task">
                    <code class="long">${row.taskIdentifier}</code>
                    ${row.isLate ? html` <span class="badge late-badge">late</span>` : null}
                    ${TASK_PURPOSES[row.taskIdentifier] ? html`<br /><span class="muted">${TASK_PURPOSES[row.taskIdentifier]}</span>` : null}
                  </th>
                  <td data-label="Schedule"><code>${row.schedule}</code></td>
                  <td data-label="Last run" title=${dateTime(row.lastRunAt)}>${row.lastRunAt ? ago(row.lastRunAt, now) : 'never'}</td>
                  <td data-label="Next run" title=${dateTime(row.nextRunAt)}>${fromNow(row.nextRunAt, now)}</td>
                  <td data-label="Last batch">${row.lastBatchId ? html`<a href=${`/batches/${row.lastBatchId}`}>${shortId(row.lastBatchId)}</a> <${StatusBadge} status=${row.lastBatchStatus} />` : html`<span class="muted">none</span>`}</td>
                </tr>`)}
            </tbody>
          </table>
        </div>
        ${rows.length === 0 ? html`<p class="muted">No scheduled task yet: workers record the crontab when they start.</p>` : null}` : null}
      <${RunNow} onDone=${reload} />
    </section>`;
}

function RunNow(/** @type {{ onDone: () => void }} */ { onDone }) {
  const { token, audience } = useSession();
  const [busy, setBusy] = useState(/** @type {string | null} */ (null));
  const [result, setResult] = useState(/** @type {{ text: string, batches?: Array<{ id: string, kind: string, status: string }>, error?: boolean } | null} */ (null));
  const run = async (/** @type {typeof RUNS[number]} */ action) => {
    setBusy(action.name);
    setResult(null);
    try {
      const selection = action.startsBatches ? '{ result { id kind status } }' : '{ result }';
      const data = await graphql(token, `mutation Run { ${action.name}(input: {}) ${selection} }`);
      const answer = data[action.name].result;
      if (action.startsBatches) {
        const batches = answer ?? [];
        setResult({ text: batches.length ? `Started ${batches.length} batch${batches.length === 1 ? '' : 'es'}${action.note ? ` (${action.note})` : ''}:` : 'Nothing to score.', batches });
      } else {
        setResult({ text: answer ? `Training started: ${action.note}.` : 'Not enough labelled reviews to train on.' });
      }
      onDone();
    } catch (error) {
      setResult({ text: /** @type {Error} */ (error).message, error: true });
    } finally {
      setBusy(null);
    }
  };
  return html`
    <section aria-labelledby="run-now-heading" class="panel">
      <h2 id="run-now-heading">Run now</h2>
      <p>${audience.hasTenant ? 'For your tenant only.' : 'For every tenant.'} A tenant's scoring run already under way is returned instead of a second one.</p>
      <div class="buttons">
        ${RUNS.map((action) => html`<button type="button" onClick=${() => run(action)} disabled=${busy !== null}>${busy === action.name ? 'Starting\u2026' : action.label}</button>`)}
      </div>
      <div role="status" aria-live="polite" class=${result?.error ? 'error' : 'result'}>
        ${result ? html`<p>${result.text}</p>` : null}
        ${result?.batches?.length ? html`<ul>${result.batches.map((b) => html`<li><a href=${`/batches/${b.id}`}>${b.kind} ${shortId(b.id)}</a> <${StatusBadge} status=${b.status} /></li>`)}</ul>` : null}
      </div>
    </section>`;
}
