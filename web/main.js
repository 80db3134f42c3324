// @ts-check
// The dashboard's shell: sign-in, the navigation the token's role allows, and the pages by path.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { closeSubscriptions, graphql, onTokenRefused } from './lib/api.js';
import { audienceOf, currentSession, DASHBOARD_ROLES, forgetToken, isExpired, keepToken, readClaims } from './lib/session.js';
import { html, navigate, SessionContext } from './lib/ui.js';
import { BatchPage } from './pages/batch.js';
import { BatchesPage } from './pages/batches.js';
import { ModelsPage } from './pages/models.js';
import { SchedulesPage } from './pages/schedules.js';
import { SignInPage } from './pages/sign_in.js';
import { SubmitPage } from './pages/submit.js';
import { WorkersPage } from './pages/workers.js';

/** @typedef {import('./lib/ui.js').SignedIn} SignedIn */

/**
 * The pages, and who is offered each. The server decides what a token may read and do; a page
 * offered to the wrong token would only show its refusals.
 * @type {Array<{ path: string, label: string, for: (audience: SignedIn['audience']) => boolean }>}
 */
const NAVIGATION = [
  { path: '/batches', label: 'Batches', for: () => true },
  { path: '/submit', label: 'Submit', for: (a) => a.hasTenant },
  { path: '/schedules', label: 'Schedules', for: (a) => a.isAdmin },
  { path: '/models', label: 'Models', for: () => true },
  { path: '/workers', label: 'Workers & queue', for: (a) => a.isInstallationOperator },
];

/** @param {string} path @param {SignedIn} session */
function pageFor(path, session) {
  const batch = /^\/batches\/([0-9a-fA-F-]{36})\/?$/.exec(path);
  if (batch) return html`<${BatchPage} batchId=${batch[1].toLowerCase()} />`;
  const entry = NAVIGATION.find((item) => item.path === path.replace(/\/$/, ''));
  if (path === '/' || path === '') return html`<${BatchesPage} />`;
  if (!entry) return html`<p>No such page. <a href="/batches">Batches</a></p>`;
  if (!entry.for(session.audience)) {
    return html`<section><h1>${entry.label}</h1><p role="alert" class="error">This page is not for your token (${session.audience.label}).</p></section>`;
  }
  switch (entry.path) {
    case '/batches': return html`<${BatchesPage} />`;
    case '/submit': return html`<${SubmitPage} />`;
    case '/schedules': return html`<${SchedulesPage} />`;
    case '/models': return html`<${ModelsPage} />`;
    case '/workers': return html`<${WorkersPage} />`;
  }
}

/** The page's path and query (a filter change re-renders the page). */
function useLocation() {
  const [url, setUrl] = useState(location.pathname + location.search);
  useEffect(() => {
    const update = () => setUrl(location.pathname + location.search);
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return url;
}

/** Links within the dashboard open without a reload (a modified click still opens a tab). */
function followLinksInPlace(/** @type {MouseEvent} */ event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = /** @type {HTMLElement} */ (event.target).closest?.('a');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/graphiql') || url.pathname.startsWith('/graphql')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

/**
 * Confirms a token with the server and finds its tenant's name.
 * @param {string} token
 * @returns {Promise<SignedIn>}
 */
async function signIn(token) {
  const claims = readClaims(token);
  if (!claims) throw new Error('this is not a JWT (three base64url parts separated by dots)');
  if (isExpired(claims)) throw new Error('this token has expired: mint a new one (npm run token) or use a new sign-in link');
  if (!DASHBOARD_ROLES.includes(claims.role)) throw new Error(`the dashboard is for operators and admins (app_user, app_admin); this token is ${claims.role}`);
  const data = await graphql(token, 'query SignedIn($tenantId: UUID!, $hasTenant: Boolean!) { tenantById(id: $tenantId) @include(if: $hasTenant) { name } }', {
    tenantId: claims.tenant_id ?? '00000000-0000-0000-0000-000000000000',
    hasTenant: Boolean(claims.tenant_id),
  });
  return { token, claims, audience: audienceOf(claims), tenantName: data.tenantById?.name ?? null };
}

/** Where to go once signed in: the page asked for, when it was not the sign-in page itself. */
const wantedAtStart = /^\/(sign-in)?$/.test(location.pathname) ? '/batches' : location.pathname + location.search;

function App() {
  const path = useLocation().split('?')[0];
  const [session, setSession] = useState(/** @type {SignedIn | null} */ (null));
  const [checking, setChecking] = useState(true);
  const [notice, setNotice] = useState(/** @type {string | null} */ (null));

  const signOut = (/** @type {string | null} */ reason) => {
    forgetToken();
    closeSubscriptions();
    setSession(null);
    setNotice(reason);
    navigate('/sign-in', { replace: true });
  };

  useEffect(() => {
    onTokenRefused((reason) => signOut(`The server refused your token (${reason}). Sign in again.`));
    addEventListener('click', followLinksInPlace);
    const stored = currentSession();
    const code = /^#sign-in=([\w-]+)$/.exec(location.hash)?.[1];
    (async () => {
      try {
        if (code) {
          // A one-time link: the code is exchanged once for a token, and leaves the address bar.
          history.replaceState(null, '', location.pathname === '/sign-in' ? '/' : location.pathname);
          const data = await graphql(null, 'mutation Redeem($code: String!) { redeemSignInCode(code: $code) { token } }', { code });
          keepToken(data.redeemSignInCode.token);
        }
        const token = currentSession()?.token ?? stored?.token;
        if (token) setSession(await signIn(token));
        else navigate('/sign-in', { replace: true });
      } catch (error) {
        forgetToken();
        setNotice(/** @type {Error} */ (error).message);
        navigate('/sign-in', { replace: true });
      } finally {
        setChecking(false);
      }
    })();
    return () => removeEventListener('click', followLinksInPlace);
  }, []);

  if (checking) return html`<main id="main"><p class="muted">Signing in\u2026</p></main>`;
  if (!session) {
    return html`<${SignInPage}
      notice=${notice}
      onToken=${async (/** @type {string} */ token) => {
        const signedIn = await signIn(token);
        keepToken(token);
        setSession(signedIn);
        setNotice(null);
        navigate(wantedAtStart, { replace: true });
      }}
    />`;
  }
  if (path === '/sign-in') navigate('/batches', { replace: true });
  const offered = NAVIGATION.filter((item) => item.for(session.audience));
  const current = path === '/' ? '/batches' : path.replace(/\/$/, '');
  return html`
    <${SessionContext.Provider} value=${session}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/batches">finishline</a>
        <nav aria-label="pages">
          <ul>
            ${offered.map((item) => html`<li><a href=${item.path} aria-current=${current === item.path || current.startsWith(`${item.path}/`) ? 'page' : undefined}>${item.label}</a></li>`)}
            <li><a href="/graphiql">GraphiQL</a></li>
          </ul>
        </nav>
        <div class="who">
          <span>${session.tenantName ? html`<strong class="long">${session.tenantName}</strong> · ` : null}${session.audience.label}</span>
          <button type="button" class="link" onClick=${() => signOut(null)}>Sign out</button>
        </div>
      </header>
      <main id="main">${pageFor(path, session)}</main>
    <//>`;
}

render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
