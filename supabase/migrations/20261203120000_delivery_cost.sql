-- Less database work per delivery in the worker's two calls, claim_webhook_jobs and
-- record_webhook_attempts, with the same arguments, answers and guarantees.
-- bench/RESULTS.md ("Database cost per delivery, second round") has the measurements.
--
-- 1. The two bookkeeping foreign keys that only record writes,
--    webhook_logs.queue_id -> webhook_queue and webhook_queue.webhook_log_id ->
--    webhook_logs, become triggers that forget the reference when the referenced rows
--    are deleted or truncated (their ON DELETE SET NULL, kept). Each key cost an index
--    probe and a row lock per log insert, and the check of webhook_log_id could keep a
--    sequential-scan plan made while webhook_logs was empty. PostgREST can no longer
--    embed one table in the other by these keys (README, "Upgrading").
-- 2. The outcome work (delivery.failed events, consecutive-failure counting and
--    auto-pause, holding retries of held rules) is done by record itself for its own
--    results. The statement-level trigger with transition tables, which copied every
--    updated queue row (claims included) to find the few that ended, becomes two row
--    triggers whose WHEN clauses fire only for other writers' rows that end or return
--    a delivery: cancel, release, requeue_stale, defer, hand-written updates.
-- 3. record reads its argument with one jsonb_to_recordset instead of a
--    jsonb_to_record per element, and inserts first sends without ON CONFLICT.
-- 4. claim_webhook_jobs commits without waiting for its WAL to be flushed (set local
--    synchronous_commit = off): a claim lost to a crash only leaves the delivery as it
--    was, and a durable record implies a durable claim (WAL order).
-- 5. webhook_logs.request_body is compressed with lz4 where the server has it: a ~1 KB
--    lead's log row then fits without a TOAST table (one heap insert, not two plus a
--    TOAST index insert).

-- ===========================================================================
-- 1. Bookkeeping references without foreign keys
-- ===========================================================================
alter table public.webhook_logs drop constraint webhook_logs_queue_id_fkey;
alter table public.webhook_queue drop constraint webhook_queue_webhook_log_id_fkey;

create function webhooks_private.webhook_queue_forget_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- An array, not a subquery: the planner then reads the logs by webhook_logs_queue_id_idx.
  update public.webhook_logs l
  set queue_id = null
  where l.queue_id = any (array(select d.id from deleted_rows d));
  return null;
end;
$$;

create function webhooks_private.webhook_logs_forget_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.webhook_queue q
  set webhook_log_id = null
  where q.webhook_log_id = any (array(select d.id from deleted_rows d));
  return null;
end;
$$;

create function webhooks_private.webhook_queue_forget_truncated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.webhook_logs l set queue_id = null where l.queue_id is not null;
  return null;
end;
$$;

create function webhooks_private.webhook_logs_forget_truncated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.webhook_queue q set webhook_log_id = null where q.webhook_log_id is not null;
  return null;
end;
$$;

create trigger webhook_queue_forget_deleted
after delete on public.webhook_queue
referencing old table as deleted_rows
for each statement execute function webhooks_private.webhook_queue_forget_deleted();

create trigger webhook_queue_forget_truncated
after truncate on public.webhook_queue
for each statement execute function webhooks_private.webhook_queue_forget_truncated();

create trigger webhook_logs_forget_deleted
after delete on public.webhook_logs
referencing old table as deleted_rows
for each statement execute function webhooks_private.webhook_logs_forget_deleted();

create trigger webhook_logs_forget_truncated
after truncate on public.webhook_logs
for each statement execute function webhooks_private.webhook_logs_forget_truncated();

revoke all on function
  webhooks_private.webhook_queue_forget_deleted(),
  webhooks_private.webhook_logs_forget_deleted(),
  webhooks_private.webhook_queue_forget_truncated(),
  webhooks_private.webhook_logs_forget_truncated()
from public, anon, authenticated, service_role;

comment on column public.webhook_logs.queue_id is
  'The delivery (webhook_queue.id) this attempt belongs to; null once that row is deleted. Kept by triggers, not a foreign key.';
comment on column public.webhook_queue.webhook_log_id is
  'The latest attempt''s log (webhook_logs.id); null once that log is deleted. Kept by triggers, not a foreign key.';

-- ===========================================================================
-- 2. Outcomes: row triggers for every writer but record
-- ===========================================================================
-- record_webhook_attempts runs with webhooks.recording = on (its SET clause, undone
-- when it returns); the triggers' WHEN clauses skip its rows, whose outcomes it
-- writes itself.
drop trigger webhook_queue_outcomes on public.webhook_queue;

-- A delivery back to pending from processing (release, requeue_stale, defer, a
-- hand-written update) on a held rule is held, as one enqueued there is.
create function webhooks_private.webhook_queue_hold_returned()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.routing_rule_id in (select webhooks_private.webhook_held_rules(array[new.routing_rule_id])) then
    new.held := true;
  end if;
  return new;
end;
$$;

