-- Up Migration
-- The first import of a seller merges its products a chunk at a time, while the worker parses the
-- next chunk, instead of after the whole file is parsed: the parsing (in Node) and the inserting
-- (in the database) then run side by side. Only for a seller with no products yet: a SKU found
-- stored is then one an earlier chunk of the same file inserted (the import holds the seller's
-- lock, so no other transaction adds any), and a file's repeated SKUs are found without keeping
-- every SKU seen in an index. (Merging every file by chunks that way, with an indexed table of the
-- keys seen, was slower than merging whole: 52 s against 44 s for 1,000,000 rows on PostgreSQL 15.)
-- A seller that has products is merged whole, as before, and so are the reviews of any file.

create or replace function app_private.create_catalog_staging() returns void
language plpgsql volatile as $$
begin
  create temp table if not exists catalog_staging (
    id uuid not null, type text not null, line integer not null, sku text not null,
    name text, description text, category text, price numeric(12, 2), currency text, stock integer,
    author text, rating smallint, title text, body text, verified_purchase boolean, helpful_votes integer, unhelpful_votes integer
  ) on commit drop;
  create temp table if not exists catalog_chunk (like pg_temp.catalog_staging) on commit drop;
  create temp table if not exists catalog_merged_skus (sku text not null, line integer not null) on commit drop;
end
$$;
comment on function app_private.create_catalog_staging() is
  'Creates the temporary tables of one catalog import (dropped at commit): pg_temp.catalog_staging, the rows merge_catalog_staging merges (`id` is the id a row gets if it is new); pg_temp.catalog_chunk, the rows merge_catalog_chunk merges; pg_temp.catalog_merged_skus, the SKUs it merged and their lines.';

create function app_private.lock_catalog_seller(p_seller_id uuid) returns boolean
language plpgsql volatile as $$
begin
  -- Each insert of a product takes a KEY SHARE lock on its seller (its foreign key's check),
  -- which this lock excludes until commit.
  perform from app_public.sellers where id = p_seller_id for update;
  return not exists (select from app_public.products where seller_id = p_seller_id);
end
$$;
comment on function app_private.lock_catalog_seller(uuid) is
  'Locks a seller for a catalog import, so that no other transaction adds a product of it until commit, and tells whether it has no products yet: if so, the import may merge its products a chunk at a time with merge_catalog_chunk.';

create function app_private.merge_catalog_chunk(p_tenant_id uuid, p_seller_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  v_products bigint;
  v_inserted bigint;
  v_within jsonb;
  v_across jsonb;
begin
  -- Reviews wait for the products of the rest of the file: merge_catalog_staging merges them last.
  with reviews as (delete from pg_temp.catalog_chunk where type = 'review' returning *)
  insert into pg_temp.catalog_staging select * from reviews;
  analyze pg_temp.catalog_chunk;

  -- A SKU repeated within the chunk: its first row wins, the later ones are removed and reported.
  with numbered as (
    select line, min(line) over (partition by sku) as first_line from pg_temp.catalog_chunk
  ), removed as (
    delete from pg_temp.catalog_chunk c using numbered n
    where n.line <> n.first_line and c.line = n.line
    returning c.line, n.first_line, c.sku
  )
  select jsonb_build_object('count', (select count(*) from removed), 'rows', (
    select coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', 'product', 'sku', sku) order by line), '[]')
    from (select * from removed order by line limit 100) listed))
  into v_within;

  select count(*) into v_products from pg_temp.catalog_chunk;
  with inserted as (
    insert into app_public.products (id, tenant_id, seller_id, sku, name, description, category, price, currency, stock)
    select c.id, p_tenant_id, p_seller_id, c.sku, c.name, c.description, c.category, c.price, c.currency, c.stock
    from pg_temp.catalog_chunk c
    on conflict (seller_id, sku) do nothing
    returning 1
  )
  select count(*) into v_inserted from inserted;
  -- A SKU not inserted is stored already: an earlier chunk's row of it won. Such rows are removed
  -- (catalog_merged_skus keeps the first line of each SKU only) and reported.
  v_across := jsonb_build_object('count', v_products - v_inserted, 'rows', '[]'::jsonb);
  if v_inserted < v_products then
    with repeated as (
      delete from pg_temp.catalog_chunk c
      -- (A subquery per row: an index lookup each, where a join would read all the seller's products.)
      where (select p.id from app_public.products p where p.seller_id = p_seller_id and p.sku = c.sku) <> c.id
      returning c.line, c.sku
    )
    select v_across || jsonb_build_object('rows', coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', 'product', 'sku', sku) order by line), '[]'))
    into v_across
    from (
      select r.line, m.line as first_line, r.sku
      from repeated r join pg_temp.catalog_merged_skus m on m.sku = r.sku
      order by r.line limit 100
    ) listed;
  end if;
  insert into pg_temp.catalog_merged_skus (sku, line) select sku, line from pg_temp.catalog_chunk;
  truncate pg_temp.catalog_chunk;

  return jsonb_build_object(
    'products', jsonb_build_object('inserted', v_inserted, 'updated', 0, 'unchanged', 0),
    'duplicates', jsonb_build_object(
      'count', (v_within->>'count')::bigint + (v_across->>'count')::bigint,
      'rows', (v_within->'rows') || (v_across->'rows')));
end
$$;
comment on function app_private.merge_catalog_chunk(uuid, uuid) is
  'Merges the rows in pg_temp.catalog_chunk, a chunk of a catalog file, for a seller that had no products when lock_catalog_seller locked it, and empties it: sets its reviews aside in pg_temp.catalog_staging (merge_catalog_staging merges them last), and inserts its products; a SKU seen before in the file, in this chunk or an earlier one, keeps its first row and the later ones are reported. Returns {products: {inserted, updated, unchanged}, duplicates: {count, rows: [{line, first_line, type, sku}] (the first 100 of each kind)}}.';
