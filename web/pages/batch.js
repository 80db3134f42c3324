// @ts-check
// A batch: where it stands (live), its items by status, its failed items with their errors, its
// run summary, and what the token may do to it (retry failed items, cancel, ask for the summary).
import { useEffect, useRef, useState } from 'preact/hooks';
import { graphql } from '../lib/api.js';
import { ago, count, dateTime, duration, isFinished, shortId } from '../lib/format.js';
import { ErrorMessage, html, JsonValue, PageHeading, Pager, ProgressBar, StatusBadge, StuckReason, useNow, useQuery, useSession, useSubscription } from '../lib/ui.js';
import { isProgressOver, ItemCounts, newestSummary, PROGRESS_SUBSCRIPTION, SUMMARY_FIELDS } from './batches.js';

const FAILED_PAGE_SIZE = 20;

const RUN_SUMMARY_FIELDS = 'status totalItems succeededItems failedItems cancelledItems durationSeconds errors stats createdAt';

export const BATCH_QUERY = `
  query Batch($id: UUID!, $errorContains: String, $failedOffset: Int!) {
    batchById(id: $id) {
      id kind status totalItems metadata idempotencyKey createdAt startedAt finishedAt itemsPrunedAt
      tenant { name }
      statusSummary { ${SUMMARY_FIELDS} }
      items { groupedAggregates(groupBy: STATUS) { keys average { attempts } max { attempts } } }
      failedItems(errorContains: $errorContains, first: ${FAILED_PAGE_SIZE}, offset: $failedOffset) {
        totalCount
        nodes { id attempts lastError payload finishedAt }
      }
      runSummary { ${RUN_SUMMARY_FIELDS} }
    }
  }`;

const ITEM_STATUSES = ['pending', 'processing', 'succeeded', 'failed', 'cancelled'];

/** Calls `fn` at most once per `ms`, the last call of a burst included. */
function useThrottle(/** @type {() => void} */ fn, ms = 1500) {
  const last = useRef(0);
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | null} */ (null));
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);
  return () => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      latest.current();
    }, wait);
  };
}

