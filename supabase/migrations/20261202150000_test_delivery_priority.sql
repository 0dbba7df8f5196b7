-- Test deliveries: the replays' priority, not above every tenant, and counted
-- against the owner's limit of deliveries made by hand.
--
-- send_test_webhook put its delivery at priority 2147483647, so an owner calling it
-- in a loop went ahead of every other tenant's work and of replays, and nothing
-- bounded how many it queued. A test delivery now takes priority 1000, the fixed
-- priority of replays (20261202130100_fair_queue.sql), above anything enqueue_webhook
-- allows (-100..100), and counts in webhook_queue.enqueued_by like a replay, so the
-- per-owner limit of 1000 pending hand-made deliveries applies to it too.

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
  perform public.webhook_require_rule(send_test_webhook.routing_rule_id);
  select * into v_rule from public.routing_rules r where r.id = send_test_webhook.routing_rule_id;
  v_owner := public.webhook_hand_enqueue_owner(v_rule.id);

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

revoke execute on function public.send_test_webhook(uuid) from public, anon;
grant execute on function public.send_test_webhook(uuid) to authenticated, service_role;

-- Test deliveries already queued at the old priority.
update public.webhook_queue set priority = 1000
where status = 'pending' and lead_id is null and priority > 1000;
