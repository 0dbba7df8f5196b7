-- Schedules with pg_cron: stale leases back to pending every minute, old attempt
-- logs purged daily, the API rate-limit log purged hourly. cron.schedule() updates
-- a job of the same name, so applying this again changes nothing.
-- pg_cron must be preloaded and can only be created in its own database
-- (cron.database_name); elsewhere the migration still applies and says what to
-- schedule by other means.

-- ===========================================================================
-- Jobs
-- ===========================================================================
do $$
declare
  advice constant text := 'schedule these by other means: public.requeue_stale_webhook_jobs() every minute, '
                          'public.purge_webhook_logs() daily, public.purge_api_rate_limit_log() hourly';
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
      raise notice 'pg_cron is not installed on this server: %', advice;
      return;
    end if;

    begin
      if coalesce(current_setting('shared_preload_libraries', true), '') !~ '(^|[\s,])pg_cron([\s,]|$)' then
        raise notice 'pg_cron is installed but not in shared_preload_libraries: %', advice;
        return;
      end if;
    exception when insufficient_privilege then
      null;  -- the setting is hidden from this role (hosted projects); creating the extension will tell
    end;

    begin
      create extension if not exists pg_cron;
    exception when others then
      raise notice 'pg_cron cannot be used in database % (%): %', current_database(), sqlerrm, advice;
      return;
    end;
  end if;

  perform cron.schedule('webhooks-requeue-stale', '* * * * *',
                        'select public.requeue_stale_webhook_jobs()');
  perform cron.schedule('webhooks-purge-logs', '17 3 * * *',
                        'select public.purge_webhook_logs()');
  perform cron.schedule('webhooks-purge-rate-limit-log', '7 * * * *',
                        'select public.purge_api_rate_limit_log()');
end
$$;
