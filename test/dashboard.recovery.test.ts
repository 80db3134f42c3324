// A worker killed (SIGKILL) during a slow batch, watched in the dashboard: the batch's page says
// why it is not moving, then shows the recovery when a worker is back, without a reload; a page
// following a batch live subscribes again when the server ends its stream early; the
// installation's operator sees the dead worker's repairs on the Workers page.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { launchBrowser, type TestBrowser } from './browser.ts';
import { checkPage, isSamePage, markPage, openPage, signIn, tokenFor } from './dashboard_pages.ts';
import { createTenant, startServerProcess, startWorkerProcess, submitBatch, useTestDatabase, waitFor, type ServerProcess } from './helpers.ts';

// Heartbeats go stale after 3 s (instead of 30): a dead worker is noticed quickly.
const db = useTestDatabase({ 'finishline.worker_stale_after': '3s' });
let server: ServerProcess;
let browser: TestBrowser;
let tenantId: string;
let page: Page;

beforeAll(async () => {
  tenantId = await createTenant(db, 'crashy');
  [server, browser] = await Promise.all([startServerProcess(db), launchBrowser()]);
  ({ page } = await browser.newPage());
});

afterAll(async () => {
  await browser?.close();
});

test('a worker killed during a slow batch: the page shows the stuck reason, then the recovery', async () => {
  const first = await startWorkerProcess(db, { concurrency: 2 });
  const batch = await submitBatch(db, tenantId, 'noop', Array.from({ length: 4 }, () => ({ sleep_ms: 4000 })));
  await signIn(page, server.url, tokenFor({ role: 'app_user', tenant_id: tenantId }));
  await page.locator(`tr[data-batch-id="${batch.id}"] a`).click();
  const article = page.locator(`article[data-batch-id="${batch.id}"]`);
  await page.waitForSelector(`article[data-batch-id="${batch.id}"][data-status="processing"]`);
  await markPage(page);

  await waitFor(async () => (await db.pool.query("select 1 from app_public.batch_items where batch_id = $1 and status = 'processing'", [batch.id])).rowCount, { what: 'the items to run' });
  await first.kill();
  // The items stay "processing" with their worker gone: the page says so, in words.
  const stuck = page.locator('.stuck[data-reason="no_worker_alive"]');
  await stuck.waitFor({ timeout: 20_000 });
  await expect(stuck.textContent()).resolves.toContain('No worker is running');
  await checkPage(page, 'batch-stuck');

  // A worker again: it finds its dead peer, the sweeper gives the items back, and they run.
  await startWorkerProcess(db, { concurrency: 2 });
  await page.waitForSelector(`article[data-batch-id="${batch.id}"][data-status="completed"]`, { timeout: 45_000 });
  await expect(page.locator('.stuck').count()).resolves.toBe(0);
  await expect(article.getByRole('progressbar').getAttribute('aria-valuenow')).resolves.toBe('100');
  expect(await isSamePage(page)).toBe(true);
});

test('a batch followed live again after the server lost its LISTEN connection', async () => {
  await startWorkerProcess(db, { concurrency: 1 });
  const batch = await submitBatch(db, tenantId, 'noop', Array.from({ length: 4 }, () => ({ sleep_ms: 6000 })));
  // Every subscription the page asks for, as it goes over its websocket.
  const subscribed: number[] = [];
  page.on('websocket', (socket) => socket.on('framesent', ({ payload }) => {
    const message = JSON.parse(String(payload)) as { type: string; payload?: { variables?: { batchId?: string } } };
    if (message.type === 'subscribe' && message.payload?.variables?.batchId === batch.id) subscribed.push(Date.now());
  }));
  await signIn(page, server.url, tokenFor({ role: 'app_user', tenant_id: tenantId }));
  await page.goto(`${server.url}/batches/${batch.id}`);
  await page.waitForSelector(`article[data-batch-id="${batch.id}"][data-status="processing"]`);
  await waitFor(() => subscribed.length > 0, { what: "the page's subscription" });

  // The server's stream ends early, the batch unfinished; the page asks for it again.
  const cut = Date.now();
  const { rowCount } = await db.pool.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'finishline listen' and datname = current_database()");
  expect(rowCount).toBe(1);
  await waitFor(() => subscribed.some((at) => at > cut), { what: 'the page to subscribe again', timeoutMs: 10_000 });
  await page.waitForSelector(`article[data-batch-id="${batch.id}"][data-status="completed"]`, { timeout: 30_000 });
  expect(server.exitCode()).toBeNull();
});

test('the installation operator sees the workers, the queue and the sweeper\'s repairs', async () => {
  await signIn(page, server.url, tokenFor({ role: 'app_admin' }));
  await openPage(page, 'Workers & queue');
  await page.locator('tr[data-alive="true"]').first().waitFor();
  await page.locator('tr[data-repair="released_items"]').waitFor();
  await page.locator('tr[data-repair="removed_dead_worker"]').waitFor();
  await expect(page.locator('table.repairs').textContent()).resolves.toContain('gave back the items of a dead worker');
  await checkPage(page, 'workers');
});
