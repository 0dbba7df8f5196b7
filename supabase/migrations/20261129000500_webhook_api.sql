-- Functions for people (funnel owners, service_role, Studio): replay a logged call,
-- stats per rule, update a rule's config; and the log purge run by pg_cron.
-- Owners reach only their own rules and logs; anything else is "not found".

-- ===========================================================================
-- Replay
-- ===========================================================================
-- The replay itself, without access checks (callers check first): a new delivery
-- of the log's payload to the rule's current URL and config, ahead of every
-- pending delivery, keeping the webhook-id of the first delivery.
create or replace function public.webhook_replay_log(p_log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.webhook_logs%rowtype;
  v_webhook_id uuid;
  v_payload jsonb;
  v_priority integer;
  v_id uuid := gen_random_uuid();
begin
  select * into v_log from public.webhook_logs l where l.id = p_log_id;
  if v_log.id is null then
    raise exception 'webhook log % not found', p_log_id using errcode = 'no_data_found';
  end if;

  select q.webhook_id, q.payload into v_webhook_id, v_payload
  from public.webhook_queue q
  where q.id = v_log.queue_id;

  -- Replays jump the line: above the highest pending priority, never below 1000.
  select greatest(1000, max(q.priority)::bigint + 1)::integer into v_priority
  from public.webhook_queue q
  where q.status = 'pending' and q.priority < 2147483647;

  insert into public.webhook_configs (routing_rule_id) values (v_log.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts,
     scheduled_at, payload, parent_log_id)
  values (
    v_id,
    coalesce(v_log.webhook_id, v_webhook_id, v_log.queue_id, v_id),
    v_log.lead_id,
    v_log.routing_rule_id,
    coalesce(v_priority, 1000),
    1,
    public.webhook_max_attempts(v_log.routing_rule_id),
    now(),
    coalesce(v_log.request_body, v_payload),
    v_log.id);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

revoke execute on function public.webhook_replay_log(uuid) from public, anon, authenticated, service_role;

create or replace function public.replay_webhook(log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_routing_rule_id uuid;
begin
  select l.routing_rule_id into v_routing_rule_id from public.webhook_logs l where l.id = replay_webhook.log_id;
  if v_routing_rule_id is null or not public.webhook_rule_visible(v_routing_rule_id) then
    raise exception 'webhook log % not found', replay_webhook.log_id
      using errcode = 'no_data_found', hint = 'Pass the id of a row of webhook_logs for one of your routing rules.';
  end if;
  return public.webhook_replay_log(replay_webhook.log_id);
end;
$$;

revoke execute on function public.replay_webhook(uuid) from public, anon;
grant execute on function public.replay_webhook(uuid) to authenticated, service_role;

-- ===========================================================================
-- Stats
-- ===========================================================================
-- Over the attempts of the last `days` days: failed counts every attempt that did
-- not succeed; the average covers attempts that have a duration; rate and average
-- rounded to 2 decimals; no attempts give zeros.
create or replace function public.webhook_stats_for_rule(p_routing_rule_id uuid, p_days integer)
returns table (
  total_calls bigint,
  success_calls bigint,
  failed_calls bigint,
  avg_duration_ms numeric,
  success_rate numeric
)
language sql
stable
security definer
set search_path = ''
as $$
  select count(*) as total_calls,
         count(*) filter (where l.status = 'success') as success_calls,
         count(*) filter (where l.status is distinct from 'success') as failed_calls,
         round(coalesce(avg(l.duration_ms), 0)::numeric, 2) as avg_duration_ms,
         case
           when count(*) = 0 then 0.00
           else round(100.0 * count(*) filter (where l.status = 'success') / count(*), 2)
         end as success_rate
  from public.webhook_logs l
  where l.routing_rule_id = p_routing_rule_id
    and l.created_at >= now() - make_interval(days => p_days)
$$;

revoke execute on function public.webhook_stats_for_rule(uuid, integer) from public, anon, authenticated, service_role;

create or replace function public.get_webhook_stats(routing_rule_id uuid, days integer default 7)
returns table (
  total_calls bigint,
  success_calls bigint,
  failed_calls bigint,
  avg_duration_ms numeric,
  success_rate numeric
)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if get_webhook_stats.days is null or get_webhook_stats.days not between 1 and 36500 then
    raise exception 'days must be between 1 and 36500, got %', coalesce(get_webhook_stats.days::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if not public.webhook_rule_visible(get_webhook_stats.routing_rule_id) then
    raise exception 'routing rule % not found', get_webhook_stats.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  return query select * from public.webhook_stats_for_rule(get_webhook_stats.routing_rule_id, get_webhook_stats.days);
end;
$$;

revoke execute on function public.get_webhook_stats(uuid, integer) from public, anon;
grant execute on function public.get_webhook_stats(uuid, integer) to authenticated, service_role;

-- ===========================================================================
-- Config
-- ===========================================================================
-- Applies a JSON patch to a rule's config, creating the row with defaults first.
-- Keys: custom_headers, timeout_ms, retry_enabled, max_retries, retry_delay_ms,
-- retry_backoff_multiplier, signing_secret. A null value restores the default
-- (for signing_secret: a fresh secret). Values are checked by the table's trigger.
create or replace function public.update_webhook_config(routing_rule_id uuid, patch jsonb)
returns public.webhook_configs
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed constant text[] := array['custom_headers', 'timeout_ms', 'retry_enabled', 'max_retries',
                                   'retry_delay_ms', 'retry_backoff_multiplier', 'signing_secret'];
  v_key text;
  v_value jsonb;
  v_row public.webhook_configs;
begin
  if not public.webhook_rule_visible(update_webhook_config.routing_rule_id) then
    raise exception 'routing rule % not found', update_webhook_config.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  if patch is null or jsonb_typeof(patch) <> 'object' then
    raise exception 'invalid webhook config: patch must be a JSON object, e.g. {"timeout_ms": 5000}'
      using errcode = 'invalid_parameter_value';
  end if;

  for v_key, v_value in select e.key, e.value from jsonb_each(patch) as e loop
    if not v_key = any (allowed) then
      raise exception 'invalid webhook config: unknown key %', to_json(v_key)::text
        using errcode = 'invalid_parameter_value',
              hint = 'Allowed keys: ' || array_to_string(allowed, ', ') || '.';
    end if;
    if jsonb_typeof(v_value) = 'null' then
      continue;
    end if;
    if v_key in ('timeout_ms', 'max_retries', 'retry_delay_ms')
       and (jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
            or v_value::numeric not between -2147483648 and 2147483647) then
      raise exception 'invalid webhook config: % must be a whole number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'retry_backoff_multiplier' and jsonb_typeof(v_value) <> 'number' then
      raise exception 'invalid webhook config: % must be a number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'retry_enabled' and jsonb_typeof(v_value) <> 'boolean' then
      raise exception 'invalid webhook config: % must be true or false, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'signing_secret' and jsonb_typeof(v_value) <> 'string' then
      raise exception 'invalid webhook config: % must be a string starting with whsec_, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'custom_headers' and jsonb_typeof(v_value) <> 'object' then
      raise exception 'invalid webhook config: % must be a JSON object of header name to value, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    end if;
  end loop;

  insert into public.webhook_configs (routing_rule_id) values (update_webhook_config.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  update public.webhook_configs c
  set custom_headers = case when patch ? 'custom_headers'
                            then coalesce(nullif(patch -> 'custom_headers', 'null'::jsonb), '{}'::jsonb)
                            else c.custom_headers end,
      timeout_ms = case when patch ? 'timeout_ms'
                        then coalesce((patch ->> 'timeout_ms')::numeric::integer, 10000)
                        else c.timeout_ms end,
      retry_enabled = case when patch ? 'retry_enabled'
                           then coalesce((patch ->> 'retry_enabled')::boolean, true)
                           else c.retry_enabled end,
      max_retries = case when patch ? 'max_retries'
                         then coalesce((patch ->> 'max_retries')::numeric::integer, 3)
                         else c.max_retries end,
      retry_delay_ms = case when patch ? 'retry_delay_ms'
                            then coalesce((patch ->> 'retry_delay_ms')::numeric::integer, 1000)
                            else c.retry_delay_ms end,
      retry_backoff_multiplier = case when patch ? 'retry_backoff_multiplier'
                                      then coalesce((patch ->> 'retry_backoff_multiplier')::numeric, 2.0)
                                      else c.retry_backoff_multiplier end,
      signing_secret = case when patch ? 'signing_secret'
                            then coalesce(patch ->> 'signing_secret',
                                          'whsec_' || encode(extensions.gen_random_bytes(32), 'base64'))
                            else c.signing_secret end
  where c.routing_rule_id = update_webhook_config.routing_rule_id
  returning c.* into v_row;

  return v_row;
end;
$$;

revoke execute on function public.update_webhook_config(uuid, jsonb) from public, anon;
grant execute on function public.update_webhook_config(uuid, jsonb) to authenticated, service_role;

-- ===========================================================================
-- Purge
-- ===========================================================================
-- Removes attempt logs older than webhook_settings.log_retention_days (30 when
-- unset), and finished deliveries that ended before the same cut-off. Returns the
-- number of log rows removed.
create or replace function public.purge_webhook_logs()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_days integer;
  v_cutoff timestamptz;
  removed bigint;
begin
  select case when jsonb_typeof(s.value) = 'number' then (s.value #>> '{}')::numeric::integer end
  into v_days
  from public.webhook_settings s
  where s.key = 'log_retention_days';
  v_days := coalesce(v_days, 30);
  if v_days < 1 then
    raise exception 'webhook_settings.log_retention_days must be at least 1, got %', v_days
      using errcode = 'invalid_parameter_value';
  end if;
  v_cutoff := now() - make_interval(days => v_days);

  delete from public.webhook_logs l where l.created_at < v_cutoff;
  get diagnostics removed = row_count;

  delete from public.webhook_queue q
  where q.status in ('completed', 'failed') and q.completed_at < v_cutoff;

  return removed;
end;
$$;

revoke execute on function public.purge_webhook_logs() from public, anon, authenticated;
grant execute on function public.purge_webhook_logs() to service_role;
