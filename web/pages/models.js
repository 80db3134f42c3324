// @ts-check
// Models: each kind's versions with their metrics, which one is active, and why a newer one was
// kept out (model_versions.metrics.kept_out_because).
import { ago, count, dateTime, shortId } from '../lib/format.js';
import { ErrorMessage, html, JsonValue, PageHeading, useNow, useQuery } from '../lib/ui.js';

const KINDS = [
  { kind: 'review_scorer', title: 'Review scorer', about: 'The probability that a review is fake. A new version becomes active only if its held-out AUC is not worse than the active one\u2019s.', keys: ['auc', 'log_loss', 'training_rows', 'holdout_rows'] },
  { kind: 'seller_scorer', title: 'Seller scorer', about: 'Carries review trust and ratings through products to sellers.', keys: ['prior_score', 'prior_strength'] },
  { kind: 'recommender', title: 'Recommender', about: 'Each approved product\u2019s most similar products, retrained as products change.', keys: ['mode', 'products', 'recomputed', 'seconds'] },
];

const VERSION_FIELDS = 'id kind trainedAt trainingRows metrics isActive';

const MODELS_QUERY = `
  query Models {
    ${KINDS.map(({ kind }) => `${kind}: allModelVersions(condition: { kind: "${kind}" }, orderBy: TRAINED_AT_DESC, first: 10) { totalCount nodes { ${VERSION_FIELDS} } }`).join('\n')}
  }`;

export function ModelsPage() {
  const { data, error, loading } = useQuery(MODELS_QUERY, {}, { pollMs: 30_000 });
  const now = useNow(10_000);
  return html`
    <section>
      <${PageHeading} title="Models" />
      <${ErrorMessage} error=${error} prefix="Could not load the models" />
      ${loading && !data ? html`<p class="muted">Loading\u2026</p>` : null}
      ${data ? KINDS.map((spec) => html`<${ModelKind} spec=${spec} versions=${data[spec.kind]} now=${now} />`) : null}
    </section>`;
}

/** @param {{ spec: typeof KINDS[number], versions: { totalCount: number, nodes: any[] }, now: number }} props */
function ModelKind({ spec, versions, now }) {
  const active = versions.nodes.find((v) => v.isActive);
  return html`
    <section aria-labelledby=${`model-${spec.kind}`} class="panel" data-model-kind=${spec.kind}>
      <h2 id=${`model-${spec.kind}`}>${spec.title}</h2>
      <p class="muted">${spec.about}</p>
      ${versions.totalCount === 0 ? html`<p>No version yet.</p>` : html`
        <p>${active
          ? html`Active: <strong>${shortId(active.id)}</strong>, trained ${ago(active.trainedAt, now)} on ${count(active.trainingRows)} rows.`
          : html`<strong>No active version</strong> among the latest.`}
          ${versions.totalCount > versions.nodes.length ? html` Showing the latest ${versions.nodes.length} of ${count(versions.totalCount)}.` : null}</p>
        <div class="table-scroll">
          <table class="data models">
            <thead><tr><th scope="col">Version</th><th scope="col">Trained</th>${spec.keys.map((key) => html`<th scope="col" class="num">${key.replace(/_/g, ' ')}</th>`)}<th scope="col">State</th><th scope="col">All metrics</th></tr></thead>
            <tbody>
              ${versions.nodes.map((version) => html`
                <tr class=${version.isActive ? 'active' : ''}>
                  <th scope="row" data-label="Version"><code>${shortId(version.id)}</code></th>
                  <td data-label="Trained" title=${dateTime(version.trainedAt)}>${ago(version.trainedAt, now)}</td>
                  ${spec.keys.map((key) => html`<td data-label=${key.replace(/_/g, ' ')} class="num">${metric(key === 'training_rows' ? version.trainingRows : version.metrics[key])}</td>`)}
                  <td data-label="State">${version.isActive
                    ? html`<span class="badge status-completed">active</span>`
                    : version.metrics.kept_out_because
                      ? html`<span class="badge status-completed_with_errors">kept out</span> <span class="long">${version.metrics.kept_out_because}</span>`
                      : html`<span class="muted">retired</span>`}</td>
                  <td data-label="All metrics"><details><summary>metrics</summary><${JsonValue} value=${version.metrics} /></details></td>
                </tr>`)}
            </tbody>
          </table>
        </div>`}
    </section>`;
}

/** @param {unknown} value */
function metric(value) {
  if (value === undefined || value === null) return '–';
  if (typeof value === 'number') return Number.isInteger(value) ? count(value) : value.toFixed(4);
  return String(value);
}
