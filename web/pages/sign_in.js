// @ts-check
// Sign-in: paste a token (kept for this tab only), or open the one-time link `npm start` prints.
import { useState } from 'preact/hooks';
import { html, PageHeading } from '../lib/ui.js';

/** @param {{ notice: string | null, onToken: (token: string) => Promise<void> }} props */
export function SignInPage({ notice, onToken }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const [busy, setBusy] = useState(false);
  const submit = async (/** @type {Event} */ event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onToken(token.trim());
    } catch (failure) {
      setError(/** @type {Error} */ (failure).message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main id="main" class="sign-in">
      <${PageHeading} title="Sign in to finishline" />
      ${notice ? html`<p class="error" role="alert">${notice}</p>` : null}
      <form onSubmit=${submit}>
        <label for="token">Token (a JWT of an operator or admin)</label>
        <textarea id="token" name="token" rows="5" required spellcheck="false" autocomplete="off" value=${token} onInput=${(/** @type {any} */ e) => setToken(e.currentTarget.value)}></textarea>
        ${error ? html`<p class="error" role="alert">${error}</p>` : null}
        <button type="submit" class="primary" disabled=${busy || token.trim() === ''}>${busy ? 'Signing in\u2026' : 'Sign in'}</button>
      </form>
      <div class="help">
        <p>The token is kept for this browser tab only: closing the tab signs you out.</p>
        <p>Mint one with <code>npm run token -- --role app_user --tenant-name demo</code> (a tenant's operator), <code>--role app_admin --tenant-name demo</code> (that tenant's admin) or <code>--role app_admin</code> (the installation's operator). <code>npm start</code> on its embedded database prints a one-time sign-in link; <code>npm run finishline -- sign-in-link</code> makes another.</p>
        <p>GraphQL itself: <a href="/graphiql">GraphiQL</a>.</p>
      </div>
    </main>`;
}
