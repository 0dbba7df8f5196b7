-- Internals move out of `public` into schema `webhooks_private`.
--
-- PostgREST exposes schema `public`: every function there is listed in its OpenAPI
-- and is one `revoke` away from being callable. What stays in `public` is what a
-- client calls by name: the RPCs of the SQL API (README), the sidecar's
-- other RPCs (sidecar/sql/queries.sql), the HTTP API's `api_*` functions
-- (sidecar/api/queries.sql) and webhook_stats_rebuild (README). Trigger functions,
-- validation helpers, the API-key and ownership checks, the hold and token-bucket
-- helpers and the constants move; tests/db/test_private_schema.py holds the list of
-- what `public` exposes.
--
-- `alter function … set schema` keeps each function's OID, so the triggers, the RLS
-- policies and the check constraint that use them keep working. Function bodies name
-- the functions they call (resolved at run time, `set search_path = ''`), so every
-- function that calls a moved one is redefined below with its body unchanged but for
-- `public.` becoming `webhooks_private.` in those calls.
--
-- The four validation triggers that ran as the writer (webhook_configs_limits,
-- webhook_configs_validate, webhook_leads_limits, webhook_routing_rules_limits) call
-- helpers by name, which would need usage on webhooks_private for every role that
-- writes leads, rules or configs. They become security definer instead: they only
-- look at the new row, so running as their owner changes nothing they decide.

-- ===========================================================================
-- The schema
-- ===========================================================================
create schema webhooks_private;
comment on schema webhooks_private is
  'Internals of the webhook system: trigger functions and helpers. Not exposed by PostgREST; no API role may use it.';
revoke all on schema webhooks_private from public, anon, authenticated, service_role;
-- No `alter default privileges in schema webhooks_private revoke execute on functions
-- from public`: PostgreSQL's execute for PUBLIC on a new function is a global default,
-- which a per-schema revoke cannot take back. The missing usage above is what keeps a
-- function added here later out of the API roles' reach (tests/db/test_private_schema.py).

-- ===========================================================================
-- Move the internals (same OIDs: triggers, policies and the check constraint follow)
-- ===========================================================================
alter function public.api_act_as(uuid) set schema webhooks_private;
alter function public.api_caller(text,text) set schema webhooks_private;
alter function public.api_caller_uncounted(text) set schema webhooks_private;
alter function public.api_config_view(uuid,boolean) set schema webhooks_private;
alter function public.api_http_error(integer,text,text,text,jsonb) set schema webhooks_private;
alter function public.api_key_authenticate(text,text) set schema webhooks_private;
alter function public.api_require_rule(uuid,uuid) set schema webhooks_private;
alter function public.api_user_owns_rule(uuid,uuid) set schema webhooks_private;
alter function public.webhook_caller_is_admin() set schema webhooks_private;
alter function public.webhook_configs_keep_previous_secret() set schema webhooks_private;
alter function public.webhook_configs_limits() set schema webhooks_private;
alter function public.webhook_configs_pause_changed() set schema webhooks_private;
alter function public.webhook_configs_validate() set schema webhooks_private;
alter function public.webhook_configs_validate_breaker() set schema webhooks_private;
alter function public.webhook_enqueue_new_leads() set schema webhooks_private;
alter function public.webhook_funnels_hold_changed() set schema webhooks_private;
alter function public.webhook_hand_enqueue_owner(uuid) set schema webhooks_private;
alter function public.webhook_headers_problem(jsonb) set schema webhooks_private;
alter function public.webhook_held_rules(uuid[]) set schema webhooks_private;
alter function public.webhook_json_deeper_than(jsonb,integer) set schema webhooks_private;
alter function public.webhook_json_problem(jsonb,integer) set schema webhooks_private;
alter function public.webhook_leads_limits() set schema webhooks_private;
alter function public.webhook_max_attempts(uuid) set schema webhooks_private;
alter function public.webhook_max_retry_delay_ms() set schema webhooks_private;
alter function public.webhook_my_rule_ids() set schema webhooks_private;
alter function public.webhook_queue_default_webhook_id() set schema webhooks_private;
alter function public.webhook_queue_hold_new() set schema webhooks_private;
alter function public.webhook_queue_outcomes() set schema webhooks_private;
alter function public.webhook_refresh_held(uuid[]) set schema webhooks_private;
alter function public.webhook_replay_log(uuid) set schema webhooks_private;
alter function public.webhook_require_rule(uuid) set schema webhooks_private;
alter function public.webhook_routing_rules_limits() set schema webhooks_private;
alter function public.webhook_rule_visible(uuid) set schema webhooks_private;
alter function public.webhook_rules_hold_changed() set schema webhooks_private;
alter function public.webhook_secret_problem(text) set schema webhooks_private;
alter function public.webhook_stats_add_inserted() set schema webhooks_private;
alter function public.webhook_stats_clear() set schema webhooks_private;
alter function public.webhook_stats_for_rule(uuid,integer) set schema webhooks_private;
alter function public.webhook_stats_move_updated() set schema webhooks_private;
alter function public.webhook_stats_remove_deleted() set schema webhooks_private;
alter function public.webhook_take_tokens(uuid[]) set schema webhooks_private;

