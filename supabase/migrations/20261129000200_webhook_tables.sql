-- Webhook tables: per-rule delivery configuration, the delivery queue (one row per
-- delivery) and the attempt log (one row per HTTP attempt), plus settings.
-- Row level security and table privileges are set in the _rls migration.

-- ===========================================================================
-- Enums
-- ===========================================================================
create type public.webhook_log_status as enum ('pending', 'success', 'failed', 'retrying');
create type public.webhook_error_type as enum ('timeout', 'network', 'http_error', 'invalid_response', 'blocked');
create type public.webhook_queue_status as enum ('pending', 'processing', 'completed', 'failed');

-- ===========================================================================
-- webhook_settings: system-wide knobs (hosted Supabase refuses custom GUCs)
-- ===========================================================================
create table public.webhook_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);

comment on table public.webhook_settings is
  'System-wide webhook settings. log_retention_days: attempt logs older than this are removed by purge_webhook_logs().';

insert into public.webhook_settings (key, value) values ('log_retention_days', '30'::jsonb)
on conflict (key) do nothing;

-- ===========================================================================
-- Header validation (used by the webhook_configs check constraint and trigger)
-- ===========================================================================
-- Returns null when `headers` is an acceptable custom header set, otherwise what is
-- wrong with it. Names must be RFC 7230 tokens; values are strings without control
-- characters (a CR or LF would let a value inject headers); headers the sender sets
-- itself cannot be overridden.
create or replace function public.webhook_headers_problem(headers jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  header_name text;
  header_value jsonb;
  seen text[] := '{}';
begin
  if headers is null then
    return 'must be a JSON object (use {} for no custom headers)';
  end if;
  if jsonb_typeof(headers) <> 'object' then
    return 'must be a JSON object mapping header names to string values';
  end if;
  if (select count(*) from jsonb_object_keys(headers)) > 50 then
    return 'at most 50 custom headers are allowed';
  end if;
  for header_name, header_value in select e.key, e.value from jsonb_each(headers) as e loop
    if header_name !~ '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$' then
      return format('header name %s is not a valid HTTP header name (letters, digits and !#$%%&''*+-.^_`|~ only; no spaces or colons)',
                    to_json(header_name)::text);
    end if;
    if length(header_name) > 256 then
      return format('header name %s is longer than 256 characters', to_json(header_name)::text);
    end if;
    if lower(header_name) in ('host', 'content-length', 'content-type', 'transfer-encoding', 'connection',
                              'user-agent', 'x-lead-id', 'x-funnel-webhook')
       or lower(header_name) like 'webhook-%' then
      return format('header %s is set by the webhook sender and cannot be overridden', to_json(header_name)::text);
    end if;
    if lower(header_name) = any (seen) then
      return format('header %s appears more than once (names are case-insensitive)', to_json(header_name)::text);
    end if;
    seen := seen || lower(header_name);
    if jsonb_typeof(header_value) <> 'string' then
      return format('value of header %s must be a string', to_json(header_name)::text);
    end if;
    if header_value #>> '{}' ~ '[\x01-\x08\x0a-\x1f\x7f]' then
      return format('value of header %s contains CR, LF or another control character', to_json(header_name)::text);
    end if;
    if length(header_value #>> '{}') > 8192 then
      return format('value of header %s is longer than 8192 characters', to_json(header_name)::text);
    end if;
  end loop;
  return null;
end;
$$;

revoke execute on function public.webhook_headers_problem(jsonb) from public, anon;
grant execute on function public.webhook_headers_problem(jsonb) to authenticated, service_role;

-- ===========================================================================
-- webhook_configs: one row per routing rule (created with defaults on first use)
-- ===========================================================================
create table public.webhook_configs (
  id uuid primary key default gen_random_uuid(),
  routing_rule_id uuid not null references public.routing_rules (id) on delete cascade,
  custom_headers jsonb not null default '{}'::jsonb,
  timeout_ms integer not null default 10000,
  retry_enabled boolean not null default true,
  max_retries integer not null default 3,
  retry_delay_ms integer not null default 1000,
  retry_backoff_multiplier numeric not null default 2.0,
  signing_secret text not null default 'whsec_' || encode(extensions.gen_random_bytes(32), 'base64'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_configs_routing_rule_id_key unique (routing_rule_id),
  constraint webhook_configs_timeout_ms_check check (timeout_ms between 100 and 300000),
  constraint webhook_configs_max_retries_check check (max_retries between 0 and 20),
  constraint webhook_configs_retry_delay_ms_check check (retry_delay_ms between 100 and 86400000),
  constraint webhook_configs_retry_backoff_multiplier_check check (retry_backoff_multiplier between 1 and 10),
  constraint webhook_configs_custom_headers_check check (public.webhook_headers_problem(custom_headers) is null),
  constraint webhook_configs_signing_secret_check check (signing_secret ~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$')
);

comment on table public.webhook_configs is
  'Delivery settings per routing rule. Defaults: timeout 10000 ms, retries on, 3 retries, 1000 ms first delay, x2.0 backoff.';
comment on column public.webhook_configs.signing_secret is
  'Standard Webhooks secret: whsec_ followed by base64 of the HMAC key. Receivers verify webhook-signature with it.';

-- The check constraints above are the backstop; this trigger refuses the same
-- values first, with a message that names the field and the allowed range.
create or replace function public.webhook_configs_validate()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
  field text;
begin
  if new.timeout_ms is null or new.timeout_ms not between 100 and 300000 then
    field := 'timeout_ms';
    problem := format('timeout_ms must be between 100 and 300000 (milliseconds), got %s', coalesce(new.timeout_ms::text, 'null'));
  elsif new.retry_enabled is null then
    field := 'retry_enabled';
    problem := 'retry_enabled must be true or false';
  elsif new.max_retries is null or new.max_retries not between 0 and 20 then
    field := 'max_retries';
    problem := format('max_retries must be between 0 and 20, got %s', coalesce(new.max_retries::text, 'null'));
  elsif new.retry_delay_ms is null or new.retry_delay_ms not between 100 and 86400000 then
    field := 'retry_delay_ms';
    problem := format('retry_delay_ms must be between 100 and 86400000 (milliseconds), got %s', coalesce(new.retry_delay_ms::text, 'null'));
  elsif new.retry_backoff_multiplier is null or new.retry_backoff_multiplier not between 1 and 10 then
    field := 'retry_backoff_multiplier';
    problem := format('retry_backoff_multiplier must be between 1 and 10, got %s', coalesce(new.retry_backoff_multiplier::text, 'null'));
  elsif new.signing_secret is null or new.signing_secret !~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$' then
    field := 'signing_secret';
    problem := 'signing_secret must be whsec_ followed by at least 32 base64 characters';
  else
    problem := public.webhook_headers_problem(new.custom_headers);
    if problem is not null then
      field := 'custom_headers';
      problem := 'custom_headers: ' || problem;
    end if;
  end if;

  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation',
            column = field,
            table = 'webhook_configs',
            schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;

  if tg_op = 'UPDATE' then
    new.updated_at := now();
  end if;
  return new;
end;
$$;

revoke execute on function public.webhook_configs_validate() from public, anon, authenticated;

create trigger webhook_configs_validate
  before insert or update on public.webhook_configs
  for each row execute function public.webhook_configs_validate();

-- ===========================================================================
-- webhook_queue: one row per delivery, updated as its attempts happen
-- ===========================================================================
create table public.webhook_queue (
  id uuid primary key default gen_random_uuid(),
  webhook_id uuid not null,
  lead_id uuid not null references public.leads (id) on delete cascade,
  routing_rule_id uuid not null references public.routing_rules (id) on delete cascade,
  webhook_log_id uuid,
  status public.webhook_queue_status not null default 'pending',
  priority integer not null default 0,
  attempt_number integer not null default 1,
  max_attempts integer not null default 4,
  scheduled_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  error_message text,
  payload jsonb not null,
  parent_log_id uuid,
  locked_by text,
  lease_expires_at timestamptz,
  created_at timestamptz not null default now(),
  constraint webhook_queue_attempt_number_check check (attempt_number between 1 and max_attempts),
  constraint webhook_queue_max_attempts_check check (max_attempts between 1 and 21),
  -- A lease exists exactly while a worker holds the delivery.
  constraint webhook_queue_lease_check check (
    (status = 'processing') = (locked_by is not null and lease_expires_at is not null)
  )
);

comment on column public.webhook_queue.webhook_id is
  'Value of the webhook-id header: the id of the first delivery of this lead to this rule (its own id unless it is a replay).';
comment on column public.webhook_queue.attempt_number is
  'Number of the next attempt (1 before the first); after the delivery ends, the last attempt made.';
comment on column public.webhook_queue.payload is
  'Request body, frozen at enqueue: sent byte-identical (compact jsonb text) on every attempt and replay.';

-- A delivery inserted without webhook_id is its own first delivery. The functions
-- of this project always set it, so the WHEN clause keeps bulk enqueues free of
-- trigger calls.
create or replace function public.webhook_queue_default_webhook_id()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.webhook_id := new.id;
  return new;
end;
$$;

revoke execute on function public.webhook_queue_default_webhook_id() from public, anon, authenticated;

create trigger webhook_queue_default_webhook_id
  before insert on public.webhook_queue
  for each row when (new.webhook_id is null)
  execute function public.webhook_queue_default_webhook_id();

-- Claim path: due pending work in claim order, and expired leases.
create index webhook_queue_claim_idx on public.webhook_queue (priority desc, scheduled_at)
  where status = 'pending';
create index webhook_queue_lease_idx on public.webhook_queue (lease_expires_at)
  where status = 'processing';
create index webhook_queue_routing_rule_id_idx on public.webhook_queue (routing_rule_id);
create index webhook_queue_lead_id_idx on public.webhook_queue (lead_id);
create index webhook_queue_webhook_log_id_idx on public.webhook_queue (webhook_log_id)
  where webhook_log_id is not null;
create index webhook_queue_parent_log_id_idx on public.webhook_queue (parent_log_id)
  where parent_log_id is not null;
create index webhook_queue_finished_idx on public.webhook_queue (completed_at)
  where status in ('completed', 'failed');

-- ===========================================================================
-- webhook_logs: one row per HTTP attempt
-- ===========================================================================
create table public.webhook_logs (
  id uuid primary key default gen_random_uuid(),
  lead_id uuid not null references public.leads (id) on delete cascade,
  routing_rule_id uuid not null references public.routing_rules (id) on delete cascade,
  webhook_url text not null,
  request_headers jsonb not null default '{}'::jsonb,
  request_body jsonb,
  response_status integer,
  response_headers jsonb,
  response_body text,
  duration_ms integer,
  attempt_number integer not null default 1,
  max_attempts integer not null default 1,
  is_retry boolean not null default false,
  parent_log_id uuid references public.webhook_logs (id) on delete set null,
  status public.webhook_log_status not null default 'pending',
  error_message text,
  error_type public.webhook_error_type,
  created_at timestamptz not null default now(),
  queue_id uuid references public.webhook_queue (id) on delete set null,
  webhook_id uuid,
  constraint webhook_logs_attempt_number_check check (attempt_number >= 1),
  constraint webhook_logs_duration_ms_check check (duration_ms is null or duration_ms >= 0)
);

comment on table public.webhook_logs is 'One row per HTTP attempt of a webhook delivery, written by the system only.';
comment on column public.webhook_logs.request_body is 'The delivery payload as sent (compact jsonb text of this value).';
comment on column public.webhook_logs.webhook_id is 'The webhook-id header sent with this attempt.';

alter table public.webhook_queue
  add constraint webhook_queue_webhook_log_id_fkey
    foreign key (webhook_log_id) references public.webhook_logs (id) on delete set null,
  add constraint webhook_queue_parent_log_id_fkey
    foreign key (parent_log_id) references public.webhook_logs (id) on delete set null;

create index webhook_logs_routing_rule_id_created_at_idx on public.webhook_logs (routing_rule_id, created_at desc);
create index webhook_logs_queue_id_idx on public.webhook_logs (queue_id, attempt_number);
create index webhook_logs_lead_id_idx on public.webhook_logs (lead_id);
create index webhook_logs_parent_log_id_idx on public.webhook_logs (parent_log_id)
  where parent_log_id is not null;
create index webhook_logs_created_at_idx on public.webhook_logs (created_at);
