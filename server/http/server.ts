// The HTTP server: GraphQL (and Ruru in the browser) from grafserv, plus the dashboard, /health,
// /metrics and streamed catalog file uploads.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import type { PostGraphileInstance } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/node';
import { AuthError, claimsFromAuthorization } from '../auth.ts';
import { CATALOG_UPLOAD_PATH, catalogUploadHandler } from './catalog_upload.ts';
import { dashboardHandler } from './dashboard.ts';
import { RETRY_AFTER_SECONDS, requestOutcome } from './graphql_errors.ts';
import { checkHealth } from './health.ts';
import type { Log } from '../log.ts';
import { createMetrics } from './metrics.ts';

/**
 * Node's default requestTimeout (the whole request, body included, within 300 s) would cut off a
 * large upload on a slow link; it is off server-wide and applied here to every other route.
 * Uploads are held by the idle timeout instead: a connection that sends nothing for a minute is
 * closed. Headers must arrive within headersTimeout (Node's default, 60 s) on every route.
 */
const REQUEST_TIMEOUT_MS = 300_000;
const IDLE_SOCKET_TIMEOUT_MS = 60_000;
/** On shutdown, how long requests in flight get to finish before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer({ port, pgl, pool, jwtSecret, maxWebSockets, log }:
  { port: number; pgl: PostGraphileInstance; pool: pg.Pool; jwtSecret: string; maxWebSockets: number; log: Log }): Promise<HttpServer> {
  // Built before listening: a schema build that fails (the database gone meanwhile) is not tried
  // again, so it fails the start instead of every GraphQL request after it.
  await pgl.getSchema();
  const serv = pgl.createServ(grafserv);
  const handleGraphQL = serv.createHandler();
  const metrics = createMetrics(pool);

  const uploadCatalogFile = catalogUploadHandler({ pool, jwtSecret, log });
  const serveDashboard = dashboardHandler();
  let closing = false;

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    // While shutting down, a connection whose request is answered closes instead of idling.
    res.once('finish', () => closing && setImmediate(() => server.closeIdleConnections()));
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith(CATALOG_UPLOAD_PATH)) {
      if (req.method === 'PUT') answerFailures(uploadCatalogFile(req, res), res, log);
      else {
        res.writeHead(405, { allow: 'PUT', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'catalog files are uploaded, not read: PUT /catalog-files/<filename>', code: 'FLREQ' }));
      }
      return;
    }
    const requestTimer = setTimeout(() => req.complete || req.socket.destroy(), REQUEST_TIMEOUT_MS);
    res.once('close', () => clearTimeout(requestTimer));
    // HEAD too, for a load balancer's or uptime monitor's probe: the same status, no body.
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/health' && read) {
      answerFailures(
        checkHealth(pool).then((health) => {
          res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(req.method === 'HEAD' ? undefined : JSON.stringify(health));
        }),
        res,
        log,
      );
      return;
    }
    if (path === '/metrics' && read) {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (error: Error) => {
          log.error('metrics failed', { error });
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end(`metrics unavailable: ${error.message}\n`);
        },
      );
      return;
    }
    if (serveDashboard(req, res, path)) return;
    if (path === '/graphql' && req.method === 'POST') {
      const stopTimer = metrics.graphqlDuration.startTimer();
      res.once('finish', () => stopTimer({ status: String(res.statusCode) }));
      if (refusedToken(jwtSecret, req, res)) return;
      answerUnavailableWith503(res, () => handleGraphQL(req, res));
      return;
    }
    handleGraphQL(req, res);
  });
  server.timeout = IDLE_SOCKET_TIMEOUT_MS;
  server.on('clientError', (_error, socket) => socket.destroy());

  const upgrade = await serv.getUpgradeHandler();
  const webSockets = new Set<Duplex>();
  server.on('upgrade', (req, socket, head) => {
    // Each open websocket holds memory, whether or not it subscribes: a bound keeps a flood of
    // them from exhausting the process.
    if (webSockets.size >= maxWebSockets) return refuseWebSocket(socket, maxWebSockets);
    webSockets.add(socket);
    socket.once('close', () => webSockets.delete(socket));
    if (upgrade && serv.shouldHandleUpgrade(req, socket, head)) upgrade(req, socket, head);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(
      error.code === 'EADDRINUSE' ? new Error(`port ${port} is in use (another finishline, or another program): stop it, or set PORT to a free port`)
      : error.code === 'EACCES' ? new Error(`port ${port} needs privileges this process lacks: set PORT to a port above 1023`)
      : error));
    server.listen(port, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  log.info('GraphQL server listening', { url: `http://localhost:${actualPort}/graphql`, dashboard: `http://localhost:${actualPort}/`, graphiql: `http://localhost:${actualPort}/graphiql` });
  return {
    port: actualPort,
    async close() {
      // No new connections, idle ones closed; requests in flight may finish within the grace
      // period. Subscriptions never finish by themselves: their sockets close now.
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of webSockets) socket.destroy();
      const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(cut);
      // (grafserv is released with the PostGraphile instance, by whoever owns that: releasing it
      // first is refused, and pgl.release() then fails, leaving what comes after it undone.)
    },
  };
}

/** Answers a websocket handshake 503 FLBSY: the server holds as many as it may. */
function refuseWebSocket(socket: Duplex, maxWebSockets: number): void {
  const body = JSON.stringify({ errors: [{
    message: `this server holds ${maxWebSockets} websockets already (MAX_WEBSOCKETS): retry later, or through another server`,
    extensions: { code: 'FLBSY' },
  }] });
  socket.end([
    'HTTP/1.1 503 Service Unavailable',
    `Retry-After: ${RETRY_AFTER_SECONDS}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n'));
}

/**
 * Answers a request whose token is refused (401 or 403, with the reason and its code) before
 * GraphQL sees it: grafserv would answer a failure of its context with a bare message.
 */
function refusedToken(jwtSecret: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  try {
    claimsFromAuthorization(jwtSecret, req.headers.authorization);
    return false;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    req.resume();
    res.writeHead(error.statusCode, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
    res.end(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] }));
    return true;
  }
}

/**
 * A GraphQL request that failed because the database is away is answered 503 with Retry-After,
 * as /health and uploads are, so that clients and load balancers retry instead of reading a 200
 * with errors. The errors are masked during the request (graphql_errors.ts), which notes it.
 */
function answerUnavailableWith503(res: http.ServerResponse, handle: () => void): void {
  const outcome = { databaseUnavailable: false };
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse;
  res.writeHead = ((statusCode: number, ...rest: unknown[]) => {
    if (!outcome.databaseUnavailable) return writeHead(statusCode, ...rest);
    res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
    return writeHead(503, ...rest);
  }) as typeof res.writeHead;
  requestOutcome.run(outcome, handle);
}

/** A handler that fails unexpectedly answers 500 (or drops the connection); the process goes on. */
function answerFailures(handling: Promise<void>, res: http.ServerResponse, log: Log): void {
  handling.catch((error: unknown) => {
    log.error('request failed', { error });
    if (res.headersSent) return void res.destroy();
    res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: 'internal error; see the server log' }));
  });
}
