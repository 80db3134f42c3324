// The demo marketplace generator: deterministic per seed, within the schema's constraints, with
// the shapes the models rely on (empty sellers, unreviewed products, skewed popularity) and a
// hidden fake-review process that shows in the labels without any one feature giving it away.
import { beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_EPOCH, generateMarketplace, type GenerateMarketplaceResult } from '../server/demo/generate.ts';
import { createRandom } from '../server/random.ts';
import { createTenant, useTestDatabase } from './helpers.ts';

const db = useTestDatabase();
const SIZE = { sellers: 200, products: 2000, reviews: 20_000 };
let first: string;
let second: string;
let other: string;
const results: Record<string, GenerateMarketplaceResult> = {};

beforeAll(async () => {
  first = await createTenant(db, 'demo-first');
  second = await createTenant(db, 'demo-second');
  other = await createTenant(db, 'demo-other-seed');
  const client = await db.pool.connect();
  try {
    results.first = await generateMarketplace(client, { tenantId: first, ...SIZE, seed: 7 });
    results.second = await generateMarketplace(client, { tenantId: second, ...SIZE, seed: 7 });
    results.other = await generateMarketplace(client, { tenantId: other, ...SIZE, seed: 8 });
  } finally {
    client.release();
  }
});

/** md5 of each table's content in a stable order, without ids or tenant. */
async function fingerprint(tenantId: string): Promise<{ sellers: string; products: string; reviews: string }> {
  const { rows } = await db.pool.query(
    `select
       (select md5(string_agg(concat_ws('|', s.name, s.domain, s.created_at), E'\\n' order by s.name))
          from app_public.sellers s where s.tenant_id = $1) as sellers,
       (select md5(string_agg(concat_ws('|', s.name, p.sku, p.name, p.description, p.category, p.price, p.currency, p.stock,
                                         p.status, p.rejection_reason, p.created_at, p.updated_at), E'\\n' order by s.name, p.sku))
          from app_public.products p join app_public.sellers s on s.id = p.seller_id where p.tenant_id = $1) as products,
       (select md5(string_agg(concat_ws('|', s.name, p.sku, r.author, r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes,
                                         r.unhelpful_votes, r.moderation_verdict, r.created_at, r.updated_at), E'\\n' order by s.name, p.sku, r.author))
          from app_public.reviews r join app_public.products p on p.id = r.product_id join app_public.sellers s on s.id = p.seller_id
         where r.tenant_id = $1) as reviews`,
    [tenantId],
  );
  return rows[0];
}

const withoutTime = ({ seconds: _, ...rest }: GenerateMarketplaceResult) => rest;

describe('createRandom', () => {
  test('the same seed gives the same sequence, in [0, 1), roughly uniform; another seed another sequence', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const xs = Array.from({ length: 100_000 }, () => a());
    expect(Array.from({ length: 100_000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => c())).not.toEqual(xs.slice(0, 10));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((sum, x) => sum + x, 0) / xs.length;
    expect(mean).toBeCloseTo(0.5, 2);
    const deciles = new Array(10).fill(0);
    for (const x of xs) deciles[Math.floor(x * 10)]++;
    for (const count of deciles) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });
});

