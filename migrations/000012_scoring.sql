-- Up Migration
-- Model versions, review and seller scores, the scoring batch kinds, and the scheduler's record.

create table app_public.model_versions (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('review_scorer', 'seller_scorer', 'recommender')),
  trained_at timestamptz not null default now(),
  training_rows integer not null check (training_rows >= 0),
  metrics jsonb not null default '{}' check (jsonb_typeof(metrics) = 'object'),
  is_active boolean not null default false
);
create unique index model_versions_one_active_per_kind on app_public.model_versions (kind) where is_active;
create index model_versions_kind_trained_at_idx on app_public.model_versions (kind, trained_at desc);
comment on table app_public.model_versions is E'@behavior -insert -update -delete\nA trained model. At most one version of each kind is active: the one scoring and recommending now.';
comment on column app_public.model_versions.id is 'The version''s id.';
comment on column app_public.model_versions.kind is '`review_scorer`, `seller_scorer` or `recommender`.';
comment on column app_public.model_versions.trained_at is 'When it was trained (or built).';
comment on column app_public.model_versions.training_rows is 'How many rows it learnt from.';
comment on column app_public.model_versions.metrics is 'How good it is, on held-out data where it learns (e.g. `auc`, `log_loss`), and why it was or was not activated.';
comment on column app_public.model_versions.is_active is 'Whether this is the version in use for its kind.';
grant select on app_public.model_versions to app_user, app_admin;

create table app_private.model_files (
  model_version_id uuid primary key references app_public.model_versions on delete cascade,
  onnx bytea not null
);
comment on table app_private.model_files is 'The ONNX bytes of each model version, loaded by workers into onnxruntime-node.';
comment on column app_private.model_files.model_version_id is 'The model version these bytes are.';
comment on column app_private.model_files.onnx is 'The model as an ONNX file.';

create table app_public.review_scores (
  review_id uuid primary key references app_public.reviews on delete cascade,
  tenant_id uuid not null references app_public.tenants on delete cascade,
  score real not null check (score between 0 and 1),
  model_version_id uuid not null references app_public.model_versions,
  scored_at timestamptz not null default now()
);
create index review_scores_tenant_id_idx on app_public.review_scores (tenant_id);
create index review_scores_model_version_id_idx on app_public.review_scores (model_version_id);
comment on table app_public.review_scores is E'@behavior -insert -update -delete\nThe latest score of each review.';
comment on column app_public.review_scores.review_id is 'The review scored.';
comment on column app_public.review_scores.tenant_id is 'The tenant it belongs to.';
comment on column app_public.review_scores.score is 'The probability, from 0 to 1, that the review is fake.';
comment on column app_public.review_scores.model_version_id is 'The review_scorer version that scored it.';
comment on column app_public.review_scores.scored_at is 'When it was scored; a review edited since is due again.';
comment on constraint review_scores_review_id_fkey on app_public.review_scores is E'@fieldName review\n@foreignFieldName score\n@foreignSingleFieldName score';

create table app_public.seller_scores (
  seller_id uuid primary key references app_public.sellers on delete cascade,
  tenant_id uuid not null references app_public.tenants on delete cascade,
  score real not null check (score between 0 and 1),
  confidence real not null check (confidence between 0 and 1),
  product_count integer not null check (product_count >= 0),
  review_count integer not null check (review_count >= 0),
  model_version_id uuid not null references app_public.model_versions,
  scored_at timestamptz not null default now()
);
create index seller_scores_tenant_id_idx on app_public.seller_scores (tenant_id);
comment on table app_public.seller_scores is E'@behavior -insert -update -delete\nThe latest score of each seller, from the seller–product–review graph.';
comment on column app_public.seller_scores.seller_id is 'The seller scored.';
comment on column app_public.seller_scores.tenant_id is 'The tenant it belongs to.';
comment on column app_public.seller_scores.score is 'From 0 to 1: the trust-weighted mean rating of the seller''s reviews, pulled toward a prior when there is little evidence.';
comment on column app_public.seller_scores.confidence is 'From 0 to 1: how much evidence (trusted reviews) the score rests on.';
comment on column app_public.seller_scores.product_count is 'Products of the seller.';
comment on column app_public.seller_scores.review_count is 'Reviews of its products.';
comment on column app_public.seller_scores.model_version_id is 'The seller_scorer version that scored it.';
comment on column app_public.seller_scores.scored_at is 'When it was scored.';
comment on constraint seller_scores_seller_id_fkey on app_public.seller_scores is E'@fieldName seller\n@foreignFieldName score\n@foreignSingleFieldName score';

