-- Up Migration
-- Scraped storefront pages, the products they list in JSON-LD, the per-host limiter that keeps
-- every worker process polite to one host, and the `scrape_pages` batch kind.

create table app_public.scraped_pages (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  url text not null check (url ~ '^https?://' and length(url) <= 2048),
  final_url text not null check (final_url ~ '^https?://' and length(final_url) <= 2048),
  http_status smallint not null check (http_status between 100 and 599),
  content_type text check (length(content_type) <= 200),
  title text check (length(title) <= 1000),
  meta_description text check (length(meta_description) <= 5000),
  canonical_url text check (length(canonical_url) <= 2048),
  language text check (length(language) <= 35),
  products_found integer not null default 0 check (products_found >= 0),
  seller_id uuid,
  batch_item_id bigint references app_public.batch_items on delete set null,
  fetched_at timestamptz not null default now(),
  unique (tenant_id, url),
  foreign key (seller_id, tenant_id) references app_public.sellers (id, tenant_id) on delete set null (seller_id)
);
create index scraped_pages_tenant_id_fetched_at_idx on app_public.scraped_pages (tenant_id, fetched_at desc);
create index scraped_pages_seller_id_idx on app_public.scraped_pages (seller_id);
create index scraped_pages_batch_item_id_idx on app_public.scraped_pages (batch_item_id);
comment on table app_public.scraped_pages is E'@behavior -insert -update -delete\nA seller''s storefront page as last scraped by a `scrape_pages` batch: its metadata, and how many products it lists. One row per tenant and URL; scraping the URL again updates it.';
comment on column app_public.scraped_pages.id is 'The page''s id.';
comment on column app_public.scraped_pages.tenant_id is 'The tenant that scraped it.';
comment on column app_public.scraped_pages.url is 'The URL the batch item asked for (unique per tenant).';
comment on column app_public.scraped_pages.final_url is 'The URL the page was fetched from, after redirects.';
comment on column app_public.scraped_pages.http_status is 'The HTTP status of the final response (a 2xx: other statuses fail the item).';
comment on column app_public.scraped_pages.content_type is 'The response''s Content-Type header, e.g. `text/html; charset=utf-8`.';
comment on column app_public.scraped_pages.title is 'The document''s `<title>`, whitespace collapsed (first 1,000 characters).';
comment on column app_public.scraped_pages.meta_description is 'The content of `<meta name="description">` (first 5,000 characters).';
comment on column app_public.scraped_pages.canonical_url is 'The absolute URL of `<link rel="canonical">`, if the page has one.';
comment on column app_public.scraped_pages.language is 'The page''s language: `<html lang>`, else `<meta http-equiv="content-language">`, else the Content-Language header.';
comment on column app_public.scraped_pages.products_found is 'How many distinct products (JSON-LD `Product` with a priced offer) the page lists; they are upserted into `products` of the seller.';
comment on column app_public.scraped_pages.seller_id is 'The seller whose storefront this is: the tenant''s seller whose `domain` is the page''s host (created, named after the host, if there was none).';
comment on column app_public.scraped_pages.batch_item_id is 'The batch item that last fetched it (null once that item is pruned or its batch deleted).';
comment on column app_public.scraped_pages.fetched_at is 'When it was last fetched.';
comment on constraint scraped_pages_tenant_id_fkey on app_public.scraped_pages is E'@fieldName tenant\n@foreignFieldName scrapedPages';
comment on constraint scraped_pages_seller_id_tenant_id_fkey on app_public.scraped_pages is E'@isIndexed\n@fieldName seller\n@foreignFieldName scrapedPages';
-- (@isIndexed: scraped_pages_seller_id_idx serves it by its first column.)
comment on constraint scraped_pages_batch_item_id_fkey on app_public.scraped_pages is E'@fieldName batchItem\n@foreignFieldName scrapedPages';

alter table app_public.scraped_pages enable row level security;
create policy select_own on app_public.scraped_pages for select
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.scraped_pages to app_anonymous, app_user, app_admin;

-- The per-host limiter. Workers in any number of processes share it: a request to a host first
-- takes one of the host's N slots (a lease row), and gives it back when the response is read.
-- A worker that dies mid-request never gives its slot back; the lease expires by itself.

create table app_private.host_leases (
  host text not null,
  slot integer not null check (slot >= 1),
  holder text not null,
  expires_at timestamptz not null,
  primary key (host, slot)
);
comment on table app_private.host_leases is
  'Slots of the per-host request limiter: a row whose expires_at is in the future is a request in flight to that host. Scrapers take one of slots 1..N (N = the worker''s SCRAPE_MAX_PER_HOST, 2 by default; every worker process should use the same N) before each request and delete it after; an expired row is a free slot (its holder died).';
