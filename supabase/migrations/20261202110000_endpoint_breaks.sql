-- When a client's endpoint breaks: held deliveries (paused rule, inactive rule,
-- funnel not active), manual and automatic pause, events, recover, cancel, test
-- deliveries, secret rotation with overlap and a per-rule rate limit at claim.
--
-- Holds are a flag on the queue row (`held`), kept true by triggers while the
-- delivery's rule is paused or inactive or its funnel is not active. The claim
-- index excludes held rows, so a held backlog costs the claim nothing.
-- Test deliveries (send_test_webhook) have lead_id null and are never held.

-- ===========================================================================
-- Columns
-- ===========================================================================
alter table public.webhook_configs
  add column paused_at timestamptz,
  add column paused_reason text,
  add column auto_pause_after_failures integer,
  add column secret_overlap_hours integer not null default 24,
  add column max_requests_per_second numeric,
  add column previous_signing_secret text,
  add column previous_secret_expires_at timestamptz,
  add column consecutive_failures integer not null default 0,
  add column failing_since timestamptz,
  add constraint webhook_configs_auto_pause_after_failures_check
    check (auto_pause_after_failures is null or auto_pause_after_failures between 1 and 10000),
  add constraint webhook_configs_secret_overlap_hours_check check (secret_overlap_hours between 0 and 168),
  add constraint webhook_configs_max_requests_per_second_check
    check (max_requests_per_second is null or max_requests_per_second between 0.1 and 10000);

create index webhook_configs_rate_limited_idx on public.webhook_configs (routing_rule_id)
  where max_requests_per_second is not null;

comment on column public.webhook_configs.paused_at is
  'Set while the rule is paused: its deliveries are held (pending, not attempted). Null: not paused.';
comment on column public.webhook_configs.paused_reason is
  'manual, or auto: ... when auto_pause_after_failures deliveries in a row failed.';
comment on column public.webhook_configs.consecutive_failures is
  'Deliveries of the rule that ended failed since its last success (kept by webhook_queue_outcomes).';
comment on column public.webhook_configs.previous_signing_secret is
  'The secret replaced last; requests are signed with it too until previous_secret_expires_at.';

-- Test deliveries have no lead: their logs and queue rows carry lead_id null.
alter table public.webhook_queue alter column lead_id drop not null;
alter table public.webhook_logs alter column lead_id drop not null;

alter table public.webhook_queue add column held boolean not null default false;
comment on column public.webhook_queue.held is
  'True while the pending delivery''s rule is paused or inactive, or its funnel is not active: not claimed.';

-- The claim reads only due, unheld rows; held ones are counted per rule.
drop index public.webhook_queue_claim_idx;
create index webhook_queue_claim_idx on public.webhook_queue (priority desc, scheduled_at)
  where status = 'pending' and not held;
create index webhook_queue_held_idx on public.webhook_queue (routing_rule_id)
  where status = 'pending' and held;
-- No other new index: claims and records update every index of a row they move
-- (the status changes), so each would cost every delivery; recover, a manual
-- call, reads one rule's rows through webhook_queue_routing_rule_id_idx.

-- ===========================================================================
-- Config validation of the new keys (webhook_configs_validate checks the others)
-- ===========================================================================
create or replace function public.webhook_configs_validate_breaker()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
  field text;
begin
  if new.auto_pause_after_failures is not null and new.auto_pause_after_failures not between 1 and 10000 then
    field := 'auto_pause_after_failures';
    problem := format('auto_pause_after_failures must be between 1 and 10000 (or null to turn it off), got %s',
                      new.auto_pause_after_failures);
  elsif new.secret_overlap_hours is null or new.secret_overlap_hours not between 0 and 168 then
    field := 'secret_overlap_hours';
    problem := format('secret_overlap_hours must be between 0 and 168 (hours), got %s',
                      coalesce(new.secret_overlap_hours::text, 'null'));
  elsif new.max_requests_per_second is not null and new.max_requests_per_second not between 0.1 and 10000 then
    field := 'max_requests_per_second';
    problem := format('max_requests_per_second must be between 0.1 and 10000 (or null for no limit), got %s',
                      new.max_requests_per_second);
  end if;
  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation', column = field, table = 'webhook_configs', schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_configs_validate_breaker() from public, anon, authenticated;