alter table app_public.review_scores enable row level security;
alter table app_public.seller_scores enable row level security;
create policy select_own on app_public.review_scores for select
  using (app_private.caller_may_see(tenant_id));
create policy select_own on app_public.seller_scores for select
  using (app_private.caller_may_see(tenant_id));
grant select on app_public.review_scores, app_public.seller_scores to app_anonymous, app_user, app_admin;

-- Only finishline's own scoring runs start these (submitted_by_tenants false): their items name
-- reviews and sellers by id, which the worker reads past row level security. Their runs yield to
-- the tenants' own work (priority 1): a nightly run may take longer, an import should not wait.
insert into app_public.batch_kinds (kind, description, task_identifier, chunk_size, max_attempts, retry_delay, submitted_by_tenants, priority) values
  ('score_reviews', 'Scores a chunk of reviews, `{"review_ids": [...]}`, with the active review_scorer: one feature query, one inference, one write.', 'score_reviews', 1, 3, '5 seconds', false, 1),
  ('score_sellers', 'Scores a chunk of sellers, `{"seller_ids": [...]}`, with the active seller_scorer over their products'' reviews.', 'score_sellers', 1, 3, '5 seconds', false, 1);

-- Which reviews need a score: never scored, edited since, or scored by a version no longer active.
create function app_private.reviews_due(p_tenant_id uuid) returns setof uuid
language sql stable as $$
  select r.id from app_public.reviews r
  left join app_public.review_scores s on s.review_id = r.id
  where r.tenant_id = p_tenant_id
    and (s.review_id is null or s.scored_at < r.updated_at
         or s.model_version_id is distinct from (select id from app_public.model_versions where kind = 'review_scorer' and is_active))
$$;
comment on function app_private.reviews_due(uuid) is 'Reviews of the tenant that need a (new) score.';

create function app_private.start_scoring_run(p_tenant_id uuid, p_kind text, p_ids uuid[], p_chunk integer default 1000)
returns app_public.batches
language plpgsql volatile as $$
declare
  v_batch app_public.batches;
  v_field text := case p_kind when 'score_reviews' then 'review_ids' else 'seller_ids' end;
begin
  -- Two runs of one kind never overlap for a tenant: while one is unfinished, it is the answer.
  perform pg_advisory_xact_lock(hashtext('finishline:' || p_kind), hashtext(p_tenant_id::text));
  select * into v_batch from app_public.batches
    where tenant_id = p_tenant_id and kind = p_kind and finished_at is null
    order by created_at limit 1;
  if found then
    return v_batch;
  end if;
  insert into app_public.batches (tenant_id, kind, metadata)
    values (p_tenant_id, p_kind, jsonb_build_object('ids', coalesce(cardinality(p_ids), 0)))
    returning * into v_batch;
  insert into app_public.batch_items (batch_id, tenant_id, payload)
  select v_batch.id, p_tenant_id, jsonb_build_object(v_field, jsonb_agg(id))
  from (select id, (row_number() over (order by id) - 1) / p_chunk as chunk from unnest(p_ids) as id) ids
  group by chunk;
  select * into v_batch from app_public.batches where id = v_batch.id;
  return v_batch;
end
$$;
comment on function app_private.start_scoring_run(uuid, text, uuid[], integer) is
  'Creates a score_reviews or score_sellers batch for the tenant with one item per chunk of ids, unless one is still running (that one is returned). With no ids the batch is empty and completes when the transaction commits.';

create function app_private.start_review_scoring(p_tenant_id uuid) returns app_public.batches
language sql volatile as $$
  select * from app_private.start_scoring_run(p_tenant_id, 'score_reviews',
    array(select app_private.reviews_due(p_tenant_id)))
$$;
comment on function app_private.start_review_scoring(uuid) is 'Starts a score_reviews run over the tenant''s reviews that are due.';

create function app_private.start_seller_scoring(p_tenant_id uuid) returns app_public.batches
language sql volatile as $$
  -- Sellers whose reviews were scored since their own score, and sellers never scored.
  select * from app_private.start_scoring_run(p_tenant_id, 'score_sellers', array(
    select s.id from app_public.sellers s
    left join app_public.seller_scores ss on ss.seller_id = s.id
    where s.tenant_id = p_tenant_id
      and (ss.seller_id is null or exists (
        select 1 from app_public.products p join app_public.reviews r on r.product_id = p.id
        join app_public.review_scores rs on rs.review_id = r.id
        where p.seller_id = s.id and rs.scored_at > ss.scored_at))))
