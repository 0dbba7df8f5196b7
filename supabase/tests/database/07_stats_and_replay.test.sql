-- get_webhook_stats by hand, and replay_webhook keeping the webhook-id.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(9);

insert into auth.users (id, email) values ('11111111-1111-4111-8111-111111111111', 'a@example.com');
insert into public.funnels (id, owner_id, name, status)
values ('f0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'A', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url)
values ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-00000000000a', 'CA', 'https://example.com/a');

set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';
select results_eq($$select * from public.get_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$,
                  $$values (0::bigint, 0::bigint, 0::bigint, 0.00::numeric, 0.00::numeric)$$,
                  'no calls: zeros');
reset role;

insert into public.leads (funnel_id) values ('f0000000-0000-4000-8000-00000000000a');
insert into public.webhook_logs (lead_id, routing_rule_id, webhook_url, status, duration_ms, max_attempts, queue_id, webhook_id, request_body)
select q.lead_id, q.routing_rule_id, 'https://example.com/a', s.status::public.webhook_log_status, s.duration, 4, q.id, q.webhook_id, q.payload
from public.webhook_queue q,
     (values ('success', 100), ('success', 200), ('failed', null), ('retrying', 50)) as s(status, duration);

set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';
select results_eq($$select * from public.get_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$,
                  $$values (4::bigint, 2::bigint, 2::bigint, 116.67::numeric, 50.00::numeric)$$,
                  '4 attempts, 2 successes, average over the 3 with a duration');

create temporary table replayed on commit drop as
  select public.replay_webhook((select id from public.webhook_logs where status = 'failed')) as id;
grant select on replayed to service_role;
reset role;

select is((select webhook_id from public.webhook_queue where id = (select id from replayed)),
          (select id from public.webhook_queue where parent_log_id is null),
          'a replay keeps the webhook-id of the first delivery');
select is((select parent_log_id from public.webhook_queue where id = (select id from replayed)),
          (select id from public.webhook_logs where status = 'failed'), 'its parent is the replayed log');
select is((select payload from public.webhook_queue where id = (select id from replayed)),
          (select payload from public.webhook_queue where parent_log_id is null), 'with the same payload');
select ok((select priority from public.webhook_queue where id = (select id from replayed)) >
          (select max(priority) from public.webhook_queue where id <> (select id from replayed)),
          'ahead of other pending work');

set local role service_role;
create temporary table first_claim on commit drop as select * from public.claim_webhook_jobs('w', 1, 30);
select is((select queue_id from first_claim), (select id from replayed), 'the replay is claimed first');
create temporary table recorded on commit drop as
  select * from public.record_webhook_attempts(
    (select jsonb_build_array(jsonb_build_object('queue_id', queue_id, 'worker_id', 'w', 'attempt_number', 1,
       'webhook_url', webhook_url, 'response_status', 200, 'duration_ms', 5, 'success', true)) from first_claim));
select is(
  (select is_retry::text || ':' || (parent_log_id = (select id from public.webhook_logs where status = 'failed'))::text
   from public.webhook_logs where id = (select log_id from recorded)),
  'true:true', 'the replay''s first attempt is a retry whose parent is the replayed log');
reset role;

set local role authenticated;
set local request.jwt.claims = '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';
select throws_ok($$select public.replay_webhook((select id from public.webhook_logs limit 1))$$, 'P0002', null,
                 'another owner cannot replay it');
reset role;

select * from finish();
rollback;
