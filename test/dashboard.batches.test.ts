// The dashboard in a real browser, as a tenant's operator: signing in with a one-time link, the
// batches list moving live, a failed batch's errors, retry and cancel, and a catalog import
// uploaded through the page. A real server, worker and PostgreSQL.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSignInCode, signInUrl } from '../server/http/sign_in.ts';
import { launchBrowser, type TestBrowser } from './browser.ts';
import { checkPage, isSamePage, markPage, openPage, signIn, tokenFor } from './dashboard_pages.ts';
import {
  createTenant,
  startServerProcess,
  startWorkerProcess,
  submitBatch,
  useTestDatabase,
  waitFor,
  waitForSummary,
  type ServerProcess,
} from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let browser: TestBrowser;
let tenantId: string;
let page: Page;

beforeAll(async () => {
  tenantId = await createTenant(db, 'acme-dashboard');
  [server, browser] = await Promise.all([startServerProcess(db), launchBrowser(), startWorkerProcess(db, { concurrency: 4 })]);
  ({ page } = await browser.newPage());
});

afterAll(async () => {
  await browser?.close();
});

/** The row of a batch in the list, and its progress bar. */
const rowOf = (batchId: string) => page.locator(`tr[data-batch-id="${batchId}"]`);

describe('signing in', () => {
  test('a one-time link signs in as its tenant operator, once', async () => {
    const code = await createSignInCode(db.pool, { role: 'app_user', tenantId });
    const link = signInUrl(server.url, code);
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Batches' }).waitFor();
    await expect(page.locator('.who').textContent()).resolves.toContain('acme-dashboard');
    // The code left the address bar (and it stays out of the history).
    expect(page.url()).toBe(`${server.url}/`);

    const other = await browser.newPage();
    await other.page.goto(link);
    await other.page.getByRole('heading', { name: 'Sign in to finishline' }).waitFor();
    await expect(other.page.getByRole('alert').first().textContent()).resolves.toContain('unknown, used already or expired');
    await other.context.close();
  });

  test('an expired link signs no one in', async () => {
    const code = await createSignInCode(db.pool, { role: 'app_user', tenantId, validForSeconds: 0 });
    const other = await browser.newPage();
    await other.page.goto(signInUrl(server.url, code));
    await other.page.getByRole('heading', { name: 'Sign in to finishline' }).waitFor();
    await expect(other.page.getByRole('alert').first().textContent()).resolves.toContain('expired');
    await other.context.close();
  });
});

