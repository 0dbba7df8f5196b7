-- Stats from hourly rollups. Every change to webhook_logs adjusts one row per
-- (routing rule, UTC hour) in webhook_stats_hourly in the same transaction, so
-- get_webhook_stats and api_webhook_stats read at most one hour of raw logs (the
-- partial hour at the start of the window) plus a few hundred rollup rows, however
-- many logs the table holds. The answers are exactly those of the raw aggregate.
--
-- Triggers keep the rollup equal to the logs: statement-level on INSERT and DELETE
-- (transition tables, one aggregate per statement, whatever the batch size),
-- row-level on UPDATE only when a counted column changes (purge's ON DELETE SET
-- NULL updates of parent_log_id and queue_id cost nothing), and TRUNCATE empties
-- the rollup. Like every user trigger they do not fire under
-- session_replication_role = replica, where a data-only restore brings the
-- rollup's own rows; after loading logs that way, call webhook_stats_rebuild().

-- ===========================================================================
-- webhook_stats_hourly
-- ===========================================================================
create table public.webhook_stats_hourly (
  routing_rule_id uuid not null,
  hour timestamptz not null,
  total_calls bigint not null,
  success_calls bigint not null,
  duration_sum bigint not null,
  duration_count bigint not null,
  constraint webhook_stats_hourly_pkey primary key (routing_rule_id, hour)
) with (fillfactor = 70);  -- the current hour's row is updated by every batch: room for HOT updates

comment on table public.webhook_stats_hourly is
  'Per routing rule and UTC hour (date_trunc(''hour'', created_at, ''UTC'')): the attempts of webhook_logs, '
  'kept equal to them by triggers. duration_sum and duration_count cover the attempts that have a duration.';

-- ===========================================================================
-- Maintenance triggers on webhook_logs
-- ===========================================================================
-- Buckets are UTC hours so that every session, whatever its TimeZone, agrees on them.
--
-- Concurrent writers of the same buckets serialise on the rollup rows. Every
-- statement below takes those row locks in (routing_rule_id, hour) order, so
-- transactions that write logs in one statement (record_webhook_attempts, purge)
-- cannot deadlock each other on the rollup.
create or replace function public.webhook_stats_add_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.webhook_stats_hourly as h
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select n.routing_rule_id,
         date_trunc('hour', n.created_at, 'UTC'),
         count(*),
         count(*) filter (where n.status = 'success'),
         coalesce(sum(n.duration_ms), 0),
         count(n.duration_ms)
  from inserted_logs n
  group by 1, 2
  order by 1, 2
  on conflict (routing_rule_id, hour) do update
  set total_calls = h.total_calls + excluded.total_calls,
      success_calls = h.success_calls + excluded.success_calls,
      duration_sum = h.duration_sum + excluded.duration_sum,
      duration_count = h.duration_count + excluded.duration_count;
  return null;
end;
$$;

revoke execute on function public.webhook_stats_add_inserted() from public, anon, authenticated, service_role;

-- Subtracts through the same ordered upsert as inserts (one lock order for both).
-- Its insert branch only matches buckets that exist, so a rollup that was bypassed
-- (logs loaded in replica mode) never gets negative rows; buckets left empty go.
create or replace function public.webhook_stats_remove_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  emptied_rules uuid[];
  emptied_hours timestamptz[];
