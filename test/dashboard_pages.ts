// What the dashboard's browser tests share: signing a page in, and checking a page the way every
// page is checked (no serious accessibility violation, a screenshot at a laptop's and a phone's
// width).
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { signToken, type Claims } from '../server/auth.ts';
import { consoleErrorsOf, saveScreenshot, seriousAccessibilityViolations, VIEWPORTS } from './browser.ts';
import { TEST_JWT_SECRET } from './helpers.ts';

export function tokenFor(claims: Claims, expiresIn: number | `${number}${'s' | 'm' | 'h'}` = '1h'): string {
  return signToken(TEST_JWT_SECRET, claims, expiresIn);
}

/** Signs the page in by pasting the token, as a person would, and waits for the batches page. */
export async function signIn(page: Page, serverUrl: string, token: string): Promise<void> {
  await page.goto(`${serverUrl}/sign-in`);
  // A tab that is signed in already (sessionStorage) would go on to its batches.
  if (await page.evaluate('sessionStorage.length > 0')) {
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
  }
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Batches' }).waitFor();
}

/** Marks the page's window; `isSamePage` says whether it is still there (no reload since). */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate('window.finishlineTestMark = true');
}
export async function isSamePage(page: Page): Promise<boolean> {
  return (await page.evaluate('window.finishlineTestMark === true')) as boolean;
}

/** Opens a page of the dashboard through its navigation (no reload) and waits for its heading. */
export async function openPage(page: Page, linkName: string, heading = linkName): Promise<void> {
  await page.getByRole('navigation', { name: 'pages' }).getByRole('link', { name: linkName, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/**
 * The checks every page gets: its console has shown no error, axe-core finds nothing serious or
 * critical, and a screenshot at 1280×800 and at 390 px wide is saved under test/artifacts/.
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  expect(consoleErrorsOf(page), `${name}: the console's errors`).toEqual([]);
  const viewport = page.viewportSize();
  for (const [size, dimensions] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(dimensions);
    expect(await seriousAccessibilityViolations(page), `${name} at ${size}`).toEqual([]);
    // Nothing may be wider than the screen: long kinds and errors wrap instead.
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect(overflow, `${name} at ${size} scrolls sideways`).toBeLessThanOrEqual(0);
    await saveScreenshot(page, `dashboard-${name}-${size}`);
  }
  if (viewport) await page.setViewportSize(viewport);
}
