// @ts-check
// Batches: newest first, paged and filtered on the server (searchBatches), each row's bar moved
// live by the batchProgress subscription while the row is on screen and unfinished.
import { useEffect, useState } from 'preact/hooks';
import { ago, BATCH_STATUS_LABELS, count, dateTime, duration, isFinished, shortId } from '../lib/format.js';
import { ErrorMessage, html, navigate, PageHeading, Pager, ProgressBar, StatusBadge, StuckReason, useNow, useQuery, useSession, useSubscription } from '../lib/ui.js';

export const PAGE_SIZE = 50;

export const SUMMARY_FIELDS = `
  batchId kind status totalItems pendingItems processingItems succeededItems failedItems cancelledItems
  progress createdAt startedAt finishedAt stuckReason hasSummary`;

export const BATCHES_QUERY = `
  query Batches($kind: String, $status: String, $tenantId: UUID, $createdAfter: Datetime, $createdBefore: Datetime,
                $first: Int!, $offset: Int!, $severalTenants: Boolean!) {
    searchBatches(kind: $kind, status: $status, tenantId: $tenantId, createdAfter: $createdAfter,
                  createdBefore: $createdBefore, first: $first, offset: $offset) {
      totalCount
      nodes { id statusSummary { ${SUMMARY_FIELDS} } tenant @include(if: $severalTenants) { name } }
    }
    allBatchKinds(first: 200, orderBy: KIND_ASC) { nodes { kind } }
    allTenants(first: 1000, orderBy: NAME_ASC) @include(if: $severalTenants) { nodes { id name } }
  }`;

export const PROGRESS_SUBSCRIPTION = `
  subscription BatchProgress($batchId: UUID!) { batchProgress(batchId: $batchId) { ${SUMMARY_FIELDS} } }`;

/** Whether a PROGRESS_SUBSCRIPTION message is the stream's last word: the batch finished, or none to see. */
export const isProgressOver = (/** @type {any} */ data) => !data.batchProgress || isFinished(data.batchProgress.status);

/** A datetime-local input's value as an ISO timestamp (it is the browser's local time). */
function isoFromLocal(/** @type {string | null} */ value) {
  return value ? new Date(value).toISOString() : null;
}

/** @param {Record<string, string>} changes */
function withParams(changes) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value) params.set(key, value);
    else params.delete(key);
  }
  const query = params.toString();
  return `/batches${query ? `?${query}` : ''}`;
}

export function BatchesPage() {
  const { audience } = useSession();
  const params = new URLSearchParams(location.search);
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const filters = {
    kind: params.get('kind') || null,
    status: params.get('status') || null,
    tenantId: params.get('tenant') || null,
    createdAfter: isoFromLocal(params.get('from')),
    createdBefore: isoFromLocal(params.get('to')),
  };
  const severalTenants = audience.isInstallationOperator;
  // New batches appear by polling the page (no subscription announces them); the rows' bars move
  // by subscription.
  const { data, error, loading, reload } = useQuery(BATCHES_QUERY, { ...filters, first: PAGE_SIZE, offset, severalTenants }, { pollMs: 5000 });
  const [loadedAt, setLoadedAt] = useState(0);
  useEffect(() => setLoadedAt(Date.now()), [data]);
  const now = useNow(5000);
  const filterChange = (/** @type {string} */ key) => (/** @type {any} */ event) => navigate(withParams({ [key]: event.currentTarget.value, offset: '' }), { replace: true });
  // A row: the batch's status summary, and its tenant's name for those who see several.
  const rows = (data?.searchBatches.nodes ?? []).map((/** @type {any} */ node) => ({ ...node.statusSummary, tenant: node.tenant }));
  return html`
    <section>
      <${PageHeading} title="Batches" />
      <form class="filters" role="search" aria-label="filter batches" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); reload(); }}>
        <div class="field">
          <label for="filter-kind">Kind</label>
          <select id="filter-kind" value=${params.get('kind') ?? ''} onChange=${filterChange('kind')}>
            <option value="">any</option>
            ${(data?.allBatchKinds.nodes ?? []).map((/** @type {{kind: string}} */ k) => html`<option value=${k.kind}>${k.kind}</option>`)}
            ${filters.kind && !(data?.allBatchKinds.nodes ?? []).some((/** @type {{kind: string}} */ k) => k.kind === filters.kind) ? html`<option value=${filters.kind}>${filters.kind}</option>` : null}
          </select>
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" value=${params.get('status') ?? ''} onChange=${filterChange('status')}>
            <option value="">any</option>
            ${Object.entries(BATCH_STATUS_LABELS).map(([value, label]) => html`<option value=${value}>${label}</option>`)}
          </select>
        </div>
        ${severalTenants ? html`
          <div class="field">
            <label for="filter-tenant">Tenant</label>
            <select id="filter-tenant" value=${params.get('tenant') ?? ''} onChange=${filterChange('tenant')}>
              <option value="">any</option>
              ${(data?.allTenants?.nodes ?? []).map((/** @type {{id: string, name: string}} */ t) => html`<option value=${t.id}>${t.name}</option>`)}
            </select>
          </div>` : null}
        <div class="field">
          <label for="filter-from">Created from</label>
          <input id="filter-from" type="datetime-local" value=${params.get('from') ?? ''} onChange=${filterChange('from')} />
        </div>
        <div class="field">
          <label for="filter-to">Created before</label>
          <input id="filter-to" type="datetime-local" value=${params.get('to') ?? ''} onChange=${filterChange('to')} />
        </div>
        <div class="field actions">
          <button type="submit">Refresh</button>
          ${[...params.keys()].some((key) => key !== 'offset') ? html`<a href="/batches">Clear filters</a>` : null}
        </div>
      </form>
      <${ErrorMessage} error=${error} prefix="Could not load the batches" />
      ${loading && !data ? html`<p class="muted">Loading\u2026</p>` : null}
      ${data ? html`
        <div class="table-scroll">
          <table class="data batches">
            <caption class="visually-hidden">Batches, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Batch</th>
                ${severalTenants ? html`<th scope="col">Tenant</th>` : null}
                <th scope="col">Status</th>
                <th scope="col" class="progress-column">Progress</th>
                <th scope="col">Items</th>
                <th scope="col">Age</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map((/** @type {any} */ row) => html`<${BatchRow} key=${row.batchId} row=${row} loadedAt=${loadedAt} now=${now} severalTenants=${severalTenants} />`)}
            </tbody>
          </table>
        </div>
        ${rows.length === 0 ? html`<p class="muted">No batches${[...params.keys()].length ? ' match these filters' : ' yet: submit one'}.</p>` : null}
        <${Pager} offset=${offset} pageSize=${PAGE_SIZE} total=${data.searchBatches.totalCount} noun="batches" newerOlder=${true}
          onPage=${(/** @type {number} */ next) => navigate(withParams({ offset: next ? String(next) : '' }))} />` : null}
    </section>`;
}

