-- Up Migration
-- Product recommendations, retrained by the database whenever products change.
--
-- A product write that can change what the recommender sees (an approved product created,
-- edited, approved, rejected or deleted) notes one change per transaction and tenant; at the commit
-- of that transaction a deferred trigger enqueues `retrain_recommender` with a job key, so that a burst of
-- changes gives one retrain (each change pushes the job's run_at to `debounce` after it) and a
-- steady stream can't postpone it forever (never later than `max_wait` after the oldest change
-- not yet retrained). Enqueueing at commit keeps the job row's lock to the commit itself: a long
-- import never blocks other writers on it. The job lives in the queue `recommender`, so two
-- retrains never run at once; a change made while one runs gets its own job after it.

create table app_private.recommender_settings (
  singleton boolean primary key default true check (singleton),
  debounce interval not null default '30 seconds' check (debounce >= '0 seconds'),
  max_wait interval not null default '300 seconds' check (max_wait >= '0 seconds')
);
comment on table app_private.recommender_settings is
  'The retrain debounce and ceiling (one row), written by workers at start from RETRAIN_DEBOUNCE_SECONDS and RETRAIN_MAX_WAIT_SECONDS.';
comment on column app_private.recommender_settings.singleton is 'Always true: there is one row.';
comment on column app_private.recommender_settings.debounce is 'A retrain runs this long after the last change of a burst.';
comment on column app_private.recommender_settings.max_wait is 'A retrain runs at the latest this long after the oldest change it has not yet seen.';
insert into app_private.recommender_settings default values;

create table app_private.recommender_changes (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references app_public.tenants on delete cascade,
  transaction_id xid8 not null default pg_current_xact_id(),
  changed_at timestamptz not null default clock_timestamp(),
  unique (transaction_id, tenant_id)
);
comment on table app_private.recommender_changes is
  'One row per transaction and tenant that changed products the recommender reads; a retrain recomputes those tenants and deletes the rows it has seen. The oldest row sets the retrain''s ceiling.';
comment on column app_private.recommender_changes.id is
  'Identifies the change: a retrain consumes exactly the ids it read (not every id below the highest, since a lower id can commit later).';
comment on column app_private.recommender_changes.tenant_id is 'The tenant whose products changed.';
comment on column app_private.recommender_changes.transaction_id is 'The transaction that changed them: one row (and one enqueue at its commit) however many statements it ran.';
comment on column app_private.recommender_changes.changed_at is 'When the transaction first changed a product of the tenant.';

create function app_private.price_band(p_price numeric) returns integer
language sql immutable parallel safe as $$
  select floor(2 * ln(greatest(p_price, 0) + 1) / ln(2))::integer
$$;
comment on function app_private.price_band(numeric) is
  'The price band the recommender compares: half-octaves of the price (0 for free, 13 around 100, 20 around 1000), so that a small price change keeps a product in its band.';

create function app_private.recommender_content_key(p_name text, p_category text, p_description text, p_price numeric)
returns text
language sql immutable parallel safe as $$
  select md5(concat_ws(E'\x1f', p_name, p_category, p_description, app_private.price_band(p_price)))
$$;
comment on function app_private.recommender_content_key(text, text, text, numeric) is
  'A digest of everything the recommender reads from a product: a product whose key is unchanged has the same embedding.';

-- What the active recommendations were computed from, per approved product.
create table app_private.recommender_inputs (
  product_id uuid primary key,
  tenant_id uuid not null references app_public.tenants on delete cascade,
  content_key text not null,
  kth_score real,
  model_version_id uuid not null references app_public.model_versions
);
create index recommender_inputs_tenant_id_idx on app_private.recommender_inputs (tenant_id);
comment on table app_private.recommender_inputs is
  'Each product the active recommendations were computed from. No foreign key to products: a row whose product is gone or no longer approved is how a retrain finds what was removed.';
comment on column app_private.recommender_inputs.product_id is 'The product.';
comment on column app_private.recommender_inputs.tenant_id is 'Its tenant: products are only compared within one.';
comment on column app_private.recommender_inputs.content_key is 'Its recommender_content_key when last embedded.';
comment on column app_private.recommender_inputs.kth_score is 'The score of its last (k-th) recommendation, null when it has fewer than k: a changed product that scores below this can''t enter its list, so the list need not be recomputed.';
comment on column app_private.recommender_inputs.model_version_id is 'The recommender version that last computed its list.';

