-- Reads for the sidecar's CLI (`webhook-sidecar logs | queue | replay | config`):
-- the same answers over PostgREST and a direct connection. Executable by
-- service_role only; owners read their own rows through the tables' RLS.

-- ===========================================================================
-- webhook_log_search: attempts, newest first, filtered by rule, status, delivery
-- ===========================================================================
create or replace function public.webhook_log_search(
  routing_rule_id uuid default null,
  status text default null,
  queue_id uuid default null,
  max_rows integer default 50
)
returns setof public.webhook_logs
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if webhook_log_search.status is not null
     and webhook_log_search.status not in (select unnest(enum_range(null::public.webhook_log_status))::text) then
    raise exception 'unknown log status %: use pending, success, failed or retrying', webhook_log_search.status
      using errcode = 'invalid_parameter_value';
  end if;
  if webhook_log_search.max_rows is null or webhook_log_search.max_rows not between 1 and 10000 then
    raise exception 'max_rows must be between 1 and 10000, got %', coalesce(webhook_log_search.max_rows::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  return query
  select l.*
  from public.webhook_logs l
  where (webhook_log_search.routing_rule_id is null or l.routing_rule_id = webhook_log_search.routing_rule_id)
    and (webhook_log_search.status is null or l.status::text = webhook_log_search.status)
    and (webhook_log_search.queue_id is null or l.queue_id = webhook_log_search.queue_id)
  order by l.created_at desc, l.attempt_number desc
  limit webhook_log_search.max_rows;
end;
$$;

revoke execute on function public.webhook_log_search(uuid, text, uuid, integer) from public, anon, authenticated;
grant execute on function public.webhook_log_search(uuid, text, uuid, integer) to service_role;

-- ===========================================================================
-- webhook_queue_summary: one row per queue status, zeros included
-- ===========================================================================
-- due_now: pending deliveries whose time has come, or processing ones whose lease
-- has expired (a worker will take them on its next claim).
create or replace function public.webhook_queue_summary()
returns table (
  status public.webhook_queue_status,
  deliveries bigint,
  due_now bigint,
  oldest_scheduled_at timestamptz,
  next_scheduled_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  select s.status,
         count(q.id),
         count(q.id) filter (
           where (q.status = 'pending' and q.scheduled_at <= now())
              or (q.status = 'processing' and q.lease_expires_at <= now())),
         min(q.scheduled_at),
         min(q.scheduled_at) filter (where q.status = 'pending' and q.scheduled_at > now())
  from unnest(enum_range(null::public.webhook_queue_status)) as s(status)
  left join public.webhook_queue q on q.status = s.status
  group by s.status
  order by s.status
$$;

revoke execute on function public.webhook_queue_summary() from public, anon, authenticated;
grant execute on function public.webhook_queue_summary() to service_role;

-- ===========================================================================
-- webhook_delivery: one queue row (none when the id is unknown)
-- ===========================================================================
create or replace function public.webhook_delivery(queue_id uuid)
returns setof public.webhook_queue
language sql
stable
security definer
set search_path = ''
as $$
  select q.* from public.webhook_queue q where q.id = webhook_delivery.queue_id
$$;

revoke execute on function public.webhook_delivery(uuid) from public, anon, authenticated;
grant execute on function public.webhook_delivery(uuid) to service_role;

-- ===========================================================================
-- webhook_effective_config: what the next attempt of a rule would use
-- ===========================================================================
-- The config row's values, or the defaults when the rule has none yet; reading
-- never creates a row (update_webhook_config does). No row: unknown rule.
create or replace function public.webhook_effective_config(routing_rule_id uuid)
returns table (
  routing_rule_id uuid,
  client_name text,
  webhook_url text,
  is_active boolean,
  has_config_row boolean,
  custom_headers jsonb,
  timeout_ms integer,
  retry_enabled boolean,
  max_retries integer,
  retry_delay_ms integer,
  retry_backoff_multiplier numeric,
  signing_secret text,
  updated_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  select r.id, r.client_name, r.webhook_url, r.is_active, c.id is not null,
         coalesce(c.custom_headers, '{}'::jsonb), coalesce(c.timeout_ms, 10000),
         coalesce(c.retry_enabled, true), coalesce(c.max_retries, 3),
         coalesce(c.retry_delay_ms, 1000), coalesce(c.retry_backoff_multiplier, 2.0),
         c.signing_secret, c.updated_at
  from public.routing_rules r
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = webhook_effective_config.routing_rule_id
$$;

revoke execute on function public.webhook_effective_config(uuid) from public, anon, authenticated;
grant execute on function public.webhook_effective_config(uuid) to service_role;