comment on column app_private.host_leases.host is 'The host, with its port when not the default, as in a URL (`shop.example.com`, `127.0.0.1:8080`).';
comment on column app_private.host_leases.slot is 'Which of the host''s N slots, from 1.';
comment on column app_private.host_leases.holder is 'Who holds it: the worker, item and request, so that only the holder releases it.';
comment on column app_private.host_leases.expires_at is 'When the lease lapses if not released: the request''s total timeout plus a margin.';

create table app_private.host_cooldowns (
  host text primary key,
  until timestamptz not null,
  reason text not null
);
comment on table app_private.host_cooldowns is
  'Hosts that asked to be left alone (HTTP 429 or 503 with Retry-After): no slot of the host is handed out before `until`, to any worker.';
comment on column app_private.host_cooldowns.host is 'The host, as in host_leases.';
comment on column app_private.host_cooldowns.until is 'No request to the host before this time.';
comment on column app_private.host_cooldowns.reason is 'What the host answered, e.g. `HTTP 429`.';

create function app_private.acquire_host_lease(p_host text, p_max_per_host integer, p_holder text, p_ttl interval)
returns table (slot integer, wait_ms integer, cooldown_until timestamptz)
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_until timestamptz;
  v_slot integer;
begin
  select c.until into v_until from app_private.host_cooldowns c where c.host = p_host and c.until > clock_timestamp();
  if found then
    return query select null::integer, ceil(extract(epoch from v_until - clock_timestamp()) * 1000)::integer, v_until;
    return;
  end if;
  for v_slot in 1..p_max_per_host loop
    -- Free, or held by a lease that lapsed. Two workers racing for one slot: the second waits
    -- for the first's commit, sees a live lease, and moves on to the next slot.
    insert into app_private.host_leases as l (host, slot, holder, expires_at)
    values (p_host, v_slot, p_holder, clock_timestamp() + p_ttl)
    on conflict on constraint host_leases_pkey do update
      set holder = excluded.holder, expires_at = excluded.expires_at
      where l.expires_at <= clock_timestamp();
    if found then
      return query select v_slot, null::integer, null::timestamptz;
      return;
    end if;
  end loop;
  return query select null::integer, null::integer, null::timestamptz;
end
$$;
comment on function app_private.acquire_host_lease(text, integer, text, interval) is
  'Takes a free slot of the host for p_holder for at most p_ttl: returns (slot, null, null). When the host is cooling down (Retry-After), returns (null, milliseconds left, when it ends); when all p_max_per_host slots are busy, (null, null, null): wait a little and ask again. Call it outside any longer transaction, so that other workers see the slot taken at once.';

create function app_private.release_host_lease(p_host text, p_slot integer, p_holder text) returns boolean
language sql volatile as $$
  with released as (
    delete from app_private.host_leases where host = p_host and slot = p_slot and holder = p_holder returning 1
  )
  select exists (select 1 from released)
$$;
comment on function app_private.release_host_lease(text, integer, text) is
  'Gives back a slot taken by acquire_host_lease; false when the holder no longer had it (the lease had lapsed and was taken by another).';

create function app_private.cool_down_host(p_host text, p_for interval, p_reason text) returns timestamptz
language sql volatile as $$
  insert into app_private.host_cooldowns as c (host, until, reason)
  values (p_host, clock_timestamp() + p_for, p_reason)
  on conflict (host) do update
    set until = greatest(c.until, excluded.until),
        reason = case when excluded.until > c.until then excluded.reason else c.reason end
  returning c.until
$$;
comment on function app_private.cool_down_host(text, interval, text) is
  'Records that a host asked for no requests during p_for (Retry-After); a longer pause already recorded is kept. Returns until when the host is left alone.';

-- The scrape's writes: one call per page, in one transaction.

create function app_private.record_scraped_page(p_item_id bigint, p_page jsonb, p_products jsonb) returns jsonb
language plpgsql volatile as $$
declare
  v_tenant_id uuid;
  v_host text := lower(p_page ->> 'host');
  v_seller_id uuid;
  v_counts jsonb;
  v_page_id uuid;