create table app_public.product_recommendations (
  product_id uuid not null references app_public.products on delete cascade,
  rank smallint not null check (rank >= 1),
  recommended_product_id uuid not null,
  score real not null,
  model_version_id uuid not null references app_public.model_versions,
  tenant_id uuid not null,
  primary key (product_id, rank)
);
create index product_recommendations_recommended_product_id_idx on app_public.product_recommendations (recommended_product_id);
create index product_recommendations_tenant_id_idx on app_public.product_recommendations (tenant_id);
comment on table app_public.product_recommendations is E'@behavior -insert -update -delete\n@foreignKey (recommended_product_id) references app_public.products (id)|@fieldName recommendedProduct|@foreignFieldName recommendedWith\nThe active recommender''s nearest neighbours of each approved product, best first. A recommended product deleted or unapproved since the last retrain stays here until the next one; `recommendationsFor` leaves it out at once.';
comment on column app_public.product_recommendations.product_id is 'The product the recommendations are for.';
comment on column app_public.product_recommendations.rank is 'Position in its list, from 1 (the most similar).';
comment on column app_public.product_recommendations.recommended_product_id is 'The product recommended (not a foreign key, so that deleting a product never waits on this table; the next retrain removes it).';
comment on column app_public.product_recommendations.score is 'Cosine similarity of the two products'' embeddings, from -1 to 1.';
comment on column app_public.product_recommendations.model_version_id is 'The recommender version that computed this list; an incremental retrain recomputes only the lists a change can alter and keeps the others.';
comment on column app_public.product_recommendations.tenant_id is 'The tenant both products belong to (its rows go with the product''s, so no foreign key of its own).';
comment on constraint product_recommendations_product_id_fkey on app_public.product_recommendations is E'@fieldName product\n@foreignFieldName recommendations';
comment on constraint product_recommendations_model_version_id_fkey on app_public.product_recommendations is E'@fieldName modelVersion\n@behavior -manyRelation';

alter table app_public.product_recommendations enable row level security;
create policy select_own on app_public.product_recommendations for select
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.product_recommendations to app_anonymous, app_user, app_admin;

create function app_public.recommended_products(product_id uuid)
returns setof app_public.products
language sql stable strict as $$
  select p.*
  from app_public.product_recommendations r
  join app_public.products p on p.id = r.recommended_product_id
  where r.product_id = recommended_products.product_id and p.status = 'approved'
  order by r.rank
$$;
comment on function app_public.recommended_products(uuid) is E'@name recommendations_for\n@behavior -connection +list\n@listSuffix omit\nThe active recommender''s products for this one, most similar first (up to 10): approved products that exist now only, even between a change and the retrain it causes.';
grant execute on function app_public.recommended_products(uuid) to app_anonymous, app_user, app_admin;

