// The dashboard's HTTP side without a browser: its pages and assets (all served by finishline,
// no CDN), GraphiQL at /graphiql linking back, the sign-in mutation, and the SQL it reads.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dashboardWeight, loadDashboardAssets } from '../server/http/dashboard.ts';
import { createSignInCode } from '../server/http/sign_in.ts';
import { tokenFor } from './dashboard_pages.ts';
import { asRole, createTenant, graphql, startServerProcess, submitBatch, useTestDatabase, type ServerProcess } from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let tenantId: string;

beforeAll(async () => {
  tenantId = await createTenant(db, 'served');
  server = await startServerProcess(db);
});

afterAll(async () => {
  await server?.stop();
});

describe('pages and assets', () => {
  test('/ and the pages\' paths answer the dashboard, with a policy that allows no script but its own', async () => {
    for (const path of ['/', '/batches', `/batches/${crypto.randomUUID()}`, '/submit', '/schedules', '/models', '/workers', '/sign-in']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await response.text();
      expect(html).toContain('<script type="importmap">');
      expect(html).toContain('href="/graphiql"');
      expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[^']+'; /);
    }
    expect((await fetch(`${server.url}/batches/not-a-batch/extra`)).status).toBe(404);
  });

  test('the icon is served where the page names it and where browsers look for one unnamed', async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    expect(html).toContain('<link rel="icon" href="/assets/app/favicon.svg"');
    for (const path of ['/assets/app/favicon.svg', '/favicon.ico']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toBe('image/svg+xml');
      expect(await response.text(), path).toMatch(/^<svg /);
    }
  });

  test('every module the import map names is served, gzipped when asked, and revalidated by its etag', async () => {
    const { importMap, assets } = loadDashboardAssets();
    expect(Object.keys(importMap).sort()).toEqual(['graphql-ws/client', 'htm', 'preact', 'preact/hooks']);
    for (const url of [...Object.values(importMap), ...[...assets.keys()].filter((path) => path.startsWith('/assets/app/'))]) {
      const response = await fetch(`${server.url}${url}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(response.status, url).toBe(200);
      expect(response.headers.get('content-encoding'), url).toBe('gzip');
      const etag = response.headers.get('etag')!;
      expect((await fetch(`${server.url}${url}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    }
    // Only the files loaded at start are served (a lookup, not a path on disk).
    expect((await fetch(`${server.url}/assets/app/nope.js`)).status).toBe(404);
  });

  test('what the browser downloads is small', () => {
    const weight = dashboardWeight();
    // The README states the figure; this keeps it from growing unnoticed.
    expect(weight.javascriptGzippedBytes).toBeLessThan(60_000);
  });

  test('GraphiQL is at /graphiql, served by finishline, with a link back to the dashboard', async () => {
    const response = await fetch(`${server.url}/graphiql`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('finishline dashboard</a>');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
  });
});

describe('sign-in codes', () => {
  const redeem = (code: string) => graphql(server.url, 'mutation ($code: String!) { redeemSignInCode(code: $code) { token role tenantId expiresAt } }', { code });

  test('a code gives a token of its role and tenant once; then it is refused, as an unknown one is', async () => {
    const code = await createSignInCode(db.pool, { role: 'app_user', tenantId });
    const first = await redeem(code);
    expect(first.data?.redeemSignInCode).toMatchObject({ role: 'app_user', tenantId });
    const token = first.data!.redeemSignInCode.token;
    const me = await graphql(server.url, '{ currentTenantId }', {}, token);
    expect(me.data).toEqual({ currentTenantId: tenantId });

    for (const again of [await redeem(code), await redeem('made-up-code')]) {
      expect(again.data).toBeFalsy();
      expect(again.errors?.[0]).toMatchObject({ extensions: { code: 'FLSIN' } });
    }
  });

  test('an admin code without a tenant gives the installation operator\'s token', async () => {
    const code = await createSignInCode(db.pool, { role: 'app_admin' });
    const { data } = await redeem(code);
    expect(data?.redeemSignInCode).toMatchObject({ role: 'app_admin', tenantId: null });
  });

  test('the codes themselves are out of every client\'s reach', async () => {
    const refused = await asRole(db, 'app_anonymous', {}, (client) => client.query('select * from app_private.sign_in_codes')).catch((error: Error) => error);
    expect(String(refused)).toMatch(/permission denied/);
  });
});

describe('what the dashboard reads', () => {
  test('searchBatches filters by kind, status and time, newest first, within the token\'s tenant', async () => {
    const other = await createTenant(db, 'served-other');
    const a = await submitBatch(db, tenantId, 'noop', []);
    const b = await submitBatch(db, tenantId, 'fail', []);
    await submitBatch(db, other, 'noop', []);
    const token = tokenFor({ role: 'app_user', tenant_id: tenantId });
    const search = async (args = '') => (await graphql(server.url, `{ searchBatches(first: 50${args}) { totalCount nodes { id kind status } } }`, {}, token)).data!.searchBatches;
    expect((await search()).nodes.map((n: { id: string }) => n.id)).toEqual([b.id, a.id]);
    expect((await search(', kind: "fail"')).nodes).toEqual([{ id: b.id, kind: 'fail', status: 'completed' }]);
    expect((await search(', status: "processing"')).totalCount).toBe(0);
    expect((await search(`, createdAfter: "${new Date(Date.now() + 60_000).toISOString()}"`)).totalCount).toBe(0);
    expect((await search(', offset: 1')).nodes.map((n: { id: string }) => n.id)).toEqual([a.id]);
    // A tenant's admin searches its own tenant; the installation operator every tenant.
    const tenantAdmin = (await graphql(server.url, '{ searchBatches { totalCount } }', {}, tokenFor({ role: 'app_admin', tenant_id: tenantId }))).data!.searchBatches;
    expect(tenantAdmin.totalCount).toBe(2);
    const operator = (await graphql(server.url, '{ searchBatches { totalCount } }', {}, tokenFor({ role: 'app_admin' }))).data!.searchBatches;
    expect(operator.totalCount).toBe(3);
  });
});
