-- When a client's endpoint breaks: who may call pause-era functions, and
-- webhook_events under RLS (owners read their own; nobody but the system writes).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(22);

insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'a@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'b@example.com');
insert into public.funnels (id, owner_id, name, status) values
  ('f0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'A', 'active'),
  ('f0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', 'B', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url) values
  ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-00000000000a', 'CA', 'https://example.com/a'),
  ('a0000000-0000-4000-8000-00000000000b', 'f0000000-0000-4000-8000-00000000000b', 'CB', 'https://example.com/b');
select public.update_webhook_config('a0000000-0000-4000-8000-00000000000a', '{"paused": true}');
select public.update_webhook_config('a0000000-0000-4000-8000-00000000000b', '{"paused": true}');

-- ===========================================================================
-- Privileges
-- ===========================================================================
select function_privs_are('public', 'recover_webhook_deliveries', array['uuid', 'timestamp with time zone', 'timestamp with time zone'],
                          'anon', array[]::text[], 'anon cannot recover');
select function_privs_are('public', 'recover_webhook_deliveries', array['uuid', 'timestamp with time zone', 'timestamp with time zone'],
                          'authenticated', array['EXECUTE'], 'owners can recover');
select function_privs_are('public', 'cancel_webhook_deliveries', array['uuid'], 'anon', array[]::text[], 'anon cannot cancel');
select function_privs_are('public', 'cancel_webhook_deliveries', array['uuid'], 'authenticated', array['EXECUTE'],
                          'owners can cancel');
select function_privs_are('public', 'send_test_webhook', array['uuid'], 'anon', array[]::text[], 'anon cannot send a test');
select function_privs_are('public', 'send_test_webhook', array['uuid'], 'authenticated', array['EXECUTE'],
                          'owners can send a test');
select function_privs_are('public', 'send_test_webhook', array['uuid'], 'service_role', array['EXECUTE'],
                          'service_role can send a test');
select function_privs_are('public', 'claim_webhook_jobs', array['text', 'integer', 'integer', 'uuid[]'],
                          'authenticated', array[]::text[], 'owners cannot claim');
select function_privs_are('public', 'claim_webhook_jobs', array['text', 'integer', 'integer', 'uuid[]'],
                          'service_role', array['EXECUTE'], 'service_role claims');
select function_privs_are('public', 'webhook_held_summary', array[]::text[], 'authenticated', array[]::text[],
                          'owners cannot read the held summary of every rule');
select table_privs_are('public', 'webhook_events', 'anon', array[]::text[], 'anon has no access to events');
select table_privs_are('public', 'webhook_events', 'authenticated', array['SELECT'], 'owners only read events');

-- ===========================================================================
-- Owner A
-- ===========================================================================
set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';

select results_eq($$select distinct routing_rule_id from public.webhook_events$$,
                  $$values ('a0000000-0000-4000-8000-00000000000a'::uuid)$$, 'A reads only A''s events');
select throws_ok($$insert into public.webhook_events (routing_rule_id, type)
                   values ('a0000000-0000-4000-8000-00000000000a', 'rule.paused')$$,
                 '42501', null, 'A cannot write events');
select throws_ok($$select public.cancel_webhook_deliveries('a0000000-0000-4000-8000-00000000000b')$$,
                 'P0002', null, 'A cannot cancel B''s deliveries: not found');
select throws_ok($$select public.send_test_webhook('a0000000-0000-4000-8000-00000000000b')$$,
                 'P0002', null, 'A cannot test B''s rule: not found');
select throws_ok($$select public.recover_webhook_deliveries('a0000000-0000-4000-8000-00000000000b', now() - interval '1 day')$$,
                 'P0002', null, 'A cannot recover B''s deliveries: not found');
select lives_ok($$select public.send_test_webhook('a0000000-0000-4000-8000-00000000000a')$$, 'A tests A''s rule');
select is((select public.cancel_webhook_deliveries('a0000000-0000-4000-8000-00000000000a')), 1,
          'A cancels A''s pending test delivery');

-- ===========================================================================
-- Owner B and anon
-- ===========================================================================
set local request.jwt.claims = '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';
select is_empty($$select 1 from public.webhook_events where routing_rule_id = 'a0000000-0000-4000-8000-00000000000a'$$,
                'B sees none of A''s events');
select results_eq($$select distinct routing_rule_id from public.webhook_events$$,
                  $$values ('a0000000-0000-4000-8000-00000000000b'::uuid)$$, 'B reads B''s events');

reset role;
set local role anon;
select throws_ok($$select 1 from public.webhook_events$$, '42501', null, 'anon reads no events');

select * from finish();
rollback;
