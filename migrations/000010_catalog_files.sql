-- Up Migration
-- Uploaded catalog files (stored once per content), and the `import_catalog` batch kind.

create table app_public.catalog_files (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default app_public.current_tenant_id() references app_public.tenants on delete cascade,
  filename text not null check (length(filename) between 1 and 500),
  size_bytes bigint check (size_bytes >= 0),
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  uploaded_at timestamptz not null default now(),
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
comment on constraint catalog_files_tenant_id_fkey on app_public.catalog_files is E'@fieldName tenant\n@foreignFieldName catalogFiles';

create table app_private.catalog_file_chunks (
  file_id uuid not null references app_public.catalog_files on delete cascade,
  seq integer not null check (seq >= 0),
  bytes bytea not null,
  primary key (file_id, seq)
);
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
  -- Same content as an earlier upload: keep that one.
  delete from app_public.catalog_files where id = p_file_id;
  return v_existing;
end
$$;
comment on function app_private.finish_catalog_upload(uuid, bigint, text) is
  'Completes an upload whose chunks were written in the same transaction: records size and SHA-256, or, when the tenant already has that content (uploaded before, or by an upload committed while this one finished), drops the new copy and returns the existing file''s id.';

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

-- The import's writes. The worker streams a file's validated rows with COPY into a temporary
-- staging table, then merges them in two statements, all in the transaction of the whole file:
-- re-running the same file changes nothing (rows equal to what is stored are counted as
-- unchanged and not written).

create function app_private.create_catalog_staging() returns void
language plpgsql volatile as $$
begin
  create temp table if not exists catalog_staging (
    type text not null, line integer not null, sku text not null,
    name text, description text, category text, price numeric(12, 2), currency text, stock integer,
    author text, rating smallint, title text, body text, verified_purchase boolean, helpful_votes integer, unhelpful_votes integer
  ) on commit drop;
end
$$;
comment on function app_private.create_catalog_staging() is
  'Creates pg_temp.catalog_staging, the rows of one catalog file on their way in (dropped at commit).';

create function app_private.catalog_seller(p_tenant_id uuid, p_name text) returns uuid
language sql volatile as $$
  insert into app_public.sellers as s (tenant_id, name) values (p_tenant_id, p_name)
  on conflict (tenant_id, name) do update set name = excluded.name
  returning s.id
$$;
comment on function app_private.catalog_seller(uuid, text) is 'The id of the tenant''s seller with this name, created if new.';

create function app_private.merge_catalog_staging(p_tenant_id uuid, p_seller_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  v_products jsonb;
  v_reviews jsonb;
  v_duplicates jsonb;
begin
  -- A SKU (or a review of one SKU by one author) appearing twice in a file: the first wins, the
  -- later ones are rejected, naming the line of the first.
  with numbered as (
    select line, type, sku, author,
      min(line) over (partition by type, sku, case when type = 'review' then author end) as first_line
    from pg_temp.catalog_staging
  ), duplicates as (
    select * from numbered where line <> first_line
  )
  select jsonb_build_object(
    'count', (select count(*) from duplicates),
    'rows', (select coalesce(jsonb_agg(jsonb_build_object('line', line, 'first_line', first_line, 'type', type, 'sku', sku, 'author', author) order by line), '[]')
             from (select * from duplicates order by line limit 1000) listed))
  into v_duplicates;
  delete from pg_temp.catalog_staging s using (
    select line from (select line, min(line) over (partition by type, sku, case when type = 'review' then author end) as first_line
                      from pg_temp.catalog_staging) n
    where line <> first_line) d
  where s.line = d.line;

  -- Products first, so that reviews anywhere in the file find the products it adds.
  with incoming as (
    select * from pg_temp.catalog_staging where type = 'product'
  ), written as (
    insert into app_public.products as p (tenant_id, seller_id, sku, name, description, category, price, currency, stock)
    select p_tenant_id, p_seller_id, sku, name, description, category, price, currency, stock from incoming
    on conflict (seller_id, sku) do update set
      name = excluded.name, description = excluded.description, category = excluded.category,
      price = excluded.price, currency = excluded.currency, stock = excluded.stock
    where (p.name, p.description, p.category, p.price, p.currency, p.stock)
      is distinct from (excluded.name, excluded.description, excluded.category, excluded.price, excluded.currency, excluded.stock)
    returning (p.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'inserted', count(*) filter (where inserted),
    'updated', count(*) filter (where not inserted),
    'unchanged', (select count(*) from incoming) - count(*))
  into v_products from written;

  with incoming as (
    select r.*, p.id as product_id
    from pg_temp.catalog_staging r
    left join app_public.products p on p.seller_id = p_seller_id and p.sku = r.sku
    where r.type = 'review'
  ), written as (
    insert into app_public.reviews as v (tenant_id, product_id, author, rating, title, body, verified_purchase, helpful_votes, unhelpful_votes)
    select p_tenant_id, product_id, author, rating, title, body, verified_purchase, helpful_votes, unhelpful_votes
    from incoming where product_id is not null
    on conflict (product_id, author) do update set
      rating = excluded.rating, title = excluded.title, body = excluded.body, verified_purchase = excluded.verified_purchase,
      helpful_votes = excluded.helpful_votes, unhelpful_votes = excluded.unhelpful_votes
    where (v.rating, v.title, v.body, v.verified_purchase, v.helpful_votes, v.unhelpful_votes)
      is distinct from (excluded.rating, excluded.title, excluded.body, excluded.verified_purchase, excluded.helpful_votes, excluded.unhelpful_votes)
    returning (v.xmax = 0) as inserted
  )
  select jsonb_build_object(
    'inserted', count(*) filter (where inserted),
    'updated', count(*) filter (where not inserted),
    'unchanged', (select count(*) from incoming where product_id is not null) - count(*),
    'unknown_product_lines', (select coalesce(jsonb_agg(line order by line), '[]') from (
      select line from incoming where product_id is null order by line limit 1000) unknown),
    'unknown_products', (select count(*) from incoming where product_id is null))
  into v_reviews from written;

  return jsonb_build_object('products', v_products, 'reviews', v_reviews, 'duplicates', v_duplicates);
end
$$;
comment on function app_private.merge_catalog_staging(uuid, uuid) is
  'Upserts the staged rows of a catalog file for one seller: products by SKU, then reviews (found by SKU) once per (product, author); a SKU or review repeated in the file keeps its first row. Returns {products: {inserted, updated, unchanged}, reviews: {inserted, updated, unchanged, unknown_products, unknown_product_lines}, duplicates: {count, rows: [{line, first_line, type, sku, author}]}}.';
