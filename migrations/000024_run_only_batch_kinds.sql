-- Up Migration
-- Scoring batches are started by finishline's scoring runs, never submitted by a tenant. Their
-- items name reviews and sellers by id, and the worker reads and writes those rows past row level
-- security: a tenant who could submit such a batch could have another tenant's reviews scored and
-- read their counts in its results. So a kind says whether tenants may submit it, and inserting a
-- batch of the others as a tenant is refused, through submit_batch and plain SQL alike.

alter table app_public.batch_kinds add column submitted_by_tenants boolean not null default true;
comment on column app_public.batch_kinds.submitted_by_tenants is
  'Whether tenants may submit batches of this kind; false for the kinds only finishline''s own runs start (`score_reviews`, `score_sellers`).';
update app_public.batch_kinds set submitted_by_tenants = false where kind in ('score_reviews', 'score_sellers');

create function app_private.tg_batches__refuse_run_only_kinds() returns trigger
language plpgsql stable as $$
begin
  if pg_has_role(current_user, 'app_user', 'usage') and not app_public.current_user_is_admin()
     and not (select k.submitted_by_tenants from app_public.batch_kinds k where k.kind = new.kind) then
    raise exception 'batches of kind "%" are started by finishline''s scoring runs, not submitted', new.kind
      using errcode = 'FLRUN', hint = 'An admin starts a run with triggerReviewScoring or triggerSellerScoring.';
  end if;
  return new;
end
$$;
comment on function app_private.tg_batches__refuse_run_only_kinds() is
  'Refuses a tenant''s batch of a kind that only finishline''s own runs start (batch_kinds.submitted_by_tenants is false).';
create trigger _040_refuse_run_only_kinds before insert on app_public.batches
  for each row execute function app_private.tg_batches__refuse_run_only_kinds();
