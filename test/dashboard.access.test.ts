// Who sees what in the dashboard: tenant A's token never shows tenant B's batches, counts or
// errors, on any page; an operator is offered no admin page or action (and the server refuses
// them anyway); a bad or expired token goes back to sign-in. Also the pages not checked elsewhere
// (sign-in, models, schedules) get their accessibility check and screenshots.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { launchBrowser, type TestBrowser } from './browser.ts';
import { checkPage, openPage, signIn, tokenFor } from './dashboard_pages.ts';
import {
  createTenant,
  graphql,
  startServerProcess,
  startWorkerProcess,
  submitBatch,
  useTestDatabase,
  waitForSummary,
  type BatchRow,
  type ServerProcess,
} from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let browser: TestBrowser;
let page: Page;
let tenantA: string;
let tenantB: string;
let batchOfA: BatchRow;
const secretsOfB: string[] = [];

beforeAll(async () => {
  [tenantA, tenantB] = await Promise.all([createTenant(db, 'tenant-alpha'), createTenant(db, 'tenant-bravo-secret-name')]);
  [server, browser] = await Promise.all([startServerProcess(db), launchBrowser(), startWorkerProcess(db, { concurrency: 2 })]);
  batchOfA = await submitBatch(db, tenantA, 'fail', [{ message: 'alpha went wrong' }, { message: 'alpha again' }]);
  const failedOfB = await submitBatch(db, tenantB, 'fail', Array.from({ length: 37 }, () => ({ message: 'bravo-private-error-text' })));
  const doneOfB = await submitBatch(db, tenantB, 'noop', Array.from({ length: 41 }, () => ({})));
  await Promise.all([batchOfA, failedOfB, doneOfB].map((batch) => waitForSummary(db, batch.id)));
  secretsOfB.push(failedOfB.id, failedOfB.id.slice(0, 8), doneOfB.id, doneOfB.id.slice(0, 8), 'bravo-private-error-text', 'tenant-bravo-secret-name');
  ({ page } = await browser.newPage());
});

afterAll(async () => {
  await browser?.close();
});

/** Fails when the page shows anything of tenant B's. */
async function expectNothingOfB(where: string): Promise<void> {
  const text = await page.locator('body').innerText();
  const markup = await page.content();
  for (const secret of secretsOfB) {
    expect(text.includes(secret) || markup.includes(secret), `${where} shows "${secret}" of tenant B`).toBe(false);
  }
}

const navigationLinks = () => page.getByRole('navigation', { name: 'pages' }).getByRole('link').allTextContents();

describe("a tenant's operator", () => {
  test('sees its own tenant only, on every page, and no admin page or action', async () => {
    await signIn(page, server.url, tokenFor({ role: 'app_user', tenant_id: tenantA }));
    await page.locator(`tr[data-batch-id="${batchOfA.id}"]`).waitFor();
    await expect(page.getByRole('navigation', { name: 'pages of batches' }).textContent()).resolves.toContain('1–1 of 1 batches');
    await expectNothingOfB('the batches page');
    expect(await navigationLinks()).toEqual(['Batches', 'Submit', 'Models', 'GraphiQL']);

    await page.locator(`tr[data-batch-id="${batchOfA.id}"] a`).click();
    await page.locator('table.failed').waitFor();
    await expectNothingOfB('its batch page');
    // Retry and cancel are an operator's; nothing on the page is an admin's.
    await expect(page.getByRole('button', { name: /Retry 2 failed items/ }).count()).resolves.toBe(1);

    await openPage(page, 'Submit');
    await expectNothingOfB('the submit page');
    await openPage(page, 'Models');
    await expectNothingOfB('the models page');
    await checkPage(page, 'models');

    // Another tenant's batch by its address: not found, as for a batch that does not exist.
    await page.goto(`${server.url}/batches/${secretsOfB[0]}`);
    await page.getByRole('heading', { level: 1, name: 'Batch not found' }).waitFor();
    await expect(page.locator('table').count()).resolves.toBe(0);
    await expect(page.getByText('bravo-private-error-text').count()).resolves.toBe(0);

    // Admin pages by their address: refused by the page, and by the server whatever the page does.
    for (const [path, title] of [['/schedules', 'Schedules'], ['/workers', 'Workers & queue']]) {
      await page.goto(`${server.url}${path}`);
      await page.getByRole('heading', { level: 1, name: title }).waitFor();
      await expect(page.getByRole('alert').textContent()).resolves.toContain('not for your token');
    }
    const token = tokenFor({ role: 'app_user', tenant_id: tenantA });
    const refused = await graphql(server.url, '{ allWorkersList { id } allTaskQueuesList { taskIdentifier } }', {}, token);
    expect(refused.errors?.[0].message).toMatch(/permission denied/);
    const triggered = await graphql(server.url, 'mutation { triggerReviewScoring(input: {}) { result { id } } }', {}, token);
    expect(triggered.errors?.[0].extensions?.code).toBe('FLADM');
  });
});

