-- record_webhook_attempts applies the sidecar's decision instead of deciding again.
--
-- Each element may carry `status` ('success' | 'retrying' | 'failed'), the verdict
-- of sidecar/decide.py. The database applies it, and refuses one that is impossible:
-- `retrying` at attempt >= max_attempts, for `blocked`, for a success or without
-- retry_in_ms; `success` for an attempt that did not succeed; any other word. A
-- refused element is still logged, as `failed`, its error_message saying what was
-- refused; the rest of the batch is unaffected. Elements without `status` (a sidecar
-- from before this migration) get the old verdict, so workers can be upgraded one at
-- a time. A late result (lease lost) is never applied: it is logged `success` or
-- `failed` as before.
--
-- The function now returns the log status it wrote per element (`status`, null when
-- nothing was written), so the sidecar's log line and metrics report the database's
-- verdict. The return type changes, hence drop and create. Everything else (log_id
-- idempotency, first_send, the 30-day clamp, the lock order, one set-based pass) is
-- unchanged from 20261202100000_record_delay_cap.sql.

drop function if exists public.record_webhook_attempts(jsonb);

-- ===========================================================================
-- record_webhook_attempts
-- ===========================================================================
create function public.record_webhook_attempts(results jsonb)
returns table (queue_id uuid, log_id uuid, applied boolean, status text)
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
      first_send boolean,
      status text
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
             when coalesce(i.first_send, false) then null
             else (select l.status::text from public.webhook_logs l where l.id = i.log_id)
           end as recorded_status
    from input i
    left join locked q on q.id = i.queue_id
  ),
  ranked as materialized (
    select d.*,
           d.recorded_status is not null as already_recorded,
           -- The sidecar's verdict (sidecar/decide.py) is applied, unless it is impossible.
           case
             when d.status is null then null
             when d.status not in ('success', 'retrying', 'failed')
               then format('the sidecar asked for %s, which is not a status (success, retrying or failed)',
                           d.status)
             when d.status = 'success' and not d.ok
               then 'the sidecar asked for success for an attempt that did not succeed'
             when d.status <> 'success' and d.ok
               then format('the sidecar asked for %s after a success', d.status)
             when d.status = 'retrying' and d.error_type = 'blocked'
               then 'the sidecar asked for retrying a blocked attempt'
             when d.status = 'retrying' and d.retry_in_ms is null
               then 'the sidecar asked for retrying without retry_in_ms'
             when d.status = 'retrying' and d.attempt_number >= d.q_max_attempts
               then format('the sidecar asked for retrying past max_attempts (attempt %s of %s)',
                           d.attempt_number, d.q_max_attempts)
           end as refusal,
           d.recorded_status is null
             and (d.holds_lease or d.ends_duplicate)
             and row_number() over (partition by d.queue_id
                                    order by (d.holds_lease or d.ends_duplicate) desc, d.ord) = 1 as applies
    from decided d
  ),
  verdict as (
    select r.*,
           case
             when not r.applies then 'none'
             when r.refusal is not null then 'fail'
             when r.ok then 'complete'
             when r.status is not null then case r.status when 'retrying' then 'retry' else 'fail' end
             -- No status: a sidecar from before 20261202160000 sent this; decide as it expects.
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
           end as parent_id,
           case when r.ok and r.refusal is null then null else nullif(concat_ws('; ', r.error_message, r.refusal), '') end
             as message
    from ranked r
  ),
  outcome as materialized (
    select v.*,
           case
             when v.refusal is not null then 'failed'
             when v.ok then 'success'
             when v.action = 'retry' then 'retrying'
             else 'failed'
           end as log_status
    from verdict v
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
           o.log_status::public.webhook_log_status,
           o.message,
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
        error_message = o.message,
        locked_by = null,
        lease_expires_at = null
    from outcome o
    where o.applies and q.id = o.q_id
    returning 1
  )
  select o.queue_id,
         case when o.q_id is null then null else o.new_log_id end,
         o.applies,
         case
           when o.q_id is null then null
           when o.already_recorded then o.recorded_status
           else o.log_status
         end
  from outcome o
  order by o.ord;
end;
$$;


revoke execute on function public.record_webhook_attempts(jsonb) from public, anon, authenticated;
grant execute on function public.record_webhook_attempts(jsonb) to service_role;
