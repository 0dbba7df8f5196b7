-- Enqueueing deliveries: who may act on a routing rule, the statement-level lead
-- insert trigger (one set-based pass however many leads a statement inserts) and
-- enqueue_webhook() for enqueueing a lead by hand.

-- ===========================================================================
-- Caller helpers
-- ===========================================================================
-- Functions for people run as security definer, so they decide themselves whose
-- data the caller may touch. `role` is the role PostgREST (or `set role`) switched
-- to before the call; it is not changed by entering a security definer function.
-- anon and authenticated callers are funnel owners identified by auth.uid();
-- service_role, and connections that never switched role (Studio, psql, the
-- sidecar's direct connection), act for every owner.
create or replace function public.webhook_caller_is_admin()
returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
         not in ('anon', 'authenticated', 'authenticator')
$$;

revoke execute on function public.webhook_caller_is_admin() from public, anon, authenticated, service_role;

-- True when the routing rule exists and the caller may act on it.
create or replace function public.webhook_rule_visible(p_routing_rule_id uuid)
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
      and (public.webhook_caller_is_admin() or f.owner_id = (select auth.uid()))
  )
$$;

revoke execute on function public.webhook_rule_visible(uuid) from public, anon, authenticated, service_role;

-- The max_attempts a delivery gets from its rule's config (or the defaults).
create or replace function public.webhook_max_attempts(p_routing_rule_id uuid)
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select case when c.retry_enabled then c.max_retries + 1 else 1 end
     from public.webhook_configs c
     where c.routing_rule_id = p_routing_rule_id),
    4)
$$;

revoke execute on function public.webhook_max_attempts(uuid) from public, anon, authenticated, service_role;

-- ===========================================================================
-- Lead insert trigger
-- ===========================================================================
-- One statement-level pass over the inserted leads: every active rule of an active
-- funnel whose condition is {} or contained in the lead's data gets one delivery.
-- The payload is frozen here; one NOTIFY wakes the workers for the whole statement.
create or replace function public.webhook_enqueue_new_leads()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  enqueued bigint;
begin
  -- Every rule that can receive these leads gets its config row, and with it a
  -- signing secret, before any delivery of it can be claimed.
  insert into public.webhook_configs (routing_rule_id)
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id and f.status = 'active'
  where r.is_active
    and r.funnel_id in (select nl.funnel_id from new_leads nl)
    and not exists (select 1 from public.webhook_configs c where c.routing_rule_id = r.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  with matched as materialized (
    select gen_random_uuid() as id,
           nl.id as lead_id,
           nl.funnel_id,
           nl.data,
           nl.created_at,
           r.id as routing_rule_id,
           r.client_name,
           case when coalesce(c.retry_enabled, true) then coalesce(c.max_retries, 3) + 1 else 1 end as max_attempts
    from new_leads nl
    join public.funnels f on f.id = nl.funnel_id and f.status = 'active'
    join public.routing_rules r
      on r.funnel_id = nl.funnel_id
     and r.is_active
     and (r.condition is null or r.condition = '{}'::jsonb or nl.data @> r.condition)
    left join public.webhook_configs c on c.routing_rule_id = r.id
  ),
  inserted as (
    insert into public.webhook_queue
      (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload)
    select m.id, m.id, m.lead_id, m.routing_rule_id, 0, 1, m.max_attempts, now(),
           jsonb_build_object(
             'type', 'lead.created',
             'timestamp', now(),
             'data', jsonb_build_object(
               'lead_id', m.lead_id,
               'funnel_id', m.funnel_id,
               'routing_rule_id', m.routing_rule_id,
               'client_name', m.client_name,
               'lead', m.data,
               'created_at', m.created_at))
    from matched m
    returning 1
  )
  select count(*) into enqueued from inserted;

  if enqueued > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return null;
end;
$$;

revoke execute on function public.webhook_enqueue_new_leads() from public, anon, authenticated, service_role;

create or replace trigger leads_enqueue_webhooks
  after insert on public.leads
  referencing new table as new_leads
  for each statement
  execute function public.webhook_enqueue_new_leads();

-- ===========================================================================
-- enqueue_webhook
-- ===========================================================================
-- Enqueues one new delivery of a lead to a rule of the lead's funnel, whatever the
-- rule's condition and active flag: an explicit request. Returns the delivery id.
create or replace function public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer default 0)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule public.routing_rules%rowtype;
  v_lead public.leads%rowtype;
  v_id uuid := gen_random_uuid();
begin
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

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload)
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
        'created_at', v_lead.created_at)));

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

revoke execute on function public.enqueue_webhook(uuid, uuid, integer) from public, anon;
grant execute on function public.enqueue_webhook(uuid, uuid, integer) to authenticated, service_role;
