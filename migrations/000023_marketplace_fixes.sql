-- Up Migration
-- Three marketplace fixes, one section each.
--
-- 1. Deleting a tenant with approved products failed: the cascade deletes its products after the
--    tenant row, and the products' delete trigger then noted a recommender change for a tenant
--    that no longer exists (recommender_changes' foreign key refused it). A gone tenant has nothing
--    left to retrain: its changes, inputs and lists go with it by cascade. Likewise a retrain that
--    was running when the tenant went stores nothing for it (its inputs' foreign key failed it).
-- 2. A retrain consumed every change up to the highest id it read. Ids are drawn when a change is
--    written, not when it commits, so a long transaction's lower id could commit after the retrain
--    read a higher one, and was then deleted unseen; the retrain its commit queued found nothing
--    and the tenant's recommendations stayed stale. A retrain now consumes the rows it read, by id.
-- 3. Two uploads of the same content by one tenant at the same moment: the second failed with a
--    raw unique violation on (tenant_id, sha256) instead of returning the first one's file.

-- 1. Deleting a tenant.

create or replace function app_private.tg_products__note_recommender_change() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  if tg_op = 'INSERT' then
    insert into app_private.recommender_changes (tenant_id)
      select distinct n.tenant_id from new_rows n where n.status = 'approved'
      on conflict (transaction_id, tenant_id) do nothing;
  elsif tg_op = 'DELETE' then
    -- Products deleted by the cascade of their tenant's deletion: the tenant is already gone.
    insert into app_private.recommender_changes (tenant_id)
      select distinct o.tenant_id from old_rows o
      where o.status = 'approved' and exists (select from app_public.tenants t where t.id = o.tenant_id)
      on conflict (transaction_id, tenant_id) do nothing;
  else
    insert into app_private.recommender_changes (tenant_id)
      select distinct t.tenant_id
      from new_rows n
      join old_rows o on o.id = n.id
      cross join lateral (values (n.tenant_id), (o.tenant_id)) as t(tenant_id)
      where (n.status = 'approved' or o.status = 'approved')
        and (n.status, n.name, n.category, n.description, app_private.price_band(n.price), n.tenant_id)
          is distinct from (o.status, o.name, o.category, o.description, app_private.price_band(o.price), o.tenant_id)
      on conflict (transaction_id, tenant_id) do nothing;
  end if;
  return null;
end
$$;
comment on function app_private.tg_products__note_recommender_change() is
  'Notes (once per transaction and tenant) that products changed in a way the recommender sees: an approved product inserted or deleted, or a product approved before or after an update of its status, name, category, description or price band. Writes to pending products don''t count, nor deletions by the cascade of a tenant''s deletion (its recommender state goes with it).';

-- 2. A retrain consumes the changes it read.

comment on column app_private.recommender_changes.id is
  'Identifies the change: a retrain consumes exactly the ids it read (not every id below the highest, since a lower id can commit later).';

drop function app_private.store_recommendations(bytea, integer, jsonb, bigint, uuid[], uuid[], uuid[], text[], real[], uuid[], uuid[], real[]);
drop function app_private.consume_recommender_changes(bigint);

create function app_private.consume_recommender_changes(p_changes_seen bigint[]) returns void
language sql volatile as $$
  delete from app_private.recommender_changes where id = any(p_changes_seen)
$$;
comment on function app_private.consume_recommender_changes(bigint[]) is
  'Forgets the changes a retrain has seen (these ids): its result stands for them. Changes committed since it read them stay for the retrain their commit queued.';

create function app_private.store_recommendations(
  p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_changes_seen bigint[],
  p_removed uuid[],
  p_product_ids uuid[], p_tenant_ids uuid[], p_content_keys text[], p_kth_scores real[],
  p_list_product_ids uuid[], p_recommended_ids uuid[], p_scores real[])
returns app_public.model_versions
language plpgsql volatile as $$
declare
  v_version app_public.model_versions;
begin
  update app_public.model_versions set is_active = false where kind = 'recommender' and is_active;
  insert into app_public.model_versions (kind, training_rows, metrics, is_active)
    values ('recommender', p_training_rows, p_metrics, true)
    returning * into v_version;
  -- The embedding graph is stored with the version that introduced it (a full rebuild), not
  -- again with every incremental update.
  if p_onnx is not null then
    insert into app_private.model_files (model_version_id, onnx) values (v_version.id, p_onnx);
  end if;

  -- (Joins with unnest, not `= any(...)`: the arrays may hold a whole catalogue.)
  delete from app_private.recommender_inputs i using unnest(p_removed) as d(product_id) where i.product_id = d.product_id;
  delete from app_public.product_recommendations r
    using (select unnest(p_removed) union select unnest(p_product_ids)) as d(product_id)
    where r.product_id = d.product_id;
  -- A tenant deleted while the retrain ran gets none: its recommender state went with it.
  insert into app_private.recommender_inputs (product_id, tenant_id, content_key, kth_score, model_version_id)
    select i.product_id, i.tenant_id, i.content_key, i.kth_score, v_version.id
    from unnest(p_product_ids, p_tenant_ids, p_content_keys, p_kth_scores) as i(product_id, tenant_id, content_key, kth_score)
    join app_public.tenants t on t.id = i.tenant_id
  on conflict (product_id) do update
    set tenant_id = excluded.tenant_id, content_key = excluded.content_key,
        kth_score = excluded.kth_score, model_version_id = excluded.model_version_id;
  -- Lists come in rank order; a product deleted while the retrain ran gets none.
  insert into app_public.product_recommendations (product_id, rank, recommended_product_id, score, model_version_id, tenant_id)
    select l.product_id, row_number() over (partition by l.product_id order by l.ord), l.recommended_id, l.score, v_version.id, p.tenant_id
    from unnest(p_list_product_ids, p_recommended_ids, p_scores) with ordinality as l(product_id, recommended_id, score, ord)
    join app_public.products p on p.id = l.product_id;

  perform app_private.consume_recommender_changes(p_changes_seen);
  return v_version;
end
$$;
comment on function app_private.store_recommendations(bytea, integer, jsonb, bigint[], uuid[], uuid[], uuid[], text[], real[], uuid[], uuid[], real[]) is
  'Makes a retrain''s result the active recommender in one transaction: a new model version (with the ONNX bytes when given), the recomputed lists (replacing those of p_product_ids and p_removed), what they were computed from, and the changes seen (the ids p_changes_seen) consumed. Readers see the old recommendations or the new, never a mix.';

-- 3. Concurrent uploads of the same content.

create or replace function app_private.finish_catalog_upload(p_file_id uuid, p_size_bytes bigint, p_sha256 text) returns uuid
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