begin
  select i.tenant_id into v_tenant_id from app_public.batch_items i where i.id = p_item_id;
  if v_tenant_id is null then
    raise exception 'no batch item %', p_item_id using errcode = 'P0002';
  end if;
  if v_host is null or v_host = '' then
    raise exception 'the page has no host' using errcode = '22023';
  end if;

  -- The storefront's seller: the one with this domain, else one named after the host.
  select s.id into v_seller_id from app_public.sellers s
    where s.tenant_id = v_tenant_id and s.domain = v_host
    order by s.created_at, s.id limit 1;
  if v_seller_id is null then
    insert into app_public.sellers as s (tenant_id, name, domain)
    values (v_tenant_id, left(v_host, 200),
      -- sellers.domain's own check: hosts it refuses (IPv6 literals, underscores) stay without one.
      case when v_host ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$' then v_host end)
    on conflict (tenant_id, name) do update set domain = coalesce(s.domain, excluded.domain)
    returning s.id into v_seller_id;
  end if;

  -- Products by SKU. Without a SKU (nor productID), a product is known by a hash of its URL, or
  -- of its name, so that scraping the page again finds it. Fields the page leaves out (no
  -- description, no category) keep what is stored.
  with listed as (
    select distinct on (sku) sku, name, description, category, price, currency
    from (
      select left(coalesce(nullif(btrim(e.p ->> 'sku'), ''),
                           'sha256:' || left(encode(sha256(convert_to(coalesce(e.p ->> 'url', btrim(e.p ->> 'name')), 'UTF8')), 'hex'), 32)), 100) as sku,
        left(btrim(e.p ->> 'name'), 300) as name,
        left(coalesce(e.p ->> 'description', ''), 20000) as description,
        left(coalesce(e.p ->> 'category', ''), 200) as category,
        round((e.p ->> 'price')::numeric, 2) as price,
        upper(e.p ->> 'currency') as currency,
        e.n
      from jsonb_array_elements(coalesce(p_products, '[]')) with ordinality as e(p, n)
    ) candidates
    order by sku, n
  ), written as (
    insert into app_public.products as p (tenant_id, seller_id, sku, name, description, category, price, currency)
    select v_tenant_id, v_seller_id, sku, name, description, category, price, currency from listed
    on conflict (seller_id, sku) do update set
      name = excluded.name,
      description = coalesce(nullif(excluded.description, ''), p.description),
      category = coalesce(nullif(excluded.category, ''), p.category),
      price = excluded.price,
      currency = excluded.currency
    where (p.name, p.description, p.category, p.price, p.currency) is distinct from
      (excluded.name, coalesce(nullif(excluded.description, ''), p.description),
       coalesce(nullif(excluded.category, ''), p.category), excluded.price, excluded.currency)
    returning (p.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'products_found', (select count(*) from listed),
    'products_inserted', count(*) filter (where inserted),
    'products_updated', count(*) filter (where not inserted),
    'products_unchanged', (select count(*) from listed) - count(*))
  into v_counts
  from written;

  insert into app_public.scraped_pages as sp (
    tenant_id, url, final_url, http_status, content_type, title, meta_description, canonical_url, language,
    products_found, seller_id, batch_item_id, fetched_at)
  values (
    v_tenant_id, p_page ->> 'url', p_page ->> 'final_url', (p_page ->> 'http_status')::smallint,
    left(p_page ->> 'content_type', 200), left(p_page ->> 'title', 1000), left(p_page ->> 'meta_description', 5000),
    -- A canonical URL too long to store is no canonical URL (a truncated one would be wrong).
    case when length(p_page ->> 'canonical_url') <= 2048 then p_page ->> 'canonical_url' end,
    left(p_page ->> 'language', 35),
    (v_counts ->> 'products_found')::integer, v_seller_id, p_item_id, now())
  on conflict (tenant_id, url) do update set
    final_url = excluded.final_url, http_status = excluded.http_status, content_type = excluded.content_type,
    title = excluded.title, meta_description = excluded.meta_description, canonical_url = excluded.canonical_url,
    language = excluded.language, products_found = excluded.products_found, seller_id = excluded.seller_id,
    batch_item_id = excluded.batch_item_id, fetched_at = excluded.fetched_at
  returning sp.id into v_page_id;

  return v_counts || jsonb_build_object('page_id', v_page_id, 'seller_id', v_seller_id);
end
$$;
comment on function app_private.record_scraped_page(bigint, jsonb, jsonb) is
  'Stores what a `scrape_pages` item found, for the item''s tenant: the page (`{url, final_url, host, http_status, content_type, title, meta_description, canonical_url, language}`) into scraped_pages, and its products (`[{sku, url, name, description, category, price, currency}]`, validated) upserted by SKU for the seller whose domain is the host (created if none). Returns `{products_found, products_inserted, products_updated, products_unchanged, page_id, seller_id}`.';

insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts, retry_delay) values
  ('scrape_pages', 'Fetches one seller storefront page, `{"url": "https://..."}`, and stores its title, meta description, canonical URL and language in scraped_pages; products it lists in JSON-LD (`Product` with offers) are upserted for the seller whose domain is the page''s host. At most SCRAPE_MAX_PER_HOST requests to one host at a time, across all workers; 429 and 5xx are retried (honouring Retry-After), other 4xx, non-HTML and oversized pages fail at once.', 'scrape_pages', 10, 4, '2 seconds');