/** @param {{ batchId: string }} props */
export function BatchPage({ batchId }) {
  const { audience } = useSession();
  const [errorContains, setErrorContains] = useState('');
  const [search, setSearch] = useState('');
  const [failedOffset, setFailedOffset] = useState(0);
  const [finished, setFinished] = useState(false);
  const [hasSummary, setHasSummary] = useState(false);
  // Polled while it runs (stuck reasons change without any item moving) and until its summary
  // is written; its counters also move it by subscription.
  const { data, error, loading, reload } = useQuery(
    BATCH_QUERY,
    { id: batchId, errorContains: errorContains || null, failedOffset },
    { pollMs: finished && hasSummary ? 0 : 3000 },
  );
  const [loadedAt, setLoadedAt] = useState(0);
  const [pushed, setPushed] = useState(/** @type {{ summary: any, at: number } | null} */ (null));
  const batch = data?.batchById;
  useEffect(() => {
    setLoadedAt(Date.now());
    if (batch) {
      setFinished(isFinished(batch.status));
      setHasSummary(Boolean(batch.runSummary));
    }
  }, [data]);
  const reloadSoon = useThrottle(reload);
  useSubscription(PROGRESS_SUBSCRIPTION, { batchId }, (pushedData) => {
    if (!pushedData.batchProgress) return;
    setPushed({ summary: pushedData.batchProgress, at: Date.now() });
    reloadSoon();
  }, { skip: finished, isOver: isProgressOver });
  const now = useNow(5000);

  if (error && !batch) return html`<section><${PageHeading} title="Batch" /><${ErrorMessage} error=${error} prefix="Could not load the batch" /></section>`;
  if (loading && !data) return html`<section><${PageHeading} title="Batch" /><p class="muted">Loading\u2026</p></section>`;
  if (!batch) {
    return html`<section><${PageHeading} title="Batch not found" /><p>No batch <code class="long">${batchId}</code> that your token may see. <a href="/batches">All batches</a></p></section>`;
  }
  const summary = newestSummary(batch.statusSummary, loadedAt, pushed);
  // Counts by status from the batch's counters (kept by the database, exact); attempts from the
  // items themselves, grouped by status.
  const attemptsByStatus = new Map((batch.items.groupedAggregates ?? []).map((/** @type {any} */ group) => [group.keys[0], group]));
  const countOf = (/** @type {string} */ status) => summary[`${status}Items`];
  const groups = ITEM_STATUSES.filter((status) => countOf(status) > 0 || attemptsByStatus.has(status))
    .map((status) => ({ status, count: countOf(status), attempts: attemptsByStatus.get(status) }));
  return html`
    <article class="batch" data-batch-id=${batch.id} data-status=${summary.status}>
      <p class="crumbs"><a href="/batches">Batches</a> /</p>
      <${PageHeading} title=${`${batch.kind} ${shortId(batch.id)}`}>
        <span class="kind long">${batch.kind}</span> <span class="id">${shortId(batch.id)}</span>
      <//>
      <div class="headline">
        <${StatusBadge} status=${summary.status} />
        <${ProgressBar} summary=${summary} label="progress of this batch" />
        <${ItemCounts} summary=${summary} />
      </div>
      <${StuckReason} reason=${summary.stuckReason} />
      <${ErrorMessage} error=${error} prefix="Could not refresh" />
      <dl class="facts">
        <div><dt>Id</dt><dd><code class="long">${batch.id}</code></dd></div>
        ${audience.isInstallationOperator ? html`<div><dt>Tenant</dt><dd class="long">${batch.tenant?.name}</dd></div>` : null}
        <div><dt>Created</dt><dd title=${dateTime(batch.createdAt)}>${ago(batch.createdAt, now)}</dd></div>
        <div><dt>Started</dt><dd>${summary.startedAt ? dateTime(summary.startedAt) : 'not yet'}</dd></div>
        <div><dt>Finished</dt><dd>${summary.finishedAt ? html`${dateTime(summary.finishedAt)} (took ${duration((Date.parse(summary.finishedAt) - Date.parse(summary.startedAt ?? batch.createdAt)) / 1000)})` : 'not yet'}</dd></div>
        ${batch.itemsPrunedAt ? html`<div data-items-pruned><dt>Items</dt><dd>removed ${dateTime(batch.itemsPrunedAt)}, past their retention; the counts and the run summary stay</dd></div>` : null}
        ${batch.idempotencyKey ? html`<div><dt>Idempotency key</dt><dd class="long">${batch.idempotencyKey}</dd></div>` : null}
        ${Object.keys(batch.metadata ?? {}).length ? html`<div><dt>Metadata</dt><dd><${JsonValue} value=${batch.metadata} /></dd></div>` : null}
      </dl>
      <${BatchActions} batch=${batch} summary=${summary} onDone=${reload} />
      <section aria-labelledby="groups-heading">
        <h2 id="groups-heading">Items by status</h2>
        <div class="table-scroll">
          <table class="data">
            <thead><tr><th scope="col">Status</th><th scope="col" class="num">Items</th><th scope="col" class="num">Attempts (mean)</th><th scope="col" class="num">Attempts (most)</th></tr></thead>
            <tbody>
              ${groups.map((group) => html`
                <tr data-item-status=${group.status}>
                  <th scope="row" data-label="Status">${group.status}</th>
                  <td data-label="Items" class="num">${count(group.count)}</td>
                  <td data-label="Attempts (mean)" class="num">${group.attempts ? Number(group.attempts.average.attempts).toFixed(2) : '–'}</td>
                  <td data-label="Attempts (most)" class="num">${group.attempts ? count(group.attempts.max.attempts) : '–'}</td>
                </tr>`)}
            </tbody>
          </table>
        </div>
        ${groups.length === 0 ? html`<p class="muted">${batch.itemsPrunedAt
          ? `Its items were removed ${dateTime(batch.itemsPrunedAt)}, past their retention; the counts above and the run summary stay.`
          : 'No items.'}</p>` : null}
      </section>
      <section aria-labelledby="failed-heading" class="failed-items">
        <h2 id="failed-heading">Failed items</h2>
        <form role="search" aria-label="search failed items by error" class="inline-form" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setFailedOffset(0); setErrorContains(search.trim()); }}>
          <label for="error-contains">Error contains</label>
          <input id="error-contains" type="search" value=${search} onInput=${(/** @type {any} */ e) => setSearch(e.currentTarget.value)} />
          <button type="submit">Search</button>
        </form>
        ${batch.failedItems.totalCount === 0
          ? html`<p class="muted">${errorContains ? `No failed item's error contains \u201c${errorContains}\u201d.`
            : batch.itemsPrunedAt && summary.failedItems > 0 ? `${count(summary.failedItems)} item${summary.failedItems === 1 ? '' : 's'} failed; the items were removed ${dateTime(batch.itemsPrunedAt)}, and the run summary keeps their errors.`
            : 'No failed items.'}</p>`
          : html`
            <div class="table-scroll">
              <table class="data failed">
                <thead><tr><th scope="col">Item</th><th scope="col" class="num">Attempts</th><th scope="col">Last error</th><th scope="col">Payload</th><th scope="col">Failed</th></tr></thead>
                <tbody>
                  ${batch.failedItems.nodes.map((/** @type {any} */ item) => html`
                    <tr data-item-id=${item.id}>
                      <td data-label="Item">${item.id}</td>
                      <td data-label="Attempts" class="num">${item.attempts}</td>
                      <td data-label="Last error" class="error-text"><${LongText} text=${item.lastError ?? ''} /></td>
                      <td data-label="Payload"><${LongText} text=${JSON.stringify(item.payload)} code=${true} limit=${120} /></td>
                      <td data-label="Failed">${ago(item.finishedAt, now)}</td>
                    </tr>`)}
                </tbody>
              </table>
            </div>
            <${Pager} offset=${failedOffset} pageSize=${FAILED_PAGE_SIZE} total=${batch.failedItems.totalCount} noun="failed items" onPage=${setFailedOffset} />`}
      </section>
      <${RunSummary} summary=${batch.runSummary} finished=${isFinished(summary.status)} />
    </article>`;
}

