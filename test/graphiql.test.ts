// What a GraphQL tool reads first: the schema, by the standard introspection query (GraphiQL's
// docs, autocompletion, codegen, Postman), over HTTP and in Ruru in a real browser; the depth
// limit still refuses deep data queries.
import fs from 'node:fs';
import path from 'node:path';
import { getIntrospectionQuery } from 'postgraphile/graphql';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../server/auth.ts';
import { ARTIFACTS_DIR, consoleErrorsOf, launchBrowser, type TestBrowser } from './browser.ts';
import { createTenant, graphql, startServerProcess, submitBatch, TEST_JWT_SECRET, useTestDatabase, type ServerProcess } from './helpers.ts';

const db = useTestDatabase();
let server: ServerProcess;
let token: string;
let batchId: string;

beforeAll(async () => {
  const tenant = await createTenant(db, 'graphiql');
  token = signToken(TEST_JWT_SECRET, { role: 'app_user', tenant_id: tenant });
  batchId = (await submitBatch(db, tenant, 'noop', [{}])).id;
  server = await startServerProcess(db);
});
afterAll(async () => {
  await server?.stop();
});

describe('introspection', () => {
  test("graphql-js's standard introspection query is answered, with a token and without", async () => {
    for (const who of [token, undefined]) {
      const result = await graphql(server.url, getIntrospectionQuery(), {}, who);
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      const types = (result.data!.__schema.types as Array<{ name: string }>).map((type) => type.name);
      expect(types).toEqual(expect.arrayContaining(['Query', 'Mutation', 'Subscription', 'Batch', 'BatchStatusSummary']));
    }
  });

  test('a data query nested past 12 levels is still refused', async () => {
    const deep = `{ allBatches(first: 1) { nodes { ${'tenant { batches(first: 1) { nodes { '.repeat(4)} id ${'} } } '.repeat(4)} } } }`;
    const result = await graphql(server.url, deep, {}, token);
    expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'FLDEP' } });
  });
});

describe('Ruru (GraphiQL) in Chromium', () => {
  let browser: TestBrowser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('loads the schema (its docs list Query) and runs a query with a token', async () => {
    const { context, page } = await browser.newPage();
    // Text goes into the editors by pasting, as a user would: typed, Monaco closes brackets itself.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const paste = async (text: string) => {
      await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
      await page.keyboard.press('Control+V');
    };
    await page.goto(`${server.url}/graphiql`);
    // The documentation explorer shows the root types once the schema has loaded.
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await page.getByText('Query', { exact: true }).first().waitFor();
    expect(await page.content()).not.toContain('Error fetching schema');

    await page.getByRole('button', { name: 'Show editor tools' }).click();
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    await page.locator('section[aria-label="Headers"] .monaco-editor:visible').first().click();
    await paste(JSON.stringify({ Authorization: `Bearer ${token}` }));
    await page.locator('section[aria-label="Operation Editor"] .monaco-editor').first().click();
    await page.keyboard.press('Control+A');
    await paste(`{ batchById(id: "${batchId}") { id kind } }`);
    await page.getByRole('button', { name: /Execute query/ }).click();
    await page.locator('section[aria-label="Result Window"]').getByText(batchId).waitFor();

    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'graphiql.png') });
    expect(consoleErrorsOf(page)).toEqual([]);
  });
});
