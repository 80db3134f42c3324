-- Up Migration
-- One place that knows the retrain job's identity (task, queue, job key, replace mode): the
-- trigger on recommender changes and the one on recommender settings both used to spell out the
-- same add_job call, with only the time differing.

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

create or replace function app_private.tg_recommender_changes__enqueue_retrain() returns trigger
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

create or replace function app_private.tg_recommender_settings__move_queued_retrain() returns trigger
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
