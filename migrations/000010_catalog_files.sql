-- Up Migration
-- Uploaded catalog files (stored once per content), the `import_catalog` batch kind, and the
-- functions an import writes with.

create table app_public.catalog_files (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  filename text not null check (length(filename) between 1 and 500),
  size_bytes bigint check (size_bytes >= 0),
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  uploaded_at timestamptz not null default now(),
  content_removed_at timestamptz,
  check ((size_bytes is null) = (sha256 is null)),
  unique (tenant_id, sha256)
);
comment on table app_public.catalog_files is E'@behavior -insert -update -delete\nA catalog file a seller uploaded: products and/or reviews as CSV or JSON Lines. The same content uploaded twice is stored once.';
comment on column app_public.catalog_files.id is 'The file''s id; an `import_catalog` item names it as `{"file_id": ...}`.';
comment on column app_public.catalog_files.tenant_id is 'The tenant that uploaded it.';
comment on column app_public.catalog_files.filename is 'The name it was uploaded with (rejected rows are reported with it).';
comment on column app_public.catalog_files.size_bytes is 'Its size in bytes (null while the upload is under way).';
comment on column app_public.catalog_files.sha256 is 'The SHA-256 of its content, hex (null while the upload is under way).';
comment on column app_public.catalog_files.uploaded_at is 'When it was uploaded.';
comment on column app_public.catalog_files.content_removed_at is
  'When its content was removed, past the items'' retention with no unfinished or recent import naming it (prune_finished_batches); null while it is kept. Uploading the same content again stores it under this file once more.';
comment on constraint catalog_files_tenant_id_fkey on app_public.catalog_files is E'@fieldName tenant\n@foreignFieldName catalogFiles';

create table app_private.catalog_file_chunks (
  file_id uuid not null references app_public.catalog_files on delete cascade,
  seq integer not null check (seq >= 0),
  bytes bytea not null,
  primary key (file_id, seq)
) with (vacuum_truncate = false);
comment on table app_private.catalog_file_chunks is
  'The content of catalog files, in pieces of about 1 MB, so that uploads and imports stream instead of holding a whole file in memory.';
comment on column app_private.catalog_file_chunks.file_id is 'The catalog file the piece belongs to.';
comment on column app_private.catalog_file_chunks.seq is 'The piece''s place in the file, from 0; the importer reads them in this order.';
comment on column app_private.catalog_file_chunks.bytes is 'The piece''s bytes, 1 MB (1,048,576 bytes) except the last.';

alter table app_public.catalog_files enable row level security;
create policy select_own on app_public.catalog_files for select
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.catalog_files to app_anonymous, app_user, app_admin;

create function app_private.max_catalog_file_bytes() returns bigint
language sql stable parallel safe as $$
  select coalesce(nullif(current_setting('finishline.max_catalog_file_bytes', true), '')::bigint, 512 * 1024 * 1024)
$$;
comment on function app_private.max_catalog_file_bytes() is
  'The largest catalog file accepted: the setting finishline.max_catalog_file_bytes, 512 MB by default.';

create function app_private.finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text) returns uuid
language plpgsql volatile as $$
declare
  v_file app_public.catalog_files;
  v_existing uuid;
