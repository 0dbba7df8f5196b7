-- API keys for server-to-server clients: a funnel owner creates a key (shown once,
-- stored as its sha256), and the api_* functions accept it in the x-api-key header
-- with scopes and a per-key rate limit. Refusals are PostgREST `PGRST` errors, so
-- the HTTP status is 401, 403, 404 or 429 as appropriate.

-- ===========================================================================
-- Tables
-- ===========================================================================
create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null,
  key_prefix text not null,
  key_hash text not null,
  scopes text[] not null default '{webhooks:read,webhooks:replay}',
  rate_limit_per_minute integer not null default 60,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now(),
  constraint api_keys_key_hash_key unique (key_hash),
  constraint api_keys_key_hash_check check (key_hash ~ '^[0-9a-f]{64}$'),
  constraint api_keys_name_check check (length(btrim(name)) between 1 and 200),
  constraint api_keys_scopes_check check (
    cardinality(scopes) > 0 and scopes <@ '{webhooks:read,webhooks:replay}'::text[]
  ),
  constraint api_keys_rate_limit_per_minute_check check (rate_limit_per_minute between 1 and 10000)
);

comment on column public.api_keys.key_hash is 'sha256 of the key in hex; the key itself is shown once by create_api_key() and never stored.';
comment on column public.api_keys.key_prefix is 'First characters of the key, to recognise it in lists.';

create index api_keys_user_id_idx on public.api_keys (user_id);

create table public.api_rate_limit_log (
  id bigint generated always as identity primary key,
  api_key_id uuid not null references public.api_keys (id) on delete cascade,
  endpoint text not null,
  created_at timestamptz not null default now()
);

comment on table public.api_rate_limit_log is 'One row per accepted api_* call, for the per-key limit; purged hourly.';

create index api_rate_limit_log_api_key_id_created_at_idx on public.api_rate_limit_log (api_key_id, created_at);
create index api_rate_limit_log_created_at_idx on public.api_rate_limit_log (created_at);

-- ===========================================================================
-- PostgREST errors
-- ===========================================================================
-- Raises SQLSTATE PGRST: PostgREST answers with p_status, the JSON of the message
-- as body and p_headers as response headers. Outside PostgREST the SQLSTATE and
-- the JSON still say what went wrong.
create or replace function public.api_http_error(
  p_status integer,
  p_code text,
  p_message text,
  p_hint text default null,
  p_headers jsonb default '{}'::jsonb
)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object('code', p_code, 'message', p_message, 'details', null, 'hint', p_hint)::text,
    detail = json_build_object('status', p_status, 'headers', coalesce(p_headers, '{}'::jsonb))::text;
end;
$$;

revoke execute on function public.api_http_error(integer, text, text, text, jsonb) from public, anon, authenticated, service_role;