begin
  with gone as (
    select d.routing_rule_id,
           date_trunc('hour', d.created_at, 'UTC') as hour,
           count(*) as total_calls,
           count(*) filter (where d.status = 'success') as success_calls,
           coalesce(sum(d.duration_ms), 0) as duration_sum,
           count(d.duration_ms) as duration_count
    from deleted_logs d
    group by 1, 2
  ),
  applied as (
    insert into public.webhook_stats_hourly as h
      (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
    select g.routing_rule_id, g.hour, -g.total_calls, -g.success_calls, -g.duration_sum, -g.duration_count
    from gone g
    where exists (select 1 from public.webhook_stats_hourly e
                  where e.routing_rule_id = g.routing_rule_id and e.hour = g.hour)
    order by 1, 2
    on conflict (routing_rule_id, hour) do update
    set total_calls = h.total_calls + excluded.total_calls,
        success_calls = h.success_calls + excluded.success_calls,
        duration_sum = h.duration_sum + excluded.duration_sum,
        duration_count = h.duration_count + excluded.duration_count
    returning h.routing_rule_id, h.hour, h.total_calls
  )
  select array_agg(a.routing_rule_id), array_agg(a.hour)
  into emptied_rules, emptied_hours
  from applied a
  where a.total_calls <= 0;

  if emptied_rules is not null then
    delete from public.webhook_stats_hourly h
    using unnest(emptied_rules, emptied_hours) as z(routing_rule_id, hour)
    where h.routing_rule_id = z.routing_rule_id and h.hour = z.hour and h.total_calls <= 0;
  end if;
  return null;
end;
$$;

revoke execute on function public.webhook_stats_remove_deleted() from public, anon, authenticated, service_role;

-- An update that changes what is counted moves the attempt: out of its old bucket,
-- into its new one (the same bucket when only status or duration changed).
create or replace function public.webhook_stats_move_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.webhook_stats_hourly as h
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select c.routing_rule_id, c.hour, sum(c.total_calls), sum(c.success_calls), sum(c.duration_sum),
         sum(c.duration_count)
  from (values
          (old.routing_rule_id, date_trunc('hour', old.created_at, 'UTC'), -1,
           -(old.status = 'success')::integer, -coalesce(old.duration_ms, 0)::bigint,
           -(old.duration_ms is not null)::integer),
          (new.routing_rule_id, date_trunc('hour', new.created_at, 'UTC'), 1,
           (new.status = 'success')::integer, coalesce(new.duration_ms, 0)::bigint,
           (new.duration_ms is not null)::integer)
       ) as c(routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  group by 1, 2
  order by 1, 2
  on conflict (routing_rule_id, hour) do update
  set total_calls = h.total_calls + excluded.total_calls,
      success_calls = h.success_calls + excluded.success_calls,
      duration_sum = h.duration_sum + excluded.duration_sum,
      duration_count = h.duration_count + excluded.duration_count;

  delete from public.webhook_stats_hourly h
  where h.routing_rule_id = old.routing_rule_id
    and h.hour = date_trunc('hour', old.created_at, 'UTC')
    and h.total_calls <= 0;
  return null;
end;
$$;

revoke execute on function public.webhook_stats_move_updated() from public, anon, authenticated, service_role;

create or replace function public.webhook_stats_clear()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  truncate public.webhook_stats_hourly;
  return null;
end;
$$;

revoke execute on function public.webhook_stats_clear() from public, anon, authenticated, service_role;

create trigger webhook_stats_add_inserted
  after insert on public.webhook_logs
  referencing new table as inserted_logs
  for each statement execute function public.webhook_stats_add_inserted();

create trigger webhook_stats_remove_deleted
  after delete on public.webhook_logs
  referencing old table as deleted_logs
  for each statement execute function public.webhook_stats_remove_deleted();

create trigger webhook_stats_move_updated
  after update on public.webhook_logs
  for each row
  when (old.routing_rule_id is distinct from new.routing_rule_id
        or old.created_at is distinct from new.created_at
        or old.status is distinct from new.status
        or old.duration_ms is distinct from new.duration_ms)
  execute function public.webhook_stats_move_updated();

create trigger webhook_stats_clear
  after truncate on public.webhook_logs
  for each statement execute function public.webhook_stats_clear();

-- ===========================================================================
-- webhook_stats_rebuild: the rollup recomputed from the logs
-- ===========================================================================
-- For logs written with the triggers bypassed (replica mode, disabled triggers).
-- Log writers wait until it commits; readers of the old rollup do not. Returns the
-- number of buckets written.
create or replace function public.webhook_stats_rebuild()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  written bigint;
begin
  lock table public.webhook_logs in share mode;
  delete from public.webhook_stats_hourly;
  insert into public.webhook_stats_hourly
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select l.routing_rule_id,
         date_trunc('hour', l.created_at, 'UTC'),
         count(*),
         count(*) filter (where l.status = 'success'),
         coalesce(sum(l.duration_ms), 0),
         count(l.duration_ms)
  from public.webhook_logs l
  group by 1, 2;
  get diagnostics written = row_count;
  return written;
end;
$$;

revoke execute on function public.webhook_stats_rebuild() from public, anon, authenticated;
grant execute on function public.webhook_stats_rebuild() to service_role;

-- The logs already in the table. The triggers above hold webhook_logs against
-- writers until this migration commits, so no attempt is counted twice or missed.
select public.webhook_stats_rebuild();

-- ===========================================================================
-- Row level security: owners read their rules' buckets; only the triggers write
-- ===========================================================================
alter table public.webhook_stats_hourly enable row level security;

revoke all on table public.webhook_stats_hourly from public, anon, authenticated, service_role;
grant select on table public.webhook_stats_hourly to authenticated, service_role;

create policy webhook_stats_hourly_owner_select on public.webhook_stats_hourly
  for select to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

-- ===========================================================================
-- Stats
-- ===========================================================================
-- The aggregate behind get_webhook_stats and api_webhook_stats (their access checks
-- are unchanged). The window is created_at >= now() - days, as before: the whole
-- UTC hours inside it come from the rollup, the part of an hour before the first
-- whole one from the logs (through webhook_logs_routing_rule_id_created_at_idx).
-- Rate and average are computed with the same numeric operations as the raw
-- aggregate, so the rounded results are identical.
create or replace function public.webhook_stats_for_rule(p_routing_rule_id uuid, p_days integer)
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
declare
  v_since timestamptz := now() - make_interval(days => p_days);
  v_first_hour timestamptz := date_trunc('hour', v_since, 'UTC');
  v_total bigint;
  v_success bigint;
  v_duration_sum numeric;
  v_duration_count bigint;
begin
  if v_first_hour < v_since then
    v_first_hour := v_first_hour + interval '1 hour';
  end if;

  select coalesce(sum(p.total_calls), 0)::bigint,
         coalesce(sum(p.success_calls), 0)::bigint,
         coalesce(sum(p.duration_sum), 0),
         coalesce(sum(p.duration_count), 0)::bigint
  into v_total, v_success, v_duration_sum, v_duration_count
  from (
    select h.total_calls, h.success_calls, h.duration_sum, h.duration_count
    from public.webhook_stats_hourly h
    where h.routing_rule_id = p_routing_rule_id
      and h.hour >= v_first_hour
    union all
    select count(*),
           count(*) filter (where l.status = 'success'),
           coalesce(sum(l.duration_ms), 0),
           count(l.duration_ms)
    from public.webhook_logs l
    where l.routing_rule_id = p_routing_rule_id
      and l.created_at >= v_since
      and l.created_at < v_first_hour
  ) as p;

  return query
  select v_total,
         v_success,
         v_total - v_success,
         round(case when v_duration_count = 0 then 0::numeric
                    else v_duration_sum / v_duration_count::numeric end, 2),
         case
           when v_total = 0 then 0.00
           else round(100.0 * v_success / v_total, 2)
         end;
end;
$$;

revoke execute on function public.webhook_stats_for_rule(uuid, integer) from public, anon, authenticated, service_role;
