-- Up Migration
-- A retrain already queued follows a change of the debounce or the ceiling. Workers write
-- RETRAIN_DEBOUNCE_SECONDS and RETRAIN_MAX_WAIT_SECONDS into recommender_settings when they start;
-- before this, a job queued under the old settings kept its time (with a debounce lowered from an
-- hour to a minute, the waiting retrain still ran an hour after the last change).

create function app_private.tg_recommender_settings__move_queued_retrain() returns trigger
language plpgsql volatile security definer set search_path to pg_catalog, pg_temp as $$
begin
  -- Only changes not yet retrained have a retrain waiting for them.
  if exists (select from app_private.recommender_changes) then
    perform graphile_worker.add_job(
      'retrain_recommender', '{}'::json,
      queue_name => 'recommender',
      run_at => (select least(max(changed_at) + new.debounce, min(changed_at) + new.max_wait) from app_private.recommender_changes),
      job_key => 'retrain_recommender',
      job_key_mode => 'replace');
  end if;
  return null;
end
$$;
comment on function app_private.tg_recommender_settings__move_queued_retrain() is
  'Moves the waiting retrain to the time the new settings give: `debounce` after the last change not yet retrained, and no later than `max_wait` after the oldest.';

create trigger _500_move_queued_retrain after update on app_private.recommender_settings
  for each row when (old.debounce is distinct from new.debounce or old.max_wait is distinct from new.max_wait)
  execute function app_private.tg_recommender_settings__move_queued_retrain();