-- ===========================================================================
-- Key authentication and rate limit
-- ===========================================================================
-- Checks the x-api-key header for p_scope and the key's per-minute limit, counts
-- the call and returns the key's user. The key row is locked for the rest of the
-- transaction, so concurrent calls with one key are counted one after another.
-- A refused call raises, which rolls back its count along with everything else.
create or replace function public.api_key_authenticate(p_scope text, p_endpoint text)
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
    perform public.api_http_error(401, 'api_key_missing', 'API key missing',
                                  'Send your key (bpc_...) in the x-api-key header.');
  end if;

  select * into v_key
  from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex')
  for update;

  if v_key.id is null then
    perform public.api_http_error(401, 'api_key_invalid', 'API key not recognised',
                                  'Check the key, or create a new one with create_api_key().');
  elsif v_key.revoked_at is not null then
    perform public.api_http_error(401, 'api_key_revoked', 'API key has been revoked',
                                  'Create a new key with create_api_key().');
  elsif v_key.expires_at is not null and v_key.expires_at <= now() then
    perform public.api_http_error(401, 'api_key_expired', 'API key has expired',
                                  'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform public.api_http_error(403, 'api_key_scope_missing',
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
    perform public.api_http_error(
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

revoke execute on function public.api_key_authenticate(text, text) from public, anon, authenticated, service_role;

-- True when the rule belongs to one of the user's funnels.
create or replace function public.api_user_owns_rule(p_user_id uuid, p_routing_rule_id uuid)
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
    where r.id = p_routing_rule_id and f.owner_id = p_user_id
  )
$$;

revoke execute on function public.api_user_owns_rule(uuid, uuid) from public, anon, authenticated, service_role;

-- ===========================================================================
-- create_api_key / revoke_api_key
-- ===========================================================================
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
    raise exception 'scopes must list at least one of webhooks:read, webhooks:replay'
      using errcode = 'invalid_parameter_value', column = 'scopes';
  end if;
  select s into v_unknown
  from unnest(create_api_key.scopes) as s
  where s is null or s not in ('webhooks:read', 'webhooks:replay')
  limit 1;
  if found then
    raise exception 'scopes: unknown scope % (allowed: webhooks:read, webhooks:replay)', coalesce(to_json(v_unknown)::text, 'null')
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
    and (public.webhook_caller_is_admin() or k.user_id = (select auth.uid()));
  if not found then
    raise exception 'API key % not found', revoke_api_key.id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your API keys (table api_keys).';
  end if;
end;
$$;

revoke execute on function public.revoke_api_key(uuid) from public, anon;
grant execute on function public.revoke_api_key(uuid) to authenticated, service_role;

-- ===========================================================================
-- Key-authenticated endpoints
-- ===========================================================================
create or replace function public.api_webhook_logs(routing_rule_id uuid, status text default null, max_rows integer default 50)
returns setof public.webhook_logs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_key_authenticate('webhooks:read', 'api_webhook_logs');
begin
  if api_webhook_logs.status is not null
     and not api_webhook_logs.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform public.api_http_error(400, 'invalid_parameter',
                                  format('status must be one of pending, success, failed, retrying; got %s',
                                         to_json(api_webhook_logs.status)::text));
  end if;
  if api_webhook_logs.max_rows is null or api_webhook_logs.max_rows not between 1 and 1000 then
    perform public.api_http_error(400, 'invalid_parameter',
                                  format('max_rows must be between 1 and 1000, got %s',
                                         coalesce(api_webhook_logs.max_rows::text, 'null')));
  end if;
  if not public.api_user_owns_rule(v_user_id, api_webhook_logs.routing_rule_id) then
    perform public.api_http_error(404, 'not_found',
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

revoke execute on function public.api_webhook_logs(uuid, text, integer) from public;
grant execute on function public.api_webhook_logs(uuid, text, integer) to anon, authenticated, service_role;

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
  v_user_id uuid := public.api_key_authenticate('webhooks:read', 'api_webhook_stats');
begin
  if api_webhook_stats.days is null or api_webhook_stats.days not between 1 and 36500 then
    perform public.api_http_error(400, 'invalid_parameter',
                                  format('days must be between 1 and 36500, got %s',
                                         coalesce(api_webhook_stats.days::text, 'null')));
  end if;
  if not public.api_user_owns_rule(v_user_id, api_webhook_stats.routing_rule_id) then
    perform public.api_http_error(404, 'not_found',
                                  format('routing rule %s not found', api_webhook_stats.routing_rule_id));
  end if;
  return query select * from public.webhook_stats_for_rule(api_webhook_stats.routing_rule_id, api_webhook_stats.days);
end;
$$;

revoke execute on function public.api_webhook_stats(uuid, integer) from public;
grant execute on function public.api_webhook_stats(uuid, integer) to anon, authenticated, service_role;

create or replace function public.api_replay_webhook(log_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_key_authenticate('webhooks:replay', 'api_replay_webhook');
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
-- Purge
-- ===========================================================================
-- The limit looks back 60 seconds; an hour of history is plenty for debugging.
create or replace function public.purge_api_rate_limit_log()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  removed bigint;
begin
  delete from public.api_rate_limit_log r where r.created_at < now() - interval '1 hour';
  get diagnostics removed = row_count;
  return removed;
end;
$$;

revoke execute on function public.purge_api_rate_limit_log() from public, anon, authenticated;
grant execute on function public.purge_api_rate_limit_log() to service_role;
