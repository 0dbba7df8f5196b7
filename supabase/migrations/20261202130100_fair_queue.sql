-- One tenant cannot stop, slow or expose another: enqueue priorities are bounded and
-- always below replays, deliveries made by hand are limited per owner, API keys per
-- user; owners cannot delete a config (the claim would recreate it with a new
-- secret), and anon/authenticated lose TRIGGER, TRUNCATE and REFERENCES on the tables
-- these migrations create. README "Limits" lists every number.

-- ===========================================================================
-- Who enqueued a delivery by hand
-- ===========================================================================
-- The funnel owner, for deliveries an owner (or an owner's API key) asked for with
-- enqueue_webhook or a replay; null for the system's (lead inserts, service_role, Studio).
alter table public.webhook_queue add column if not exists enqueued_by uuid;

comment on column public.webhook_queue.enqueued_by is
  'Owner who enqueued this delivery by hand (enqueue_webhook, replay); null for the system''s.';

create index if not exists webhook_queue_enqueued_by_pending_idx
  on public.webhook_queue (enqueued_by) where status = 'pending' and enqueued_by is not null;

-- The owner a hand-made delivery of this rule is counted against (null for admins),
-- refused once that owner has 1000 pending ones. Callers check visibility first.
create or replace function public.webhook_hand_enqueue_owner(p_routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_owner uuid;
  v_pending bigint;
begin
  if public.webhook_caller_is_admin() then
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

revoke execute on function public.webhook_hand_enqueue_owner(uuid) from public, anon, authenticated, service_role;

-- ===========================================================================
-- enqueue_webhook: priority -100..100 for everyone, below replays (1000)
-- ===========================================================================
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
  if not public.webhook_rule_visible(enqueue_webhook.routing_rule_id) then
    raise exception 'routing rule % not found', enqueue_webhook.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  select * into v_rule from public.routing_rules r where r.id = enqueue_webhook.routing_rule_id;
  select * into v_lead from public.leads l where l.id = enqueue_webhook.lead_id;
  if v_lead.id is null or v_lead.funnel_id <> v_rule.funnel_id then
    raise exception 'lead % not found in the funnel of routing rule %', enqueue_webhook.lead_id, v_rule.id
      using errcode = 'no_data_found', hint = 'A lead can only be delivered to the rules of its own funnel.';
  end if;
  v_owner := public.webhook_hand_enqueue_owner(v_rule.id);

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload,
     enqueued_by)
  values (
    v_id, v_id, v_lead.id, v_rule.id, coalesce(enqueue_webhook.priority, 0), 1,
    public.webhook_max_attempts(v_rule.id), now(),
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

revoke execute on function public.enqueue_webhook(uuid, uuid, integer) from public, anon;
grant execute on function public.enqueue_webhook(uuid, uuid, integer) to authenticated, service_role;

-- ===========================================================================
-- Replays: a fixed priority, 1000, above the highest priority enqueue_webhook allows
-- ===========================================================================
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
  v_owner uuid;
  v_id uuid := gen_random_uuid();
begin
  select * into v_log from public.webhook_logs l where l.id = p_log_id;
  if v_log.id is null then
    raise exception 'webhook log % not found', p_log_id using errcode = 'no_data_found';
  end if;
  v_owner := public.webhook_hand_enqueue_owner(v_log.routing_rule_id);

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
    public.webhook_max_attempts(v_log.routing_rule_id),
    now(),
    coalesce(v_log.request_body, v_payload),
    v_log.id,
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

revoke execute on function public.webhook_replay_log(uuid) from public, anon, authenticated, service_role;

-- Pending work asked for under the old rules comes back inside the new range.
update public.webhook_queue set priority = 100
where status = 'pending' and parent_log_id is null and priority > 100;
update public.webhook_queue set priority = -100
where status = 'pending' and parent_log_id is null and priority < -100;
update public.webhook_queue set priority = 1000
where status = 'pending' and parent_log_id is not null and priority <> 1000;

-- ===========================================================================
-- create_api_key: at most 100 active keys per user (redefined from 20261202120000)
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
  allowed constant text[] := '{webhooks:read,webhooks:replay,webhooks:write}';
  v_user_id uuid := auth.uid();
  v_unknown text;
  v_plain text;
  v_active bigint;
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

revoke execute on function public.create_api_key(text, text[], timestamptz, integer) from public, anon;
grant execute on function public.create_api_key(text, text[], timestamptz, integer) to authenticated, service_role;

-- ===========================================================================
-- Grants
-- ===========================================================================
-- A deleted config would come back from the next claim with a fresh secret, silently
-- breaking verification of pending retries: owners change or reset a config through
-- update_webhook_config (a null value restores that key's default) instead.
revoke delete on table public.webhook_configs from authenticated;

-- Supabase's default privileges give anon and authenticated everything on new tables;
-- no API caller needs to add triggers, truncate, or reference these tables.
do $$
declare
  t text;
begin
  foreach t in array array['funnels', 'routing_rules', 'leads', 'webhook_configs', 'webhook_logs',
                           'webhook_queue', 'api_keys', 'api_rate_limit_log', 'webhook_settings',
                           'webhook_stats_hourly', 'webhook_events'] loop
    if to_regclass('public.' || t) is not null then
      execute format('revoke trigger, truncate, references on table public.%I from anon, authenticated', t);
    end if;
  end loop;
end
$$;