-- A delivery that ended with a new log by any writer but record: its delivery.failed
-- event, the rule's consecutive failures (tests excluded) and the auto-pause.
create or replace function webhooks_private.webhook_queue_outcomes()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Updates made by other triggers end nothing (as before: a trigger's own writes).
  if pg_trigger_depth() > 1 then
    return null;
  end if;

  if new.status = 'failed' then
    insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
    select new.routing_rule_id, r.funnel_id, 'delivery.failed',
           jsonb_build_object('queue_id', new.id, 'webhook_id', new.webhook_id, 'lead_id', new.lead_id,
                              'log_id', new.webhook_log_id, 'attempts', new.attempt_number,
                              'error_type', l.error_type, 'error_message', new.error_message,
                              'response_status', l.response_status, 'test', new.lead_id is null)
    from public.routing_rules r
    left join public.webhook_logs l on l.id = new.webhook_log_id
    where r.id = new.routing_rule_id;
  end if;

  if new.lead_id is not null then
    update public.webhook_configs c
    set consecutive_failures = case when new.status = 'completed' then 0
                                    else least(c.consecutive_failures + 1, 2147483647) end,
        failing_since = case when new.status = 'completed' then null else coalesce(c.failing_since, now()) end
    where c.routing_rule_id = new.routing_rule_id
      and (new.status = 'failed' or c.consecutive_failures > 0);
  end if;

  if new.status = 'failed' then
    update public.webhook_configs c
    set paused_at = now(),
        paused_reason = format('auto: %s deliveries in a row failed since %s',
                               c.consecutive_failures, to_char(c.failing_since at time zone 'UTC',
                                                               'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    where c.routing_rule_id = new.routing_rule_id
      and c.paused_at is null
      and c.auto_pause_after_failures is not null
      and c.consecutive_failures >= c.auto_pause_after_failures;
  end if;
  return null;
end;
$$;

create trigger webhook_queue_hold_returned
before update on public.webhook_queue
for each row
when (new.status = 'pending' and old.status = 'processing' and not new.held and new.lead_id is not null
      and current_setting('webhooks.recording', true) is distinct from 'on')
execute function webhooks_private.webhook_queue_hold_returned();

create trigger webhook_queue_outcomes
after update on public.webhook_queue
for each row
when (new.status in ('completed', 'failed') and old.status in ('processing', 'pending')
      and new.webhook_log_id is distinct from old.webhook_log_id
      and current_setting('webhooks.recording', true) is distinct from 'on')
execute function webhooks_private.webhook_queue_outcomes();

revoke all on function webhooks_private.webhook_queue_hold_returned()
from public, anon, authenticated, service_role;

-- ===========================================================================
-- 3. record_webhook_attempts: one parse of its argument, plain inserts for first
--    sends, its own outcomes
-- ===========================================================================
create or replace function public.record_webhook_attempts(results jsonb)
returns table (queue_id uuid, log_id uuid, applied boolean, status text)
language plpgsql
security definer
set search_path = ''
set webhooks.recording = 'on'
as $$
#variable_conflict use_column
declare
  -- First sends are inserted without ON CONFLICT; should one's log_id exist after all
  -- (a result marked first_send by mistake), the call is made again with ON CONFLICT
  -- for every result, the mark still sparing the lookup (tests/db/test_record_resend.py).
  v_plain boolean := true;
  v_queue_ids uuid[];
  v_log_ids uuid[];
  v_applied boolean[];
  v_statuses text[];
begin
  if results is null or jsonb_typeof(results) <> 'array' then
    raise exception 'results must be a JSON array of attempt results' using errcode = 'invalid_parameter_value';
  end if;

  loop
    begin
      with input as (
        -- One pass over the array: each header map is copied out once, not twice.
        select x.*
        from rows from (jsonb_to_recordset(record_webhook_attempts.results) as (
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
        )) with ordinality as x(queue_id, worker_id, attempt_number, webhook_url, request_headers,
                               response_status, response_headers, response_body, duration_ms, success,
                               error_type, error_message, retry_in_ms, log_id, first_send, status, ord)
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
               coalesce(i.first_send, false) as first,
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
      -- A first send's log_id is new (the sidecar made it for this attempt): a plain insert.
      first_logs as (
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
        where o.q_id is not null and o.first and v_plain
        returning 1
      ),
      -- A resend may find its log already written by the call it repeats.
      resent_logs as (
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
        where o.q_id is not null and not (o.first and v_plain) and not o.already_recorded
        on conflict (id) do nothing
        returning 1
      ),
      -- Retries of a held rule (paused, inactive, funnel not active) go back held; the
      -- rules are looked up only when there is a retry of a lead's delivery.
      held_rules as (
        select case
                 when exists (select 1 from outcome o where o.applies and o.action = 'retry' and o.q_lead_id is not null)
                   then array(select webhooks_private.webhook_held_rules(array(
                          select distinct o.q_routing_rule_id from outcome o
                          where o.applies and o.action = 'retry' and o.q_lead_id is not null)))
                 else '{}'::uuid[]
               end as ids
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
            lease_expires_at = null,
            held = case
                     when o.action = 'retry' and q.lead_id is not null and q.routing_rule_id = any (h.ids) then true
                     else q.held
                   end
        from outcome o, held_rules h
        where o.applies and q.id = o.q_id
        returning 1
      ),
      -- Each delivery that ended failed: its delivery.failed event (tests too).
      failed_events as (
        insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
        select o.q_routing_rule_id, r.funnel_id, 'delivery.failed',
               jsonb_build_object('queue_id', o.q_id, 'webhook_id', o.q_webhook_id, 'lead_id', o.q_lead_id,
                                  'log_id', o.new_log_id, 'attempts', o.attempt_number,
                                  'error_type', case when o.ok then null else o.error_type end,
                                  'error_message', o.message,
                                  'response_status', o.response_status, 'test', o.q_lead_id is null)
        from outcome o
        join public.routing_rules r on r.id = o.q_routing_rule_id
        where o.applies and o.action = 'fail'
        returning 1
      ),
      -- Per rule, over this call's ended deliveries: a success among leads' deliveries
      -- resets the count of failures in a row, else their failures add to it; a rule with
      -- a failure (a test's too) at or past auto_pause_after_failures is paused.
      per_rule as (
        select o.q_routing_rule_id as routing_rule_id,
               bool_or(o.q_lead_id is not null) as counts,
               bool_or(o.q_lead_id is not null and o.action = 'complete') as any_success,
               count(*) filter (where o.q_lead_id is not null and o.action = 'fail') as failures,
               bool_or(o.action = 'fail') as any_failed
        from outcome o
        where o.applies and o.action in ('complete', 'fail')
        group by o.q_routing_rule_id
      ),
      next_count as (
        select p.*, c.routing_rule_id as c_rule,
               case
                 when not p.counts then c.consecutive_failures
                 when p.any_success then 0
                 else least(c.consecutive_failures + p.failures, 2147483647)
               end as failures_now,
               case
                 when not p.counts then c.failing_since
                 when p.any_success then null
                 else coalesce(c.failing_since, now())
               end as since_now
        from per_rule p
        join public.webhook_configs c on c.routing_rule_id = p.routing_rule_id
      ),
      next_config as (
        select n.*,
               n.any_failed and c.paused_at is null and c.auto_pause_after_failures is not null
                 and n.failures_now >= c.auto_pause_after_failures as pauses,
               n.failures_now is distinct from c.consecutive_failures or n.since_now is distinct from c.failing_since
                 as changes
        from next_count n
        join public.webhook_configs c on c.routing_rule_id = n.c_rule
      ),
      counted as (
        update public.webhook_configs c
        set consecutive_failures = n.failures_now,
            failing_since = n.since_now,
            paused_at = case when n.pauses then now() else c.paused_at end,
            paused_reason = case
                              when n.pauses
                                then format('auto: %s deliveries in a row failed since %s',
                                            n.failures_now, to_char(n.since_now at time zone 'UTC',
                                                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                              else c.paused_reason
                            end
        from next_config n
        where c.routing_rule_id = n.c_rule and (n.pauses or n.changes)
        returning 1
      )
      select array_agg(o.queue_id order by o.ord),
             array_agg(case when o.q_id is null then null else o.new_log_id end order by o.ord),
             array_agg(o.applies order by o.ord),
             array_agg(case
                         when o.q_id is null then null
                         when o.already_recorded then o.recorded_status
                         else o.log_status
                       end order by o.ord)
      into v_queue_ids, v_log_ids, v_applied, v_statuses
      from outcome o;
      exit;
    exception when unique_violation then
      if not v_plain then
        raise;
      end if;
      v_plain := false;
    end;
  end loop;

  return query select * from unnest(v_queue_ids, v_log_ids, v_applied, v_statuses);
end;
$$;

-- ===========================================================================
-- 4. claim_webhook_jobs: its commit does not wait for the WAL flush
-- ===========================================================================
-- Body as in 20261203100000_private_schema.sql but for the `set local` after `begin`.
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
  -- A claim lost to a crash leaves its deliveries as they were (pending, or an expired
  -- lease): they are claimed again, at least once still holds. The record that follows
  -- commits after it in WAL order, so a durable record implies a durable claim. For the
  -- rest of the calling transaction (the worker calls this alone, in its own).
  set local synchronous_commit = off;
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

-- ===========================================================================
-- 5. The log's request_body compressed with lz4
-- ===========================================================================
-- A log row is ~2.1 KB with a ~1 KB lead, over the 2 KB TOAST threshold: pglz found
-- too little to save in request_body, which then went to the TOAST table (a second
-- heap insert and a TOAST index insert per attempt). lz4 is cheaper to try and keeps
-- what it saves, so such a row fits in the page as one insert (bench/RESULTS.md:
-- less CPU and ~350 bytes less WAL per delivery than storage main or a higher
-- toast_tuple_target). A server built without lz4 keeps pglz. Rows written before
-- keep theirs; values read the same.
do $$
begin
  alter table public.webhook_logs alter column request_body set compression lz4;
exception when feature_not_supported then
  raise notice 'this server has no lz4: webhook_logs.request_body keeps the default compression';
end;
$$;
