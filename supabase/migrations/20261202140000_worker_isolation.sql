-- Isolation between tenants in the worker (sidecar/worker.py): a delivery held up by its
-- saturated host goes back to the queue for a moment instead of filling the worker, and
-- a long timeout lengthens the lease of only the delivery that has it. Executable by
-- service_role only, like the other internal RPCs (docs/internal-rpc.md).

-- ===========================================================================
-- defer_webhook_jobs
-- ===========================================================================
-- Claimed-but-unstarted deliveries of worker_id go back to pending, due delay_ms from
-- now: behind work that is already due, so the next claims find other hosts' deliveries.
-- No attempt is spent and no wake-up is sent (the point is that nobody takes them now).
create or replace function public.defer_webhook_jobs(worker_id text, ids uuid[], delay_ms integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  deferred integer;
begin
  if defer_webhook_jobs.delay_ms is null or defer_webhook_jobs.delay_ms not between 0 and 3600000 then
    raise exception 'delay_ms must be between 0 and 3600000, got %', coalesce(defer_webhook_jobs.delay_ms::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  update public.webhook_queue q
  set status = 'pending', locked_by = null, lease_expires_at = null,
      scheduled_at = greatest(q.scheduled_at, now() + make_interval(secs => defer_webhook_jobs.delay_ms / 1000.0))
  where q.id = any (defer_webhook_jobs.ids)
    and q.status = 'processing'
    and q.locked_by = defer_webhook_jobs.worker_id;
  get diagnostics deferred = row_count;
  return deferred;
end;
$$;

revoke execute on function public.defer_webhook_jobs(text, uuid[], integer) from public, anon, authenticated;
grant execute on function public.defer_webhook_jobs(text, uuid[], integer) to service_role;

-- ===========================================================================
-- extend_webhook_leases
-- ===========================================================================
-- Leases still held by worker_id on these deliveries now run until lease_seconds from
-- now (never shortened). Returns the deliveries it extended: one missing from the answer
-- is no longer this worker's (its lease expired) and must not be attempted.
create or replace function public.extend_webhook_leases(worker_id text, ids uuid[], lease_seconds integer)
returns table (queue_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if extend_webhook_leases.lease_seconds is null or extend_webhook_leases.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400, got %', coalesce(extend_webhook_leases.lease_seconds::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  return query
  update public.webhook_queue q
  set lease_expires_at = greatest(q.lease_expires_at, now() + make_interval(secs => extend_webhook_leases.lease_seconds))
  where q.id = any (extend_webhook_leases.ids)
    and q.status = 'processing'
    and q.locked_by = extend_webhook_leases.worker_id
    and q.lease_expires_at > now()
  returning q.id;
end;
$$;

revoke execute on function public.extend_webhook_leases(text, uuid[], integer) from public, anon, authenticated;
grant execute on function public.extend_webhook_leases(text, uuid[], integer) to service_role;
