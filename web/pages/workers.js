// @ts-check
// Workers and queue (the installation's operator): live workers and their last heartbeat, the
// queue by task with the age of its oldest runnable job, and the sweeper's repairs of the day.
// All tenants share these, so only an admin token without a tenant reads them.
import { ago, count, dateTime, duration, shortId } from '../lib/format.js';
import { ErrorMessage, html, JsonValue, PageHeading, useNow, useQuery } from '../lib/ui.js';

const WORKERS_QUERY = `
  query WorkersAndQueue {
    allWorkersList(orderBy: PRIMARY_KEY_ASC) { id hostname pid concurrency startedAt lastSeenAt isAlive processingItems }
    allTaskQueuesList(orderBy: PRIMARY_KEY_ASC) { taskIdentifier runnableJobs oldestRunnableAt oldestRunnableAgeSeconds runningJobs scheduledJobs failedJobs }
    allRecentSweeperRepairs(first: 50, orderBy: PRIMARY_KEY_DESC) { totalCount nodes { id repairedAt repair batchId workerId details } }
  }`;

const REPAIRS = /** @type {Record<string, string>} */ ({
  released_items: 'gave back the items of a dead worker',
  removed_dead_worker: 'removed a dead worker',
  returned_lost_jobs: 'gave back jobs whose fetch was lost',
  corrected_counters: 'corrected a batch\u2019s counts',
  settled_batch: 'gave a batch the status its counts imply',
  enqueued_summary: 'enqueued a missing summary',
  enqueued_orphaned_items: 'enqueued items that had lost their job',
});

export function WorkersPage() {
  const { data, error, loading } = useQuery(WORKERS_QUERY, {}, { pollMs: 2000 });
  const now = useNow(1000);
  const workers = data?.allWorkersList ?? [];
  const alive = workers.filter((/** @type {any} */ w) => w.isAlive);
  return html`
    <section>
      <${PageHeading} title="Workers & queue" />
      <${ErrorMessage} error=${error} prefix="Could not load workers and queue" />
      ${loading && !data ? html`<p class="muted">Loading\u2026</p>` : null}
      ${data ? html`
        ${alive.length === 0 ? html`<div class="alarm" role="alert"><strong>No worker is alive.</strong> Batches do not move until one runs (npm run worker, or npm start).</div>` : null}
        <section aria-labelledby="workers-heading">
          <h2 id="workers-heading">Workers <span class="muted">(${alive.length} alive)</span></h2>
          <div class="table-scroll">
            <table class="data workers">
              <thead><tr><th scope="col">Worker</th><th scope="col">Host and pid</th><th scope="col">Last heartbeat</th><th scope="col" class="num">Running items</th><th scope="col" class="num">Concurrency</th><th scope="col">Started</th></tr></thead>
              <tbody>
                ${workers.map((/** @type {any} */ w) => html`
                  <tr data-worker-pid=${w.pid} data-alive=${String(w.isAlive)}>
                    <th scope="row" data-label="Worker"><code class="long">${w.id}</code> ${w.isAlive ? html`<span class="badge status-completed">alive</span>` : html`<span class="badge status-cancelled">stopped</span>`}</th>
                    <td data-label="Host and pid" class="long">${w.hostname} · ${w.pid}</td>
                    <td data-label="Last heartbeat" title=${dateTime(w.lastSeenAt)}>${ago(w.lastSeenAt, now)}</td>
                    <td data-label="Running items" class="num">${count(w.processingItems)}</td>
                    <td data-label="Concurrency" class="num">${w.concurrency}</td>
                    <td data-label="Started" title=${dateTime(w.startedAt)}>${ago(w.startedAt, now)}</td>
                  </tr>`)}
              </tbody>
            </table>
          </div>
          ${workers.length === 0 ? html`<p class="muted">No worker has a heartbeat.</p>` : null}
        </section>
        <section aria-labelledby="queue-heading">
          <h2 id="queue-heading">Queue by task</h2>
          <div class="table-scroll">
            <table class="data queue">
              <thead><tr><th scope="col">Task</th><th scope="col" class="num">Runnable</th><th scope="col">Oldest runnable waits</th><th scope="col" class="num">Running</th><th scope="col" class="num">Scheduled</th><th scope="col" class="num">Failed for good</th></tr></thead>
              <tbody>
                ${data.allTaskQueuesList.map((/** @type {any} */ q) => html`
                  <tr data-task=${q.taskIdentifier}>
                    <th scope="row" data-label="Task"><code class="long">${q.taskIdentifier}</code></th>
                    <td data-label="Runnable" class="num">${count(q.runnableJobs)}</td>
                    <td data-label="Oldest runnable waits" title=${dateTime(q.oldestRunnableAt)}>${q.oldestRunnableAgeSeconds === null ? '–' : duration(Number(q.oldestRunnableAgeSeconds))}</td>
                    <td data-label="Running" class="num">${count(q.runningJobs)}</td>
                    <td data-label="Scheduled" class="num">${count(q.scheduledJobs)}</td>
                    <td data-label="Failed for good" class="num">${count(q.failedJobs)}</td>
                  </tr>`)}
              </tbody>
            </table>
          </div>
          ${data.allTaskQueuesList.length === 0 ? html`<p class="muted">The queue is empty.</p>` : null}
        </section>
        <section aria-labelledby="repairs-heading">
          <h2 id="repairs-heading">Sweeper repairs, last 24 hours <span class="muted">(${count(data.allRecentSweeperRepairs.totalCount)})</span></h2>
          <p class="muted">Each repair means a worker crashed or something was damaged.</p>
          <div class="table-scroll">
            <table class="data repairs">
              <thead><tr><th scope="col">When</th><th scope="col">Repair</th><th scope="col">Batch</th><th scope="col">Worker</th><th scope="col">Details</th></tr></thead>
              <tbody>
                ${data.allRecentSweeperRepairs.nodes.map((/** @type {any} */ r) => html`
                  <tr data-repair=${r.repair}>
                    <td data-label="When" title=${dateTime(r.repairedAt)}>${ago(r.repairedAt, now)}</td>
                    <td data-label="Repair">${REPAIRS[r.repair] ?? r.repair}</td>
                    <td data-label="Batch">${r.batchId ? html`<a href=${`/batches/${r.batchId}`}>${shortId(r.batchId)}</a>` : '–'}</td>
                    <td data-label="Worker"><code class="long">${r.workerId ?? '–'}</code></td>
                    <td data-label="Details"><${JsonValue} value=${r.details} /></td>
                  </tr>`)}
              </tbody>
            </table>
          </div>
          ${data.allRecentSweeperRepairs.totalCount === 0 ? html`<p class="muted">No repairs.</p>` : null}
        </section>` : null}
    </section>`;
}
