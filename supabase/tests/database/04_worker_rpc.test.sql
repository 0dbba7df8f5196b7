-- The internal RPCs as the sidecar calls them (service_role), and nobody else.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(14);

insert into auth.users (id, email) values ('11111111-1111-4111-8111-111111111111', 'a@example.com');
insert into public.funnels (id, owner_id, name, status)
values ('f0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'F', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url)
values ('a0000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001', 'C', 'https://example.com/hook');
insert into public.webhook_configs (routing_rule_id, max_retries) values ('a0000000-0000-4000-8000-000000000001', 1);
insert into public.leads (id, funnel_id) values ('1ead0000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001');

set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';
select throws_ok($$select * from public.claim_webhook_jobs('w', 1, 30)$$, '42501', null,
                 'authenticated cannot claim');
select throws_ok($$select * from public.record_webhook_attempts('[]')$$, '42501', null,
                 'authenticated cannot record');
reset role;

set local role service_role;
set local request.jwt.claims = '{"role": "service_role"}';
create temporary table claimed on commit drop as select * from public.claim_webhook_jobs('w', 10, 30);
select is((select count(*) from claimed), 1::bigint, 'service_role claims the delivery');
select is((select webhook_url from claimed), 'https://example.com/hook', 'with the rule''s URL');
select is((select max_attempts from claimed), 2, 'and max_attempts = max_retries + 1');
select is((select status::text || ':' || locked_by from public.webhook_queue), 'processing:w', 'under a lease');
select is((select count(*) from public.claim_webhook_jobs('w2', 10, 30)), 0::bigint, 'nobody claims it twice');

select is(
  (select applied from public.record_webhook_attempts(
     (select jsonb_build_array(jsonb_build_object(
        'queue_id', queue_id, 'worker_id', 'w', 'attempt_number', 1, 'webhook_url', webhook_url,
        'response_status', 503, 'duration_ms', 20, 'success', false, 'error_type', 'http_error',
        'error_message', 'HTTP 503: Service Unavailable', 'retry_in_ms', 0)) from claimed))),
  true, 'a failed attempt is recorded');
select is((select status::text || ':' || attempt_number from public.webhook_queue), 'pending:2',
          'and the delivery waits for attempt 2');
select is((select status::text from public.webhook_logs), 'retrying', 'the log says retrying');

delete from claimed;
insert into claimed select * from public.claim_webhook_jobs('w', 10, 30);
select is(
  (select applied from public.record_webhook_attempts(
     (select jsonb_build_array(jsonb_build_object(
        'queue_id', queue_id, 'worker_id', 'w', 'attempt_number', 2, 'webhook_url', webhook_url,
        'response_status', 503, 'duration_ms', 20, 'success', false, 'error_type', 'http_error',
        'error_message', 'HTTP 503: Service Unavailable', 'retry_in_ms', 1000)) from claimed))),
  true, 'the last attempt is recorded');
select is((select status::text from public.webhook_queue), 'failed', 'no attempt beyond max_attempts');
select results_eq(
  $$select attempt_number, is_retry, status::text, parent_log_id is not distinct from
           (select l2.id from public.webhook_logs l2 where l2.attempt_number = l.attempt_number - 1)
    from public.webhook_logs l order by attempt_number$$,
  $$values (1, false, 'retrying', true), (2, true, 'failed', true)$$,
  'attempt 2 is a retry whose parent is attempt 1');
reset role;

select is(public.requeue_stale_webhook_jobs(), 0, 'nothing stale to requeue');

select * from finish();
rollback;