create trigger webhook_configs_validate_breaker
  before insert or update on public.webhook_configs
  for each row execute function public.webhook_configs_validate_breaker();

-- A changed secret keeps the old one valid for secret_overlap_hours, so receivers
-- can switch at their pace: requests carry both signatures meanwhile.
create or replace function public.webhook_configs_keep_previous_secret()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.signing_secret is distinct from old.signing_secret then
    if new.secret_overlap_hours > 0 then
      new.previous_signing_secret := old.signing_secret;
      new.previous_secret_expires_at := now() + make_interval(hours => new.secret_overlap_hours);
    else
      new.previous_signing_secret := null;
      new.previous_secret_expires_at := null;
    end if;
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_configs_keep_previous_secret() from public, anon, authenticated;

create trigger webhook_configs_keep_previous_secret
  before update of signing_secret on public.webhook_configs
  for each row execute function public.webhook_configs_keep_previous_secret();

-- ===========================================================================
-- webhook_events
-- ===========================================================================
create table public.webhook_events (
  id uuid primary key default gen_random_uuid(),
  routing_rule_id uuid not null references public.routing_rules (id) on delete cascade,
  funnel_id uuid references public.funnels (id) on delete cascade,
  type text not null,
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint webhook_events_type_check check (type in ('rule.paused', 'rule.resumed', 'delivery.failed'))
);

comment on table public.webhook_events is
  'What happened to a rule: rule.paused, rule.resumed, delivery.failed. Written by the system; purged with the logs.';

create index webhook_events_routing_rule_id_created_at_idx on public.webhook_events (routing_rule_id, created_at desc);
create index webhook_events_created_at_idx on public.webhook_events (created_at);
create index webhook_events_funnel_id_idx on public.webhook_events (funnel_id);

alter table public.webhook_events enable row level security;
revoke all on table public.webhook_events from anon, authenticated;
grant select on table public.webhook_events to authenticated;
grant all on table public.webhook_events to service_role;

create policy webhook_events_owner_select on public.webhook_events
  for select to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

do $$
begin
  if exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    alter publication supabase_realtime add table public.webhook_events;
  end if;
end
$$;

-- ===========================================================================
-- Holds
-- ===========================================================================
-- The rules among `rule_ids` whose deliveries are held now.
create or replace function public.webhook_held_rules(rule_ids uuid[])
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = any (rule_ids)
    and (not r.is_active or f.status <> 'active' or c.paused_at is not null)
$$;

revoke execute on function public.webhook_held_rules(uuid[]) from public, anon, authenticated, service_role;

