-- The functions behind HTTP API v1 (`webhook-sidecar serve`). Each one runs as the
-- caller: a funnel owner signed in with a Supabase JWT (role authenticated, their
-- claims), or a server-to-server client with a bpc_ key (role anon, the key in the
-- x-api-key header). The HTTP server never filters rows; these functions decide.
-- Refusals are PostgREST `PGRST` errors carrying the HTTP status (api_http_error).

-- ===========================================================================
-- The webhooks:write scope (config changes, pause, cancel)
-- ===========================================================================
alter table public.api_keys drop constraint api_keys_scopes_check;
alter table public.api_keys add constraint api_keys_scopes_check check (
  cardinality(scopes) > 0 and scopes <@ '{webhooks:read,webhooks:replay,webhooks:write}'::text[]
);

create or replace function public.create_api_key(
  name text,
  scopes text[] default '{webhooks:read,webhooks:replay}',
  expires_at timestamptz default null,
  rate_limit_per_minute integer default 60
)
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
begin
  if v_user_id is null then
    perform public.api_http_error(401, 'not_authenticated', 'sign in to create an API key',
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

  v_plain := 'bpc_' || encode(extensions.gen_random_bytes(24), 'hex');
  insert into public.api_keys (user_id, name, key_prefix, key_hash, scopes, expires_at, rate_limit_per_minute)
  values (v_user_id, btrim(create_api_key.name), left(v_plain, 12),
          encode(sha256(convert_to(v_plain, 'UTF8')), 'hex'),
          (select array_agg(distinct s order by s) from unnest(create_api_key.scopes) as s),
          create_api_key.expires_at, create_api_key.rate_limit_per_minute);
  return v_plain;
end;
$$;

revoke execute on function public.create_api_key(text, text[], timestamptz, integer) from public, anon;
grant execute on function public.create_api_key(text, text[], timestamptz, integer) to authenticated, service_role;

-- ===========================================================================
-- Who is calling
-- ===========================================================================
-- The user an api_* call acts for: the owner of the x-api-key (checked for p_scope,
-- counted against its limit), else the signed-in owner (role authenticated with a
-- sub claim). Anyone else is refused with 401.
create or replace function public.api_caller(p_scope text, p_endpoint text)
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
    return public.api_key_authenticate(p_scope, p_endpoint);
  end if;
  if coalesce(nullif(current_setting('role', true), 'none'), session_user::text) = 'authenticated' then
    v_uid := auth.uid();
    if v_uid is not null then
      return v_uid;
    end if;
    perform public.api_http_error(401, 'not_authenticated', 'the access token has no sub claim',
                                  'Sign in again to get a user access token.');
  end if;
  perform public.api_http_error(401, 'not_authenticated', 'API key or access token missing',
                                'Send Authorization: Bearer <bpc_ key or Supabase access token>.');
  return null;
end;
$$;

revoke execute on function public.api_caller(text, text) from public, anon, authenticated, service_role;

-- The same checks without counting the call, for the short polls of one accepted
-- call (a replay waiting for its attempt): the limit counts requests, not polls.
create or replace function public.api_caller_uncounted(p_scope text)
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
    return public.api_caller(p_scope, 'uncounted');  -- a JWT caller: nothing is counted anyway
  end if;
  select * into v_key from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex');
  if v_key.id is null or v_key.revoked_at is not null
     or (v_key.expires_at is not null and v_key.expires_at <= now()) then
    perform public.api_http_error(401, 'api_key_invalid', 'API key not recognised, revoked or expired',
                                  'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform public.api_http_error(403, 'api_key_scope_missing', format('API key lacks the %s scope', p_scope),
                                  format('Create a key whose scopes include %s.', p_scope));
  end if;
  return v_key.user_id;
end;
$$;

revoke execute on function public.api_caller_uncounted(text) from public, anon, authenticated, service_role;

-- Lets the owner-facing functions (which decide with auth.uid()) run for a key's
-- owner: the claims of this transaction become that user's. Callers check first.
create or replace function public.api_act_as(p_user_id uuid)
returns void
language sql
set search_path = ''
as $$
  select set_config('request.jwt.claims', json_build_object('sub', p_user_id, 'role', 'authenticated')::text, true),
         set_config('request.jwt.claim.sub', p_user_id::text, true)
$$;

revoke execute on function public.api_act_as(uuid) from public, anon, authenticated, service_role;

create or replace function public.api_require_rule(p_user_id uuid, p_routing_rule_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if p_routing_rule_id is null or not public.api_user_owns_rule(p_user_id, p_routing_rule_id) then
    perform public.api_http_error(404, 'not_found', format('routing rule %s not found', p_routing_rule_id),
                                  'Pass the id of one of your routing rules (GET /api/v1/webhooks/rules).');
  end if;
end;
$$;

revoke execute on function public.api_require_rule(uuid, uuid) from public, anon, authenticated, service_role;

-- ===========================================================================
-- Rules
-- ===========================================================================
-- paused_at / paused_reason are read through to_jsonb(c) so that this function
-- works before and after webhook_configs gains those columns.
create or replace function public.api_webhook_rules()
returns table (
  routing_rule_id uuid,
  funnel_id uuid,
  funnel_name text,
  funnel_status text,
  client_name text,
  webhook_url text,
  is_active boolean,
  paused_at timestamptz,
  paused_reason text,
  created_at timestamptz,
  pending_deliveries bigint,
  held_deliveries bigint
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_rules');
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

revoke execute on function public.api_webhook_rules() from public;
grant execute on function public.api_webhook_rules() to anon, authenticated, service_role;

-- ===========================================================================
-- Logs: a time window and a keyset cursor on (created_at, id), newest first
-- ===========================================================================
-- A page continues strictly below (before_created_at, before_id), so rows logged
-- while a client pages (newer ones) never shift or repeat what it has not seen.
-- It replaces webhook_logs_routing_rule_id_created_at_idx, of which it is an extension:
-- the stats' raw-log reads use it just as well, and each logged attempt keeps one
-- index to maintain, not two.
create index webhook_logs_routing_rule_id_created_at_id_idx
  on public.webhook_logs (routing_rule_id, created_at desc, id desc);
drop index public.webhook_logs_routing_rule_id_created_at_idx;

create or replace function public.api_webhook_log_page(
  routing_rule_id uuid default null,
  status text default null,
  since timestamptz default null,
  until timestamptz default null,
  max_rows integer default 50,
  before_created_at timestamptz default null,
  before_id uuid default null
)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_log_page');
begin
  if api_webhook_log_page.status is not null
     and not api_webhook_log_page.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform public.api_http_error(400, 'invalid_parameter',
      format('status must be one of pending, success, failed, retrying; got %s', to_json(api_webhook_log_page.status)::text));
  end if;
  if api_webhook_log_page.max_rows is null or api_webhook_log_page.max_rows not between 1 and 1000 then
    perform public.api_http_error(400, 'invalid_parameter',
      format('limit must be between 1 and 1000, got %s', coalesce(api_webhook_log_page.max_rows::text, 'null')));
  end if;
  if (api_webhook_log_page.before_created_at is null) <> (api_webhook_log_page.before_id is null) then
    perform public.api_http_error(400, 'invalid_parameter', 'cursor must give both a time and an id');
  end if;
  if api_webhook_log_page.routing_rule_id is null then
    if v_headers is not null and nullif(btrim(v_headers::json ->> 'x-api-key'), '') is not null then
      perform public.api_http_error(400, 'invalid_parameter', 'routing_rule_id is required with an API key');
    end if;
  else
    perform public.api_require_rule(v_user_id, api_webhook_log_page.routing_rule_id);
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

revoke execute on function public.api_webhook_log_page(uuid, text, timestamptz, timestamptz, integer, timestamptz, uuid) from public;
grant execute on function public.api_webhook_log_page(uuid, text, timestamptz, timestamptz, integer, timestamptz, uuid) to anon, authenticated, service_role;

-- One log and its retry chain: every attempt sharing its webhook-id (the first
-- delivery, its retries, replays and their retries), oldest first. The log itself
-- is one of the rows; another owner's log is "not found".
create or replace function public.api_webhook_log_chain(log_id uuid)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_log_chain');
  v_log public.webhook_logs%rowtype;
begin
  select * into v_log from public.webhook_logs l where l.id = api_webhook_log_chain.log_id;
  if v_log.id is null or not public.api_user_owns_rule(v_user_id, v_log.routing_rule_id) then
    perform public.api_http_error(404, 'not_found', format('webhook log %s not found', api_webhook_log_chain.log_id));
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

revoke execute on function public.api_webhook_log_chain(uuid) from public;
grant execute on function public.api_webhook_log_chain(uuid) to anon, authenticated, service_role;

-- The first attempt of a delivery (none yet: no row), for a replay waiting on it.
create or replace function public.api_webhook_delivery_attempt(delivery_id uuid)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller_uncounted('webhooks:replay');
  v_rule uuid;
begin
  select q.routing_rule_id into v_rule from public.webhook_queue q where q.id = api_webhook_delivery_attempt.delivery_id;
  if v_rule is null or not public.api_user_owns_rule(v_user_id, v_rule) then
    perform public.api_http_error(404, 'not_found', format('delivery %s not found', api_webhook_delivery_attempt.delivery_id));
  end if;
  return query
  select l.* from public.webhook_logs l
  where l.queue_id = api_webhook_delivery_attempt.delivery_id
  order by l.attempt_number
  limit 1;
end;
$$;

revoke execute on function public.api_webhook_delivery_attempt(uuid) from public;
grant execute on function public.api_webhook_delivery_attempt(uuid) to anon, authenticated, service_role;

-- ===========================================================================
-- Stats, and the per-hour or per-day series of the dashboard's chart
-- ===========================================================================
-- Now for signed-in owners too; API keys as before.
create or replace function public.api_webhook_stats(routing_rule_id uuid, days integer default 7)
returns table (
  total_calls bigint,
  success_calls bigint,
  failed_calls bigint,
  avg_duration_ms numeric,
  success_rate numeric
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_stats');
begin
  if api_webhook_stats.days is null or api_webhook_stats.days not between 1 and 36500 then
    perform public.api_http_error(400, 'invalid_parameter',
                                  format('days must be between 1 and 36500, got %s',
                                         coalesce(api_webhook_stats.days::text, 'null')));
  end if;
  perform public.api_require_rule(v_user_id, api_webhook_stats.routing_rule_id);
  return query select * from public.webhook_stats_for_rule(api_webhook_stats.routing_rule_id, api_webhook_stats.days);
end;
$$;

revoke execute on function public.api_webhook_stats(uuid, integer) from public;
grant execute on function public.api_webhook_stats(uuid, integer) to anon, authenticated, service_role;

-- From the hourly rollup (webhook_stats_hourly): one row per UTC hour or day that
-- has attempts, from the bucket holding now() - days. Not counted: it is always
-- asked together with api_webhook_stats.
create or replace function public.api_webhook_stats_series(routing_rule_id uuid, days integer default 7, bucket text default 'day')
returns table (
  bucket_start timestamptz,
  total_calls bigint,
  success_calls bigint,
  failed_calls bigint,
  avg_duration_ms numeric
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller_uncounted('webhooks:read');
begin
  if api_webhook_stats_series.bucket is null or api_webhook_stats_series.bucket not in ('hour', 'day') then
    perform public.api_http_error(400, 'invalid_parameter',
      format('series must be hour or day, got %s', coalesce(to_json(api_webhook_stats_series.bucket)::text, 'null')));
  end if;
  if api_webhook_stats_series.days is null or api_webhook_stats_series.days not between 1 and 36500 then
    perform public.api_http_error(400, 'invalid_parameter',
      format('days must be between 1 and 36500, got %s', coalesce(api_webhook_stats_series.days::text, 'null')));
  end if;
  perform public.api_require_rule(v_user_id, api_webhook_stats_series.routing_rule_id);
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

revoke execute on function public.api_webhook_stats_series(uuid, integer, text) from public;
grant execute on function public.api_webhook_stats_series(uuid, integer, text) to anon, authenticated, service_role;

-- ===========================================================================
-- Replay
-- ===========================================================================
create or replace function public.api_replay_webhook(log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:replay', 'api_replay_webhook');
  v_routing_rule_id uuid;
begin
  select l.routing_rule_id into v_routing_rule_id from public.webhook_logs l where l.id = api_replay_webhook.log_id;
  if v_routing_rule_id is null or not public.api_user_owns_rule(v_user_id, v_routing_rule_id) then
    perform public.api_http_error(404, 'not_found', format('webhook log %s not found', api_replay_webhook.log_id));
  end if;
  return public.webhook_replay_log(api_replay_webhook.log_id);
end;
$$;

revoke execute on function public.api_replay_webhook(uuid) from public;
grant execute on function public.api_replay_webhook(uuid) to anon, authenticated, service_role;

-- ===========================================================================
-- Config
-- ===========================================================================
-- The effective config (defaults where the rule has no row), every column of
-- webhook_configs included, the signing secret masked unless p_show_secret.
create or replace function public.api_config_view(p_routing_rule_id uuid, p_show_secret boolean)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
           'custom_headers', '{}'::jsonb, 'timeout_ms', 10000, 'retry_enabled', true, 'max_retries', 3,
           'retry_delay_ms', 1000, 'retry_backoff_multiplier', 2.0, 'signing_secret', null,
           'created_at', null, 'updated_at', null)
         || coalesce(to_jsonb(c) - 'id', '{}'::jsonb)
         || jsonb_build_object(
              'routing_rule_id', r.id, 'client_name', r.client_name, 'webhook_url', r.webhook_url,
              'is_active', r.is_active, 'has_config_row', c.id is not null,
              'signing_secret', case when c.signing_secret is null then null
                                     when p_show_secret then c.signing_secret
                                     else left(c.signing_secret, 10) || '…' end)
  from public.routing_rules r
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = p_routing_rule_id
$$;

revoke execute on function public.api_config_view(uuid, boolean) from public, anon, authenticated, service_role;

create or replace function public.api_webhook_config(routing_rule_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_config');
begin
  perform public.api_require_rule(v_user_id, api_webhook_config.routing_rule_id);
  return public.api_config_view(api_webhook_config.routing_rule_id, false);
end;
$$;

revoke execute on function public.api_webhook_config(uuid) from public;
grant execute on function public.api_webhook_config(uuid) to anon, authenticated, service_role;

-- Applies the patch with update_webhook_config (its checks and messages, which
-- name the field), as the owner. The secret is shown in full only when the patch
-- changed it.
create or replace function public.api_update_webhook_config(routing_rule_id uuid, patch jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:write', 'api_update_webhook_config');
begin
  perform public.api_require_rule(v_user_id, api_update_webhook_config.routing_rule_id);
  perform public.api_act_as(v_user_id);
  perform public.update_webhook_config(api_update_webhook_config.routing_rule_id, api_update_webhook_config.patch);
  return public.api_config_view(api_update_webhook_config.routing_rule_id,
                                coalesce(jsonb_typeof(api_update_webhook_config.patch) = 'object'
                                         and api_update_webhook_config.patch ? 'signing_secret', false));
end;
$$;

revoke execute on function public.api_update_webhook_config(uuid, jsonb) from public;
grant execute on function public.api_update_webhook_config(uuid, jsonb) to anon, authenticated, service_role;
