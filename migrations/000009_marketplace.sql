-- Up Migration
-- The marketplace: sellers, their products, and reviews of those products. Tenant-owned, with
-- row level security; catalog imports, scrapes, scoring and recommendations all work on these.

create table app_public.sellers (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  name text not null check (length(name) between 1 and 200),
  domain text check (domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$'),
  created_at timestamptz not null default now(),
  unique (tenant_id, name),
  unique (id, tenant_id)
);
create index sellers_tenant_id_idx on app_public.sellers (tenant_id);
comment on table app_public.sellers is E'@behavior -insert -update -delete\nA shop that sells on the marketplace.';
comment on column app_public.sellers.id is 'The seller''s id.';
comment on column app_public.sellers.tenant_id is 'The tenant the seller belongs to.';
comment on column app_public.sellers.name is 'The seller''s name, unique within the tenant; catalog files name their seller by it.';
comment on column app_public.sellers.domain is 'The host of the seller''s storefront (for scraping), e.g. `shop.example.com`.';
comment on column app_public.sellers.created_at is 'When the seller was created.';
comment on constraint sellers_tenant_id_fkey on app_public.sellers is E'@fieldName tenant\n@foreignFieldName sellers';
comment on constraint sellers_id_tenant_id_key on app_public.sellers is E'@behavior -single';

-- Products and reviews take time-ordered ids (app_private.uuid_v7): imports insert them by the
-- million, and random ids would dirty pages all over their indexes.
create table app_public.products (
  id uuid primary key default app_private.uuid_v7(),
  tenant_id uuid not null,
  seller_id uuid not null,
  sku text not null check (length(sku) between 1 and 100),
  name text not null check (length(name) between 1 and 300),
  description text not null default '' check (length(description) <= 20000),
  category text not null default '' check (length(category) <= 200),
  price numeric(12, 2) not null check (price >= 0),
  currency text not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
  stock integer not null default 0 check (stock >= 0),
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  rejection_reason text check (length(rejection_reason) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (seller_id, tenant_id) references app_public.sellers (id, tenant_id) on delete cascade,
  unique (seller_id, sku),
  unique (id, tenant_id)
);
create index products_tenant_id_status_idx on app_public.products (tenant_id, status);
create index products_category_idx on app_public.products (category);
comment on table app_public.products is E'@behavior -insert -update -delete\nA product a seller offers; shoppers see it once an admin has approved it.';
comment on column app_public.products.id is 'The product''s id.';
comment on column app_public.products.tenant_id is 'The tenant it belongs to.';
comment on column app_public.products.seller_id is 'The seller offering it.';
comment on column app_public.products.sku is 'The seller''s stock-keeping unit, unique per seller: imports match products by it.';
comment on column app_public.products.name is 'Its name.';
comment on column app_public.products.description is 'Its description.';
comment on column app_public.products.category is 'Its category, e.g. `kitchen/knives`.';
comment on column app_public.products.price is 'Its price, in `currency`, with two decimals.';
comment on column app_public.products.currency is 'ISO 4217 code of the price''s currency.';
comment on column app_public.products.stock is 'Units in stock.';
comment on column app_public.products.status is '`pending` (waiting for an admin), `approved` (visible to shoppers) or `rejected`.';
comment on column app_public.products.rejection_reason is 'Why an admin rejected it.';
comment on column app_public.products.created_at is 'When it was created.';
comment on column app_public.products.updated_at is 'When it last changed.';
comment on constraint products_seller_id_tenant_id_fkey on app_public.products is E'@isIndexed\n@fieldName seller\n@foreignFieldName products';
comment on constraint products_id_tenant_id_key on app_public.products is E'@behavior -single';
-- (@isIndexed: products_seller_id_sku_key serves it by its first column.)

create table app_public.reviews (
  id uuid primary key default app_private.uuid_v7(),
  tenant_id uuid not null,
  product_id uuid not null,
  author text not null check (length(author) between 1 and 200),
  rating smallint not null check (rating between 1 and 5),
  title text not null default '' check (length(title) <= 300),
  body text not null default '' check (length(body) <= 20000),
  verified_purchase boolean not null default false,
  helpful_votes integer not null default 0 check (helpful_votes >= 0),
  unhelpful_votes integer not null default 0 check (unhelpful_votes >= 0),
  moderation_verdict text check (moderation_verdict in ('genuine', 'fake')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (product_id, tenant_id) references app_public.products (id, tenant_id) on delete cascade,
  unique (product_id, author)
);
create index reviews_tenant_id_idx on app_public.reviews (tenant_id);
create index reviews_author_idx on app_public.reviews (tenant_id, author);
comment on table app_public.reviews is E'@behavior -insert -update -delete\nA shopper''s review of a product: one per author and product.';
comment on column app_public.reviews.id is 'The review''s id.';
comment on column app_public.reviews.tenant_id is 'The tenant it belongs to.';
comment on column app_public.reviews.product_id is 'The product reviewed.';
comment on column app_public.reviews.author is 'Who wrote it (the shopper''s subject, or the name a catalog file gives).';
comment on column app_public.reviews.rating is 'Stars, from 1 to 5.';
comment on column app_public.reviews.title is 'Its title.';
comment on column app_public.reviews.body is 'Its text.';
comment on column app_public.reviews.verified_purchase is 'Whether the author bought the product.';
comment on column app_public.reviews.helpful_votes is 'Shoppers who found it helpful.';
comment on column app_public.reviews.unhelpful_votes is 'Shoppers who did not.';
comment on column app_public.reviews.moderation_verdict is 'A moderator''s verdict, `genuine` or `fake`: the label review scoring learns from.';
comment on column app_public.reviews.created_at is 'When it was written.';
comment on column app_public.reviews.updated_at is 'When it last changed.';
comment on constraint reviews_product_id_tenant_id_fkey on app_public.reviews is E'@isIndexed\n@fieldName product\n@foreignFieldName reviews';
-- (@isIndexed: reviews_product_id_author_key serves it by its first column.)

create function app_private.tg__touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function app_private.tg__touch_updated_at() is 'Stamps updated_at on rows that really changed.';
create trigger _100_touch_updated_at before update on app_public.products
  for each row when (old is distinct from new) execute function app_private.tg__touch_updated_at();
create trigger _100_touch_updated_at before update on app_public.reviews
  for each row when (old is distinct from new) execute function app_private.tg__touch_updated_at();

create function app_private.tg__fill_tenant_id_from_parent() returns trigger
language plpgsql stable security definer set search_path to pg_catalog, pg_temp as $$
begin
  if tg_table_name = 'products' then
    select s.tenant_id into new.tenant_id from app_public.sellers s where s.id = new.seller_id;
  else
    select p.tenant_id into new.tenant_id from app_public.products p where p.id = new.product_id;
  end if;
  return new;
end
$$;
comment on function app_private.tg__fill_tenant_id_from_parent() is 'Gives a product its seller''s tenant, a review its product''s, when the INSERT leaves it out.';
create trigger _050_fill_tenant_id before insert on app_public.products
  for each row when (new.tenant_id is null) execute function app_private.tg__fill_tenant_id_from_parent();
create trigger _050_fill_tenant_id before insert on app_public.reviews
  for each row when (new.tenant_id is null) execute function app_private.tg__fill_tenant_id_from_parent();

alter table app_public.sellers enable row level security;
alter table app_public.products enable row level security;
alter table app_public.reviews enable row level security;
-- app_user and app_admin see the rows of the tenants caller_may_see allows. Sellers and shoppers
-- have policies of their own, in 000015_marketplace_roles: approved products only, and a seller
-- its own as well.
create policy select_own on app_public.sellers for select to app_user, app_admin
  using (app_private.caller_may_see(tenant_id));
create policy select_own on app_public.products for select to app_user, app_admin
  using (app_private.caller_may_see(tenant_id));
create policy select_own on app_public.reviews for select to app_user, app_admin
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.sellers, app_public.products, app_public.reviews to app_anonymous, app_user, app_admin;