/** Text of any length: the start of a long one, the rest behind a disclosure. */
function LongText(/** @type {{ text: string, code?: boolean, limit?: number }} */ { text, code = false, limit = 300 }) {
  const Tag = code ? 'code' : 'span';
  if (text.length <= limit) return html`<${Tag} class="long">${text}<//>`;
  return html`
    <details class="long-text">
      <summary><${Tag} class="long">${text.slice(0, limit)}\u2026<//> <span class="muted">(${count(text.length)} characters: show all)</span></summary>
      <${Tag} class="long full">${text}<//>
    </details>`;
}

/**
 * The actions on a batch, each answered in place. Retry and cancel are an operator's (the
 * functions check that the token may see the batch); nothing here is admin-only.
 * @param {{ batch: any, summary: any, onDone: () => void }} props
 */
function BatchActions({ batch, summary, onDone }) {
  const { token } = useSession();
  const [result, setResult] = useState(/** @type {{ text: string, error?: boolean } | null} */ (null));
  const [busy, setBusy] = useState(/** @type {string | null} */ (null));
  const [confirmingCancel, setConfirmingCancel] = useState(false);
  const [requested, setRequested] = useState(/** @type {any} */ (null));
  const finished = isFinished(summary.status);
  const act = async (/** @type {string} */ name, /** @type {() => Promise<string>} */ run) => {
    setBusy(name);
    setResult(null);
    try {
      setResult({ text: await run() });
      onDone();
    } catch (error) {
      setResult({ text: /** @type {Error} */ (error).message, error: true });
    } finally {
      setBusy(null);
    }
  };
  const retry = () => act('retry', async () => {
    const failed = summary.failedItems;
    const data = await graphql(token, 'mutation Retry($id: UUID!) { retryFailedItems(input: { batchId: $id }) { result { id status } } }', { id: batch.id });
    return `${count(failed)} failed item${failed === 1 ? '' : 's'} put back in the queue; the batch is ${data.retryFailedItems.result.status} again.`;
  });
  const cancel = () => act('cancel', async () => {
    setConfirmingCancel(false);
    const data = await graphql(token, 'mutation Cancel($id: UUID!) { cancelBatch(input: { batchId: $id }) { result { id status } } }', { id: batch.id });
    return `Cancelled: the items not yet finished will not run (the batch is ${data.cancelBatch.result.status.replace(/_/g, ' ')}).`;
  });
  const requestSummary = () => act('summary', async () => {
    const data = await graphql(token, `mutation Summary($id: UUID!) { requestBatchSummary(input: { batchId: $id }) { result { state retryAfterSeconds summary { ${RUN_SUMMARY_FIELDS} } } } }`, { id: batch.id });
    const answer = data.requestBatchSummary.result;
    setRequested(answer);
    if (answer.state === 'ready') return 'The summary is ready (below).';
    if (answer.state === 'pending') return `The summary is being written; it should be ready in about ${answer.retryAfterSeconds ?? 1} s (this page shows it when it is).`;
    return 'The batch has not finished: its summary is written when it does.';
  });
  return html`
    <section aria-labelledby="actions-heading" class="actions">
      <h2 id="actions-heading" class="visually-hidden">Actions</h2>
      <div class="buttons">
        ${summary.failedItems > 0 && !batch.itemsPrunedAt ? html`<button type="button" onClick=${retry} disabled=${busy !== null}>${busy === 'retry' ? 'Retrying\u2026' : `Retry ${count(summary.failedItems)} failed item${summary.failedItems === 1 ? '' : 's'}`}</button>` : null}
        ${!finished && !confirmingCancel ? html`<button type="button" class="danger" onClick=${() => setConfirmingCancel(true)} disabled=${busy !== null}>Cancel batch\u2026</button>` : null}
        ${!finished && confirmingCancel ? html`
          <span class="confirm" role="group" aria-label="confirm cancelling">
            <span>Cancel the ${count(summary.pendingItems + summary.processingItems)} items not finished?</span>
            <button type="button" class="danger" onClick=${cancel} disabled=${busy !== null}>${busy === 'cancel' ? 'Cancelling\u2026' : 'Yes, cancel the batch'}</button>
            <button type="button" onClick=${() => setConfirmingCancel(false)}>Keep it running</button>
          </span>` : null}
        ${finished && !batch.runSummary ? html`<button type="button" onClick=${requestSummary} disabled=${busy !== null}>${busy === 'summary' ? 'Asking\u2026' : 'Request the summary'}</button>` : null}
      </div>
      <p class=${result?.error ? 'error' : 'result'} role="status" aria-live="polite">${result?.text ?? ''}</p>
      ${requested?.state === 'ready' && !batch.runSummary ? html`<${RunSummary} summary=${requested.summary} finished=${true} />` : null}
    </section>`;
}