describe('batches', () => {
  test('the tenant\'s batches are listed, and one submitted by SQL meanwhile appears and reaches 100% without a reload', async () => {
    const earlier = await submitBatch(db, tenantId, 'noop', [{}, {}, {}]);
    await waitForSummary(db, earlier.id);
    await signIn(page, server.url, tokenFor({ role: 'app_user', tenant_id: tenantId }));
    await rowOf(earlier.id).waitFor();
    await expect(rowOf(earlier.id).getByRole('progressbar').getAttribute('aria-valuenow')).resolves.toBe('100');

    const pushes: string[] = [];
    page.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => pushes.push(String(payload))));
    await markPage(page);
    // Slow enough to be seen running (the list finds new batches by polling every 5 s).
    const submitted = await submitBatch(db, tenantId, 'noop', [2, 4, 6, 8, 8].map((seconds) => ({ sleep_ms: seconds * 1000 })));
    await rowOf(submitted.id).waitFor({ timeout: 15_000 });
    await expect(rowOf(submitted.id).getByRole('progressbar').getAttribute('aria-valuenow')).resolves.not.toBe('100');
    await page.waitForSelector(`tr[data-batch-id="${submitted.id}"] [role=progressbar][aria-valuenow="100"]`, { timeout: 30_000 });
    await page.waitForSelector(`tr[data-batch-id="${submitted.id}"][data-status="completed"]`);
    expect(await isSamePage(page)).toBe(true);
    // Its bar was moved by the batchProgress subscription, not only by the list's polling.
    expect(pushes.some((frame) => frame.includes('"batchProgress"') && frame.includes(submitted.id))).toBe(true);

    // The longest kind there can be (63 characters) wraps instead of widening the page.
    const longKind = `k${'_long'.repeat(12)}_kind`.slice(0, 63);
    await db.pool.query("insert into app_public.batch_kinds (kind, description, task_identifier) values ($1, 'a long name', 'noop')", [longKind]);
    const long = await submitBatch(db, tenantId, longKind, [{}]);
    await rowOf(long.id).waitFor({ timeout: 15_000 });
    await checkPage(page, 'batches');
  });

  test('the list filters by kind and status on the server', async () => {
    const failing = await submitBatch(db, tenantId, 'fail', [{ message: 'filtered out' }]);
    await waitForSummary(db, failing.id);
    await page.getByLabel('Kind', { exact: true }).selectOption('fail');
    await waitFor(() => page.locator('tr[data-batch-id]').evaluateAll((rows) => rows.length > 0 && rows.every((row) => row.querySelector('.kind')!.textContent === 'fail')), { what: 'only fail batches to be listed' });
    await rowOf(failing.id).waitFor();
    await page.getByLabel('Status', { exact: true }).selectOption('completed');
    await rowOf(failing.id).waitFor({ state: 'detached' });
    expect(page.url()).toContain('kind=fail');
    await page.getByRole('link', { name: 'Clear filters' }).click();
    await rowOf(failing.id).waitFor();
  });

  test('a fail batch: its failed items show their errors, searchable; retrying them changes the counts on screen', async () => {
    const longError = `disk full on shard 7: ${'x'.repeat(10_000)}`;
    const batch = await submitBatch(db, tenantId, 'fail', [
      ...Array.from({ length: 4 }, (_, i) => ({ message: `disk full on shard 7 (item ${i})` })),
      { message: longError },
      { message: 'quota exceeded' },
    ]);
    await waitForSummary(db, batch.id);
    await openPage(page, 'Batches');
    await rowOf(batch.id).getByRole('link').click();
    const article = page.locator(`article[data-batch-id="${batch.id}"]`);
    await article.waitFor();
    await expect(article.getAttribute('data-status')).resolves.toBe('completed_with_errors');
    const failedRows = page.locator('table.failed tbody tr');
    await expect(failedRows.count()).resolves.toBe(6);
    await expect(page.locator('table.failed').textContent()).resolves.toContain('quota exceeded');
    await expect(page.locator('[data-item-status="failed"] td').first().textContent()).resolves.toBe('6');

    await page.getByLabel('Error contains').fill('SHARD 7');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitFor(async () => (await failedRows.count()) === 5, { what: 'the search to narrow the failed items' });
    await checkPage(page, 'batch');

    await page.getByRole('button', { name: /^Retry 6 failed items$/ }).click();
    await expect(page.getByRole('status').filter({ hasText: 'put back in the queue' }).textContent()).resolves.toContain('6 failed items');
    // Back in the queue: no longer finished, then failed again (the items fail every attempt).
    await page.waitForSelector(`article[data-batch-id="${batch.id}"]:not([data-status="completed_with_errors"])`, { timeout: 10_000 });
    await page.waitForSelector(`article[data-batch-id="${batch.id}"][data-status="completed_with_errors"]`, { timeout: 30_000 });
    await page.waitForSelector('[data-item-status="failed"]');
  });

  test('a batch whose items were pruned says when, keeps its counts and run summary, and offers no retry', async () => {
    const batch = await submitBatch(db, tenantId, 'fail', [{ message: 'gone for good' }, { message: 'gone for good' }]);
    await waitForSummary(db, batch.id);
    await db.pool.query(`select * from app_public.prune_finished_batches('0 seconds')`);
    await page.goto(`${server.url}/batches/${batch.id}`);
    const article = page.locator(`article[data-batch-id="${batch.id}"]`);
    await article.waitFor();
    await expect(article.getAttribute('data-status')).resolves.toBe('completed_with_errors');
    await expect(page.locator('[data-items-pruned]').textContent()).resolves.toMatch(/^Itemsremoved .*, past their retention/);
    await expect(page.locator('.headline .counts').textContent()).resolves.toContain('2 failed');
    await expect(page.locator('.failed-items').textContent()).resolves.toContain('2 items failed; the items were removed');
    await expect(page.locator('table.errors').textContent()).resolves.toContain('gone for good');
    await expect(page.getByRole('button', { name: /^Retry/ }).count()).resolves.toBe(0);
    await checkPage(page, 'batch');
  });

  test('"cancel" on a slow batch ends it cancelled', async () => {
    const slow = await submitBatch(db, tenantId, 'noop', Array.from({ length: 10 }, () => ({ sleep_ms: 3000 })));
    await page.goto(`${server.url}/batches/${slow.id}`);
    const article = page.locator(`article[data-batch-id="${slow.id}"]`);
    await article.waitFor();
    await page.getByRole('button', { name: 'Cancel batch…' }).click();
    await page.getByRole('button', { name: 'Yes, cancel the batch' }).click();
    await page.waitForSelector(`article[data-batch-id="${slow.id}"][data-status="cancelled"]`);
    await expect(page.getByRole('status').filter({ hasText: 'Cancelled' }).count()).resolves.toBe(1);
    await expect(page.locator('[data-item-status="cancelled"] td').first().textContent()).resolves.toBe('10');
  });
});

describe('submitting', () => {
  test('a catalog file uploaded through the page is imported, and its rejected rows are listed with file and line', async () => {
    await openPage(page, 'Submit');
    await checkPage(page, 'submit');
    const csv = [
      'seller,sku,name,price',
      'Pagely,P-1,Teapot,12.50',
      'Pagely,P-2,Kettle,abc',
      'Pagely,,No sku,3',
      'Pagely,P-3,Mug,4',
    ].join('\n');
    await page.getByLabel('Catalog files').setInputFiles({ name: 'pagely.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Upload and import' }).click();
    const article = page.locator('article[data-batch-id]');
    await article.waitFor();
    await expect(page.locator('h1').textContent()).resolves.toContain('import_catalog');
    await page.waitForSelector('.run-summary table', { timeout: 30_000 });
    const rejections = page.locator('.run-summary table', { hasText: 'pagely.csv' });
    const rows = await rejections.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/pagely\.csv\s*3/);
    expect(rows[1]).toMatch(/pagely\.csv\s*4/);
    await expect(page.locator('.run-summary').textContent()).resolves.toMatch(/inserted\s*2/);
  });

  test('a noop smoke batch submitted from the page runs to completion', async () => {
    await openPage(page, 'Submit');
    await page.getByLabel('Items', { exact: true }).fill('25');
    await page.getByRole('button', { name: 'Submit batch' }).click();
    await page.waitForSelector('article[data-status="completed"]', { timeout: 30_000 });
    await expect(page.locator('[data-item-status="succeeded"] td').first().textContent()).resolves.toBe('25');
  });
});
