// @ts-check
// The dashboard's only way to the server: the public GraphQL API (POST /graphql) and its
// subscriptions (graphql-ws on /graphql), with the signed-in token, plus the catalog upload
// route that the command line uses too (PUT /catalog-files/<name>).
import { createClient } from 'graphql-ws/client';

/** A request the server answered with errors; `code` is the first error's `extensions.code`. */
export class GraphQLRequestError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, code?: string }} [details]
   */
  constructor(message, { status, code } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The server refused the token itself (bad signature, expired, unknown role): sign in again. */
export class TokenRefused extends GraphQLRequestError {}

/** @type {(reason: string) => void} */
let tokenRefused = () => {};

/**
 * What to do when the server refuses the token (the app sends the user back to sign-in).
 * @param {(reason: string) => void} handler
 */
export function onTokenRefused(handler) {
  tokenRefused = handler;
}

/**
 * Runs a query or mutation; resolves with its data, rejects with GraphQLRequestError.
 * @param {string | null} token
 * @param {string} query
 * @param {Record<string, unknown>} [variables]
 * @returns {Promise<any>}
 */
export async function graphql(token, query, variables = {}) {
  /** @type {Response} */
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new GraphQLRequestError('the server did not answer (is finishline running?)');
  }
  /** @type {{ data?: any, errors?: Array<{ message: string, extensions?: { code?: string } }> }} */
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLRequestError(`the server answered ${response.status} ${response.statusText}`, { status: response.status });
  }
  if (token && (response.status === 401 || response.status === 403)) {
    const message = body.errors?.[0]?.message ?? 'the token was refused';
    tokenRefused(message);
    throw new TokenRefused(message, { status: response.status });
  }
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new GraphQLRequestError(first.message, { status: response.status, code: first.extensions?.code });
  }
  return body.data;
}

/** @type {{ token: string, client: import('graphql-ws/client').Client } | null} */
let socket = null;

/** One websocket for all of a token's subscriptions, opened when the first one starts. */
function socketFor(/** @type {string} */ token) {
  if (socket?.token !== token) {
    socket?.client.dispose();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
    socket = {
      token,
      client: createClient({
        url,
        connectionParams: { authorization: `Bearer ${token}` },
        // A restarted server or a dropped connection: try again, for as long as the page is open.
        retryAttempts: Infinity,
        shouldRetry: () => true,
        lazyCloseTimeout: 5000,
      }),
    };
  }
  return socket.client;
}

/**
 * Subscribes; returns the function that stops it.
 * @param {string} token
 * @param {string} query
 * @param {Record<string, unknown>} variables
 * @param {{ next: (data: any) => void, error?: (error: unknown) => void, complete?: () => void }} sink
 */
export function subscribe(token, query, variables, { next, error = () => {}, complete = () => {} }) {
  return socketFor(token).subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.data) next(result.data);
      },
      error,
      complete,
    },
  );
}

/** Closes the websocket (on sign-out). */
export function closeSubscriptions() {
  socket?.client.dispose();
  socket = null;
}

/**
 * Streams a file to `PUT /catalog-files/<name>`; resolves with the stored file (its id is what an
 * `import_catalog` item names).
 * @param {string} token
 * @param {File} file
 * @returns {Promise<{ id: string, filename: string, sizeBytes: number, reused: boolean }>}
 */
export async function uploadCatalogFile(token, file) {
  const response = await fetch(`/catalog-files/${encodeURIComponent(file.name)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: file,
  });
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (response.status === 401) {
    tokenRefused(body.error);
    throw new TokenRefused(body.error, { status: 401 });
  }
  if (!response.ok) throw new GraphQLRequestError(`${file.name}: ${body.error}`, { status: response.status });
  return body;
}
