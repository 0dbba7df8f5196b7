-- Bad webhook configuration is refused with a message naming the field.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(11);

insert into auth.users (id, email) values ('11111111-1111-4111-8111-111111111111', 'a@example.com');
insert into public.funnels (id, owner_id, name, status)
values ('f0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'F', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url)
values ('a0000000-0000-4000-8000-000000000001', 'f0000000-0000-4000-8000-000000000001', 'C', 'https://example.com');

select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, timeout_ms) values ('a0000000-0000-4000-8000-000000000001', 50)$$,
  '23514', 'invalid webhook config: timeout_ms must be between 100 and 300000 (milliseconds), got 50',
  'timeout below 100 ms is refused');
select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, max_retries) values ('a0000000-0000-4000-8000-000000000001', 21)$$,
  '23514', 'invalid webhook config: max_retries must be between 0 and 20, got 21',
  'more than 20 retries are refused');
select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, retry_delay_ms) values ('a0000000-0000-4000-8000-000000000001', 5)$$,
  '23514', 'invalid webhook config: retry_delay_ms must be between 100 and 86400000 (milliseconds), got 5',
  'a retry delay below 100 ms is refused');
select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, retry_backoff_multiplier) values ('a0000000-0000-4000-8000-000000000001', 0.5)$$,
  '23514', 'invalid webhook config: retry_backoff_multiplier must be between 1 and 10, got 0.5',
  'a multiplier below 1 is refused');
select throws_like(
  $$insert into public.webhook_configs (routing_rule_id, custom_headers) values ('a0000000-0000-4000-8000-000000000001', '{"X Bad": "1"}')$$,
  'invalid webhook config: custom_headers: header name "X Bad" is not a valid HTTP header name%',
  'a header name with a space is refused');
select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, custom_headers) values ('a0000000-0000-4000-8000-000000000001', '{"X-A": "1\r\nX-B: 2"}')$$,
  '23514', 'invalid webhook config: custom_headers: value of header "X-A" contains CR, LF or another control character',
  'a header value with CR/LF is refused');
select throws_ok(
  $$insert into public.webhook_configs (routing_rule_id, custom_headers) values ('a0000000-0000-4000-8000-000000000001', '{"content-TYPE": "text/plain"}')$$,
  '23514', 'invalid webhook config: custom_headers: header "content-TYPE" is set by the webhook sender and cannot be overridden',
  'reserved header names are refused whatever their case');
select throws_like(
  $$insert into public.webhook_configs (routing_rule_id, custom_headers) values ('a0000000-0000-4000-8000-000000000001', '{"Webhook-Signature": "v1,x"}')$$,
  '%cannot be overridden', 'webhook-* headers are refused');
select throws_like(
  $$select public.update_webhook_config('a0000000-0000-4000-8000-000000000001', '{"timeout": 1}')$$,
  'invalid webhook config: unknown key "timeout"', 'update_webhook_config refuses unknown keys');
select lives_ok(
  $$select public.update_webhook_config('a0000000-0000-4000-8000-000000000001', '{"timeout_ms": 2500, "custom_headers": {"Authorization": "Bearer x"}}')$$,
  'a good patch is accepted');
select is((select timeout_ms from public.webhook_configs where routing_rule_id = 'a0000000-0000-4000-8000-000000000001'),
          2500, 'and applied');

select * from finish();
rollback;
