-- The internal RPCs the sidecar calls (docs/internal-rpc.md): claim, record,
-- release and requeue. Executable by service_role only.

-- ===========================================================================
-- claim_webhook_jobs
-- ===========================================================================
-- Takes up to max_jobs due deliveries under a lease: first those whose lease has
-- expired (a worker died holding them), then pending ones in claim order (highest
-- priority, then oldest scheduled_at), both with SKIP LOCKED so concurrent
-- claimers never wait for or share a delivery.
create or replace function public.claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer)
returns table (
  queue_id uuid,
  webhook_id uuid,
  lead_id uuid,
  routing_rule_id uuid,
  attempt_number integer,
  max_attempts integer,
  payload text,
  webhook_url text,
  custom_headers jsonb,
  timeout_ms integer,
  retry_enabled boolean,
  retry_delay_ms integer,
  retry_backoff_multiplier numeric,
  signing_secret text,
  claimed_at timestamptz
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker text := claim_webhook_jobs.worker_id;
  v_max integer := claim_webhook_jobs.max_jobs;
  v_lease interval := make_interval(secs => claim_webhook_jobs.lease_seconds);
  v_expired uuid[];
  v_pending uuid[];
begin
  if v_worker is null or v_worker = '' then
    raise exception 'worker_id must be a non-empty text' using errcode = 'invalid_parameter_value';
  end if;
  if v_max is null or v_max not between 1 and 10000 then
    raise exception 'max_jobs must be between 1 and 10000, got %', coalesce(v_max::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if claim_webhook_jobs.lease_seconds is null or claim_webhook_jobs.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400, got %', coalesce(claim_webhook_jobs.lease_seconds::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  with picked as (
    select q.id
    from public.webhook_queue q
    where q.status = 'processing' and q.lease_expires_at <= now()
    order by q.lease_expires_at
    limit v_max
    for update skip locked
  ),
  claimed as (
    update public.webhook_queue q
    set locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now()
    from picked
    where q.id = picked.id
    returning q.id
  )
  select coalesce(array_agg(claimed.id), '{}') into v_expired from claimed;

  if cardinality(v_expired) < v_max then
    with picked as (
      select q.id
      from public.webhook_queue q
      where q.status = 'pending' and q.scheduled_at <= now()
      order by q.priority desc, q.scheduled_at
      limit v_max - cardinality(v_expired)
      for update skip locked
    ),
    claimed as (
      update public.webhook_queue q
      set status = 'processing', locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now()
      from picked
      where q.id = picked.id
      returning q.id
    )
    select coalesce(array_agg(claimed.id), '{}') into v_pending from claimed;
  else
    v_pending := '{}';
  end if;

  -- Deliveries enqueued by hand-written inserts may lack a config row; give them
  -- one (and a signing secret) rather than hand out a null secret.
  insert into public.webhook_configs (routing_rule_id)
  select distinct q.routing_rule_id
  from public.webhook_queue q
  where q.id = any (v_expired || v_pending)
    and not exists (select 1 from public.webhook_configs c where c.routing_rule_id = q.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  return query
  select q.id, q.webhook_id, q.lead_id, q.routing_rule_id, q.attempt_number, q.max_attempts,
         q.payload::text, r.webhook_url, c.custom_headers, c.timeout_ms, c.retry_enabled,
         c.retry_delay_ms, c.retry_backoff_multiplier, c.signing_secret, now()
  from public.webhook_queue q
  join public.routing_rules r on r.id = q.routing_rule_id
  join public.webhook_configs c on c.routing_rule_id = q.routing_rule_id
  where q.id = any (v_expired || v_pending)
  order by q.priority desc, q.scheduled_at;
end;
$$;

revoke execute on function public.claim_webhook_jobs(text, integer, integer) from public, anon, authenticated;
grant execute on function public.claim_webhook_jobs(text, integer, integer) to service_role;

-- ===========================================================================
-- record_webhook_attempts
-- ===========================================================================
-- One set-based pass over a batch of finished attempts. Every attempt gets its log
-- row, once: a result may carry `log_id`, a uuid the sidecar draws once per attempt,
-- which becomes the log row's id. A record call can commit and still fail for its
-- caller (the connection drops after the commit, before the reply); the sidecar then
-- sends the same results again, and a result whose log_id is already logged changes
-- nothing (it comes back with applied = false).
-- The queue row follows the result only while the claimer's lease holds
-- (processing, locked_by = worker_id, same attempt_number), or when a late success
-- finds the delivery back in pending at the same attempt: completing it then ends
-- duplicate work. Any other late result leaves the queue row alone, and its log
-- says success or failed, never retrying.
create or replace function public.record_webhook_attempts(results jsonb)
returns table (queue_id uuid, log_id uuid, applied boolean)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  if results is null or jsonb_typeof(results) <> 'array' then
    raise exception 'results must be a JSON array of attempt results' using errcode = 'invalid_parameter_value';
  end if;

  return query
  with input as (
    select x.*, e.ord
    from jsonb_array_elements(record_webhook_attempts.results) with ordinality as e(elem, ord)
    cross join lateral jsonb_to_record(e.elem) as x(
      queue_id uuid,
      worker_id text,
      attempt_number integer,
      webhook_url text,
      request_headers jsonb,
      response_status integer,
      response_headers jsonb,
      response_body text,
      duration_ms integer,
      success boolean,
      error_type public.webhook_error_type,
      error_message text,
      retry_in_ms bigint,
      log_id uuid
    )
  ),
  -- Lock in id order so concurrent batches cannot deadlock each other.
  locked as materialized (
    select q.*
    from public.webhook_queue q
    where q.id in (select i.queue_id from input i)
    order by q.id
    for update
  ),
  decided as materialized (
    select i.*,
           q.id as q_id,
           q.lead_id as q_lead_id,
           q.routing_rule_id as q_routing_rule_id,
           q.webhook_id as q_webhook_id,
           q.max_attempts as q_max_attempts,
           q.payload as q_payload,
           q.parent_log_id as q_parent_log_id,
           q.webhook_log_id as q_last_log_id,
           coalesce(i.success, false) as ok,
           coalesce(q.status = 'processing' and q.locked_by = i.worker_id and q.attempt_number = i.attempt_number, false)
             as holds_lease,
           coalesce(i.success and q.status = 'pending' and q.attempt_number = i.attempt_number, false)
             as ends_duplicate,
           coalesce(i.log_id, gen_random_uuid()) as new_log_id,
           coalesce(exists (select 1 from public.webhook_logs l where l.id = i.log_id), false) as already_recorded
    from input i
    left join locked q on q.id = i.queue_id
  ),
  ranked as materialized (
    select d.*,
           not d.already_recorded
             and (d.holds_lease or d.ends_duplicate)
             and row_number() over (partition by d.queue_id
                                    order by (d.holds_lease or d.ends_duplicate) desc, d.ord) = 1 as applies
    from decided d
  ),
  outcome as materialized (
    select r.*,
           case
             when not r.applies then 'none'
             when r.ok then 'complete'
             when r.retry_in_ms is not null
                  and r.error_type is distinct from 'blocked'
                  and r.attempt_number < r.q_max_attempts then 'retry'
             else 'fail'
           end as action,
           case
             when r.attempt_number = 1 then r.q_parent_log_id
             when r.applies then r.q_last_log_id
             else (select l.id
                   from public.webhook_logs l
                   where l.queue_id = r.q_id and l.attempt_number = r.attempt_number - 1
                   order by l.created_at desc
                   limit 1)
           end as parent_id
    from ranked r
  ),
  logs as (
    insert into public.webhook_logs (
      id, lead_id, routing_rule_id, queue_id, webhook_id, webhook_url, request_headers, request_body,
      response_status, response_headers, response_body, duration_ms, attempt_number, max_attempts,
      is_retry, parent_log_id, status, error_message, error_type)
    select o.new_log_id, o.q_lead_id, o.q_routing_rule_id, o.q_id, o.q_webhook_id, coalesce(o.webhook_url, ''),
           coalesce(o.request_headers, '{}'::jsonb), o.q_payload, o.response_status, o.response_headers,
           o.response_body, o.duration_ms, o.attempt_number, o.q_max_attempts,
           o.attempt_number > 1 or o.q_parent_log_id is not null, o.parent_id,
           (case
              when o.ok then 'success'
              when o.action = 'retry' then 'retrying'
              else 'failed'
            end)::public.webhook_log_status,
           case when o.ok then null else o.error_message end,
           case when o.ok then null else o.error_type end
    from outcome o
    where o.q_id is not null and not o.already_recorded
    on conflict (id) do nothing
    returning 1
  ),
  queue_updates as (
    update public.webhook_queue q
    set webhook_log_id = o.new_log_id,
        status = (case o.action
                    when 'complete' then 'completed'
                    when 'retry' then 'pending'
                    else 'failed'
                  end)::public.webhook_queue_status,
        attempt_number = case when o.action = 'retry' then q.attempt_number + 1 else q.attempt_number end,
        scheduled_at = case
                         when o.action = 'retry' then now() + greatest(o.retry_in_ms, 0) * interval '1 millisecond'
                         else q.scheduled_at
                       end,
        completed_at = case when o.action = 'retry' then null else now() end,
        error_message = case when o.ok then null else o.error_message end,
        locked_by = null,
        lease_expires_at = null
    from outcome o
    where o.applies and q.id = o.q_id
    returning 1
  )
  select o.queue_id, case when o.q_id is null then null else o.new_log_id end, o.applies
  from outcome o
  order by o.ord;
end;
$$;

revoke execute on function public.record_webhook_attempts(jsonb) from public, anon, authenticated;
grant execute on function public.record_webhook_attempts(jsonb) to service_role;

-- ===========================================================================
-- release_webhook_jobs
-- ===========================================================================
-- Claimed deliveries that were never attempted (a stopping worker) go back to
-- pending, keeping their place in line (scheduled_at unchanged).
create or replace function public.release_webhook_jobs(ids uuid[])
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  released integer;
begin
  update public.webhook_queue q
  set status = 'pending', locked_by = null, lease_expires_at = null
  where q.id = any (release_webhook_jobs.ids) and q.status = 'processing';
  get diagnostics released = row_count;
  if released > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return released;
end;
$$;

revoke execute on function public.release_webhook_jobs(uuid[]) from public, anon, authenticated;
grant execute on function public.release_webhook_jobs(uuid[]) to service_role;

-- ===========================================================================
-- requeue_stale_webhook_jobs
-- ===========================================================================
-- Deliveries whose lease expired (their worker died or hung) go back to pending.
-- Claim takes expired leases itself too; this keeps the queue view honest.
create or replace function public.requeue_stale_webhook_jobs()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  requeued integer;
begin
  update public.webhook_queue q
  set status = 'pending', locked_by = null, lease_expires_at = null
  where q.id in (
    select s.id
    from public.webhook_queue s
    where s.status = 'processing' and s.lease_expires_at <= now()
    for update skip locked
  );
  get diagnostics requeued = row_count;
  if requeued > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return requeued;
end;
$$;

revoke execute on function public.requeue_stale_webhook_jobs() from public, anon, authenticated;
grant execute on function public.requeue_stale_webhook_jobs() to service_role;