begin
  select * into v_file from app_public.catalog_files where id = p_file_id;
  if p_size_bytes > app_private.max_catalog_file_bytes() then
    raise exception 'catalog file "%" is % bytes; the limit is % bytes', v_file.filename, p_size_bytes, app_private.max_catalog_file_bytes()
      using errcode = 'FLBIG';
  end if;
  select id into v_existing from app_public.catalog_files
    where tenant_id = v_file.tenant_id and sha256 = p_sha256 and id <> p_file_id;
  if v_existing is null then
    begin
      update app_public.catalog_files set size_bytes = p_size_bytes, sha256 = p_sha256 where id = p_file_id;
      return p_file_id;
    exception when unique_violation then
      -- An upload of the same content, not yet committed when we looked above, committed since
      -- (the update waited for it): this statement sees its file.
      select id into strict v_existing from app_public.catalog_files
        where tenant_id = v_file.tenant_id and sha256 = p_sha256 and id <> p_file_id;
    end;
  end if;
  -- Same content as an earlier upload: keep that one, with this upload's chunks if its own were
  -- pruned (the file id that old imports name stays the file's).
  if (select f.content_removed_at is not null from app_public.catalog_files f where f.id = v_existing for no key update) then
    update app_private.catalog_file_chunks set file_id = v_existing where file_id = p_file_id;
    update app_public.catalog_files set content_removed_at = null where id = v_existing;
  end if;
  delete from app_public.catalog_files where id = p_file_id;
  return v_existing;
end
$$;
comment on function app_private.finish_catalog_upload(uuid, bigint, text) is
  'Completes an upload whose chunks were written in the same transaction: records size and SHA-256, or, when the tenant already has that content (uploaded before, or by an upload committed while this one finished), drops the new copy and returns the existing file''s id (giving it the new chunks if its own were pruned).';

create function app_public.upload_catalog_file(filename text, content_base64 text) returns app_public.catalog_files
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
  v_tenant_id uuid := app_private.require_tenant_id();
  v_bytes bytea;
  v_file_id uuid;
  v_result app_public.catalog_files;
begin
  begin
    v_bytes := decode(upload_catalog_file.content_base64, 'base64');
  exception when others then
    raise exception 'contentBase64 is not valid base64' using errcode = 'FLB64';
  end;
  if length(v_bytes) > app_private.max_catalog_file_bytes() then
    raise exception 'catalog file "%" is % bytes; the limit is % bytes', upload_catalog_file.filename, length(v_bytes), app_private.max_catalog_file_bytes()
      using errcode = 'FLBIG';
  end if;
  insert into app_public.catalog_files (tenant_id, filename) values (v_tenant_id, upload_catalog_file.filename)
    returning id into v_file_id;
  insert into app_private.catalog_file_chunks (file_id, seq, bytes)
  select v_file_id, n, substring(v_bytes from n * 1048576 + 1 for 1048576)
  from generate_series(0, greatest((length(v_bytes) - 1) / 1048576, 0)) as n;
  v_file_id := app_private.finish_catalog_upload(v_file_id, length(v_bytes), encode(sha256(v_bytes), 'hex'));
  select * into v_result from app_public.catalog_files where id = v_file_id;
  return v_result;
end
$$;
comment on function app_public.upload_catalog_file(text, text) is
  'Uploads a catalog file (CSV or JSON Lines, base64-encoded) for the current tenant and returns it; the same content uploaded before returns the earlier file. For large files use the CLI (`finishline import`), which streams. Import it with submitBatch(kind: "import_catalog", items: [{file_id: ...}]).';
grant execute on function app_public.upload_catalog_file(text, text) to app_user, app_admin;

insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts, retry_delay) values
  ('import_catalog', 'Imports one uploaded catalog file, `{"file_id": "<uuid>"}`: valid rows are upserted (by SKU, and by product and author for reviews), invalid rows reported with line and reason.', 'import_catalog', 1, 3, '5 seconds');

-- The import's writes, all in the transaction of the whole file. The worker streams a file's
-- validated rows with COPY into temporary tables, each row with the id it gets if it is new (a
-- version 7 UUID the worker makes: the column default would draw 16 bytes from the server's
-- CSPRNG for every row). The import locks its seller, so that no other transaction adds one of
-- its products meanwhile and new SKUs go in with a plain INSERT. A seller with no products yet
-- (its first import, most of the rows a catalog ever brings) has its products merged a chunk at a
-- time while the worker parses the next chunk, so that parsing and inserting overlap: a SKU found
-- stored is then one an earlier chunk inserted. Any other file, and the reviews of every file,
-- are merged whole at the end (merging every file by chunks would need an indexed table of the
-- keys seen, which is slower). Rows equal to what is stored are counted as unchanged and not
-- written: re-running the same file changes nothing.

