-- record_webhook_attempts: no retry delay can overflow.
--
-- Allowed configs (retry_delay_ms up to 86,400,000, multiplier up to 10, 20
-- retries) reach delays past interval's and bigint's range by attempt ~10:
-- `interval out of range` refused the whole record call. The sidecar caps the
-- delay at 30 days (sidecar/decide.py, MAX_RETRY_DELAY_MS); the database clamps
-- to the same maximum, and reads retry_in_ms as numeric, so no value a caller
-- sends can raise. Behaviour is otherwise unchanged.

-- ===========================================================================
-- webhook_max_retry_delay_ms: the longest wait before a retry (30 days)
-- ===========================================================================
create or replace function public.webhook_max_retry_delay_ms()
returns bigint
language sql
immutable
parallel safe
set search_path = ''
as $$ select 2592000000::bigint $$;

revoke execute on function public.webhook_max_retry_delay_ms() from public, anon, authenticated;
grant execute on function public.webhook_max_retry_delay_ms() to service_role;

-- ===========================================================================
-- record_webhook_attempts
-- ===========================================================================
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
      retry_in_ms numeric,
      log_id uuid,
      first_send boolean
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
           -- A first send cannot be logged yet: only resends pay for the lookup.
           case
             when coalesce(i.first_send, false) then false
             else coalesce(exists (select 1 from public.webhook_logs l where l.id = i.log_id), false)
           end as already_recorded
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
                         when o.action = 'retry'
                           then now() + least(greatest(o.retry_in_ms, 0), public.webhook_max_retry_delay_ms())
                                        * interval '1 millisecond'
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