describe("a tenant's admin", () => {
  test('has Schedules but not the installation\'s workers and queue, and lists its own tenant\'s batches only', async () => {
    await signIn(page, server.url, tokenFor({ role: 'app_admin', tenant_id: tenantA }));
    await page.locator(`tr[data-batch-id="${batchOfA.id}"]`).waitFor();
    await expectNothingOfB('the batches page of a tenant admin');
    expect(await navigationLinks()).toEqual(['Batches', 'Submit', 'Schedules', 'Models', 'GraphiQL']);
    await openPage(page, 'Schedules');
    await page.getByRole('button', { name: 'Score reviews now' }).click();
    await page.getByRole('status').filter({ hasText: /Started|Nothing to score/ }).waitFor();
    await checkPage(page, 'schedules');
    // What every tenant shares is the installation operator's: no rows for a tenant's admin.
    const shared = await graphql(server.url, '{ allWorkersList { id } allTaskQueuesList { taskIdentifier } allRecentSweeperRepairs { totalCount } }', {}, tokenFor({ role: 'app_admin', tenant_id: tenantA }));
    expect(shared.data).toEqual({ allWorkersList: [], allTaskQueuesList: [], allRecentSweeperRepairs: { totalCount: 0 } });
  });
});

describe('the installation operator', () => {
  test('sees every tenant, each batch with its tenant, and the workers', async () => {
    await signIn(page, server.url, tokenFor({ role: 'app_admin' }));
    await page.locator(`tr[data-batch-id="${secretsOfB[0]}"]`).waitFor();
    await expect(page.locator(`tr[data-batch-id="${secretsOfB[0]}"]`).textContent()).resolves.toContain('tenant-bravo-secret-name');
    expect(await navigationLinks()).toEqual(['Batches', 'Schedules', 'Models', 'Workers & queue', 'GraphiQL']);
    await page.getByLabel('Tenant', { exact: true }).selectOption({ label: 'tenant-alpha' });
    await page.locator(`tr[data-batch-id="${secretsOfB[0]}"]`).waitFor({ state: 'detached' });
    await expect(page.locator('tbody').textContent()).resolves.not.toContain('tenant-bravo');
  });
});

describe('tokens', () => {
  const signInWith = async (token: string) => {
    await page.goto(`${server.url}/sign-in`);
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page.getByRole('alert').first().textContent();
  };

  test('a bad token, one signed with another secret, or an expired one stays at sign-in, saying why', async () => {
    await expect(signInWith('not-a-token')).resolves.toContain('not a JWT');
    await checkPage(page, 'sign-in');
    const forged = signToken('a-different-secret-that-is-long-enough!', { role: 'app_user', tenant_id: tenantA });
    await expect(signInWith(forged)).resolves.toMatch(/invalid token/);
    await expect(signInWith(tokenFor({ role: 'app_user', tenant_id: tenantA }, -60))).resolves.toContain('expired');
    await expect(signInWith(tokenFor({ role: 'app_shopper', tenant_id: tenantA, sub: 'ann' }))).resolves.toContain('for operators and admins');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in to finishline');
  });

  test('a token that expires while signed in is sent back to sign-in', async () => {
    await signIn(page, server.url, tokenFor({ role: 'app_user', tenant_id: tenantA }, '3s'));
    // The list polls every few seconds: the first request after the expiry is refused.
    await page.getByRole('heading', { level: 1, name: 'Sign in to finishline' }).waitFor({ timeout: 15_000 });
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('refused your token');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
  });
});