create function app_private.create_catalog_staging() returns void
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

create function app_private.catalog_seller(p_tenant_id uuid, p_name text) returns uuid
language sql volatile as $$
  insert into app_public.sellers as s (tenant_id, name) values (p_tenant_id, p_name)
  on conflict (tenant_id, name) do update set name = excluded.name
  returning s.id
$$;
comment on function app_private.catalog_seller(uuid, text) is 'The id of the tenant''s seller with this name, created if new.';

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

-- Sorts in memory: with the default work_mem (4 MB) the search for duplicates over a million
-- staged rows spills to disk.
create function app_private.merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  v_staged_products bigint;
  v_products_updated bigint;
  v_products_inserted bigint;
  v_reviews_updated bigint;
  v_products jsonb;
  v_reviews jsonb;
  v_duplicates jsonb;
begin
  -- Until commit, no other transaction adds a product of this seller: each insert of one takes a
  -- KEY SHARE lock on its seller row (its foreign key's check), which this lock excludes. The
  -- inserts of new SKUs below then cannot conflict. (catalog_seller's upsert, called just before,
  -- takes the same lock, since it sets `name`, a key column; the merge does not rely on that.)
  perform from app_public.sellers where id = p_seller_id for update;
  -- The joins below are planned from these statistics (an unanalyzed temporary table is guessed).
  analyze pg_temp.catalog_staging;

  -- A SKU (or a review of one SKU by one author) appearing twice in a file: the first wins, the
  -- later ones are removed and reported, naming the line of the first.
  with numbered as (
    select line, min(line) over (partition by type, sku, case when type = 'review' then author end) as first_line
    from pg_temp.catalog_staging
  ), removed as (
    delete from pg_temp.catalog_staging s using numbered n
    where n.line <> n.first_line and s.line = n.line
    returning s.line, n.first_line, s.type, s.sku, s.author
  )
  select jsonb_build_object(
    'count', (select count(*) from removed),
    'rows', (select coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', type, 'sku', sku, 'author', author) order by line), '[]')
             from (select * from removed order by line limit 1000) listed))
  into v_duplicates;

  -- Products first, so that reviews anywhere in the file find the products it adds. Rows equal
  -- to what is stored are not written: re-running a file changes nothing.
  select count(*) into v_staged_products from pg_temp.catalog_staging where type = 'product';
  with changed as (
    update app_public.products p set
      name = s.name, description = s.description, category = s.category,
      price = s.price, currency = s.currency, stock = s.stock
    from pg_temp.catalog_staging s
    where s.type = 'product' and p.seller_id = p_seller_id and p.sku = s.sku
      and (p.name, p.description, p.category, p.price, p.currency, p.stock)
        is distinct from (s.name, s.description, s.category, s.price, s.currency, s.stock)
    returning 1
  )
  select count(*) into v_products_updated from changed;
  -- The new SKUs. No other transaction can add one meanwhile (see above), so a plain INSERT: with
  -- ON CONFLICT each row would be a speculative insertion, a sixth more work.
  insert into app_public.products (id, tenant_id, seller_id, sku, name, description, category, price, currency, stock)
  select s.id, p_tenant_id, p_seller_id, s.sku, s.name, s.description, s.category, s.price, s.currency, s.stock
  from pg_temp.catalog_staging s
  where s.type = 'product'
    and not exists (select from app_public.products e where e.seller_id = p_seller_id and e.sku = s.sku);
  get diagnostics v_products_inserted = row_count;
  v_products := jsonb_build_object(
    'inserted', v_products_inserted,
    'updated', v_products_updated,
    'unchanged', v_staged_products - v_products_updated - v_products_inserted);

  -- Reviews, once per (product, author), the same way, but with ON CONFLICT: the seller's lock
  -- does not keep other writers from its products' reviews.
  drop table if exists pg_temp.catalog_staged_reviews;
  create temp table catalog_staged_reviews on commit drop as
    select r.line, r.id, p.id as product_id, r.author, r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes
    from pg_temp.catalog_staging r
    left join app_public.products p on p.seller_id = p_seller_id and p.sku = r.sku
    where r.type = 'review';
  with changed as (
    update app_public.reviews v set
      rating = r.rating, title = r.title, body = r.body, verified_purchase = r.verified_purchase,
      helpful_votes = r.helpful_votes, unhelpful_votes = r.unhelpful_votes
    from pg_temp.catalog_staged_reviews r
    where v.product_id = r.product_id and v.author = r.author
      and (v.rating, v.title, v.body, v.verified_purchase, v.helpful_votes, v.unhelpful_votes)
        is distinct from (r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes)
    returning 1
  )
  select count(*) into v_reviews_updated from changed;
  with written as (
    insert into app_public.reviews as v (id, tenant_id, product_id, author, rating, title, body, verified_purchase, helpful_votes, unhelpful_votes)
    select r.id, p_tenant_id, r.product_id, r.author, r.rating, r.title, r.body, r.verified_purchase, r.helpful_votes, r.unhelpful_votes
    from pg_temp.catalog_staged_reviews r
    where r.product_id is not null
      and not exists (select from app_public.reviews e where e.product_id = r.product_id and e.author = r.author)
    on conflict (product_id, author) do update set
      rating = excluded.rating, title = excluded.title, body = excluded.body, verified_purchase = excluded.verified_purchase,
      helpful_votes = excluded.helpful_votes, unhelpful_votes = excluded.unhelpful_votes
    where (v.rating, v.title, v.body, v.verified_purchase, v.helpful_votes, v.unhelpful_votes)
      is distinct from (excluded.rating, excluded.title, excluded.body, excluded.verified_purchase, excluded.helpful_votes, excluded.unhelpful_votes)
    returning (v.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'inserted', count(*) filter (where inserted),
    'updated', v_reviews_updated + count(*) filter (where not inserted),
    'unchanged', (select count(*) from pg_temp.catalog_staged_reviews where product_id is not null) - v_reviews_updated - count(*),
    'unknown_product_lines', (select coalesce(jsonb_agg(line order by line), '[]') from (
      select line from pg_temp.catalog_staged_reviews where product_id is null order by line limit 1000) unknown),
    'unknown_products', (select count(*) from pg_temp.catalog_staged_reviews where product_id is null))
  into v_reviews from written;

  return jsonb_build_object('products', v_products, 'reviews', v_reviews, 'duplicates', v_duplicates);
end
$$ set work_mem = '64MB';
comment on function app_private.merge_catalog_staging(uuid, uuid) is
  'Upserts the staged rows of a catalog file for one seller: products by SKU, then reviews (found by SKU) once per (product, author), updating the rows that differ and inserting the new ones; a SKU or review repeated in the file keeps its first row. Returns {products: {inserted, updated, unchanged}, reviews: {inserted, updated, unchanged, unknown_products, unknown_product_lines}, duplicates: {count, rows: [{line, first_line, type, sku, author}]}}.';

-- The files of one import run at once, each in its own transaction, so a file's reviews could
-- miss the products another file of the same import is still adding. The import therefore runs
-- in the order its files were given where that matters: a file whose reviews name products it
-- cannot find waits for the files before it (import_catalog defers it, its attempt unspent).
-- The batch looked up first, and the probe planned for it (see write_run_summary): planned for
-- any batch, PostgreSQL reads the whole table for pending items, which its statistics say are few.
create function app_private.earlier_items_unfinished(p_item_id bigint) returns boolean
language plpgsql stable set plan_cache_mode to force_custom_plan as $$
declare
  v_batch_id uuid := (select i.batch_id from app_public.batch_items i where i.id = p_item_id);
begin
  return exists (
    select from app_public.batch_items e
    where e.batch_id = v_batch_id and e.id < p_item_id and e.status in ('pending', 'processing'));
end
$$;
comment on function app_private.earlier_items_unfinished(bigint) is
  'Whether an item of the same batch that comes before this one (a lower id: given earlier) is still pending or processing.';
