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
  usable boolean;
begin
  usable := exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron')
    or (exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
        and coalesce(current_setting('shared_preload_libraries', true), '') ~ '(^|[\s,])pg_cron([\s,]|$)'
        and coalesce(current_setting('cron.database_name', true), 'postgres') = current_database());

  if not usable then
    raise notice 'pg_cron is not available in database % (not installed, not in shared_preload_libraries, or cron.database_name is another database): schedule these by other means: public.requeue_stale_webhook_jobs() every minute, public.purge_webhook_logs() daily, public.purge_api_rate_limit_log() hourly',
      current_database();
    return;
  end if;

  create extension if not exists pg_cron;

  perform cron.schedule('webhooks-requeue-stale', '* * * * *',
                        'select public.requeue_stale_webhook_jobs()');
  perform cron.schedule('webhooks-purge-logs', '17 3 * * *',
                        'select public.purge_webhook_logs()');
  perform cron.schedule('webhooks-purge-rate-limit-log', '7 * * * *',
                        'select public.purge_api_rate_limit_log()');
end
$$;
