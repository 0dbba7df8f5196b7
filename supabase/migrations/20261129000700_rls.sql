-- Row level security on every table, and table privileges. A funnel owner
-- (auth.uid()) sees and edits their funnels, rules, leads and webhook configs,
-- and reads their deliveries, attempt logs and API keys. anon reads nothing.
-- Deliveries, logs, keys and settings are written only by the security definer
-- functions (and service_role, which bypasses RLS).

-- ===========================================================================
-- Helper: the routing rules of the signed-in owner
-- ===========================================================================
-- Security definer so policies on webhook tables do not re-run the policies of
-- routing_rules and funnels for every row; used as `in (select ...)`, it runs once
-- per query.
create or replace function public.webhook_my_rule_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  where f.owner_id = (select auth.uid())
$$;

revoke execute on function public.webhook_my_rule_ids() from public, anon;
grant execute on function public.webhook_my_rule_ids() to authenticated, service_role;

-- ===========================================================================
-- Host tables: owners manage what is theirs (policies added only where a policy
-- of the same name is missing, so an existing BPC Funnels setup keeps its own)
-- ===========================================================================
alter table public.funnels enable row level security;
alter table public.routing_rules enable row level security;
alter table public.leads enable row level security;

do $$
begin
  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'funnels'
                 and policyname = 'funnels_owner_all') then
    create policy funnels_owner_all on public.funnels
      for all to authenticated
      using (owner_id = (select auth.uid()))
      with check (owner_id = (select auth.uid()));
  end if;

  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'routing_rules'
                 and policyname = 'routing_rules_owner_all') then
    create policy routing_rules_owner_all on public.routing_rules
      for all to authenticated
      using (funnel_id in (select f.id from public.funnels f where f.owner_id = (select auth.uid())))
      with check (funnel_id in (select f.id from public.funnels f where f.owner_id = (select auth.uid())));
  end if;

  if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'leads'
                 and policyname = 'leads_owner_all') then
    create policy leads_owner_all on public.leads
      for all to authenticated
      using (funnel_id in (select f.id from public.funnels f where f.owner_id = (select auth.uid())))
      with check (funnel_id in (select f.id from public.funnels f where f.owner_id = (select auth.uid())));
  end if;
end
$$;

-- ===========================================================================
-- webhook_configs: owners read and edit the configs of their rules
-- ===========================================================================
alter table public.webhook_configs enable row level security;

revoke all on table public.webhook_configs from anon, authenticated;
grant select, insert, update, delete on table public.webhook_configs to authenticated;
grant all on table public.webhook_configs to service_role;

create policy webhook_configs_owner_select on public.webhook_configs
  for select to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

create policy webhook_configs_owner_insert on public.webhook_configs
  for insert to authenticated
  with check (routing_rule_id in (select public.webhook_my_rule_ids()));

create policy webhook_configs_owner_update on public.webhook_configs
  for update to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()))
  with check (routing_rule_id in (select public.webhook_my_rule_ids()));

create policy webhook_configs_owner_delete on public.webhook_configs
  for delete to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

-- ===========================================================================
-- webhook_queue and webhook_logs: owners read; only the system writes
-- ===========================================================================
alter table public.webhook_queue enable row level security;
alter table public.webhook_logs enable row level security;

revoke all on table public.webhook_queue from anon, authenticated;
revoke all on table public.webhook_logs from anon, authenticated;
grant select on table public.webhook_queue to authenticated;
grant select on table public.webhook_logs to authenticated;
grant all on table public.webhook_queue to service_role;
grant all on table public.webhook_logs to service_role;

create policy webhook_queue_owner_select on public.webhook_queue
  for select to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

create policy webhook_logs_owner_select on public.webhook_logs
  for select to authenticated
  using (routing_rule_id in (select public.webhook_my_rule_ids()));

-- ===========================================================================
-- api_keys: owners list their keys; created and revoked through functions
-- ===========================================================================
alter table public.api_keys enable row level security;
alter table public.api_rate_limit_log enable row level security;

revoke all on table public.api_keys from anon, authenticated;
revoke all on table public.api_rate_limit_log from anon, authenticated;
grant select on table public.api_keys to authenticated;
grant all on table public.api_keys to service_role;
grant all on table public.api_rate_limit_log to service_role;

create policy api_keys_owner_select on public.api_keys
  for select to authenticated
  using (user_id = (select auth.uid()));

-- ===========================================================================
-- webhook_settings: system only (service_role and Studio)
-- ===========================================================================
alter table public.webhook_settings enable row level security;

revoke all on table public.webhook_settings from anon, authenticated;
grant all on table public.webhook_settings to service_role;
revoke all on sequence public.api_rate_limit_log_id_seq from anon, authenticated;
