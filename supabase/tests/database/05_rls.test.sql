-- Row level security per role: owners see their own rows, anon sees nothing,
-- nobody but the system writes logs and the queue.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(16);

insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'a@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'b@example.com');
insert into public.funnels (id, owner_id, name, status) values
  ('f0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'A', 'active'),
  ('f0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', 'B', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url) values
  ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-00000000000a', 'CA', 'https://example.com/a'),
  ('a0000000-0000-4000-8000-00000000000b', 'f0000000-0000-4000-8000-00000000000b', 'CB', 'https://example.com/b');
insert into public.leads (funnel_id) values
  ('f0000000-0000-4000-8000-00000000000a'), ('f0000000-0000-4000-8000-00000000000b');
insert into public.webhook_logs (lead_id, routing_rule_id, webhook_url, status, max_attempts, queue_id)
select q.lead_id, q.routing_rule_id, 'https://example.com', 'success', 1, q.id from public.webhook_queue q;

-- ===========================================================================
-- Owner A
-- ===========================================================================
set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';

select results_eq($$select routing_rule_id from public.webhook_logs$$,
                  $$values ('a0000000-0000-4000-8000-00000000000a'::uuid)$$, 'A reads only A''s logs');
select results_eq($$select routing_rule_id from public.webhook_queue$$,
                  $$values ('a0000000-0000-4000-8000-00000000000a'::uuid)$$, 'A reads only A''s queue');
select results_eq($$select routing_rule_id from public.webhook_configs$$,
                  $$values ('a0000000-0000-4000-8000-00000000000a'::uuid)$$, 'A reads only A''s configs');
select is_empty($$select 1 from public.routing_rules where id = 'a0000000-0000-4000-8000-00000000000b'$$,
                'A does not see B''s rule');
select is_empty($$update public.webhook_configs set timeout_ms = 500
                  where routing_rule_id = 'a0000000-0000-4000-8000-00000000000b' returning 1$$,
                'A cannot change B''s config');
select lives_ok($$update public.webhook_configs set timeout_ms = 500
                  where routing_rule_id = 'a0000000-0000-4000-8000-00000000000a'$$, 'A changes A''s config');
select throws_ok($$insert into public.webhook_logs (lead_id, routing_rule_id, webhook_url, max_attempts)
                   select lead_id, routing_rule_id, 'x', 1 from public.webhook_queue$$,
                 '42501', null, 'A cannot write logs');
select throws_ok($$update public.webhook_queue set status = 'completed'$$, '42501', null,
                 'A cannot change the queue');
select throws_ok($$delete from public.webhook_logs$$, '42501', null, 'A cannot delete logs');
select throws_ok($$select public.get_webhook_stats('a0000000-0000-4000-8000-00000000000b')$$, 'P0002', null,
                 'B''s rule is "not found" for A');
reset role;

-- ===========================================================================
-- Owner B
-- ===========================================================================
set local role authenticated;
set local request.jwt.claims = '{"sub": "22222222-2222-4222-8222-222222222222", "role": "authenticated"}';
select results_eq($$select routing_rule_id from public.webhook_logs$$,
                  $$values ('a0000000-0000-4000-8000-00000000000b'::uuid)$$, 'B reads only B''s logs');
select is((select timeout_ms from public.webhook_configs), 10000, 'B''s config is untouched');
reset role;

-- ===========================================================================
-- anon
-- ===========================================================================
set local role anon;
set local request.jwt.claims = '{"role": "anon"}';
select throws_ok($$select * from public.webhook_logs$$, '42501', null, 'anon cannot read logs');
select throws_ok($$select * from public.webhook_queue$$, '42501', null, 'anon cannot read the queue');
select throws_ok($$select * from public.webhook_configs$$, '42501', null, 'anon cannot read configs');
select is_empty($$select 1 from public.funnels union all select 1 from public.routing_rules
                  union all select 1 from public.leads$$, 'anon sees no funnels, rules or leads');
reset role;

select * from finish();
rollback;
