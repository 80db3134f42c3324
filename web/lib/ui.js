// @ts-check
// What every page uses: the html template tag, the signed-in session, navigation, data loading
// (queries, polling, subscriptions) and the small pieces every page draws.
import { createContext, h } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { graphql, subscribe } from './api.js';
import { BATCH_STATUS_LABELS, percent, stuckReason } from './format.js';

export const html = htm.bind(h);

/** @typedef {import('./session.js').Session & { audience: ReturnType<typeof import('./session.js').audienceOf>, tenantName: string | null }} SignedIn */

export const SessionContext = createContext(/** @type {SignedIn} */ (/** @type {unknown} */ (null)));

/** @returns {SignedIn} */
export function useSession() {
  return useContext(SessionContext);
}

/**
 * Moves to a page of the dashboard without reloading.
 * @param {string} url
 * @param {{ replace?: boolean }} [options]
 */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  dispatchEvent(new PopStateEvent('popstate'));
}

/**
 * Runs a query, again when its variables change and every `pollMs` while the tab is visible.
 * @param {string} query
 * @param {Record<string, unknown>} variables
 * @param {{ pollMs?: number, skip?: boolean }} [options]
 */
export function useQuery(query, variables, { pollMs = 0, skip = false } = {}) {
  const { token } = useSession();
  const [state, setState] = useState(/** @type {{ data: any, error: Error | null, loading: boolean }} */ ({ data: null, error: null, loading: !skip }));
  const key = JSON.stringify(variables);
  const generation = useRef(0);
  const load = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const data = await graphql(token, query, variables);
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === generation.current) setState((previous) => ({ ...previous, error: /** @type {Error} */ (error), loading: false }));
    }
    // eslint-disable-next-line
  }, [token, query, key]);
  useEffect(() => {
    if (skip) return;
    setState((previous) => ({ ...previous, loading: true }));
    load();
    if (!pollMs) return;
    const timer = setInterval(() => document.visibilityState === 'visible' && load(), pollMs);
    return () => clearInterval(timer);
  }, [load, pollMs, skip]);
  return { ...state, reload: load, setData: (/** @type {(data: any) => any} */ change) => setState((previous) => ({ ...previous, data: change(previous.data) })) };
}

/**
 * A subscription held while `variables` stay the same (and `skip` is false). A stream that ends
 * before its last message says it is over (`isOver`) is subscribed again: the server ends a
 * stream early when it loses its database for a moment.
 * @param {string} query
 * @param {Record<string, unknown>} variables
 * @param {(data: any) => void} onData
 * @param {{ skip?: boolean, isOver?: (data: any) => boolean }} [options]
 */
export function useSubscription(query, variables, onData, { skip = false, isOver = () => false } = {}) {
  const { token } = useSession();
  const handler = useRef(onData);
  handler.current = onData;
  const over = useRef(isOver);
  over.current = isOver;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (skip) return;
    let unsubscribe = () => {};
    let timer = 0;
    let delay = RESUBSCRIBE_AFTER_MS.first;
    let lastData = /** @type {any} */ (null);
    const start = () => {
      unsubscribe = subscribe(token, query, variables, {
        next: (data) => {
          lastData = data;
          delay = RESUBSCRIBE_AFTER_MS.first;
          handler.current(data);
        },
        error: () => again(),
        complete: () => again(),
      });
    };
    const again = () => {
      if (lastData !== null && over.current(lastData)) return;
      timer = window.setTimeout(start, delay);
      // A stream that keeps failing (its server down, say) is asked for less and less often.
      delay = Math.min(delay * 2, RESUBSCRIBE_AFTER_MS.max);
    };
    start();
    return () => {
      window.clearTimeout(timer);
      unsubscribe();
    };
    // eslint-disable-next-line
  }, [token, query, key, skip]);
}

/** How long after a stream ended early it is subscribed again: doubling while it ends with no message. */
const RESUBSCRIBE_AFTER_MS = { first: 1000, max: 30_000 };

/** Re-renders every `ms` (for "12 s ago"). */
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** A page's heading: the document title follows it, and it takes focus when the page opens. */
export function PageHeading(/** @type {{ title: string, children?: any }} */ { title, children }) {
  const ref = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  useEffect(() => {
    document.title = `${title} · finishline`;
  }, [title]);
  useEffect(() => {
    // After a navigation, keyboard and screen reader users start at the new page's heading.
    if (document.activeElement === document.body || document.activeElement?.closest('nav')) ref.current?.focus();
  }, []);
  return html`<h1 tabindex="-1" ref=${ref}>${children ?? title}</h1>`;
}

