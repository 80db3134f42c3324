// @ts-check
// The signed-in token, kept for the tab only (sessionStorage): closing the tab signs out.
// Its claims are read here to choose which pages to offer; the server decides what the token may
// see and do (row level security), whatever this says.

const TOKEN_KEY = 'finishline.token';

/**
 * @typedef {{ role: string, tenant_id?: string, exp?: number }} Claims
 * @typedef {{ token: string, claims: Claims }} Session
 */

/**
 * The claims of a JWT, unverified (the browser has no secret), or null when it is not one.
 * @param {string} token
 * @returns {Claims | null}
 */
export function readClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(decodeURIComponent(escape(json)));
    return claims && typeof claims.role === 'string' ? claims : null;
  } catch {
    return null;
  }
}

/** @returns {Session | null} */
export function currentSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = readClaims(token);
  if (!claims || isExpired(claims)) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return { token, claims };
}

/** @param {Claims} claims */
export function isExpired(claims) {
  return typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now();
}

/** @param {string} token */
export function keepToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Who the token is, in the dashboard's terms: a tenant's operator (`app_user`), a tenant's admin
 * (`app_admin` with a tenant), or the installation's operator (`app_admin` without one), who sees
 * every tenant and the workers and queue they share.
 * @param {Claims} claims
 */
export function audienceOf(claims) {
  const isAdmin = claims.role === 'app_admin';
  const hasTenant = Boolean(claims.tenant_id);
  return {
    isAdmin,
    hasTenant,
    isInstallationOperator: isAdmin && !hasTenant,
    label: isAdmin ? (hasTenant ? 'tenant admin' : 'installation operator') : 'operator',
  };
}

/** Roles the dashboard is for. Sellers and shoppers use the marketplace's API, not this. */
export const DASHBOARD_ROLES = ['app_user', 'app_admin'];