-- Sets `held` on the pending deliveries of these rules to what the rules say now;
-- wakes the workers when deliveries are released.
create or replace function public.webhook_refresh_held(rule_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- Arrays, not subqueries: the planner then reads the rules' rows by index.
  v_held uuid[] := array(select public.webhook_held_rules(rule_ids));
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

revoke execute on function public.webhook_refresh_held(uuid[]) from public, anon, authenticated, service_role;

create or replace function public.webhook_rules_hold_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.webhook_refresh_held(array[new.id]);
  return null;
end;
$$;

revoke execute on function public.webhook_rules_hold_changed() from public, anon, authenticated, service_role;

create trigger routing_rules_webhook_hold
  after update of is_active, funnel_id on public.routing_rules
  for each row when (old.is_active is distinct from new.is_active or old.funnel_id is distinct from new.funnel_id)
  execute function public.webhook_rules_hold_changed();

create or replace function public.webhook_funnels_hold_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.webhook_refresh_held(array(select r.id from public.routing_rules r where r.funnel_id = new.id));
  return null;
end;
$$;

revoke execute on function public.webhook_funnels_hold_changed() from public, anon, authenticated, service_role;

create trigger funnels_webhook_hold
  after update of status on public.funnels
  for each row when (old.status is distinct from new.status)
  execute function public.webhook_funnels_hold_changed();

-- Pause and resume: events, and the rule's deliveries held or released.
create or replace function public.webhook_configs_pause_changed()
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
  perform public.webhook_refresh_held(array[new.routing_rule_id]);
  return null;
end;
$$;

revoke execute on function public.webhook_configs_pause_changed() from public, anon, authenticated, service_role;

create trigger webhook_configs_pause_changed
  after update of paused_at on public.webhook_configs
  for each row when (old.paused_at is distinct from new.paused_at)
  execute function public.webhook_configs_pause_changed();

create trigger webhook_configs_inserted_paused
  after insert on public.webhook_configs
  for each row when (new.paused_at is not null)
  execute function public.webhook_configs_pause_changed();

-- New deliveries (lead inserts, enqueue_webhook, replays, recover) of a held rule
-- are held from the start. One statement-level pass; nothing to do when no rule of
-- the statement is held.
create or replace function public.webhook_queue_hold_new()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_held uuid[] := array(select public.webhook_held_rules(array(select distinct n.routing_rule_id from new_rows n)));
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

revoke execute on function public.webhook_queue_hold_new() from public, anon, authenticated, service_role;

create trigger webhook_queue_hold_new
  after insert on public.webhook_queue
  referencing new table as new_rows
  for each statement execute function public.webhook_queue_hold_new();

-- ===========================================================================
-- Outcomes: delivery.failed events, the failure streak and auto-pause
-- ===========================================================================
-- A statement-level pass over the rows a statement updated (record, release,
-- requeue): deliveries that ended through an attempt (their latest log changed)
-- update their rule's streak of failed deliveries and write delivery.failed
-- events; a streak of auto_pause_after_failures pauses the rule. Within one
-- batch a success and failures of the same rule have no order: any success
-- resets the streak. Deliveries back in pending whose rule is held are held.
-- Updates made by triggers (hold flips) are skipped: they end no delivery.
create or replace function public.webhook_queue_outcomes()
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

  v_held := array(select public.webhook_held_rules(
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

revoke execute on function public.webhook_queue_outcomes() from public, anon, authenticated, service_role;

create trigger webhook_queue_outcomes
  after update on public.webhook_queue
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.webhook_queue_outcomes();

-- ===========================================================================
-- Rate limit: one token bucket per limited rule
-- ===========================================================================
-- tokens: what the rule may start now, refilled at max_requests_per_second up to
-- one second's worth. It goes below zero for deliveries the claim put off to the
-- time their token is due (rate_reserved on the queue row): those start then
-- without taking another token.
create table public.webhook_rate_buckets (
  routing_rule_id uuid primary key references public.routing_rules (id) on delete cascade,
  tokens double precision not null,
  updated_at timestamptz not null default now()
);

comment on table public.webhook_rate_buckets is
  'Token bucket per rule with max_requests_per_second, kept by claim_webhook_jobs.';

alter table public.webhook_rate_buckets enable row level security;
revoke all on table public.webhook_rate_buckets from anon, authenticated;
grant all on table public.webhook_rate_buckets to service_role;

alter table public.webhook_queue add column rate_reserved boolean not null default false;
comment on column public.webhook_queue.rate_reserved is
  'Its rule''s token was taken when the claim put it off to scheduled_at: it starts then without another.';

-- ===========================================================================
-- claim_webhook_jobs
-- ===========================================================================
-- As before (expired leases first, then due pending work in claim order, SKIP
-- LOCKED), plus: held rows are never taken (the claim index excludes them);
-- deliveries of a rate-limited rule beyond its tokens are put off to when their
-- token is due, and the claim looks further for other rules' work; `queue_ids`
-- restricts the claim to those deliveries; the previous secret is returned while
-- it is valid.
drop function public.claim_webhook_jobs(text, integer, integer);

create or replace function public.claim_webhook_jobs(
  worker_id text,
  max_jobs integer,
  lease_seconds integer,
  queue_ids uuid[] default null
)
returns table (
  queue_id uuid,
  webhook_id uuid,
  lead_id uuid,
  routing_rule_id uuid,
  attempt_number integer,
  max_attempts integer,
  payload text,
  webhook_url text,
  custom_headers jsonb,
  timeout_ms integer,
  retry_enabled boolean,
  retry_delay_ms integer,
  retry_backoff_multiplier numeric,
  signing_secret text,
  claimed_at timestamptz,
  previous_signing_secret text
)
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
      and (q.lead_id is null or q.routing_rule_id not in (select public.webhook_held_rules(array[q.routing_rule_id])))
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
    v_now_granted := public.webhook_take_tokens(v_picked);
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

revoke execute on function public.claim_webhook_jobs(text, integer, integer, uuid[]) from public, anon, authenticated;
grant execute on function public.claim_webhook_jobs(text, integer, integer, uuid[]) to service_role;

-- Of `picked` (pending rows locked by the caller), the ids that may start now:
-- every row of an unlimited rule, rows that hold a reserved token, and as many
-- others as their rule's bucket has whole tokens. The rest are put off to when
-- their token is due (and reserve it). Buckets are locked in rule id order.
create or replace function public.webhook_take_tokens(picked uuid[])
returns uuid[]
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_limited uuid[];
  v_granted uuid[];
begin
  select coalesce(array_agg(distinct q.routing_rule_id), '{}') into v_limited
  from public.webhook_queue q
  join public.webhook_configs c on c.routing_rule_id = q.routing_rule_id
  where q.id = any (picked) and c.max_requests_per_second is not null and not q.rate_reserved;

  if cardinality(v_limited) = 0 then
    return picked;
  end if;

  insert into public.webhook_rate_buckets (routing_rule_id, tokens, updated_at)
  select c.routing_rule_id, greatest(c.max_requests_per_second, 1), now()
  from public.webhook_configs c
  where c.routing_rule_id = any (v_limited)
  on conflict (routing_rule_id) do nothing;

  with buckets as materialized (
    select b.routing_rule_id,
           c.max_requests_per_second::double precision as rate,
           least(greatest(c.max_requests_per_second::double precision, 1),
                 b.tokens + extract(epoch from now() - b.updated_at) * c.max_requests_per_second::double precision)
             as available
    from public.webhook_rate_buckets b
    join public.webhook_configs c on c.routing_rule_id = b.routing_rule_id
    where b.routing_rule_id = any (v_limited)
    order by b.routing_rule_id
    for update of b
  ),
  ranked as materialized (
    select q.id, q.routing_rule_id, b.rate, b.available,
           row_number() over (partition by q.routing_rule_id order by q.priority desc, q.scheduled_at, q.id) as rn,
           count(*) over (partition by q.routing_rule_id) as wanted
    from public.webhook_queue q
    join buckets b on b.routing_rule_id = q.routing_rule_id
    where q.id = any (picked) and not q.rate_reserved
  ),
  spent as (
    update public.webhook_rate_buckets b
    set tokens = k.available - k.wanted, updated_at = now()
    from (select distinct r.routing_rule_id, r.available, r.wanted from ranked r) k
    where b.routing_rule_id = k.routing_rule_id
    returning 1
  ),
  put_off as (
    update public.webhook_queue q
    set scheduled_at = now() + make_interval(secs => (r.rn - r.available) / r.rate),
        rate_reserved = true
    from ranked r
    where q.id = r.id and r.rn > floor(r.available)
    returning q.id
  )
  -- spent and put_off run although nothing reads them (data-modifying CTEs always do).
  select coalesce(array_agg(p.id), '{}') into v_granted
  from unnest(picked) as p(id)
  where p.id not in (select r.id from ranked r where r.rn > floor(r.available));

  return v_granted;
end;
$$;

revoke execute on function public.webhook_take_tokens(uuid[]) from public, anon, authenticated, service_role;

-- ===========================================================================
-- Recover, cancel, test
-- ===========================================================================
create or replace function public.webhook_require_rule(p_routing_rule_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if p_routing_rule_id is null or not public.webhook_rule_visible(p_routing_rule_id) then
    raise exception 'routing rule % not found', p_routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
end;
$$;

revoke execute on function public.webhook_require_rule(uuid) from public, anon, authenticated, service_role;

-- Re-enqueues, with their webhook-id and payload, the failed deliveries of the rule
-- created in [since, until) whose webhook-id has no completed, pending or
-- processing delivery (so a second call sends nothing twice). Test deliveries are
-- left out. Each goes out as a replay of its last attempt.
create or replace function public.recover_webhook_deliveries(
  routing_rule_id uuid,
  since timestamptz,
  until timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule uuid := recover_webhook_deliveries.routing_rule_id;
  v_count integer;
begin
  perform public.webhook_require_rule(v_rule);
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
    select c.webhook_id, c.lead_id, v_rule, 0, 1, public.webhook_max_attempts(v_rule), now(), c.payload, c.webhook_log_id
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

revoke execute on function public.recover_webhook_deliveries(uuid, timestamptz, timestamptz) from public, anon;
grant execute on function public.recover_webhook_deliveries(uuid, timestamptz, timestamptz) to authenticated, service_role;

-- Every pending delivery of the rule, held or due, ends failed as `cancelled`
-- without an attempt. Deliveries being attempted right now are left to finish.
create or replace function public.cancel_webhook_deliveries(routing_rule_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  perform public.webhook_require_rule(cancel_webhook_deliveries.routing_rule_id);
  update public.webhook_queue q
  set status = 'failed', error_message = 'cancelled', completed_at = now(), held = false, rate_reserved = false
  where q.routing_rule_id = cancel_webhook_deliveries.routing_rule_id and q.status = 'pending';
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

revoke execute on function public.cancel_webhook_deliveries(uuid) from public, anon;
grant execute on function public.cancel_webhook_deliveries(uuid) to authenticated, service_role;

-- One attempt of a sample payload to the rule's URL with its config and signature,
-- sent even while the rule is paused. lead_id is null in its queue row and log; the
-- X-Lead-ID header and the payload carry the nil uuid.
create or replace function public.send_test_webhook(routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rule public.routing_rules%rowtype;
  v_id uuid := gen_random_uuid();
begin
  perform public.webhook_require_rule(send_test_webhook.routing_rule_id);
  select * into v_rule from public.routing_rules r where r.id = send_test_webhook.routing_rule_id;

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload)
  values (
    v_id, v_id, null, v_rule.id, 2147483647, 1, 1, now(),
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
        'created_at', now())));

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;

revoke execute on function public.send_test_webhook(uuid) from public, anon;
grant execute on function public.send_test_webhook(uuid) to authenticated, service_role;

-- ===========================================================================
-- Reads for the CLI and metrics
-- ===========================================================================
-- Per rule that is paused or has held deliveries: why, and how many are held.
create or replace function public.webhook_held_summary()
returns table (
  routing_rule_id uuid,
  client_name text,
  held bigint,
  reason text,
  paused_at timestamptz,
  paused_reason text
)
language sql
stable
security definer
set search_path = ''
as $$
  with counts as (
    select q.routing_rule_id, count(*) as held
    from public.webhook_queue q
    where q.status = 'pending' and q.held
    group by q.routing_rule_id
  )
  select r.id, r.client_name, coalesce(n.held, 0),
         case when c.paused_at is not null then 'paused'
              when not r.is_active then 'rule inactive'
              when f.status <> 'active' then 'funnel ' || f.status
              else 'released' end,
         c.paused_at, c.paused_reason
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  left join public.webhook_configs c on c.routing_rule_id = r.id
  left join counts n on n.routing_rule_id = r.id
  where n.held is not null or c.paused_at is not null
  order by coalesce(n.held, 0) desc, r.id
$$;

revoke execute on function public.webhook_held_summary() from public, anon, authenticated;
grant execute on function public.webhook_held_summary() to service_role;

-- ===========================================================================
-- update_webhook_config: the new keys
-- ===========================================================================
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

revoke execute on function public.update_webhook_config(uuid, jsonb) from public, anon;
grant execute on function public.update_webhook_config(uuid, jsonb) to authenticated, service_role;

-- ===========================================================================
-- Purge: events go with the logs
-- ===========================================================================
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

  delete from public.webhook_events e where e.created_at < v_cutoff;

  return removed;
end;
$$;

revoke execute on function public.purge_webhook_logs() from public, anon, authenticated;
grant execute on function public.purge_webhook_logs() to service_role;
