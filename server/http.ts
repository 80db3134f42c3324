// The HTTP server: GraphQL (and Ruru in the browser) from grafserv, plus /health, /metrics and
// streamed catalog file uploads.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { PostGraphileInstance } from 'postgraphile';
import { grafserv } from 'postgraphile/grafserv/node';
import { CATALOG_UPLOAD_PATH, handleCatalogUpload } from './catalog/http_upload.ts';
import { checkHealth } from './health.ts';
import type { Log } from './log.ts';
import { createMetrics } from './metrics.ts';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer({ port, pgl, pool, jwtSecret, log }: { port: number; pgl: PostGraphileInstance; pool: pg.Pool; jwtSecret: string; log: Log }): Promise<HttpServer> {
  const serv = pgl.createServ(grafserv);
  const handleGraphQL = serv.createHandler();
  const metrics = createMetrics(pool);

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' && req.method === 'GET') {
      void checkHealth(pool).then((health) => {
        res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(health));
      });
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (error: Error) => {
          log.error('metrics failed', { error });
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end(`metrics unavailable: ${error.message}\n`);
        },
      );
      return;
    }
    if (path.startsWith(CATALOG_UPLOAD_PATH) && req.method === 'PUT') {
      void handleCatalogUpload(req, res, { pool, jwtSecret, log });
      return;
    }
    if (path === '/graphql' && req.method === 'POST') {
      const stopTimer = metrics.graphqlDuration.startTimer();
      res.once('finish', () => stopTimer({ status: String(res.statusCode) }));
    }
    handleGraphQL(req, res);
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  const upgrade = await serv.getUpgradeHandler();
  server.on('upgrade', (req, socket, head) => {
    if (upgrade && serv.shouldHandleUpgrade(req, socket, head)) upgrade(req, socket, head);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  log.info('GraphQL server listening', { url: `http://localhost:${actualPort}/graphql`, graphiql: `http://localhost:${actualPort}/` });
  return {
    port: actualPort,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await serv.release();
    },
  };
}
