// The operator's dashboard: its pages and assets, served as they are from web/ and from the
// front-end packages in node_modules (Preact, htm, graphql-ws): no build step and no CDN, so it
// works offline. The browser speaks to the public GraphQL API only, with the user's token.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where the browser's code lives. */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/** Paths of the dashboard's pages (client-side routes): each is answered with index.html. */
const PAGE_PATH = /^\/(?:batches(?:\/[0-9a-fA-F-]{36})?|submit|schedules|models|workers|sign-in)?\/?$/;

/**
 * Packages the browser imports, by the import map's name: the URL prefix they are served under,
 * the file the import map points at and the folder whose other modules it may import.
 */
const VENDOR_MODULES = [
  { specifier: 'preact', prefix: '/assets/vendor/preact/' },
  { specifier: 'preact/hooks', prefix: '/assets/vendor/preact/hooks/' },
  { specifier: 'htm', prefix: '/assets/vendor/htm/' },
  { specifier: 'graphql-ws/client', prefix: '/assets/vendor/graphql-ws/' },
];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
  contentType: string;
}

function asset(body: Buffer, contentType: string): Asset {
  return { body, gzipped: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, contentType };
}

/** Every file of a folder (and its subfolders) with a type we serve, by its path below it. */
function filesOf(dir: string, accept: (name: string) => boolean): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !accept(entry.name)) continue;
    const full = path.join(entry.parentPath, entry.name);
    found.set(path.relative(dir, full).split(path.sep).join('/'), full);
  }
  return found;
}

export interface DashboardAssets {
  /** The assets by URL path. */
  assets: Map<string, Asset>;
  /** index.html, with its import map. */
  page: Asset;
  /** The import map (module specifier → URL). */
  importMap: Record<string, string>;
  /** The Content-Security-Policy of the page: its only inline script is the import map. */
  contentSecurityPolicy: string;
}

/** Reads the dashboard's files once (they are small) and keeps them with their gzipped form. */
export function loadDashboardAssets(): DashboardAssets {
  const assets = new Map<string, Asset>();
  for (const [relative, full] of filesOf(WEB_DIR, (name) => /\.(js|css|svg)$/.test(name))) {
    assets.set(`/assets/app/${relative}`, asset(fs.readFileSync(full), CONTENT_TYPES[path.extname(full)]));
  }
  // Where a browser looks for a page's icon when the page names none, as GraphiQL's does.
  assets.set('/favicon.ico', assets.get('/assets/app/favicon.svg')!);
  const importMap: Record<string, string> = {};
  for (const { specifier, prefix } of VENDOR_MODULES) {
    const entry = fileURLToPath(import.meta.resolve(specifier));
    const dir = path.dirname(entry);
    // The entry module and the ES modules beside it that it imports by relative path.
    for (const name of fs.readdirSync(dir)) {
      if (!/\.m?js$/.test(name) || name.endsWith('.cjs')) continue;
      if (name !== path.basename(entry) && !fs.readFileSync(entry, 'utf8').includes(`'./${name}'`)) continue;
      assets.set(prefix + name, asset(fs.readFileSync(path.join(dir, name)), CONTENT_TYPES['.js']));
    }
    importMap[specifier] = prefix + path.basename(entry);
  }
  const importMapJson = JSON.stringify({ imports: importMap });
  const html = fs.readFileSync(path.join(WEB_DIR, 'index.html'), 'utf8').replace('<!-- import map -->', `<script type="importmap">${importMapJson}</script>`);
  const importMapHash = createHash('sha256').update(importMapJson).digest('base64');
  const contentSecurityPolicy = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { assets, page: asset(Buffer.from(html), CONTENT_TYPES['.html']), importMap, contentSecurityPolicy };
}

/** A handler for GET and HEAD: answers the dashboard's pages and assets, and returns false for any other path. */
export function dashboardHandler(loaded: DashboardAssets = loadDashboardAssets()): (req: http.IncomingMessage, res: http.ServerResponse, urlPath: string) => boolean {
  return (req, res, urlPath) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const isPage = PAGE_PATH.test(urlPath);
    const found = isPage ? loaded.page : loaded.assets.get(urlPath);
    if (!found) return false;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': found.contentType,
      etag: found.etag,
      // Revalidated on every load (a 304 when unchanged): a new version is seen at once.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    };
    if (isPage) {
      headers['content-security-policy'] = loaded.contentSecurityPolicy;
      headers['referrer-policy'] = 'no-referrer';
    }
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? found.gzipped : found.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** What the browser downloads for the dashboard: bytes and gzipped bytes of the page and every asset. */
export function dashboardWeight(loaded: DashboardAssets = loadDashboardAssets()): { files: number; bytes: number; gzippedBytes: number; javascriptGzippedBytes: number } {
  const all = [loaded.page, ...new Set(loaded.assets.values())];
  return {
    files: all.length,
    bytes: all.reduce((sum, a) => sum + a.body.length, 0),
    gzippedBytes: all.reduce((sum, a) => sum + a.gzipped.length, 0),
    javascriptGzippedBytes: all.filter((a) => a.contentType.startsWith('text/javascript')).reduce((sum, a) => sum + a.gzipped.length, 0),
  };
}

/** Ruru (GraphiQL, at /graphiql) gets a link back to the dashboard. */
export const RURU_DASHBOARD_LINK =
  '<a href="/" style="position:fixed;right:12px;bottom:10px;z-index:10;font:13px system-ui,sans-serif;padding:4px 8px;background:#fff;color:#1d4ed8;border:1px solid #cbd5e1;border-radius:4px">finishline dashboard</a>';