-- ===========================================================================
-- Who may execute them
-- ===========================================================================
-- Nobody but the owner has usage on webhooks_private, so no API role can name these
-- functions. Executing a function needs no usage on its schema when the call is bound
-- by OID, as in a policy or a check constraint; those two keep execute for the roles
-- whose statements evaluate them: webhook_my_rule_ids (the owners' RLS policies) and
-- webhook_headers_problem (webhook_configs_custom_headers_check). Triggers fire
-- without any privilege check.
revoke all on function
  webhooks_private.api_act_as(uuid),
  webhooks_private.api_caller(text,text),
  webhooks_private.api_caller_uncounted(text),
  webhooks_private.api_config_view(uuid,boolean),
  webhooks_private.api_http_error(integer,text,text,text,jsonb),
  webhooks_private.api_key_authenticate(text,text),
  webhooks_private.api_require_rule(uuid,uuid),
  webhooks_private.api_user_owns_rule(uuid,uuid),
  webhooks_private.webhook_caller_is_admin(),
  webhooks_private.webhook_configs_keep_previous_secret(),
  webhooks_private.webhook_configs_limits(),
  webhooks_private.webhook_configs_pause_changed(),
  webhooks_private.webhook_configs_validate(),
  webhooks_private.webhook_configs_validate_breaker(),
  webhooks_private.webhook_enqueue_new_leads(),
  webhooks_private.webhook_funnels_hold_changed(),
  webhooks_private.webhook_hand_enqueue_owner(uuid),
  webhooks_private.webhook_headers_problem(jsonb),
  webhooks_private.webhook_held_rules(uuid[]),
  webhooks_private.webhook_json_deeper_than(jsonb,integer),
  webhooks_private.webhook_json_problem(jsonb,integer),
  webhooks_private.webhook_leads_limits(),
  webhooks_private.webhook_max_attempts(uuid),
  webhooks_private.webhook_max_retry_delay_ms(),
  webhooks_private.webhook_my_rule_ids(),
  webhooks_private.webhook_queue_default_webhook_id(),
  webhooks_private.webhook_queue_hold_new(),
  webhooks_private.webhook_queue_outcomes(),
  webhooks_private.webhook_refresh_held(uuid[]),
  webhooks_private.webhook_replay_log(uuid),
  webhooks_private.webhook_require_rule(uuid),
  webhooks_private.webhook_routing_rules_limits(),
  webhooks_private.webhook_rule_visible(uuid),
  webhooks_private.webhook_rules_hold_changed(),
  webhooks_private.webhook_secret_problem(text),
  webhooks_private.webhook_stats_add_inserted(),
  webhooks_private.webhook_stats_clear(),
  webhooks_private.webhook_stats_for_rule(uuid,integer),
  webhooks_private.webhook_stats_move_updated(),
  webhooks_private.webhook_stats_remove_deleted(),
  webhooks_private.webhook_take_tokens(uuid[])
from public, anon, authenticated, service_role;
grant execute on function webhooks_private.webhook_my_rule_ids() to authenticated;
grant execute on function webhooks_private.webhook_headers_problem(jsonb) to authenticated, service_role;

-- ===========================================================================
-- Internals that call other internals: bodies unchanged but for the schema of those calls
-- ===========================================================================

-- webhooks_private.api_caller calls api_http_error, api_key_authenticate
create or replace function webhooks_private.api_caller(p_scope text, p_endpoint text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_uid uuid;
begin
  if v_headers is not null and nullif(btrim(v_headers::json ->> 'x-api-key'), '') is not null then
    return webhooks_private.api_key_authenticate(p_scope, p_endpoint);
  end if;
  if coalesce(nullif(current_setting('role', true), 'none'), session_user::text) = 'authenticated' then
    v_uid := auth.uid();
    if v_uid is not null then
      return v_uid;
    end if;
    perform webhooks_private.api_http_error(401, 'not_authenticated', 'the access token has no sub claim',
                                            'Sign in again to get a user access token.');
  end if;
  perform webhooks_private.api_http_error(401, 'not_authenticated', 'API key or access token missing',
                                          'Send Authorization: Bearer <bpc_ key or Supabase access token>.');
  return null;
end;
$$;

-- webhooks_private.api_caller_uncounted calls api_caller, api_http_error
create or replace function webhooks_private.api_caller_uncounted(p_scope text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_plain text;
  v_key public.api_keys%rowtype;
begin
  v_plain := case when v_headers is null then null else nullif(btrim(v_headers::json ->> 'x-api-key'), '') end;
  if v_plain is null then
    return webhooks_private.api_caller(p_scope, 'uncounted');  -- a JWT caller: nothing is counted anyway
  end if;
  select * into v_key from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex');
  if v_key.id is null or v_key.revoked_at is not null
     or (v_key.expires_at is not null and v_key.expires_at <= now()) then
    perform webhooks_private.api_http_error(401, 'api_key_invalid', 'API key not recognised, revoked or expired',
                                            'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform webhooks_private.api_http_error(403, 'api_key_scope_missing', format('API key lacks the %s scope', p_scope),
                                            format('Create a key whose scopes include %s.', p_scope));
  end if;
  return v_key.user_id;
end;
$$;

-- webhooks_private.api_key_authenticate calls api_http_error
create or replace function webhooks_private.api_key_authenticate(p_scope text, p_endpoint text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_plain text;
  v_key public.api_keys%rowtype;
  v_used bigint;
  v_free_at timestamptz;
begin
  v_plain := nullif(btrim(v_headers::json ->> 'x-api-key'), '');
  if v_plain is null then
    perform webhooks_private.api_http_error(401, 'api_key_missing', 'API key missing',
                                            'Send your key (bpc_...) in the x-api-key header.');
  end if;

  select * into v_key
  from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex')
  for update;

  if v_key.id is null then
    perform webhooks_private.api_http_error(401, 'api_key_invalid', 'API key not recognised',
                                            'Check the key, or create a new one with create_api_key().');
  elsif v_key.revoked_at is not null then
    perform webhooks_private.api_http_error(401, 'api_key_revoked', 'API key has been revoked',
                                            'Create a new key with create_api_key().');
  elsif v_key.expires_at is not null and v_key.expires_at <= now() then
    perform webhooks_private.api_http_error(401, 'api_key_expired', 'API key has expired',
                                            'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform webhooks_private.api_http_error(403, 'api_key_scope_missing',
                                            format('API key lacks the %s scope', p_scope),
                                            format('Create a key whose scopes include %s.', p_scope));
  end if;

  select count(*) into v_used
  from public.api_rate_limit_log r
  where r.api_key_id = v_key.id and r.created_at > now() - interval '60 seconds';

  if v_used >= v_key.rate_limit_per_minute then
    -- The call becomes possible once enough counted calls leave the 60 s window.
    select r.created_at into v_free_at
    from public.api_rate_limit_log r
    where r.api_key_id = v_key.id and r.created_at > now() - interval '60 seconds'
    order by r.created_at
    offset v_used - v_key.rate_limit_per_minute
    limit 1;
    perform webhooks_private.api_http_error(
      429, 'rate_limited',
      format('rate limit exceeded: at most %s calls per minute for this key', v_key.rate_limit_per_minute),
      'Wait for the number of seconds in Retry-After.',
      jsonb_build_object('Retry-After',
        greatest(1, ceil(extract(epoch from (v_free_at + interval '60 seconds' - now()))))::integer::text));
  end if;

  insert into public.api_rate_limit_log (api_key_id, endpoint) values (v_key.id, p_endpoint);
  update public.api_keys k set last_used_at = now() where k.id = v_key.id;
  return v_key.user_id;
end;
$$;

-- webhooks_private.api_require_rule calls api_http_error, api_user_owns_rule
create or replace function webhooks_private.api_require_rule(p_user_id uuid, p_routing_rule_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if p_routing_rule_id is null or not webhooks_private.api_user_owns_rule(p_user_id, p_routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('routing rule %s not found', p_routing_rule_id),
                                            'Pass the id of one of your routing rules (GET /api/v1/webhooks/rules).');
  end if;
end;
$$;

-- webhooks_private.webhook_configs_limits calls webhook_secret_problem;
-- security definer now: it fired as the writer (an owner, service_role), who has no usage
-- on webhooks_private
create or replace function webhooks_private.webhook_configs_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
  field text;
  total bigint;
begin
  if tg_op = 'INSERT' or new.signing_secret is distinct from old.signing_secret then
    problem := webhooks_private.webhook_secret_problem(new.signing_secret);
    field := 'signing_secret';
  end if;
  -- More than 50 headers is webhook_configs_validate's refusal, with its own message.
  if problem is null and jsonb_typeof(new.custom_headers) = 'object'
     and (select count(*) from jsonb_object_keys(new.custom_headers)) <= 50 then
    select coalesce(sum(octet_length(e.key) + octet_length(e.value #>> '{}')), 0) into total
    from jsonb_each(new.custom_headers) as e;
    if total > 16384 then
      field := 'custom_headers';
      problem := format('custom_headers: names and values total %s bytes; at most 16384', total);
    end if;
  end if;
  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation', column = field, table = 'webhook_configs', schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;
  return new;
end;
$$;

-- webhooks_private.webhook_configs_pause_changed calls webhook_refresh_held
create or replace function webhooks_private.webhook_configs_pause_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
  select new.routing_rule_id, r.funnel_id,
         case when new.paused_at is null then 'rule.resumed' else 'rule.paused' end,
         case when new.paused_at is null
              then jsonb_build_object('paused_at', old.paused_at, 'paused_reason', old.paused_reason)
              else jsonb_build_object('paused_at', new.paused_at, 'reason', new.paused_reason,
                                      'consecutive_failures', new.consecutive_failures,
                                      'failing_since', new.failing_since)
         end
  from public.routing_rules r
  where r.id = new.routing_rule_id;
  perform webhooks_private.webhook_refresh_held(array[new.routing_rule_id]);
  return null;
end;
$$;

-- webhooks_private.webhook_configs_validate calls webhook_headers_problem;
-- security definer now: it fired as the writer (an owner, service_role), who has no usage
-- on webhooks_private
create or replace function webhooks_private.webhook_configs_validate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
  field text;
begin
  if new.timeout_ms is null or new.timeout_ms not between 100 and 300000 then
    field := 'timeout_ms';
    problem := format('timeout_ms must be between 100 and 300000 (milliseconds), got %s', coalesce(new.timeout_ms::text, 'null'));
  elsif new.retry_enabled is null then
    field := 'retry_enabled';
    problem := 'retry_enabled must be true or false';
  elsif new.max_retries is null or new.max_retries not between 0 and 20 then
    field := 'max_retries';
    problem := format('max_retries must be between 0 and 20, got %s', coalesce(new.max_retries::text, 'null'));
  elsif new.retry_delay_ms is null or new.retry_delay_ms not between 100 and 86400000 then
    field := 'retry_delay_ms';
    problem := format('retry_delay_ms must be between 100 and 86400000 (milliseconds), got %s', coalesce(new.retry_delay_ms::text, 'null'));
  elsif new.retry_backoff_multiplier is null or new.retry_backoff_multiplier not between 1 and 10 then
    field := 'retry_backoff_multiplier';
    problem := format('retry_backoff_multiplier must be between 1 and 10, got %s', coalesce(new.retry_backoff_multiplier::text, 'null'));
  elsif new.signing_secret is null or new.signing_secret !~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$' then
    field := 'signing_secret';
    problem := 'signing_secret must be whsec_ followed by at least 32 base64 characters';
  else
    problem := webhooks_private.webhook_headers_problem(new.custom_headers);
    if problem is not null then
      field := 'custom_headers';
      problem := 'custom_headers: ' || problem;
    end if;
  end if;

  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation',
            column = field,
            table = 'webhook_configs',
            schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;

  if tg_op = 'UPDATE' then
    new.updated_at := now();
  end if;
  return new;
end;
$$;

-- webhooks_private.webhook_funnels_hold_changed calls webhook_refresh_held
create or replace function webhooks_private.webhook_funnels_hold_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform webhooks_private.webhook_refresh_held(array(select r.id from public.routing_rules r where r.funnel_id = new.id));
  return null;
end;
$$;

-- webhooks_private.webhook_hand_enqueue_owner calls webhook_caller_is_admin
create or replace function webhooks_private.webhook_hand_enqueue_owner(p_routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_owner uuid;
  v_pending bigint;
begin
  if webhooks_private.webhook_caller_is_admin() then
    return null;
  end if;
  select f.owner_id into v_owner
  from public.routing_rules r join public.funnels f on f.id = r.funnel_id
  where r.id = p_routing_rule_id;
  -- Serialises one owner's concurrent requests so the count below cannot be overtaken.
  perform pg_advisory_xact_lock(hashtextextended('webhook_hand_enqueue:' || v_owner::text, 0));
  select count(*) into v_pending
  from public.webhook_queue q
  where q.enqueued_by = v_owner and q.status = 'pending';
  if v_pending >= 1000 then
    raise exception 'too many deliveries enqueued by hand: % are pending, the limit is 1000 per owner', v_pending
      using errcode = 'P0001',  -- 400 in PostgREST and in serve, with this message
            hint = 'Wait until they are delivered, or cancel them with cancel_webhook_deliveries(routing_rule_id).';
  end if;
  return v_owner;
end;
$$;

-- webhooks_private.webhook_json_problem calls webhook_json_deeper_than
create or replace function webhooks_private.webhook_json_problem(value jsonb, max_bytes integer)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  as_text text;
begin
  if value is null then
    return null;
  end if;
  as_text := value::text;
  if octet_length(as_text) > max_bytes then
    return format('is %s bytes as JSON text; at most %s', octet_length(as_text), max_bytes);
  end if;
  if length(as_text) - length(translate(as_text, '{[', '')) > 64
     and webhooks_private.webhook_json_deeper_than(value, 64) then
    return 'nests objects and arrays deeper than 64 levels';
  end if;
  return null;
end;
$$;

-- webhooks_private.webhook_leads_limits calls webhook_json_problem;
-- security definer now: it fired as the writer (an owner, service_role), who has no usage
-- on webhooks_private
create or replace function webhooks_private.webhook_leads_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text := webhooks_private.webhook_json_problem(new.data, 1048576);
begin
  if problem is not null then
    raise exception 'invalid lead: data %', problem
      using errcode = 'check_violation', column = 'data', table = 'leads', schema = 'public',
            hint = 'A lead''s data is at most 1 MiB as JSON text and 64 levels deep.';
  end if;
  return new;
end;
$$;

-- webhooks_private.webhook_queue_hold_new calls webhook_held_rules
create or replace function webhooks_private.webhook_queue_hold_new()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_held uuid[] := array(select webhooks_private.webhook_held_rules(array(select distinct n.routing_rule_id from new_rows n)));
begin
  if cardinality(v_held) > 0 then
    update public.webhook_queue q
    set held = true
    where q.id = any (array(select n.id from new_rows n
                            where n.routing_rule_id = any (v_held)
                              and n.status = 'pending' and not n.held and n.lead_id is not null));
  end if;
  return null;
end;
$$;

-- webhooks_private.webhook_queue_outcomes calls webhook_held_rules
create or replace function webhooks_private.webhook_queue_outcomes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_held uuid[];
begin
  -- Claims (rows to processing) and trigger-made hold flips end nothing.
  if pg_trigger_depth() > 1 or not exists (select 1 from new_rows n where n.status <> 'processing') then
    return null;
  end if;

  with ended as materialized (
    select n.id, n.routing_rule_id, n.status, n.webhook_log_id, n.webhook_id, n.lead_id,
           n.attempt_number, n.error_message
    from new_rows n
    join old_rows o on o.id = n.id
    where n.status in ('completed', 'failed') and o.status in ('processing', 'pending')
      and n.webhook_log_id is distinct from o.webhook_log_id
  ),
  failed_events as (
    insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
    select e.routing_rule_id, r.funnel_id, 'delivery.failed',
           jsonb_build_object('queue_id', e.id, 'webhook_id', e.webhook_id, 'lead_id', e.lead_id,
                              'log_id', e.webhook_log_id, 'attempts', e.attempt_number,
                              'error_type', l.error_type, 'error_message', e.error_message,
                              'response_status', l.response_status, 'test', e.lead_id is null)
    from ended e
    join public.routing_rules r on r.id = e.routing_rule_id
    left join public.webhook_logs l on l.id = e.webhook_log_id
    where e.status = 'failed'
    returning 1
  ),
  per_rule as (
    select e.routing_rule_id,
           bool_or(e.status = 'completed') as any_success,
           count(*) filter (where e.status = 'failed') as failures
    from ended e
    where e.lead_id is not null
    group by e.routing_rule_id
  )
  update public.webhook_configs c
  set consecutive_failures = case when p.any_success then 0
                                  else least(c.consecutive_failures + p.failures, 2147483647) end,
      failing_since = case when p.any_success then null else coalesce(c.failing_since, now()) end
  from per_rule p
  where c.routing_rule_id = p.routing_rule_id
    and (not p.any_success or c.consecutive_failures > 0);

  update public.webhook_configs c
  set paused_at = now(),
      paused_reason = format('auto: %s deliveries in a row failed since %s',
                             c.consecutive_failures, to_char(c.failing_since at time zone 'UTC',
                                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  where c.routing_rule_id in (select n.routing_rule_id from new_rows n where n.status = 'failed')
    and c.paused_at is null
    and c.auto_pause_after_failures is not null
    and c.consecutive_failures >= c.auto_pause_after_failures;

  v_held := array(select webhooks_private.webhook_held_rules(
    array(select distinct n.routing_rule_id from new_rows n where n.status = 'pending')));
  if cardinality(v_held) > 0 then
    update public.webhook_queue q
    set held = true
    where q.id = any (array(select n.id
                            from new_rows n
                            join old_rows o on o.id = n.id
                            where n.status = 'pending' and o.status = 'processing' and not n.held
                              and n.lead_id is not null and n.routing_rule_id = any (v_held)));
  end if;
  return null;
end;
$$;

-- webhooks_private.webhook_refresh_held calls webhook_held_rules
create or replace function webhooks_private.webhook_refresh_held(rule_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- Arrays, not subqueries: the planner then reads the rules' rows by index.
  v_held uuid[] := array(select webhooks_private.webhook_held_rules(rule_ids));
  v_free uuid[] := array(select r from unnest(rule_ids) as r where r <> all (v_held));
  released integer := 0;
begin
  if cardinality(v_held) > 0 then
    update public.webhook_queue q
    set held = true
    where q.routing_rule_id = any (v_held)
      and q.status = 'pending' and not q.held and q.lead_id is not null;
  end if;

  if cardinality(v_free) > 0 then
    update public.webhook_queue q
    set held = false
    where q.routing_rule_id = any (v_free) and q.status = 'pending' and q.held;
    get diagnostics released = row_count;
  end if;
  if released > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
end;
$$;

-- webhooks_private.webhook_replay_log calls webhook_hand_enqueue_owner, webhook_max_attempts
create or replace function webhooks_private.webhook_replay_log(p_log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log public.webhook_logs%rowtype;
  v_webhook_id uuid;
  v_payload jsonb;
  v_owner uuid;
  v_id uuid := gen_random_uuid();
begin
  select * into v_log from public.webhook_logs l where l.id = p_log_id;
  if v_log.id is null then
    raise exception 'webhook log % not found', p_log_id using errcode = 'no_data_found';
  end if;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_log.routing_rule_id);

  select q.webhook_id, q.payload into v_webhook_id, v_payload
  from public.webhook_queue q
  where q.id = v_log.queue_id;

  insert into public.webhook_configs (routing_rule_id) values (v_log.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts,
     scheduled_at, payload, parent_log_id, enqueued_by)
  values (
    v_id,
    coalesce(v_log.webhook_id, v_webhook_id, v_log.queue_id, v_id),
    v_log.lead_id,
    v_log.routing_rule_id,
    1000,
    1,
    webhooks_private.webhook_max_attempts(v_log.routing_rule_id),
    now(),
    coalesce(v_log.request_body, v_payload),
    v_log.id,
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

-- webhooks_private.webhook_require_rule calls webhook_rule_visible
create or replace function webhooks_private.webhook_require_rule(p_routing_rule_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if p_routing_rule_id is null or not webhooks_private.webhook_rule_visible(p_routing_rule_id) then
    raise exception 'routing rule % not found', p_routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
end;
$$;

-- webhooks_private.webhook_routing_rules_limits calls webhook_json_problem;
-- security definer now: it fired as the writer (an owner, service_role), who has no usage
-- on webhooks_private
create or replace function webhooks_private.webhook_routing_rules_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
  field text;
begin
  if length(new.webhook_url) > 2048 then
    field := 'webhook_url';
    problem := format('webhook_url is %s characters long; at most 2048', length(new.webhook_url));
  else
    problem := webhooks_private.webhook_json_problem(new.condition, 65536);
    field := 'condition';
    problem := 'condition ' || problem;
  end if;
  if problem is not null then
    raise exception 'invalid routing rule: %', problem
      using errcode = 'check_violation', column = field, table = 'routing_rules', schema = 'public';
  end if;
  return new;
end;
$$;

-- webhooks_private.webhook_rule_visible calls webhook_caller_is_admin
create or replace function webhooks_private.webhook_rule_visible(p_routing_rule_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.routing_rules r
    join public.funnels f on f.id = r.funnel_id
    where r.id = p_routing_rule_id
      and (webhooks_private.webhook_caller_is_admin() or f.owner_id = (select auth.uid()))
  )
$$;

-- webhooks_private.webhook_rules_hold_changed calls webhook_refresh_held
create or replace function webhooks_private.webhook_rules_hold_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform webhooks_private.webhook_refresh_held(array[new.id]);
  return null;
end;
$$;

-- ===========================================================================
-- Public functions that call internals: bodies unchanged but for the schema of those calls
-- ===========================================================================

-- public.api_cancel_webhook_deliveries calls api_act_as, api_caller, api_require_rule
create or replace function public.api_cancel_webhook_deliveries(routing_rule_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:write', 'api_cancel_webhook_deliveries');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_cancel_webhook_deliveries.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.cancel_webhook_deliveries(api_cancel_webhook_deliveries.routing_rule_id);
end;
$$;

-- public.api_recover_webhook_deliveries calls api_act_as, api_caller, api_http_error, api_require_rule
create or replace function public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone default NULL::timestamp with time zone)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_recover_webhook_deliveries');
begin
  if api_recover_webhook_deliveries.since is null then
    perform webhooks_private.api_http_error(400, 'invalid_parameter', 'since is required: the start of the window to recover');
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_recover_webhook_deliveries.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.recover_webhook_deliveries(api_recover_webhook_deliveries.routing_rule_id,
                                           api_recover_webhook_deliveries.since,
                                           coalesce(api_recover_webhook_deliveries.until, now()));
end;
$$;

-- public.api_replay_webhook calls api_caller, api_http_error, api_user_owns_rule, webhook_replay_log
create or replace function public.api_replay_webhook(log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_replay_webhook');
  v_routing_rule_id uuid;
begin
  select l.routing_rule_id into v_routing_rule_id from public.webhook_logs l where l.id = api_replay_webhook.log_id;
  if v_routing_rule_id is null or not webhooks_private.api_user_owns_rule(v_user_id, v_routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('webhook log %s not found', api_replay_webhook.log_id));
  end if;
  return webhooks_private.webhook_replay_log(api_replay_webhook.log_id);
end;
$$;

-- public.api_send_test_webhook calls api_act_as, api_caller, api_require_rule
create or replace function public.api_send_test_webhook(routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_send_test_webhook');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_send_test_webhook.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.send_test_webhook(api_send_test_webhook.routing_rule_id);
end;
$$;

-- public.api_update_webhook_config calls api_act_as, api_caller, api_config_view, api_require_rule
create or replace function public.api_update_webhook_config(routing_rule_id uuid, patch jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:write', 'api_update_webhook_config');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_update_webhook_config.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  perform public.update_webhook_config(api_update_webhook_config.routing_rule_id, api_update_webhook_config.patch);
  return webhooks_private.api_config_view(api_update_webhook_config.routing_rule_id,
                                          coalesce(jsonb_typeof(api_update_webhook_config.patch) = 'object'
                                                   and api_update_webhook_config.patch ? 'signing_secret', false));
end;
$$;

-- public.api_webhook_config calls api_caller, api_config_view, api_require_rule
create or replace function public.api_webhook_config(routing_rule_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_config');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_config.routing_rule_id);
  return webhooks_private.api_config_view(api_webhook_config.routing_rule_id, false);
end;
$$;

-- public.api_webhook_delivery_attempt calls api_caller_uncounted, api_http_error, api_user_owns_rule
create or replace function public.api_webhook_delivery_attempt(delivery_id uuid)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller_uncounted('webhooks:replay');
  v_rule uuid;
begin
  select q.routing_rule_id into v_rule from public.webhook_queue q where q.id = api_webhook_delivery_attempt.delivery_id;
  if v_rule is null or not webhooks_private.api_user_owns_rule(v_user_id, v_rule) then
    perform webhooks_private.api_http_error(404, 'not_found', format('delivery %s not found', api_webhook_delivery_attempt.delivery_id));
  end if;
  return query
  select l.* from public.webhook_logs l
  where l.queue_id = api_webhook_delivery_attempt.delivery_id
  order by l.attempt_number
  limit 1;
end;
$$;

-- public.api_webhook_events calls api_caller, api_require_rule
create or replace function public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone default NULL::timestamp with time zone)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_events');
  v_events jsonb;
begin
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_events.routing_rule_id);
  select coalesce(jsonb_agg(to_jsonb(e) order by e.created_at desc, e.id desc), '[]'::jsonb) into v_events
  from (select * from public.webhook_events ev
        where ev.routing_rule_id = api_webhook_events.routing_rule_id
          and (api_webhook_events.since is null or ev.created_at >= api_webhook_events.since)
        order by ev.created_at desc, ev.id desc
        limit 200) e;
  return v_events;
end;
$$;

-- public.api_webhook_log_chain calls api_caller, api_http_error, api_user_owns_rule
create or replace function public.api_webhook_log_chain(log_id uuid)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_log_chain');
  v_log public.webhook_logs%rowtype;
begin
  select * into v_log from public.webhook_logs l where l.id = api_webhook_log_chain.log_id;
  if v_log.id is null or not webhooks_private.api_user_owns_rule(v_user_id, v_log.routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('webhook log %s not found', api_webhook_log_chain.log_id));
  end if;
  if v_log.webhook_id is null then
    return next v_log;
    return;
  end if;
  return query
  select l.* from public.webhook_logs l
  where l.routing_rule_id = v_log.routing_rule_id and l.webhook_id = v_log.webhook_id
  order by l.created_at, l.attempt_number, l.id
  limit 500;
end;
$$;

-- public.api_webhook_log_page calls api_caller, api_http_error, api_require_rule
create or replace function public.api_webhook_log_page(routing_rule_id uuid default NULL::uuid, status text default NULL::text, since timestamp with time zone default NULL::timestamp with time zone, until timestamp with time zone default NULL::timestamp with time zone, max_rows integer default 50, before_created_at timestamp with time zone default NULL::timestamp with time zone, before_id uuid default NULL::uuid)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_log_page');
begin
  if api_webhook_log_page.status is not null
     and not api_webhook_log_page.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('status must be one of pending, success, failed, retrying; got %s', to_json(api_webhook_log_page.status)::text));
  end if;
  if api_webhook_log_page.max_rows is null or api_webhook_log_page.max_rows not between 1 and 1000 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('limit must be between 1 and 1000, got %s', coalesce(api_webhook_log_page.max_rows::text, 'null')));
  end if;
  if (api_webhook_log_page.before_created_at is null) <> (api_webhook_log_page.before_id is null) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter', 'cursor must give both a time and an id');
  end if;
  if api_webhook_log_page.routing_rule_id is null then
    if v_headers is not null and nullif(btrim(v_headers::json ->> 'x-api-key'), '') is not null then
      perform webhooks_private.api_http_error(400, 'invalid_parameter', 'routing_rule_id is required with an API key');
    end if;
  else
    perform webhooks_private.api_require_rule(v_user_id, api_webhook_log_page.routing_rule_id);
  end if;

  -- Built from fixed fragments so that each call is planned for the filters it has:
  -- with a rule and a cursor it is a range read of the (rule, created_at, id) index.
  return query execute
    'select l.* from public.webhook_logs l where '
    || case when api_webhook_log_page.routing_rule_id is null
            then 'l.routing_rule_id in (select r.id from public.routing_rules r join public.funnels f'
                 ' on f.id = r.funnel_id where f.owner_id = $1)'
            else 'l.routing_rule_id = $2' end
    || case when api_webhook_log_page.status is null then '' else ' and l.status = $3::public.webhook_log_status' end
    || case when api_webhook_log_page.since is null then '' else ' and l.created_at >= $4' end
    || case when api_webhook_log_page.until is null then '' else ' and l.created_at < $5' end
    || case when api_webhook_log_page.before_id is null then ''
            else ' and l.created_at <= $6 and (l.created_at < $6 or l.id < $7)' end
    || ' order by l.created_at desc, l.id desc limit $8'
    using v_user_id, api_webhook_log_page.routing_rule_id, api_webhook_log_page.status,
          api_webhook_log_page.since, api_webhook_log_page.until,
          api_webhook_log_page.before_created_at, api_webhook_log_page.before_id,
          api_webhook_log_page.max_rows;
end;
$$;

-- public.api_webhook_logs calls api_http_error, api_key_authenticate, api_user_owns_rule
create or replace function public.api_webhook_logs(routing_rule_id uuid, status text default NULL::text, max_rows integer default 50)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_key_authenticate('webhooks:read', 'api_webhook_logs');
begin
  if api_webhook_logs.status is not null
     and not api_webhook_logs.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('status must be one of pending, success, failed, retrying; got %s',
                                                   to_json(api_webhook_logs.status)::text));
  end if;
  if api_webhook_logs.max_rows is null or api_webhook_logs.max_rows not between 1 and 1000 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('max_rows must be between 1 and 1000, got %s',
                                                   coalesce(api_webhook_logs.max_rows::text, 'null')));
  end if;
  if not webhooks_private.api_user_owns_rule(v_user_id, api_webhook_logs.routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found',
                                            format('routing rule %s not found', api_webhook_logs.routing_rule_id));
  end if;

  return query
  select l.*
  from public.webhook_logs l
  where l.routing_rule_id = api_webhook_logs.routing_rule_id
    and (api_webhook_logs.status is null or l.status = api_webhook_logs.status::public.webhook_log_status)
  order by l.created_at desc, l.id
  limit api_webhook_logs.max_rows;
end;
$$;

-- public.api_webhook_rules calls api_caller
create or replace function public.api_webhook_rules()
returns table (routing_rule_id uuid, funnel_id uuid, funnel_name text, funnel_status text, client_name text, webhook_url text, is_active boolean, paused_at timestamp with time zone, paused_reason text, created_at timestamp with time zone, pending_deliveries bigint, held_deliveries bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_rules');
begin
  -- held: pending deliveries that wait for the rule (paused or inactive) or its funnel
  -- (not active) rather than for their time.
  return query
  select x.id, x.funnel_id, x.funnel_name, x.funnel_status, x.client_name, x.webhook_url, x.is_active,
         x.paused_at, x.paused_reason, x.created_at, x.pending,
         case when x.paused_at is not null or not x.is_active or x.funnel_status <> 'active'
              then x.pending else 0 end
  from (
    select r.id, f.id as funnel_id, f.name as funnel_name, f.status as funnel_status, r.client_name,
           r.webhook_url, r.is_active, (to_jsonb(c) ->> 'paused_at')::timestamptz as paused_at,
           to_jsonb(c) ->> 'paused_reason' as paused_reason, r.created_at,
           (select count(*) from public.webhook_queue q
            where q.routing_rule_id = r.id and q.status = 'pending') as pending
    from public.routing_rules r
    join public.funnels f on f.id = r.funnel_id
    left join public.webhook_configs c on c.routing_rule_id = r.id
    where f.owner_id = v_user_id
  ) x
  order by x.funnel_name, x.client_name, x.id;
end;
$$;

-- public.api_webhook_stats calls api_caller, api_http_error, api_require_rule, webhook_stats_for_rule
create or replace function public.api_webhook_stats(routing_rule_id uuid, days integer default 7)
returns table (total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric, success_rate numeric)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_stats');
begin
  if api_webhook_stats.days is null or api_webhook_stats.days not between 1 and 36500 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('days must be between 1 and 36500, got %s',
                                                   coalesce(api_webhook_stats.days::text, 'null')));
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_stats.routing_rule_id);
  return query select * from webhooks_private.webhook_stats_for_rule(api_webhook_stats.routing_rule_id, api_webhook_stats.days);
end;
$$;

-- public.api_webhook_stats_series calls api_caller_uncounted, api_http_error, api_require_rule
create or replace function public.api_webhook_stats_series(routing_rule_id uuid, days integer default 7, bucket text default 'day'::text)
returns table (bucket_start timestamp with time zone, total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := webhooks_private.api_caller_uncounted('webhooks:read');
begin
  if api_webhook_stats_series.bucket is null or api_webhook_stats_series.bucket not in ('hour', 'day') then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('series must be hour or day, got %s', coalesce(to_json(api_webhook_stats_series.bucket)::text, 'null')));
  end if;
  if api_webhook_stats_series.days is null or api_webhook_stats_series.days not between 1 and 36500 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('days must be between 1 and 36500, got %s', coalesce(api_webhook_stats_series.days::text, 'null')));
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_stats_series.routing_rule_id);
  return query
  select date_trunc(api_webhook_stats_series.bucket, h.hour, 'UTC') as b,
         sum(h.total_calls)::bigint, sum(h.success_calls)::bigint,
         (sum(h.total_calls) - sum(h.success_calls))::bigint,
         round(coalesce(sum(h.duration_sum)::numeric / nullif(sum(h.duration_count), 0), 0), 2)
  from public.webhook_stats_hourly h
  where h.routing_rule_id = api_webhook_stats_series.routing_rule_id
    and h.hour >= date_trunc(api_webhook_stats_series.bucket,
                             now() - make_interval(days => api_webhook_stats_series.days), 'UTC')
  group by 1
  order by 1;
end;
$$;

-- public.cancel_webhook_deliveries calls webhook_require_rule
create or replace function public.cancel_webhook_deliveries(routing_rule_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  perform webhooks_private.webhook_require_rule(cancel_webhook_deliveries.routing_rule_id);
  update public.webhook_queue q
  set status = 'failed', error_message = 'cancelled', completed_at = now(), held = false, rate_reserved = false
  where q.routing_rule_id = cancel_webhook_deliveries.routing_rule_id and q.status = 'pending';
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- public.claim_webhook_jobs calls webhook_held_rules, webhook_take_tokens
create or replace function public.claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer, queue_ids uuid[] default NULL::uuid[])
returns table (queue_id uuid, webhook_id uuid, lead_id uuid, routing_rule_id uuid, attempt_number integer, max_attempts integer, payload text, webhook_url text, custom_headers jsonb, timeout_ms integer, retry_enabled boolean, retry_delay_ms integer, retry_backoff_multiplier numeric, signing_secret text, claimed_at timestamp with time zone, previous_signing_secret text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker text := claim_webhook_jobs.worker_id;
  v_max integer := claim_webhook_jobs.max_jobs;
  v_ids uuid[] := claim_webhook_jobs.queue_ids;
  v_lease interval := make_interval(secs => claim_webhook_jobs.lease_seconds);
  v_expired uuid[];
  v_granted uuid[] := '{}';
  v_picked uuid[];
  v_now_granted uuid[];
  v_passes integer := 0;
begin
  if v_worker is null or v_worker = '' then
    raise exception 'worker_id must be a non-empty text' using errcode = 'invalid_parameter_value';
  end if;
  if v_max is null or v_max not between 1 and 10000 then
    raise exception 'max_jobs must be between 1 and 10000, got %', coalesce(v_max::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if claim_webhook_jobs.lease_seconds is null or claim_webhook_jobs.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400, got %', coalesce(claim_webhook_jobs.lease_seconds::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  -- Expired leases of held rules stay put: requeue_stale_webhook_jobs returns them
  -- to pending, where they are held.
  with picked as (
    select q.id
    from public.webhook_queue q
    where q.status = 'processing' and q.lease_expires_at <= now()
      and (v_ids is null or q.id = any (v_ids))
      and (q.lead_id is null or q.routing_rule_id not in (select webhooks_private.webhook_held_rules(array[q.routing_rule_id])))
    order by q.lease_expires_at
    limit v_max
    for update skip locked
  ),
  claimed as (
    update public.webhook_queue q
    set locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now()
    from picked
    where q.id = picked.id
    returning q.id
  )
  select coalesce(array_agg(claimed.id), '{}') into v_expired from claimed;

  -- Most setups limit no rule: then one statement takes the due rows, as it always did.
  if v_ids is null
     and not exists (select 1 from public.webhook_configs c where c.max_requests_per_second is not null) then
    with picked as (
      select q.id
      from public.webhook_queue q
      where q.status = 'pending' and not q.held and q.scheduled_at <= now()
      order by q.priority desc, q.scheduled_at
      limit v_max - cardinality(v_expired)
      for update skip locked
    ),
    claimed as (
      update public.webhook_queue q
      set status = 'processing', locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now()
      from picked
      where q.id = picked.id
      returning q.id
    )
    select coalesce(array_agg(claimed.id), '{}') into v_granted from claimed;
    v_passes := 20;
  end if;

  -- Otherwise each pass takes due rows, keeps those its rules' rates allow and
  -- puts the rest off; a throttled rule's backlog thus leaves the due range
  -- instead of filling every claim. Passes are bounded so one claim stays short.
  while cardinality(v_expired) + cardinality(v_granted) < v_max and v_passes < 20 loop
    v_passes := v_passes + 1;
    if v_ids is null then
      select coalesce(array_agg(p.id), '{}') into v_picked
      from (
        select q.id
        from public.webhook_queue q
        where q.status = 'pending' and not q.held and q.scheduled_at <= now()
        order by q.priority desc, q.scheduled_at
        limit v_max - cardinality(v_expired) - cardinality(v_granted)
        for update skip locked
      ) p;
    else
      select coalesce(array_agg(p.id), '{}') into v_picked
      from (
        select q.id
        from public.webhook_queue q
        where q.id = any (v_ids) and q.status = 'pending' and not q.held and q.scheduled_at <= now()
        order by q.priority desc, q.scheduled_at
        limit v_max - cardinality(v_expired) - cardinality(v_granted)
        for update skip locked
      ) p;
    end if;
    exit when cardinality(v_picked) = 0;
    v_now_granted := webhooks_private.webhook_take_tokens(v_picked);
    -- Taken at once, so the next pass does not see them as due again.
    update public.webhook_queue q
    set status = 'processing', locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now(),
        rate_reserved = false
    where q.id = any (v_now_granted);
    v_granted := v_granted || v_now_granted;
    -- Nothing put off: the due rows are all taken, or the claim is full.
    exit when v_ids is not null or cardinality(v_now_granted) = cardinality(v_picked);
  end loop;

  -- Deliveries enqueued by hand-written inserts may lack a config row; give them
  -- one (and a signing secret) rather than hand out a null secret.
  insert into public.webhook_configs (routing_rule_id)
  select distinct q.routing_rule_id
  from public.webhook_queue q
  where q.id = any (v_expired || v_granted)
    and not exists (select 1 from public.webhook_configs c where c.routing_rule_id = q.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  return query
  select q.id, coalesce(q.webhook_id, q.id),
         coalesce(q.lead_id, '00000000-0000-0000-0000-000000000000'::uuid),
         q.routing_rule_id, q.attempt_number, q.max_attempts,
         q.payload::text, r.webhook_url, c.custom_headers, c.timeout_ms, c.retry_enabled,
         c.retry_delay_ms, c.retry_backoff_multiplier, c.signing_secret, now(),
         case when c.previous_secret_expires_at > now() then c.previous_signing_secret end
  from public.webhook_queue q
  join public.routing_rules r on r.id = q.routing_rule_id
  join public.webhook_configs c on c.routing_rule_id = q.routing_rule_id
  where q.id = any (v_expired || v_granted)
  order by q.priority desc, q.scheduled_at;
end;
$$;

-- public.create_api_key calls api_http_error
create or replace function public.create_api_key(name text, scopes text[] default '{webhooks:read,webhooks:replay}'::text[], expires_at timestamp with time zone default NULL::timestamp with time zone, rate_limit_per_minute integer default 60)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed constant text[] := '{webhooks:read,webhooks:replay,webhooks:write}';
  v_user_id uuid := auth.uid();
  v_unknown text;
  v_plain text;
  v_active bigint;
begin
  if v_user_id is null then
    perform webhooks_private.api_http_error(401, 'not_authenticated', 'sign in to create an API key',
                                            'Call create_api_key with a signed-in user''s access token.');
  end if;
  if create_api_key.name is null or length(btrim(create_api_key.name)) not between 1 and 200 then
    raise exception 'name must be between 1 and 200 characters'
      using errcode = 'invalid_parameter_value', column = 'name';
  end if;
  if create_api_key.scopes is null or cardinality(create_api_key.scopes) = 0 then
    raise exception 'scopes must list at least one of %', array_to_string(allowed, ', ')
      using errcode = 'invalid_parameter_value', column = 'scopes';
  end if;
  select s into v_unknown
  from unnest(create_api_key.scopes) as s
  where s is null or not s = any (allowed)
  limit 1;
  if found then
    raise exception 'scopes: unknown scope % (allowed: %)', coalesce(to_json(v_unknown)::text, 'null'),
                    array_to_string(allowed, ', ')
      using errcode = 'invalid_parameter_value', column = 'scopes';
  end if;
  if create_api_key.expires_at is not null and create_api_key.expires_at <= now() then
    raise exception 'expires_at must be in the future'
      using errcode = 'invalid_parameter_value', column = 'expires_at';
  end if;
  if create_api_key.rate_limit_per_minute is null or create_api_key.rate_limit_per_minute not between 1 and 10000 then
    raise exception 'rate_limit_per_minute must be between 1 and 10000, got %', coalesce(create_api_key.rate_limit_per_minute::text, 'null')
      using errcode = 'invalid_parameter_value', column = 'rate_limit_per_minute';
  end if;

  perform pg_advisory_xact_lock(hashtextextended('create_api_key:' || v_user_id::text, 0));
  select count(*) into v_active
  from public.api_keys k
  where k.user_id = v_user_id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now());
  if v_active >= 100 then
    raise exception 'too many active API keys: you have %, the limit is 100', v_active
      using errcode = 'P0001',  -- 400 in PostgREST and in serve, with this message
            hint = 'Revoke keys you no longer use with revoke_api_key(id), then create this one.';
  end if;

  v_plain := 'bpc_' || encode(extensions.gen_random_bytes(24), 'hex');
  insert into public.api_keys (user_id, name, key_prefix, key_hash, scopes, expires_at, rate_limit_per_minute)
  values (v_user_id, btrim(create_api_key.name), left(v_plain, 12),
          encode(sha256(convert_to(v_plain, 'UTF8')), 'hex'),
          (select array_agg(distinct s order by s) from unnest(create_api_key.scopes) as s),
          create_api_key.expires_at, create_api_key.rate_limit_per_minute);
  return v_plain;
end;
$$;

-- public.enqueue_webhook calls webhook_hand_enqueue_owner, webhook_max_attempts, webhook_rule_visible
create or replace function public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer default 0)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule public.routing_rules%rowtype;
  v_lead public.leads%rowtype;
  v_owner uuid;
  v_id uuid := gen_random_uuid();
begin
  if enqueue_webhook.priority is not null and enqueue_webhook.priority not between -100 and 100 then
    raise exception 'priority must be between -100 and 100, got %', enqueue_webhook.priority
      using errcode = 'invalid_parameter_value', column = 'priority',
            hint = 'Higher is sooner; replays always run at 1000, ahead of any enqueued delivery.';
  end if;
  if not webhooks_private.webhook_rule_visible(enqueue_webhook.routing_rule_id) then
    raise exception 'routing rule % not found', enqueue_webhook.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  select * into v_rule from public.routing_rules r where r.id = enqueue_webhook.routing_rule_id;
  select * into v_lead from public.leads l where l.id = enqueue_webhook.lead_id;
  if v_lead.id is null or v_lead.funnel_id <> v_rule.funnel_id then
    raise exception 'lead % not found in the funnel of routing rule %', enqueue_webhook.lead_id, v_rule.id
      using errcode = 'no_data_found', hint = 'A lead can only be delivered to the rules of its own funnel.';
  end if;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_rule.id);

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload,
     enqueued_by)
  values (
    v_id, v_id, v_lead.id, v_rule.id, coalesce(enqueue_webhook.priority, 0), 1,
    webhooks_private.webhook_max_attempts(v_rule.id), now(),
    jsonb_build_object(
      'type', 'lead.created',
      'timestamp', now(),
      'data', jsonb_build_object(
        'lead_id', v_lead.id,
        'funnel_id', v_lead.funnel_id,
        'routing_rule_id', v_rule.id,
        'client_name', v_rule.client_name,
        'lead', v_lead.data,
        'created_at', v_lead.created_at)),
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

-- public.get_webhook_stats calls webhook_rule_visible, webhook_stats_for_rule
create or replace function public.get_webhook_stats(routing_rule_id uuid, days integer default 7)
returns table (total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric, success_rate numeric)
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
  if not webhooks_private.webhook_rule_visible(get_webhook_stats.routing_rule_id) then
    raise exception 'routing rule % not found', get_webhook_stats.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  return query select * from webhooks_private.webhook_stats_for_rule(get_webhook_stats.routing_rule_id, get_webhook_stats.days);
end;
$$;

-- public.record_webhook_attempts calls webhook_max_retry_delay_ms
create or replace function public.record_webhook_attempts(results jsonb)
returns table (queue_id uuid, log_id uuid, applied boolean, status text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if results is null or jsonb_typeof(results) <> 'array' then
    raise exception 'results must be a JSON array of attempt results' using errcode = 'invalid_parameter_value';
  end if;

  return query
  with input as (
    select x.*, e.ord
    from jsonb_array_elements(record_webhook_attempts.results) with ordinality as e(elem, ord)
    cross join lateral jsonb_to_record(e.elem) as x(
      queue_id uuid,
      worker_id text,
      attempt_number integer,
      webhook_url text,
      request_headers jsonb,
      response_status integer,
      response_headers jsonb,
      response_body text,
      duration_ms integer,
      success boolean,
      error_type public.webhook_error_type,
      error_message text,
      retry_in_ms numeric,
      log_id uuid,
      first_send boolean,
      status text
    )
  ),
  -- Lock in id order so concurrent batches cannot deadlock each other.
  locked as materialized (
    select q.*
    from public.webhook_queue q
    where q.id in (select i.queue_id from input i)
    order by q.id
    for update
  ),
  decided as materialized (
    select i.*,
           q.id as q_id,
           q.lead_id as q_lead_id,
           q.routing_rule_id as q_routing_rule_id,
           q.webhook_id as q_webhook_id,
           q.max_attempts as q_max_attempts,
           q.payload as q_payload,
           q.parent_log_id as q_parent_log_id,
           q.webhook_log_id as q_last_log_id,
           coalesce(i.success, false) as ok,
           coalesce(q.status = 'processing' and q.locked_by = i.worker_id and q.attempt_number = i.attempt_number, false)
             as holds_lease,
           coalesce(i.success and q.status = 'pending' and q.attempt_number = i.attempt_number, false)
             as ends_duplicate,
           coalesce(i.log_id, gen_random_uuid()) as new_log_id,
           -- A first send cannot be logged yet: only resends pay for the lookup.
           case
             when coalesce(i.first_send, false) then null
             else (select l.status::text from public.webhook_logs l where l.id = i.log_id)
           end as recorded_status
    from input i
    left join locked q on q.id = i.queue_id
  ),
  ranked as materialized (
    select d.*,
           d.recorded_status is not null as already_recorded,
           -- The sidecar's verdict (sidecar/decide.py) is applied, unless it is impossible.
           case
             when d.status is null then null
             when d.status not in ('success', 'retrying', 'failed')
               then format('the sidecar asked for %s, which is not a status (success, retrying or failed)',
                           d.status)
             when d.status = 'success' and not d.ok
               then 'the sidecar asked for success for an attempt that did not succeed'
             when d.status <> 'success' and d.ok
               then format('the sidecar asked for %s after a success', d.status)
             when d.status = 'retrying' and d.error_type = 'blocked'
               then 'the sidecar asked for retrying a blocked attempt'
             when d.status = 'retrying' and d.retry_in_ms is null
               then 'the sidecar asked for retrying without retry_in_ms'
             when d.status = 'retrying' and d.attempt_number >= d.q_max_attempts
               then format('the sidecar asked for retrying past max_attempts (attempt %s of %s)',
                           d.attempt_number, d.q_max_attempts)
           end as refusal,
           d.recorded_status is null
             and (d.holds_lease or d.ends_duplicate)
             and row_number() over (partition by d.queue_id
                                    order by (d.holds_lease or d.ends_duplicate) desc, d.ord) = 1 as applies
    from decided d
  ),
  verdict as (
    select r.*,
           case
             when not r.applies then 'none'
             when r.refusal is not null then 'fail'
             when r.ok then 'complete'
             when r.status is not null then case r.status when 'retrying' then 'retry' else 'fail' end
             -- No status: a sidecar from before 20261202160000 sent this; decide as it expects.
             when r.retry_in_ms is not null
                  and r.error_type is distinct from 'blocked'
                  and r.attempt_number < r.q_max_attempts then 'retry'
             else 'fail'
           end as action,
           case
             when r.attempt_number = 1 then r.q_parent_log_id
             when r.applies then r.q_last_log_id
             else (select l.id
                   from public.webhook_logs l
                   where l.queue_id = r.q_id and l.attempt_number = r.attempt_number - 1
                   order by l.created_at desc
                   limit 1)
           end as parent_id,
           case when r.ok and r.refusal is null then null else nullif(concat_ws('; ', r.error_message, r.refusal), '') end
             as message
    from ranked r
  ),
  outcome as materialized (
    select v.*,
           case
             when v.refusal is not null then 'failed'
             when v.ok then 'success'
             when v.action = 'retry' then 'retrying'
             else 'failed'
           end as log_status
    from verdict v
  ),
  logs as (
    insert into public.webhook_logs (
      id, lead_id, routing_rule_id, queue_id, webhook_id, webhook_url, request_headers, request_body,
      response_status, response_headers, response_body, duration_ms, attempt_number, max_attempts,
      is_retry, parent_log_id, status, error_message, error_type)
    select o.new_log_id, o.q_lead_id, o.q_routing_rule_id, o.q_id, o.q_webhook_id, coalesce(o.webhook_url, ''),
           coalesce(o.request_headers, '{}'::jsonb), o.q_payload, o.response_status, o.response_headers,
           o.response_body, o.duration_ms, o.attempt_number, o.q_max_attempts,
           o.attempt_number > 1 or o.q_parent_log_id is not null, o.parent_id,
           o.log_status::public.webhook_log_status,
           o.message,
           case when o.ok then null else o.error_type end
    from outcome o
    where o.q_id is not null and not o.already_recorded
    on conflict (id) do nothing
    returning 1
  ),
  queue_updates as (
    update public.webhook_queue q
    set webhook_log_id = o.new_log_id,
        status = (case o.action
                    when 'complete' then 'completed'
                    when 'retry' then 'pending'
                    else 'failed'
                  end)::public.webhook_queue_status,
        attempt_number = case when o.action = 'retry' then q.attempt_number + 1 else q.attempt_number end,
        scheduled_at = case
                         when o.action = 'retry'
                           then now() + least(greatest(o.retry_in_ms, 0), webhooks_private.webhook_max_retry_delay_ms())
                                        * interval '1 millisecond'
                         else q.scheduled_at
                       end,
        completed_at = case when o.action = 'retry' then null else now() end,
        error_message = o.message,
        locked_by = null,
        lease_expires_at = null
    from outcome o
    where o.applies and q.id = o.q_id
    returning 1
  )
  select o.queue_id,
         case when o.q_id is null then null else o.new_log_id end,
         o.applies,
         case
           when o.q_id is null then null
           when o.already_recorded then o.recorded_status
           else o.log_status
         end
  from outcome o
  order by o.ord;
end;
$$;

-- public.recover_webhook_deliveries calls webhook_max_attempts, webhook_require_rule
create or replace function public.recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule uuid := recover_webhook_deliveries.routing_rule_id;
  v_count integer;
begin
  perform webhooks_private.webhook_require_rule(v_rule);
  if recover_webhook_deliveries.since is null then
    raise exception 'since must be a timestamp, e.g. now() - interval ''2 hours''' using errcode = 'invalid_parameter_value';
  end if;
  if recover_webhook_deliveries.until is null or recover_webhook_deliveries.until < recover_webhook_deliveries.since then
    raise exception 'until must be a timestamp not before since' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('webhook_recover:' || v_rule::text, 0));

  insert into public.webhook_configs (routing_rule_id) values (v_rule)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  -- A webhook-id keeps its rule through replays and recovers, so one pass over the
  -- rule's rows finds both the failed deliveries and the ids already settled.
  with rule_rows as materialized (
    select q.webhook_id, q.lead_id, q.payload, q.webhook_log_id, q.status, q.created_at
    from public.webhook_queue q
    where q.routing_rule_id = v_rule
  ),
  candidates as (
    select distinct on (r.webhook_id) r.webhook_id, r.lead_id, r.payload, r.webhook_log_id
    from rule_rows r
    where r.created_at >= recover_webhook_deliveries.since
      and r.created_at < recover_webhook_deliveries.until
      and r.status = 'failed'
      and r.lead_id is not null
      and r.webhook_id not in (select s.webhook_id from rule_rows s
                               where s.status in ('completed', 'pending', 'processing'))
    order by r.webhook_id, r.created_at desc
  ),
  inserted as (
    insert into public.webhook_queue
      (webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload, parent_log_id)
    select c.webhook_id, c.lead_id, v_rule, 0, 1, webhooks_private.webhook_max_attempts(v_rule), now(), c.payload, c.webhook_log_id
    from candidates c
    returning 1
  )
  select count(*) into v_count from inserted;

  if v_count > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return v_count;
end;
$$;

-- public.replay_webhook calls webhook_replay_log, webhook_rule_visible
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
  if v_routing_rule_id is null or not webhooks_private.webhook_rule_visible(v_routing_rule_id) then
    raise exception 'webhook log % not found', replay_webhook.log_id
      using errcode = 'no_data_found', hint = 'Pass the id of a row of webhook_logs for one of your routing rules.';
  end if;
  return webhooks_private.webhook_replay_log(replay_webhook.log_id);
end;
$$;

-- public.revoke_api_key calls webhook_caller_is_admin
create or replace function public.revoke_api_key(id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.api_keys k
  set revoked_at = coalesce(k.revoked_at, now())
  where k.id = revoke_api_key.id
    and (webhooks_private.webhook_caller_is_admin() or k.user_id = (select auth.uid()));
  if not found then
    raise exception 'API key % not found', revoke_api_key.id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your API keys (table api_keys).';
  end if;
end;
$$;

-- public.send_test_webhook calls webhook_hand_enqueue_owner, webhook_require_rule
create or replace function public.send_test_webhook(routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule public.routing_rules%rowtype;
  v_id uuid := gen_random_uuid();
  v_owner uuid;
begin
  perform webhooks_private.webhook_require_rule(send_test_webhook.routing_rule_id);
  select * into v_rule from public.routing_rules r where r.id = send_test_webhook.routing_rule_id;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_rule.id);

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload,
     enqueued_by)
  values (
    v_id, v_id, null, v_rule.id, 1000, 1, 1, now(),
    jsonb_build_object(
      'type', 'webhook.test',
      'timestamp', now(),
      'data', jsonb_build_object(
        'lead_id', '00000000-0000-0000-0000-000000000000'::uuid,
        'funnel_id', v_rule.funnel_id,
        'routing_rule_id', v_rule.id,
        'client_name', v_rule.client_name,
        'lead', jsonb_build_object('email', 'test.lead@example.com', 'name', 'Test Lead',
                                   'phone', '+10000000000', 'test', true),
        'created_at', now())),
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

-- public.update_webhook_config calls webhook_rule_visible
create or replace function public.update_webhook_config(routing_rule_id uuid, patch jsonb)
returns public.webhook_configs
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed constant text[] := array['custom_headers', 'timeout_ms', 'retry_enabled', 'max_retries',
                                   'retry_delay_ms', 'retry_backoff_multiplier', 'signing_secret',
                                   'paused', 'auto_pause_after_failures', 'secret_overlap_hours',
                                   'max_requests_per_second'];
  v_key text;
  v_value jsonb;
  v_row public.webhook_configs;
begin
  if not webhooks_private.webhook_rule_visible(update_webhook_config.routing_rule_id) then
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
    if v_key in ('timeout_ms', 'max_retries', 'retry_delay_ms', 'auto_pause_after_failures', 'secret_overlap_hours')
       and (jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
            or v_value::numeric not between -2147483648 and 2147483647) then
      raise exception 'invalid webhook config: % must be a whole number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key in ('retry_backoff_multiplier', 'max_requests_per_second') and jsonb_typeof(v_value) <> 'number' then
      raise exception 'invalid webhook config: % must be a number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key in ('retry_enabled', 'paused') and jsonb_typeof(v_value) <> 'boolean' then
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
                            else c.signing_secret end,
      auto_pause_after_failures = case when patch ? 'auto_pause_after_failures'
                                       then (patch ->> 'auto_pause_after_failures')::numeric::integer
                                       else c.auto_pause_after_failures end,
      secret_overlap_hours = case when patch ? 'secret_overlap_hours'
                                  then coalesce((patch ->> 'secret_overlap_hours')::numeric::integer, 24)
                                  else c.secret_overlap_hours end,
      max_requests_per_second = case when patch ? 'max_requests_per_second'
                                     then (patch ->> 'max_requests_per_second')::numeric
                                     else c.max_requests_per_second end,
      -- Pausing a paused rule keeps its first pause; resuming starts a fresh failure count.
      paused_at = case when not patch ? 'paused' then c.paused_at
                       when coalesce((patch ->> 'paused')::boolean, false) then coalesce(c.paused_at, now())
                       else null end,
      paused_reason = case when not patch ? 'paused' then c.paused_reason
                           when coalesce((patch ->> 'paused')::boolean, false) then coalesce(c.paused_reason, 'manual')
                           else null end,
      consecutive_failures = case when patch ? 'paused' and not coalesce((patch ->> 'paused')::boolean, false)
                                  then 0 else c.consecutive_failures end,
      failing_since = case when patch ? 'paused' and not coalesce((patch ->> 'paused')::boolean, false)
                           then null else c.failing_since end
  where c.routing_rule_id = update_webhook_config.routing_rule_id
  returning c.* into v_row;

  return v_row;
end;
$$;
