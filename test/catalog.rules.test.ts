// The database's checks are the rule for products, reviews and sellers; the importer's validation
// (server/catalog/rows.ts) must agree with them at every edge, and so must check_product, which
// the API calls for messages that name the field. Each case changes one field of a valid row: the
// importer accepts it exactly when the tables do, given the value the importer would store (or
// the raw value, when it refuses it). One deliberate difference: numeric(12, 2) rounds a price
// with more decimals before its check sees it, where the importer and check_product refuse it
// rather than change a price silently.
import type pg from 'pg';
import { beforeAll, describe, expect, test } from 'vitest';
import { validateRow } from '../server/catalog/rows.ts';
import { createTenant, useTestDatabase } from './helpers.ts';

const db = useTestDatabase();
let tenant: string;
let seller: string;
let product: string;

beforeAll(async () => {
  tenant = await createTenant(db, 'rules');
  seller = (await db.pool.query<{ id: string }>(`insert into app_public.sellers (tenant_id, name) values ($1, 'rules shop') returning id`, [tenant])).rows[0].id;
  product = (await db.pool.query<{ id: string }>(
    `insert into app_public.products (tenant_id, seller_id, sku, name, price) values ($1, $2, 'base', 'Base', 1) returning id`, [tenant, seller])).rows[0].id;
});

const long = (length: number) => 'x'.repeat(length);

/** Whether a statement succeeds, inside a transaction that is rolled back. */
async function accepted(statement: (client: pg.PoolClient) => Promise<unknown>): Promise<boolean> {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await statement(client);
    return true;
  } catch (error) {
    // Only a check's refusal counts as the rule speaking; anything else is the test's fault.
    if (!['23514', '23502', 'FLINV', '22003', '22P02'].includes((error as { code?: string }).code ?? '')) throw error;
    return false;
  } finally {
    await client.query('rollback');
    client.release();
  }
}

const PRODUCT = { seller: 'rules shop', type: 'product', sku: 'SKU-1', name: 'A knife', description: '', category: '', price: '10.00', currency: 'EUR', stock: '3' };
const PRODUCT_CASES: Array<[string, Record<string, unknown>]> = [
  ['sku empty', { sku: '' }], ['sku 1 character', { sku: 'a' }], ['sku 100 characters', { sku: long(100) }], ['sku 101 characters', { sku: long(101) }],
  ['name empty', { name: '' }], ['name 300 characters', { name: long(300) }], ['name 301 characters', { name: long(301) }],
  ['description 20000 characters', { description: long(20_000) }], ['description 20001 characters', { description: long(20_001) }],
  ['category 200 characters', { category: long(200) }], ['category 201 characters', { category: long(201) }],
  ['price 0', { price: '0' }], ['price -0.01', { price: '-0.01' }], ['price 0.001', { price: '0.001' }], ['price 1.5', { price: '1.5' }],
  ['price 9999999999.99', { price: '9999999999.99' }], ['price 10000000000', { price: '10000000000' }],
  ['currency USD', { currency: 'USD' }], ['currency EU', { currency: 'EU' }], ['currency EURO', { currency: 'EURO' }], ['currency U1D', { currency: 'U1D' }],
  ['stock 0', { stock: '0' }], ['stock -1', { stock: '-1' }], ['stock 2147483647', { stock: '2147483647' }], ['stock 2147483648', { stock: '2147483648' }],
];

describe('products', () => {
  test.each(PRODUCT_CASES)('%s: the importer, check_product and the table agree', async (_, change) => {
    const raw = { ...PRODUCT, ...change };
    const validated = validateRow(raw, 1);
    const row = 'row' in validated ? validated.row : null;
    const value = (field: string) => (row ? (row as unknown as Record<string, unknown>)[field] : String(raw[field as keyof typeof raw]).trim());
    const fields = ['sku', 'name', 'description', 'category', 'price', 'currency', 'stock'].map(value);
    const table = await accepted((client) => client.query(
      `insert into app_public.products (tenant_id, seller_id, sku, name, description, category, price, currency, stock)
       values ($1, $2, $3, $4, $5, $6, $7::numeric(12, 2), $8, $9::integer)`, [tenant, seller, ...fields]));
    const checked = await accepted((client) => client.query('select app_private.check_product($1, $2, $3, $4, $5::numeric, $6, $7::integer)', fields));
    const rule = /^\d+\.\d{3,}$/.test(String(raw.price)) ? false : table;
    expect({ importer: row !== null, check_product: checked }).toEqual({ importer: rule, check_product: rule });
  });
});

const REVIEW = { seller: 'rules shop', type: 'review', sku: 'base', author: 'ann', rating: '4', title: '', body: '', helpful_votes: '0', unhelpful_votes: '0' };
const REVIEW_CASES: Array<[string, Record<string, unknown>]> = [
  ['author empty', { author: '' }], ['author 200 characters', { author: long(200) }], ['author 201 characters', { author: long(201) }],
  ['rating 0', { rating: '0' }], ['rating 1', { rating: '1' }], ['rating 5', { rating: '5' }], ['rating 6', { rating: '6' }],
  ['title 300 characters', { title: long(300) }], ['title 301 characters', { title: long(301) }],
  ['body 20000 characters', { body: long(20_000) }], ['body 20001 characters', { body: long(20_001) }],
  ['helpful_votes -1', { helpful_votes: '-1' }], ['unhelpful_votes -1', { unhelpful_votes: '-1' }], ['helpful_votes 2147483647', { helpful_votes: '2147483647' }],
];

describe('reviews', () => {
  test.each(REVIEW_CASES)('%s: the importer and the table agree', async (_, change) => {
    const raw = { ...REVIEW, ...change };
    const validated = validateRow(raw, 1);
    const row = 'row' in validated ? validated.row : null;
    const value = (field: string) => (row ? (row as unknown as Record<string, unknown>)[field] : String(raw[field as keyof typeof raw]).trim());
    const table = await accepted((client) => client.query(
      `insert into app_public.reviews (tenant_id, product_id, author, rating, title, body, helpful_votes, unhelpful_votes)
       values ($1, $2, $3, $4::smallint, $5, $6, $7::integer, $8::integer)`,
      [tenant, product, ...['author', 'rating', 'title', 'body', 'helpful_votes', 'unhelpful_votes'].map(value)]));
    expect(row !== null).toBe(table);
  });
});

describe('sellers', () => {
  test.each([['name 200 characters', long(200)], ['name 201 characters', long(201)], ['name empty', '']])('%s: the importer and the table agree', async (_, name) => {
    const validated = validateRow({ ...PRODUCT, seller: name }, 1);
    const table = await accepted((client) => client.query('insert into app_public.sellers (tenant_id, name) values ($1, $2)', [tenant, name]));
    expect('row' in validated).toBe(table);
  });
});