/** @param {{ summary: any, finished: boolean }} props */
function RunSummary({ summary, finished }) {
  return html`
    <section aria-labelledby="summary-heading" class="run-summary">
      <h2 id="summary-heading">Run summary</h2>
      ${!summary
        ? html`<p class="muted">${finished ? 'Being written\u2026' : 'Written when the batch finishes.'}</p>`
        : html`
          <dl class="facts">
            <div><dt>Status</dt><dd><${StatusBadge} status=${summary.status} /></dd></div>
            <div><dt>Duration</dt><dd>${duration(Number(summary.durationSeconds))}</dd></div>
            <div><dt>Items</dt><dd>${count(summary.succeededItems)} succeeded, ${count(summary.failedItems)} failed, ${count(summary.cancelledItems)} cancelled of ${count(summary.totalItems)}</dd></div>
          </dl>
          ${summary.errors.length ? html`
            <h3>Errors</h3>
            <div class="table-scroll">
              <table class="data errors">
                <thead><tr><th scope="col">Message</th><th scope="col" class="num">Items</th></tr></thead>
                <tbody>${summary.errors.map((/** @type {{message: string, count: number}} */ e) => html`<tr><td data-label="Message" class="error-text"><${LongText} text=${e.message} /></td><td data-label="Items" class="num">${count(e.count)}</td></tr>`)}</tbody>
              </table>
            </div>` : null}
          <h3>Stats</h3>
          <div class="stats"><${JsonValue} value=${summary.stats} /></div>`}
    </section>`;
}
