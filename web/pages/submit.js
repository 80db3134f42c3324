// @ts-check
// Submit: upload catalog files and follow their import, or submit a noop / fail smoke batch.
import { useState } from 'preact/hooks';
import { graphql, uploadCatalogFile } from '../lib/api.js';
import { count } from '../lib/format.js';
import { html, navigate, PageHeading, useSession } from '../lib/ui.js';

const SUBMIT_MUTATION = 'mutation Submit($kind: String!, $items: JSON!, $metadata: JSON) { submitBatch(input: { kind: $kind, items: $items, metadata: $metadata }) { result { id } } }';

export function SubmitPage() {
  return html`
    <section>
      <${PageHeading} title="Submit" />
      <${CatalogUpload} />
      <${SmokeBatch} />
    </section>`;
}

function CatalogUpload() {
  const { token } = useSession();
  const [files, setFiles] = useState(/** @type {File[]} */ ([]));
  const [progress, setProgress] = useState(/** @type {string | null} */ (null));
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const submit = async (/** @type {Event} */ event) => {
    event.preventDefault();
    setError(null);
    try {
      /** @type {Array<{ file_id: string }>} */
      const items = [];
      for (const [index, file] of files.entries()) {
        setProgress(`Uploading ${file.name} (${index + 1} of ${files.length}, ${count(file.size)} bytes)\u2026`);
        const stored = await uploadCatalogFile(token, file);
        items.push({ file_id: stored.id });
      }
      setProgress('Submitting the import\u2026');
      const data = await graphql(token, SUBMIT_MUTATION, { kind: 'import_catalog', items, metadata: { source: 'dashboard', files: files.map((f) => f.name) } });
      navigate(`/batches/${data.submitBatch.result.id}`);
    } catch (failure) {
      setError(/** @type {Error} */ (failure).message);
      setProgress(null);
    }
  };
  return html`
    <section aria-labelledby="upload-heading" class="panel">
      <h2 id="upload-heading">Import a catalog</h2>
      <p>CSV with a header, or JSON Lines: one product or review per row, each file for one seller (columns in the README). Each file becomes an item of one <code>import_catalog</code> batch; its rejected rows are listed with file and line in the batch's summary.</p>
      <form onSubmit=${submit}>
        <label for="catalog-files">Catalog files</label>
        <input id="catalog-files" type="file" multiple accept=".csv,.jsonl,.ndjson,.json,text/csv,application/x-ndjson" onChange=${(/** @type {any} */ e) => setFiles([...e.currentTarget.files])} />
        <button type="submit" class="primary" disabled=${files.length === 0 || progress !== null}>Upload and import</button>
      </form>
      <p role="status" aria-live="polite">${progress ?? ''}</p>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </section>`;
}

function SmokeBatch() {
  const { token } = useSession();
  const [kind, setKind] = useState('noop');
  const [items, setItems] = useState('100');
  const [sleepMs, setSleepMs] = useState('0');
  const [message, setMessage] = useState('smoke check');
  const [failTimes, setFailTimes] = useState('');
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const [busy, setBusy] = useState(false);
  const submit = async (/** @type {Event} */ event) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const n = Number(items);
      /** @type {Record<string, unknown>} */
      const payload = kind === 'noop'
        ? (Number(sleepMs) > 0 ? { sleep_ms: Number(sleepMs) } : {})
        : { message, ...(failTimes ? { fail_times: Number(failTimes) } : {}) };
      const data = await graphql(token, SUBMIT_MUTATION, { kind, items: Array.from({ length: n }, () => payload), metadata: { source: 'dashboard smoke check' } });
      navigate(`/batches/${data.submitBatch.result.id}`);
    } catch (failure) {
      setError(/** @type {Error} */ (failure).message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section aria-labelledby="smoke-heading" class="panel">
      <h2 id="smoke-heading">Smoke batch</h2>
      <p>Checks the pipeline end to end: <code>noop</code> items succeed (after sleeping, if asked); <code>fail</code> items fail with the message (only their first attempts with \u201cfail times\u201d), and are retried by the kind's backoff first.</p>
      <form class="grid-form" onSubmit=${submit}>
        <fieldset>
          <legend>Kind</legend>
          <label><input type="radio" name="smoke-kind" value="noop" checked=${kind === 'noop'} onChange=${() => setKind('noop')} /> noop</label>
          <label><input type="radio" name="smoke-kind" value="fail" checked=${kind === 'fail'} onChange=${() => setKind('fail')} /> fail</label>
        </fieldset>
        <div class="field">
          <label for="smoke-items">Items</label>
          <input id="smoke-items" type="number" min="1" max="10000" required value=${items} onInput=${(/** @type {any} */ e) => setItems(e.currentTarget.value)} />
        </div>
        ${kind === 'noop' ? html`
          <div class="field">
            <label for="smoke-sleep">Sleep per item (ms)</label>
            <input id="smoke-sleep" type="number" min="0" max="60000" value=${sleepMs} onInput=${(/** @type {any} */ e) => setSleepMs(e.currentTarget.value)} />
          </div>` : html`
          <div class="field">
            <label for="smoke-message">Error message</label>
            <input id="smoke-message" type="text" required maxlength="10000" value=${message} onInput=${(/** @type {any} */ e) => setMessage(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="smoke-fail-times">Fail times (empty: always)</label>
            <input id="smoke-fail-times" type="number" min="1" max="100" value=${failTimes} onInput=${(/** @type {any} */ e) => setFailTimes(e.currentTarget.value)} />
          </div>`}
        <div class="field actions">
          <button type="submit" class="primary" disabled=${busy}>${busy ? 'Submitting\u2026' : 'Submit batch'}</button>
        </div>
      </form>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </section>`;
}