/** An error that a request ran into, as an alert. */
export function ErrorMessage(/** @type {{ error: Error | null | undefined, prefix?: string }} */ { error, prefix }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${prefix ? `${prefix}: ` : ''}${error.message}</p>`;
}

/** @param {{ status: string }} props */
export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`}>${BATCH_STATUS_LABELS[status] ?? status}</span>`;
}

/**
 * A batch's progress: succeeded, failed and cancelled shares side by side, the rest still to do.
 * Items running now show as a lighter part after them.
 * @param {{ summary: { progress: string | number, totalItems: number, succeededItems: number, failedItems: number, cancelledItems: number, processingItems?: number }, label: string }} props
 */
export function ProgressBar({ summary, label }) {
  const total = Math.max(1, summary.totalItems);
  const share = (/** @type {number} */ n) => `${(n / total) * 100}%`;
  const done = percent(summary.progress);
  return html`
    <div class="progress">
      <div class="bar" role="progressbar" aria-label=${label} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${Math.round(Number(summary.progress) * 100)} aria-valuetext=${`${done} done`}>
        <span class="succeeded" style=${{ width: share(summary.succeededItems) }}></span>
        <span class="failed" style=${{ width: share(summary.failedItems) }}></span>
        <span class="cancelled" style=${{ width: share(summary.cancelledItems) }}></span>
        <span class="running" style=${{ width: share(summary.processingItems ?? 0) }}></span>
      </div>
      <span class="progress-text">${done}</span>
    </div>`;
}

/**
 * `stuck_reason` in plain words, with what to do about it.
 * @param {{ reason: string | null, compact?: boolean }} props
 */
export function StuckReason({ reason, compact = false }) {
  if (!reason) return null;
  const { what, todo } = stuckReason(reason);
  if (compact) return html`<div class="stuck" data-reason=${reason}><strong>Stuck:</strong> ${what} <span class="todo">${todo}</span></div>`;
  return html`<div class="stuck callout" role="status" data-reason=${reason}><strong>Not moving: ${what}</strong><p>${todo}</p></div>`;
}

/**
 * Previous / next page of a list paged on the server.
 * @param {{ offset: number, pageSize: number, total: number, onPage: (offset: number) => void, noun: string, newerOlder?: boolean }} props
 */
export function Pager({ offset, pageSize, total, onPage, noun, newerOlder = false }) {
  const last = Math.min(total, offset + pageSize);
  return html`
    <nav class="pager" aria-label=${`pages of ${noun}`}>
      <button type="button" disabled=${offset === 0} onClick=${() => onPage(Math.max(0, offset - pageSize))}>${newerOlder ? '\u2190 Newer' : '\u2190 Previous'}</button>
      <span aria-live="polite">${total === 0 ? `no ${noun}` : `${(offset + 1).toLocaleString('en')}\u2013${last.toLocaleString('en')} of ${total.toLocaleString('en')} ${noun}`}</span>
      <button type="button" disabled=${last >= total} onClick=${() => onPage(offset + pageSize)}>${newerOlder ? 'Older \u2192' : 'Next \u2192'}</button>
    </nav>`;
}

/**
 * Any JSON value, readable: objects as definition lists, arrays of objects as tables.
 * @param {{ value: unknown, caption?: string }} props
 * @returns {any}
 */
export function JsonValue({ value, caption }) {
  if (value === null || value === undefined) return html`<span class="muted">none</span>`;
  if (Array.isArray(value)) {
    if (value.length === 0) return html`<span class="muted">none</span>`;
    if (value.every((row) => row && typeof row === 'object' && !Array.isArray(row))) {
      const columns = [...new Set(value.flatMap((row) => Object.keys(row)))];
      return html`
        <div class="table-scroll">
          <table class="data">
            ${caption ? html`<caption>${caption}</caption>` : null}
            <thead><tr>${columns.map((column) => html`<th scope="col">${column.replace(/_/g, ' ')}</th>`)}</tr></thead>
            <tbody>
              ${value.map((row) => html`<tr>${columns.map((column) => html`<td data-label=${column.replace(/_/g, ' ')}><${JsonValue} value=${row[column]} /></td>`)}</tr>`)}
            </tbody>
          </table>
        </div>`;
    }
    return html`<span class="long">${value.map((item) => (typeof item === 'object' ? JSON.stringify(item) : String(item))).join(', ')}</span>`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(/** @type {Record<string, unknown>} */ (value));
    if (entries.length === 0) return html`<span class="muted">none</span>`;
    return html`
      <dl class="pairs">
        ${entries.map(([key, inner]) => html`<div><dt>${key.replace(/_/g, ' ')}</dt><dd><${JsonValue} value=${inner} caption=${key.replace(/_/g, ' ')} /></dd></div>`)}
      </dl>`;
  }
  if (typeof value === 'number') return html`<span class="number">${value.toLocaleString('en', { maximumFractionDigits: 4 })}</span>`;
  return html`<span class="long">${String(value)}</span>`;
}