create function app_public.recommendations_for(product_id uuid, first integer default 10)
returns setof app_public.products
language sql stable as $$
  -- recommended_products returns its rows in rank order (a function's rows keep their order).
  select * from app_public.recommended_products(recommendations_for.product_id)
  limit least(greatest(coalesce(recommendations_for.first, 10), 0), 50)
$$;
comment on function app_public.recommendations_for(uuid, integer) is E'@name recommendations_for_sql_callers\n@behavior -queryField\nThe first `first` (10 unless told) of recommended_products, for SQL callers; GraphQL has the same as `recommendationsFor(productId:, first:)`.';
grant execute on function app_public.recommendations_for(uuid, integer) to app_anonymous, app_user, app_admin;

-- Noting changes and enqueueing the retrain.

create function app_private.tg_products__note_recommender_change() returns trigger
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

create trigger _500_note_recommender_change after insert on app_public.products
  referencing new table as new_rows
  for each statement execute function app_private.tg_products__note_recommender_change();
create trigger _500_note_recommender_change_update after update on app_public.products
  referencing new table as new_rows old table as old_rows
  for each statement execute function app_private.tg_products__note_recommender_change();
create trigger _500_note_recommender_change_delete after delete on app_public.products
  referencing old table as old_rows
  for each statement execute function app_private.tg_products__note_recommender_change();

-- The one place that knows the retrain job's identity (task, queue, job key, replace mode).
create function app_private.schedule_retrain(p_run_at timestamptz) returns void
language sql volatile as $$
  select graphile_worker.add_job(
    'retrain_recommender', '{}'::json,
    queue_name => 'recommender',
    run_at => p_run_at,
    job_key => 'retrain_recommender',
    job_key_mode => 'replace');
$$;
comment on function app_private.schedule_retrain(timestamptz) is
  'Puts the one retrain_recommender job (queue `recommender`) at this time, replacing the waiting one: the job key debounces bursts of changes into one retrain.';

create function app_private.tg_recommender_changes__enqueue_retrain() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
declare
  v_settings app_private.recommender_settings;
begin
  select * into v_settings from app_private.recommender_settings;
  perform app_private.schedule_retrain(least(
    clock_timestamp() + v_settings.debounce,
    (select min(changed_at) from app_private.recommender_changes) + v_settings.max_wait));
  return null;
end
$$;
comment on function app_private.tg_recommender_changes__enqueue_retrain() is
  'At commit: (re)schedules the one pending retrain_recommender job to debounce after now, or to max_wait after the oldest unseen change if that is sooner.';

create constraint trigger _500_enqueue_retrain after insert on app_private.recommender_changes
  deferrable initially deferred
  for each row execute function app_private.tg_recommender_changes__enqueue_retrain();

-- A retrain already queued follows a change of the debounce or the ceiling (workers write them at
-- start): a job queued under a debounce of an hour, lowered to a minute, runs a minute after the
-- last change, not an hour.
create function app_private.tg_recommender_settings__move_queued_retrain() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  -- Only changes not yet retrained have a retrain waiting for them.
  if exists (select from app_private.recommender_changes) then
    perform app_private.schedule_retrain(
      (select least(max(changed_at) + new.debounce, min(changed_at) + new.max_wait) from app_private.recommender_changes));
  end if;
  return null;
end
$$;
comment on function app_private.tg_recommender_settings__move_queued_retrain() is
  'Moves the waiting retrain to the time the new settings give: `debounce` after the last change not yet retrained, and no later than `max_wait` after the oldest.';

create trigger _500_move_queued_retrain after update on app_private.recommender_settings
  for each row when (old.debounce is distinct from new.debounce or old.max_wait is distinct from new.max_wait)
  execute function app_private.tg_recommender_settings__move_queued_retrain();

-- What a retrain reads and writes.

create function app_private.recommender_products(p_tenant_id uuid)
returns table (id uuid, content_key text, stored_content_key text, kth_score real)
language sql stable as $$
  select p.id, app_private.recommender_content_key(p.name, p.category, p.description, p.price), i.content_key, i.kth_score
  from app_public.products p
  left join app_private.recommender_inputs i on i.product_id = p.id
  where p.tenant_id = p_tenant_id and p.status = 'approved'
  order by p.id
$$;
comment on function app_private.recommender_products(uuid) is
  'The approved products of a tenant, each with its content key now and the content key and k-th score the active recommendations were computed from (null for new products).';

create function app_private.recommender_product_texts(p_product_ids uuid[])
returns table (id uuid, name text, category text, description text, price_band integer, content_key text)
language sql stable as $$
  select p.id, p.name, p.category, p.description, app_private.price_band(p.price),
    app_private.recommender_content_key(p.name, p.category, p.description, p.price)
  from app_public.products p
  where p.id = any(p_product_ids)
$$;
comment on function app_private.recommender_product_texts(uuid[]) is
  'What the recommender embeds of these products (for those whose embedding a worker does not hold yet).';

create function app_private.recommender_removed_products(p_tenant_id uuid) returns setof uuid
language sql stable as $$
  select i.product_id
  from app_private.recommender_inputs i
  where i.tenant_id = p_tenant_id
    and not exists (select from app_public.products p where p.id = i.product_id and p.status = 'approved')
$$;
comment on function app_private.recommender_removed_products(uuid) is
  'Products the active recommendations were computed from that are deleted or no longer approved.';

create function app_private.recommender_lists_containing(p_product_ids uuid[]) returns setof uuid
language sql stable as $$
  select distinct r.product_id
  from app_public.product_recommendations r
  where r.recommended_product_id = any(p_product_ids)
$$;
comment on function app_private.recommender_lists_containing(uuid[]) is
  'Products whose recommendations include any of these: their lists must be recomputed when these change or go.';

-- A retrain consumes exactly the changes it read, by id: ids are drawn when a change is written,
-- not when it commits, so a long transaction's lower id can commit after a retrain read a higher
-- one, and must stay for the retrain its commit queues.
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
