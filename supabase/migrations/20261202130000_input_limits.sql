-- Limits on every input the webhook system stores, refused where it is stored with a
-- message that names the field (README "Limits"), and one format for signing secrets,
-- the same rule as sidecar/signing.py `secret_problem` (tests/db/test_input_limits.py
-- feeds both the same strings).

-- ===========================================================================
-- Signing secrets: whsec_ + padded base64 of 24 to 64 bytes (at most 94 characters)
-- ===========================================================================
create or replace function public.webhook_secret_problem(secret text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  body text;
  decoded_bytes integer;
begin
  if secret is null then
    return 'signing_secret must not be null (update_webhook_config with null generates a new one)';
  end if;
  if length(secret) > 94 then
    return format('signing_secret is %s characters long; at most 94 (whsec_ + base64 of 64 bytes)', length(secret));
  end if;
  if left(secret, 6) <> 'whsec_' then
    return 'signing_secret must be whsec_ followed by padded base64 (it does not start with whsec_)';
  end if;
  body := substr(secret, 7);
  if body !~ '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' then
    return 'signing_secret must be whsec_ followed by padded base64 (A-Z a-z 0-9 + /, length a multiple of 4, = only at the end)';
  end if;
  decoded_bytes := length(body) / 4 * 3 - (length(body) - length(rtrim(body, '=')));
  if decoded_bytes not between 24 and 64 then
    return format('signing_secret must encode 24 to 64 bytes of key, got %s', decoded_bytes);
  end if;
  return null;
end;
$$;

revoke execute on function public.webhook_secret_problem(text) from public, anon;
grant execute on function public.webhook_secret_problem(text) to authenticated, service_role;

-- ===========================================================================
-- webhook_configs: the secret's format, and custom headers' total size
-- ===========================================================================
-- Runs before webhook_configs_validate (triggers fire in name order). The secret is
-- checked when it is set or changed, so a row saved under the older, looser rule
-- still accepts changes to its other fields.
create or replace function public.webhook_configs_limits()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
  field text;
  total bigint;
begin
  if tg_op = 'INSERT' or new.signing_secret is distinct from old.signing_secret then
    problem := public.webhook_secret_problem(new.signing_secret);
    field := 'signing_secret';
  end if;
  -- More than 50 headers is webhook_configs_validate's refusal, with its own message.
  if problem is null and jsonb_typeof(new.custom_headers) = 'object'
     and (select count(*) from jsonb_object_keys(new.custom_headers)) <= 50 then
    select coalesce(sum(octet_length(e.key) + octet_length(e.value #>> '{}')), 0) into total
    from jsonb_each(new.custom_headers) as e;
    if total > 16384 then
      field := 'custom_headers';
      problem := format('custom_headers: names and values total %s bytes; at most 16384', total);
    end if;
  end if;
  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation', column = field, table = 'webhook_configs', schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_configs_limits() from public, anon, authenticated;

create trigger webhook_configs_limits
  before insert or update on public.webhook_configs
  for each row execute function public.webhook_configs_limits();

-- ===========================================================================
-- JSON size and nesting (leads.data, routing_rules.condition)
-- ===========================================================================
-- Whether `value` nests containers deeper than `max_depth`, walked level by level
-- (no recursion): only containers are carried to the next level.
create or replace function public.webhook_json_deeper_than(value jsonb, max_depth integer)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  level jsonb[] := array[value];
  depth integer := 0;
begin
  while cardinality(level) > 0 loop
    depth := depth + 1;
    if depth > max_depth then
      return true;
    end if;
    select coalesce(array_agg(c.child), '{}') into level
    from unnest(level) as p(node),
         lateral (select o.value from jsonb_each(case when jsonb_typeof(p.node) = 'object' then p.node end) as o
                  union all
                  select a.value from jsonb_array_elements(case when jsonb_typeof(p.node) = 'array' then p.node end) as a)
                 as c(child)
    where jsonb_typeof(c.child) in ('object', 'array');
  end loop;
  return false;
end;
$$;

revoke execute on function public.webhook_json_deeper_than(jsonb, integer) from public, anon;
grant execute on function public.webhook_json_deeper_than(jsonb, integer) to authenticated, service_role;

-- Null when `value` is within `max_bytes` as JSON text and 64 levels of nesting.
-- A value with at most 64 opening brackets cannot nest deeper, so the walk above
-- runs only for the rare value with many containers.
create or replace function public.webhook_json_problem(value jsonb, max_bytes integer)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  as_text text;
begin
  if value is null then
    return null;
  end if;
  as_text := value::text;
  if octet_length(as_text) > max_bytes then
    return format('is %s bytes as JSON text; at most %s', octet_length(as_text), max_bytes);
  end if;
  if length(as_text) - length(translate(as_text, '{[', '')) > 64
     and public.webhook_json_deeper_than(value, 64) then
    return 'nests objects and arrays deeper than 64 levels';
  end if;
  return null;
end;
$$;

revoke execute on function public.webhook_json_problem(jsonb, integer) from public, anon;
grant execute on function public.webhook_json_problem(jsonb, integer) to authenticated, service_role;

create or replace function public.webhook_leads_limits()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text := public.webhook_json_problem(new.data, 1048576);
begin
  if problem is not null then
    raise exception 'invalid lead: data %', problem
      using errcode = 'check_violation', column = 'data', table = 'leads', schema = 'public',
            hint = 'A lead''s data is at most 1 MiB as JSON text and 64 levels deep.';
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_leads_limits() from public, anon, authenticated;

-- Most leads are small: an uncompressed jsonb under 516 bytes can neither reach 1 MiB
-- as text nor nest 65 levels (each nested container takes at least 8 bytes), so the
-- WHEN clause, evaluated without entering plpgsql, lets them through
-- (bench/lead_insert_limits.py measures a bulk insert with and without the trigger).
create trigger webhook_leads_limits
  before insert or update of data on public.leads
  for each row
  when (pg_column_size(new.data) >= 516 or pg_column_compression(new.data) is not null)
  execute function public.webhook_leads_limits();

create or replace function public.webhook_routing_rules_limits()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
  field text;
begin
  if length(new.webhook_url) > 2048 then
    field := 'webhook_url';
    problem := format('webhook_url is %s characters long; at most 2048', length(new.webhook_url));
  else
    problem := public.webhook_json_problem(new.condition, 65536);
    field := 'condition';
    problem := 'condition ' || problem;
  end if;
  if problem is not null then
    raise exception 'invalid routing rule: %', problem
      using errcode = 'check_violation', column = field, table = 'routing_rules', schema = 'public';
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_routing_rules_limits() from public, anon, authenticated;

create trigger webhook_routing_rules_limits
  before insert or update of webhook_url, condition on public.routing_rules
  for each row execute function public.webhook_routing_rules_limits();

-- A secret saved under the older rule that the sidecar could not use either is not
-- rotated silently: it is named here, and the next change of it must pass.
do $$
declare
  bad integer;
begin
  select count(*) into bad from public.webhook_configs c
  where public.webhook_secret_problem(c.signing_secret) is not null;
  if bad > 0 then
    raise notice '% webhook_configs rows have a signing_secret outside the format (whsec_ + base64 of 24-64 bytes); set a new one with update_webhook_config(rule, ''{"signing_secret": null}'')', bad;
  end if;
end
$$;
