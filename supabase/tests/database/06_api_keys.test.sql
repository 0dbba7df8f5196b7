-- API keys: hashed at rest, and the api_* functions answer with PostgREST statuses.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(12);

-- The HTTP status PostgREST would answer a statement with (null: no PGRST error).
create function pg_temp.http_status(statement text) returns integer language plpgsql as $$
declare
  detail text;
begin
  execute statement;
  return null;
exception when sqlstate 'PGRST' then
  get stacked diagnostics detail = pg_exception_detail;
  return (detail::json ->> 'status')::integer;
end;
$$;

insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'a@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'b@example.com');
insert into public.funnels (id, owner_id, name, status) values
  ('f0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'A', 'active'),
  ('f0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', 'B', 'active');
insert into public.routing_rules (id, funnel_id, client_name, webhook_url) values
  ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-00000000000a', 'CA', 'https://example.com/a'),
  ('a0000000-0000-4000-8000-00000000000b', 'f0000000-0000-4000-8000-00000000000b', 'CB', 'https://example.com/b');

select is(pg_temp.http_status($$select public.create_api_key('no user')$$), 401,
          'creating a key without a signed-in user is 401');

set local role authenticated;
set local request.jwt.claims = '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}';
create temporary table keys on commit drop as
  select public.create_api_key('full', rate_limit_per_minute => 2) as full_key,
         public.create_api_key('read only', array['webhooks:read']) as read_key;
grant select on keys to anon;
reset role;

select is((select count(*) from public.api_keys where key_hash = encode(sha256(convert_to(full_key, 'UTF8')), 'hex'))
          , 1::bigint, 'the key is stored as its sha256')
from keys;
select is((select count(*) from public.api_keys k, keys where k::text like '%' || substr(keys.full_key, 5) || '%'),
          0::bigint, 'the plaintext is not stored');
select ok((select bool_and(full_key like 'bpc\_%') from keys), 'keys look like bpc_...');

set local role anon;
set local request.jwt.claims = '{"role": "anon"}';
set local request.headers = '{}';
select is(pg_temp.http_status($$select * from public.api_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$),
          401, 'no key: 401');
set local request.headers = '{"x-api-key": "bpc_unknown"}';
select is(pg_temp.http_status($$select * from public.api_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$),
          401, 'unknown key: 401');
select set_config('request.headers', json_build_object('x-api-key', read_key)::text, true) from keys;
select is(pg_temp.http_status($$select public.api_replay_webhook(gen_random_uuid())$$),
          403, 'a read-only key cannot replay: 403');
select set_config('request.headers', json_build_object('x-api-key', full_key)::text, true) from keys;
select is(pg_temp.http_status($$select * from public.api_webhook_logs('a0000000-0000-4000-8000-00000000000b')$$),
          404, 'another user''s rule: 404');
select is(pg_temp.http_status($$select * from public.api_webhook_logs('a0000000-0000-4000-8000-00000000000a')$$),
          null, 'own rule: answered');
select is(pg_temp.http_status($$select * from public.api_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$),
          null, 'second call within the limit of 2: answered');
select is(pg_temp.http_status($$select * from public.api_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$),
          429, 'third call within 60 s: 429');
reset role;

update public.api_keys set revoked_at = now();
set local role anon;
select is(pg_temp.http_status($$select * from public.api_webhook_stats('a0000000-0000-4000-8000-00000000000a')$$),
          401, 'revoked key: 401');
reset role;

select * from finish();
rollback;
