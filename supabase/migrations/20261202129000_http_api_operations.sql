-- HTTP API v1 wrappers of the operations for a broken endpoint: recover, cancel,
-- test delivery, and the events list. They call recover_webhook_deliveries,
-- cancel_webhook_deliveries, send_test_webhook and read webhook_events, defined by
-- the pause/recover migrations; plpgsql resolves those names when called, so this
-- file applies before them too (a call then fails with "does not exist").

create or replace function public.api_recover_webhook_deliveries(
  routing_rule_id uuid,
  since timestamptz,
  until timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:replay', 'api_recover_webhook_deliveries');
begin
  if api_recover_webhook_deliveries.since is null then
    perform public.api_http_error(400, 'invalid_parameter', 'since is required: the start of the window to recover');
  end if;
  perform public.api_require_rule(v_user_id, api_recover_webhook_deliveries.routing_rule_id);
  perform public.api_act_as(v_user_id);
  return public.recover_webhook_deliveries(api_recover_webhook_deliveries.routing_rule_id,
                                           api_recover_webhook_deliveries.since,
                                           coalesce(api_recover_webhook_deliveries.until, now()));
end;
$$;

revoke execute on function public.api_recover_webhook_deliveries(uuid, timestamptz, timestamptz) from public;
grant execute on function public.api_recover_webhook_deliveries(uuid, timestamptz, timestamptz) to anon, authenticated, service_role;

create or replace function public.api_cancel_webhook_deliveries(routing_rule_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:write', 'api_cancel_webhook_deliveries');
begin
  perform public.api_require_rule(v_user_id, api_cancel_webhook_deliveries.routing_rule_id);
  perform public.api_act_as(v_user_id);
  return public.cancel_webhook_deliveries(api_cancel_webhook_deliveries.routing_rule_id);
end;
$$;

revoke execute on function public.api_cancel_webhook_deliveries(uuid) from public;
grant execute on function public.api_cancel_webhook_deliveries(uuid) to anon, authenticated, service_role;

create or replace function public.api_send_test_webhook(routing_rule_id uuid)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:replay', 'api_send_test_webhook');
begin
  perform public.api_require_rule(v_user_id, api_send_test_webhook.routing_rule_id);
  perform public.api_act_as(v_user_id);
  return public.send_test_webhook(api_send_test_webhook.routing_rule_id);
end;
$$;

revoke execute on function public.api_send_test_webhook(uuid) from public;
grant execute on function public.api_send_test_webhook(uuid) to anon, authenticated, service_role;

-- Newest first, at most 200, as a JSON array of webhook_events rows (jsonb, so that
-- this file does not need the table to exist yet).
create or replace function public.api_webhook_events(routing_rule_id uuid, since timestamptz default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid := public.api_caller('webhooks:read', 'api_webhook_events');
  v_events jsonb;
begin
  perform public.api_require_rule(v_user_id, api_webhook_events.routing_rule_id);
  select coalesce(jsonb_agg(to_jsonb(e) order by e.created_at desc, e.id desc), '[]'::jsonb) into v_events
  from (select * from public.webhook_events ev
        where ev.routing_rule_id = api_webhook_events.routing_rule_id
          and (api_webhook_events.since is null or ev.created_at >= api_webhook_events.since)
        order by ev.created_at desc, ev.id desc
        limit 200) e;
  return v_events;
end;
$$;

revoke execute on function public.api_webhook_events(uuid, timestamptz) from public;
grant execute on function public.api_webhook_events(uuid, timestamptz) to anon, authenticated, service_role;