describe('generateMarketplace', () => {
  test('is deterministic: the same seed gives the same content in another tenant (new ids); another seed differs', async () => {
    expect(withoutTime(results.second)).toEqual(withoutTime(results.first));
    const [a, b, c] = await Promise.all([fingerprint(first), fingerprint(second), fingerprint(other)]);
    expect(a.sellers).toBeTruthy();
    expect(b).toEqual(a);
    expect(c.sellers).not.toBe(a.sellers);
    expect(c.products).not.toBe(a.products);
    expect(c.reviews).not.toBe(a.reviews);
    const { rows } = await db.pool.query(
      `select count(*)::int as shared from app_public.reviews x join app_public.reviews y on y.id = x.id
        where x.tenant_id = $1 and y.tenant_id = $2`,
      [first, second],
    );
    expect(rows[0].shared).toBe(0);
  });

  test('writes the requested counts within the constraints, with empty sellers, unreviewed products and skewed popularity', async () => {
    const result = results.first;
    expect(result).toMatchObject({ ...SIZE });
    expect(result.seconds).toBeGreaterThan(0);
    const { rows: [stats] } = await db.pool.query(
      `with per_seller as (
         select s.id, count(p.id)::int as products from app_public.sellers s left join app_public.products p on p.seller_id = s.id
          where s.tenant_id = $1 group by s.id
       ), per_product as (
         select p.id, count(r.id)::int as reviews from app_public.products p left join app_public.reviews r on r.product_id = p.id
          where p.tenant_id = $1 group by p.id
       ), per_author as (
         select author, count(*)::int as reviews, count(distinct product_id)::int as products from app_public.reviews
          where tenant_id = $1 group by author
       )
       select
         (select count(*)::int from per_seller) as sellers,
         (select count(*)::int from per_seller where products = 0) as sellers_without_products,
         (select count(distinct name)::int from app_public.sellers where tenant_id = $1) as distinct_seller_names,
         (select count(*)::int from app_public.sellers where tenant_id = $1 and domain is not null) as sellers_with_domain,
         (select count(*)::int from per_product) as products,
         (select count(*)::int from per_product where reviews = 0) as products_without_reviews,
         (select max(reviews)::int from per_product) as max_reviews_per_product,
         (select count(distinct (seller_id, sku))::int from app_public.products where tenant_id = $1) as distinct_skus,
         (select count(distinct split_part(category, '/', 1))::int from app_public.products where tenant_id = $1) as top_categories,
         (select min(price)::float from app_public.products where tenant_id = $1) as min_price,
         (select min(stock)::int from app_public.products where tenant_id = $1) as min_stock,
         (select jsonb_object_agg(status, n) from (select status, count(*)::int as n from app_public.products where tenant_id = $1 group by status) x) as statuses,
         (select count(*)::int from app_public.products where tenant_id = $1 and (status = 'rejected') <> (rejection_reason is not null)) as bad_reasons,
         (select count(*)::int from app_public.reviews where tenant_id = $1) as reviews,
         (select count(distinct (product_id, author))::int from app_public.reviews where tenant_id = $1) as distinct_product_authors,
         (select min(rating)::int from app_public.reviews where tenant_id = $1) as min_rating,
         (select max(rating)::int from app_public.reviews where tenant_id = $1) as max_rating,
         (select count(*)::int from app_public.reviews where tenant_id = $1 and moderation_verdict is not null) as labelled,
         (select max(products)::int from per_author) as max_products_per_author,
         (select count(*)::int from per_author) as authors,
         (select min(created_at) from app_public.reviews where tenant_id = $1) as first_review,
         (select max(created_at) from app_public.reviews where tenant_id = $1) as last_review`,
      [first],
    );
    expect(stats.sellers).toBe(SIZE.sellers);
    expect(stats.distinct_seller_names).toBe(SIZE.sellers);
    expect(stats.sellers_without_products).toBeGreaterThanOrEqual(2);
    expect(stats.sellers_without_products).toBeLessThanOrEqual(0.12 * SIZE.sellers);
    expect(stats.sellers_with_domain).toBeGreaterThan(0.5 * SIZE.sellers);
    expect(stats.sellers_with_domain).toBeLessThan(SIZE.sellers);

    expect(stats.products).toBe(SIZE.products);
    expect(stats.distinct_skus).toBe(SIZE.products);
    expect(stats.products_without_reviews).toBeGreaterThan(0.05 * SIZE.products);
    expect(stats.products_without_reviews).toBeLessThan(0.2 * SIZE.products);
    // Skewed popularity: the most reviewed product has many times the mean.
    expect(stats.max_reviews_per_product).toBeGreaterThan((10 * SIZE.reviews) / SIZE.products);
    expect(stats.top_categories).toBeGreaterThanOrEqual(6);
    expect(stats.min_price).toBeGreaterThanOrEqual(0);
    expect(stats.min_stock).toBeGreaterThanOrEqual(0);
    expect(stats.statuses.approved).toBeGreaterThan(0.7 * SIZE.products);
    expect(stats.statuses.pending).toBeGreaterThan(0.03 * SIZE.products);
    expect(stats.statuses.rejected).toBeGreaterThan(0);
    expect(stats.statuses.rejected).toBeLessThan(stats.statuses.pending);
    expect(stats.bad_reasons).toBe(0);

    expect(stats.reviews).toBe(SIZE.reviews);
    expect(stats.distinct_product_authors).toBe(SIZE.reviews);
    expect([stats.min_rating, stats.max_rating]).toEqual([1, 5]);
    expect(stats.labelled).toBe(result.labelled);
    expect(stats.labelled / SIZE.reviews).toBeGreaterThan(0.28);
    expect(stats.labelled / SIZE.reviews).toBeLessThan(0.32);
    expect(result.fake / SIZE.reviews).toBeGreaterThan(0.04);
    expect(result.fake / SIZE.reviews).toBeLessThan(0.25);
    // Authors review several products; there are many more reviews than authors.
    expect(stats.max_products_per_author).toBeGreaterThanOrEqual(10);
    expect(stats.authors).toBeLessThan(SIZE.reviews / 2);
    // A year of reviews before the epoch.
    expect(stats.first_review.getTime()).toBeGreaterThanOrEqual(DEFAULT_EPOCH.getTime() - 365 * 86_400_000);
    expect(stats.last_review.getTime()).toBeLessThan(DEFAULT_EPOCH.getTime());
    expect(stats.last_review.getTime() - stats.first_review.getTime()).toBeGreaterThan(300 * 86_400_000);
  });

  test('products of one category share their vocabulary', async () => {
    const { rows } = await db.pool.query<{ category: string; text: string }>(
      `select split_part(p.category, '/', 1) as category, lower(p.name || ' ' || p.description) as text
         from app_public.products p join app_public.sellers s on s.id = p.seller_id where p.tenant_id = $1 order by s.name, p.sku`,
      [first],
    );
    const words = rows.map((row) => ({ category: row.category, words: new Set(row.text.match(/[a-z]+/g)) }));
    const jaccard = (a: Set<string>, b: Set<string>) => {
      let shared = 0;
      for (const word of a) if (b.has(word)) shared++;
      return shared / (a.size + b.size - shared);
    };
    const random = createRandom(1);
    let same = 0, sameCount = 0, different = 0, differentCount = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = words[Math.floor(random() * words.length)];
      const b = words[Math.floor(random() * words.length)];
      if (a === b) continue;
      if (a.category === b.category) {
        same += jaccard(a.words, b.words);
        sameCount++;
      } else {
        different += jaccard(a.words, b.words);
        differentCount++;
      }
    }
    expect(same / sameCount).toBeGreaterThan(2 * (different / differentCount));
  });

  test('the hidden process shows in the labels: fake reviews are shorter, more extreme, unverified, duplicated, bursty, from casual authors', async () => {
    const { rows } = await db.pool.query(
      `with tenant_reviews as (
         select r.*,
           count(*) over (partition by md5(lower(btrim(r.body)))) - 1 as duplicates,
           count(*) over (partition by r.author) as author_reviews
         from app_public.reviews r where r.tenant_id = $1
       ), labelled as (
         select t.*,
           (select count(*) - 1 from app_public.reviews b where b.product_id = t.product_id
              and b.created_at between t.created_at - interval '12 hours' and t.created_at + interval '12 hours') as same_day
         from tenant_reviews t where t.moderation_verdict is not null
       )
       select moderation_verdict as verdict, count(*)::int as n,
         avg(length(body))::float as length,
         avg((length(body) < 45)::int)::float as short,
         avg((length(body) > 120)::int)::float as long,
         avg((rating in (1, 5))::int)::float as extreme,
         avg((rating = 5)::int)::float as five,
         avg((rating between 2 and 4)::int)::float as moderate,
         avg(verified_purchase::int)::float as verified,
         avg((duplicates > 0)::int)::float as duplicated,
         avg(author_reviews)::float as author_reviews,
         avg((author_reviews <= 2)::int)::float as casual_author,
         avg(same_day)::float as same_day,
         avg(helpful_votes)::float as helpful
       from labelled group by moderation_verdict`,
      [first],
    );
    const fake = rows.find((row) => row.verdict === 'fake');
    const genuine = rows.find((row) => row.verdict === 'genuine');
    expect(fake.n).toBeGreaterThan(200);
    expect(genuine.n).toBeGreaterThan(3 * fake.n);

    expect(fake.length).toBeLessThan(0.7 * genuine.length);
    expect(fake.extreme).toBeGreaterThan(genuine.extreme + 0.25);
    expect(fake.five).toBeGreaterThan(0.45);
    expect(fake.verified).toBeLessThan(genuine.verified - 0.25);
    expect(fake.duplicated).toBeGreaterThan(genuine.duplicated + 0.25);
    expect(fake.author_reviews).toBeLessThan(0.8 * genuine.author_reviews);
    expect(fake.casual_author).toBeGreaterThan(genuine.casual_author + 0.15);
    expect(fake.same_day).toBeGreaterThan(1.5 * genuine.same_day);
    expect(fake.helpful).toBeLessThan(0.6 * genuine.helpful);

    // Noise on every trait: no single one separates the two classes.
    for (const share of [genuine.short, genuine.extreme, 1 - genuine.verified, genuine.duplicated, fake.long, fake.moderate, fake.verified, 1 - fake.duplicated]) {
      expect(share).toBeGreaterThan(0.03);
    }
  });

  test('runs in the caller\'s transaction: a rollback leaves nothing behind; bad options are refused', async () => {
    const tenant = await createTenant(db, 'demo-rollback');
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      const result = await generateMarketplace(client, { tenantId: tenant, sellers: 10, products: 50, reviews: 300, seed: 1, labelledShare: 1 });
      expect(result).toMatchObject({ sellers: 10, products: 50, reviews: 300, labelled: 300 });
      const { rows: inside } = await client.query('select count(*)::int as n from app_public.reviews where tenant_id = $1', [tenant]);
      expect(inside[0].n).toBe(300);
      await client.query('rollback');
      const { rows: after } = await client.query('select count(*)::int as n from app_public.sellers where tenant_id = $1', [tenant]);
      expect(after[0].n).toBe(0);

      await expect(generateMarketplace(client, { tenantId: 'nope', sellers: 1, products: 1, reviews: 1, seed: 1 })).rejects.toThrow(/uuid/);
      await expect(generateMarketplace(client, { tenantId: tenant, sellers: 1, products: -1, reviews: 1, seed: 1 })).rejects.toThrow(/products/);
      await expect(generateMarketplace(client, { tenantId: tenant, sellers: 0, products: 1, reviews: 0, seed: 1 })).rejects.toThrow(/seller/);
      await expect(generateMarketplace(client, { tenantId: tenant, sellers: 1, products: 0, reviews: 1, seed: 1 })).rejects.toThrow(/product/);
      await expect(generateMarketplace(client, { tenantId: tenant, sellers: 1, products: 1, reviews: 1, seed: 1, labelledShare: 2 })).rejects.toThrow(/labelledShare/);
    } finally {
      client.release();
    }
  });
});
