-- Lead inserts enqueue one delivery per matching active rule, with a frozen payload.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(10);

insert into auth.users (id, email) values ('11111111-1111-4111-8111-111111111111', 'a@example.com');
insert into public.funnels (id, owner_id, name, status) values
  ('f0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'Active', 'active'),
  ('f0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'Draft', 'draft');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url, condition, is_active) values
  ('a0000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001', 'All', 'https://example.com/a', '{}', true),
  ('a0000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000001', 'DE', 'https://example.com/b', '{"country": "DE"}', true),
  ('a0000000-0000-4000-8000-000000000003', 'f0000000-0000-4000-8000-000000000001', 'Off', 'https://example.com/c', '{}', false),
  ('a0000000-0000-4000-8000-000000000004', 'f0000000-0000-4000-8000-000000000002', 'Draft', 'https://example.com/d', '{}', true);

insert into public.leads (id, funnel_id, data) values
  ('1ead0000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001', '{"country": "DE", "email": "x@example.com"}'),
  ('1ead0000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000001', '{"country": "FR"}'),
  ('1ead0000-0000-4000-8000-000000000003', 'f0000000-0000-4000-8000-000000000002', '{}');

select is((select count(*) from public.webhook_queue), 3::bigint,
          'three deliveries: two rules for the DE lead, one for the FR lead, none for the draft funnel');
select set_eq(
  $$select routing_rule_id, lead_id from public.webhook_queue$$,
  $$values ('a0000000-0000-4000-8000-000000000001'::uuid, '1ead0000-0000-4000-8000-000000000001'::uuid),
           ('a0000000-0000-4000-8000-000000000002', '1ead0000-0000-4000-8000-000000000001'),
           ('a0000000-0000-4000-8000-000000000001', '1ead0000-0000-4000-8000-000000000002')$$,
  'a rule receives the leads its condition is contained in');
select ok((select bool_and(webhook_id = id and status = 'pending' and attempt_number = 1 and max_attempts = 4)
           from public.webhook_queue),
          'new deliveries are their own webhook-id, pending, attempt 1 of 4');
select is((select payload -> 'data' from public.webhook_queue
           where routing_rule_id = 'a0000000-0000-4000-8000-000000000002'),
          jsonb_build_object('lead_id', '1ead0000-0000-4000-8000-000000000001', 'funnel_id', 'f0000000-0000-4000-8000-000000000001',
                             'routing_rule_id', 'a0000000-0000-4000-8000-000000000002', 'client_name', 'DE',
                             'lead', '{"country": "DE", "email": "x@example.com"}'::jsonb,
                             'created_at', (select created_at from public.leads where id = '1ead0000-0000-4000-8000-000000000001')),
          'the payload data carries the lead, funnel, rule, client name and creation time');
select is((select payload ->> 'type' from public.webhook_queue limit 1), 'lead.created', 'payload type is lead.created');
select is((select count(*) from public.webhook_configs), 2::bigint,
          'matched rules got a config row');
select ok((select bool_and(signing_secret like 'whsec\_%') from public.webhook_configs), 'with a whsec_ secret');

update public.leads set data = '{"changed": true}' where id = '1ead0000-0000-4000-8000-000000000001';
select is((select payload -> 'data' -> 'lead' from public.webhook_queue
           where routing_rule_id = 'a0000000-0000-4000-8000-000000000002'),
          '{"country": "DE", "email": "x@example.com"}'::jsonb, 'the payload is frozen at enqueue');

select isnt(public.enqueue_webhook('1ead0000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000003', 7),
            null, 'enqueue_webhook delivers by hand, even to an inactive rule');
select throws_ok(
  $$select public.enqueue_webhook('1ead0000-0000-4000-8000-000000000003', 'a0000000-0000-4000-8000-000000000001')$$,
  'P0002', null, 'a lead is only delivered to rules of its own funnel');

select * from finish();
rollback;