/**
 * Of two reads of one batch, the one to show: progress never goes back, and between equals the
 * one received last.
 * @param {any} polled @param {number} polledAt @param {{ summary: any, at: number } | null} live
 */
export function newestSummary(polled, polledAt, live) {
  if (!live) return polled;
  const [a, b] = [Number(live.summary.progress), Number(polled.progress)];
  if (a !== b) return a > b ? live.summary : polled;
  if (isFinished(polled.status) && !isFinished(live.summary.status)) return polled;
  return live.at > polledAt ? live.summary : polled;
}

/** @param {{ row: any, loadedAt: number, now: number, severalTenants: boolean }} props */
function BatchRow({ row, loadedAt, now, severalTenants }) {
  const [pushed, setPushed] = useState(/** @type {{ summary: any, at: number } | null} */ (null));
  const summary = newestSummary(row, loadedAt, pushed);
  useSubscription(PROGRESS_SUBSCRIPTION, { batchId: row.batchId }, (data) => data.batchProgress && setPushed({ summary: data.batchProgress, at: Date.now() }), {
    skip: isFinished(row.status),
    isOver: isProgressOver,
  });
  const href = `/batches/${row.batchId}`;
  return html`
    <tr data-batch-id=${row.batchId} data-status=${summary.status}>
      <td data-label="Batch" class="batch-cell"><a href=${href}><span class="kind long">${row.kind}</span> <span class="id">${shortId(row.batchId)}</span></a></td>
      ${severalTenants ? html`<td data-label="Tenant" class="long">${row.tenant?.name ?? '–'}</td>` : null}
      <td data-label="Status"><${StatusBadge} status=${summary.status} /></td>
      <td data-label="Progress">
        <${ProgressBar} summary=${summary} label=${`progress of ${row.kind} ${shortId(row.batchId)}`} />
        <${StuckReason} reason=${summary.stuckReason} compact=${true} />
      </td>
      <td data-label="Items"><${ItemCounts} summary=${summary} /></td>
      <td data-label="Age">
        <span title=${dateTime(row.createdAt)}>${ago(row.createdAt, now)}</span>
        ${summary.finishedAt ? html`<br /><span class="muted">took ${duration((Date.parse(summary.finishedAt) - Date.parse(summary.startedAt ?? row.createdAt)) / 1000)}</span>` : null}
      </td>
    </tr>`;
}

/** Items by status, the empty ones left out. @param {{ summary: any }} props */
export function ItemCounts({ summary }) {
  const parts = [
    ['succeeded', summary.succeededItems],
    ['failed', summary.failedItems],
    ['running', summary.processingItems],
    ['pending', summary.pendingItems],
    ['cancelled', summary.cancelledItems],
  ].filter(([, n]) => n > 0);
  if (summary.totalItems === 0) return html`<span class="muted">no items</span>`;
  return html`
    <ul class="counts" aria-label="items by status">
      ${parts.map(([label, n]) => html`<li class=${`count-${label}`}><span class="n">${count(n)}</span> ${label}</li>`)}
      <li class="muted">of ${count(summary.totalItems)}</li>
    </ul>`;
}