$$;
comment on function app_private.start_seller_scoring(uuid) is 'Starts a score_sellers run over the tenant''s sellers affected by new review scores (and those never scored).';

create function app_private.tg_batches__follow_review_scoring() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  perform app_private.start_seller_scoring(new.tenant_id);
  return null;
end
$$;
comment on function app_private.tg_batches__follow_review_scoring() is
  'When a score_reviews batch finishes, starts the score_sellers run that follows it, in the same transaction.';
create trigger _300_follow_review_scoring after update of status on app_public.batches
  for each row when (new.kind = 'score_reviews' and new.finished_at is not null and old.finished_at is null)
  execute function app_private.tg_batches__follow_review_scoring();

-- The chunk tasks' reads and writes: one query for a chunk's inputs, one statement for its scores.

-- (review_features, the review scorer's one query, reads the counters of 000013_review_counters
-- and is defined there.)

create function app_private.record_review_scores(p_model_version_id uuid, p_review_ids uuid[], p_scores real[]) returns integer
language sql volatile as $$
  with written as (
    insert into app_public.review_scores as s (review_id, tenant_id, score, model_version_id, scored_at)
    select r.id, r.tenant_id, least(greatest(x.score, 0), 1), p_model_version_id, now()
    from unnest(p_review_ids, p_scores) as x(review_id, score)
    join app_public.reviews r on r.id = x.review_id
    on conflict (review_id) do update set score = excluded.score, model_version_id = excluded.model_version_id, scored_at = excluded.scored_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function app_private.record_review_scores(uuid, uuid[], real[]) is 'Writes a chunk''s review scores in one statement (reviews deleted meanwhile are skipped).';

create function app_private.seller_graph(p_seller_ids uuid[]) returns table (
  seller_ids uuid[], product_seller bigint[], review_product bigint[], review_quality real[], review_rating real[]
)
language sql stable as $$
  -- The subgraph of these sellers as index arrays: sellers 0..S-1, products 0..P-1, reviews.
  with sellers as (
    select id, (row_number() over (order by id) - 1) as i from unnest(p_seller_ids) as id
  ), products as (
    select p.id, s.i as seller_i, (row_number() over (order by p.id) - 1) as i
    from app_public.products p join sellers s on s.id = p.seller_id
  ), reviews as (
    select pr.i as product_i, 1 - coalesce(rs.score, 0.5) as quality, (r.rating - 1) / 4.0 as rating
    from app_public.reviews r join products pr on pr.id = r.product_id
    left join app_public.review_scores rs on rs.review_id = r.id
  )
  select
    (select coalesce(array_agg(id order by i), '{}') from sellers),
    (select coalesce(array_agg(seller_i order by i), '{}') from products),
    (select coalesce(array_agg(product_i), '{}') from reviews),
    (select coalesce(array_agg(quality::real), '{}') from reviews),
    (select coalesce(array_agg(rating::real), '{}') from reviews)
$$;
comment on function app_private.seller_graph(uuid[]) is
  'The seller–product–review graph of a chunk of sellers, as the seller scorer''s input arrays (a review without a score counts half).';

create function app_private.record_seller_scores(
  p_model_version_id uuid, p_seller_ids uuid[], p_scores real[], p_confidences real[], p_product_counts integer[], p_review_counts integer[]
) returns integer
language sql volatile as $$
  with written as (
    insert into app_public.seller_scores as s (seller_id, tenant_id, score, confidence, product_count, review_count, model_version_id, scored_at)
    select x.seller_id, sl.tenant_id, least(greatest(x.score, 0), 1), least(greatest(x.confidence, 0), 1), x.product_count, x.review_count, p_model_version_id, now()
    from unnest(p_seller_ids, p_scores, p_confidences, p_product_counts, p_review_counts) as x(seller_id, score, confidence, product_count, review_count)
    join app_public.sellers sl on sl.id = x.seller_id
    on conflict (seller_id) do update set score = excluded.score, confidence = excluded.confidence,
      product_count = excluded.product_count, review_count = excluded.review_count,
      model_version_id = excluded.model_version_id, scored_at = excluded.scored_at
    returning 1
  )
  select count(*)::integer from written
$$;
comment on function app_private.record_seller_scores(uuid, uuid[], real[], real[], integer[], integer[]) is 'Writes a chunk''s seller scores in one statement.';

-- Model versions: stored with their bytes; activated in the same transaction when good enough.
create function app_private.store_model_version(p_kind text, p_onnx bytea, p_training_rows integer, p_metrics jsonb, p_activate boolean)
returns app_public.model_versions
language plpgsql volatile as $$
declare
  v_version app_public.model_versions;
begin
  if p_activate then
    update app_public.model_versions set is_active = false where kind = p_kind and is_active;
  end if;
  insert into app_public.model_versions (kind, training_rows, metrics, is_active)
    values (p_kind, p_training_rows, p_metrics, p_activate)
    returning * into v_version;
  insert into app_private.model_files (model_version_id, onnx) values (v_version.id, p_onnx);
  return v_version;
end
$$;
comment on function app_private.store_model_version(text, bytea, integer, jsonb, boolean) is
  'Stores a model version and its ONNX bytes; when activated, the previous active version of the kind is retired in the same transaction, so readers never see two or none.';

-- Admin mutations: start a run now, for the tenant in the token or, without one, for every tenant.
create function app_private.require_admin() returns void
language plpgsql stable as $$
begin
  if not app_public.current_user_is_admin() then
    raise exception 'only an admin may do this' using errcode = 'FLADM';
  end if;
end
$$;
comment on function app_private.require_admin() is 'Raises FLADM unless the request runs as app_admin.';
grant execute on function app_private.require_admin() to app_user, app_admin;

-- These run as the caller (require_admin needs to see who that is); admins may do what they do.
create function app_public.trigger_review_scoring() returns setof app_public.batches
language plpgsql volatile as $$
begin
  perform app_private.require_admin();
  return query select b.* from app_public.tenants t
    cross join lateral app_private.start_review_scoring(t.id) b
    where app_private.caller_may_see(t.id);
end
$$;
comment on function app_public.trigger_review_scoring() is
  'Admins: starts a review scoring run now (for the token''s tenant, or every tenant) and returns its batches; a tenant''s run already under way is returned instead of a second one.';

create function app_public.trigger_seller_scoring() returns setof app_public.batches
language plpgsql volatile as $$
begin
  perform app_private.require_admin();
  return query select b.* from app_public.tenants t
    cross join lateral app_private.start_seller_scoring(t.id) b
    where app_private.caller_may_see(t.id);
end
$$;
comment on function app_public.trigger_seller_scoring() is 'Admins: starts a seller scoring run now and returns its batches.';

create function app_public.trigger_all_scoring() returns setof app_public.batches
language sql volatile as $$
  -- Reviews first; each finished review run starts its seller run by itself.
  select * from app_public.trigger_review_scoring()
$$;
comment on function app_public.trigger_all_scoring() is 'Admins: starts review scoring now; the seller scoring of each run follows when it finishes.';

grant execute on function app_public.trigger_review_scoring(), app_public.trigger_seller_scoring(), app_public.trigger_all_scoring()
  to app_user, app_admin;
grant execute on function app_private.start_review_scoring(uuid), app_private.start_seller_scoring(uuid),
  app_private.start_scoring_run(uuid, text, uuid[], integer), app_private.reviews_due(uuid) to app_admin;

create function app_private.enqueue_review_scorer_training() returns boolean
language sql volatile security definer set search_path to pg_catalog, pg_temp as $$
  select graphile_worker.add_job('train_review_scorer', '{}', job_key => 'train_review_scorer', job_key_mode => 'unsafe_dedupe') is not null
$$;
comment on function app_private.enqueue_review_scorer_training() is 'Enqueues train_review_scorer unless it is already waiting.';
grant execute on function app_private.enqueue_review_scorer_training() to app_admin;

create function app_public.trigger_review_scorer_training() returns boolean
language plpgsql volatile as $$
begin
  perform app_private.require_admin();
  return app_private.enqueue_review_scorer_training();
end
$$;
comment on function app_public.trigger_review_scorer_training() is
  'Admins: trains a new review scorer now (in the background). It becomes active only if its held-out metrics are not worse than the active version''s; model_versions shows the outcome.';
grant execute on function app_public.trigger_review_scorer_training() to app_user, app_admin;
