-- The schema as supabase/migrations leave it: generated, never edited by hand.
-- Regenerate with `.venv/bin/python scripts/dump_schema.py`;
-- tests/db/test_schema_file.py checks it against the migrations.
--
-- PostgreSQL database dump
--




--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA public;


--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA public IS 'standard public schema';


--
-- Name: webhooks_private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA webhooks_private;


--
-- Name: SCHEMA webhooks_private; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA webhooks_private IS 'Internals of the webhook system: trigger functions and helpers. Not exposed by PostgREST; no API role may use it.';


--
-- Name: webhook_error_type; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.webhook_error_type AS ENUM (
    'timeout',
    'network',
    'http_error',
    'invalid_response',
    'blocked'
);


--
-- Name: webhook_log_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.webhook_log_status AS ENUM (
    'pending',
    'success',
    'failed',
    'retrying'
);


--
-- Name: webhook_queue_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.webhook_queue_status AS ENUM (
    'pending',
    'processing',
    'completed',
    'failed'
);


--
-- Name: api_cancel_webhook_deliveries(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_cancel_webhook_deliveries(routing_rule_id uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:write', 'api_cancel_webhook_deliveries');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_cancel_webhook_deliveries.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.cancel_webhook_deliveries(api_cancel_webhook_deliveries.routing_rule_id);
end;
$$;


--
-- Name: api_recover_webhook_deliveries(uuid, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_recover_webhook_deliveries');
begin
  if api_recover_webhook_deliveries.since is null then
    perform webhooks_private.api_http_error(400, 'invalid_parameter', 'since is required: the start of the window to recover');
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_recover_webhook_deliveries.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.recover_webhook_deliveries(api_recover_webhook_deliveries.routing_rule_id,
                                           api_recover_webhook_deliveries.since,
                                           coalesce(api_recover_webhook_deliveries.until, now()));
end;
$$;


--
-- Name: api_replay_webhook(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_replay_webhook(log_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_replay_webhook');
  v_routing_rule_id uuid;
begin
  select l.routing_rule_id into v_routing_rule_id from public.webhook_logs l where l.id = api_replay_webhook.log_id;
  if v_routing_rule_id is null or not webhooks_private.api_user_owns_rule(v_user_id, v_routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('webhook log %s not found', api_replay_webhook.log_id));
  end if;
  return webhooks_private.webhook_replay_log(api_replay_webhook.log_id);
end;
$$;


--
-- Name: api_send_test_webhook(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_send_test_webhook(routing_rule_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:replay', 'api_send_test_webhook');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_send_test_webhook.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  return public.send_test_webhook(api_send_test_webhook.routing_rule_id);
end;
$$;


--
-- Name: api_update_webhook_config(uuid, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_update_webhook_config(routing_rule_id uuid, patch jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:write', 'api_update_webhook_config');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_update_webhook_config.routing_rule_id);
  perform webhooks_private.api_act_as(v_user_id);
  perform public.update_webhook_config(api_update_webhook_config.routing_rule_id, api_update_webhook_config.patch);
  return webhooks_private.api_config_view(api_update_webhook_config.routing_rule_id,
                                          coalesce(jsonb_typeof(api_update_webhook_config.patch) = 'object'
                                                   and api_update_webhook_config.patch ? 'signing_secret', false));
end;
$$;


--
-- Name: api_webhook_config(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_config(routing_rule_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_config');
begin
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_config.routing_rule_id);
  return webhooks_private.api_config_view(api_webhook_config.routing_rule_id, false);
end;
$$;




--
-- Name: webhook_logs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_logs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    lead_id uuid,
    routing_rule_id uuid NOT NULL,
    webhook_url text NOT NULL,
    request_headers jsonb DEFAULT '{}'::jsonb NOT NULL,
    request_body jsonb,
    response_status integer,
    response_headers jsonb,
    response_body text,
    duration_ms integer,
    attempt_number integer DEFAULT 1 NOT NULL,
    max_attempts integer DEFAULT 1 NOT NULL,
    is_retry boolean DEFAULT false NOT NULL,
    parent_log_id uuid,
    status public.webhook_log_status DEFAULT 'pending'::public.webhook_log_status NOT NULL,
    error_message text,
    error_type public.webhook_error_type,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    queue_id uuid,
    webhook_id uuid,
    CONSTRAINT webhook_logs_attempt_number_check CHECK ((attempt_number >= 1)),
    CONSTRAINT webhook_logs_duration_ms_check CHECK (((duration_ms IS NULL) OR (duration_ms >= 0)))
)
WITH (autovacuum_vacuum_insert_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');
ALTER TABLE ONLY public.webhook_logs ALTER COLUMN request_body SET COMPRESSION lz4;


--
-- Name: TABLE webhook_logs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_logs IS 'One row per HTTP attempt of a webhook delivery, written by the system only.';


--
-- Name: COLUMN webhook_logs.request_body; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_logs.request_body IS 'The delivery payload as sent (compact jsonb text of this value).';


--
-- Name: COLUMN webhook_logs.queue_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_logs.queue_id IS 'The delivery (webhook_queue.id) this attempt belongs to; null once that row is deleted. Kept by triggers, not a foreign key.';


--
-- Name: COLUMN webhook_logs.webhook_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_logs.webhook_id IS 'The webhook-id header sent with this attempt.';


--
-- Name: api_webhook_delivery_attempt(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_delivery_attempt(delivery_id uuid) RETURNS SETOF public.webhook_logs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller_uncounted('webhooks:replay');
  v_rule uuid;
begin
  select q.routing_rule_id into v_rule from public.webhook_queue q where q.id = api_webhook_delivery_attempt.delivery_id;
  if v_rule is null or not webhooks_private.api_user_owns_rule(v_user_id, v_rule) then
    perform webhooks_private.api_http_error(404, 'not_found', format('delivery %s not found', api_webhook_delivery_attempt.delivery_id));
  end if;
  return query
  select l.* from public.webhook_logs l
  where l.queue_id = api_webhook_delivery_attempt.delivery_id
  order by l.attempt_number
  limit 1;
end;
$$;


--
-- Name: api_webhook_events(uuid, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_events');
  v_events jsonb;
begin
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_events.routing_rule_id);
  select coalesce(jsonb_agg(to_jsonb(e) order by e.created_at desc, e.id desc), '[]'::jsonb) into v_events
  from (select * from public.webhook_events ev
        where ev.routing_rule_id = api_webhook_events.routing_rule_id
          and (api_webhook_events.since is null or ev.created_at >= api_webhook_events.since)
        order by ev.created_at desc, ev.id desc
        limit 200) e;
  return v_events;
end;
$$;


--
-- Name: api_webhook_log_chain(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_log_chain(log_id uuid) RETURNS SETOF public.webhook_logs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_log_chain');
  v_log public.webhook_logs%rowtype;
begin
  select * into v_log from public.webhook_logs l where l.id = api_webhook_log_chain.log_id;
  if v_log.id is null or not webhooks_private.api_user_owns_rule(v_user_id, v_log.routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('webhook log %s not found', api_webhook_log_chain.log_id));
  end if;
  if v_log.webhook_id is null then
    return next v_log;
    return;
  end if;
  return query
  select l.* from public.webhook_logs l
  where l.routing_rule_id = v_log.routing_rule_id and l.webhook_id = v_log.webhook_id
  order by l.created_at, l.attempt_number, l.id
  limit 500;
end;
$$;


--
-- Name: api_webhook_log_page(uuid, text, timestamp with time zone, timestamp with time zone, integer, timestamp with time zone, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_log_page(routing_rule_id uuid DEFAULT NULL::uuid, status text DEFAULT NULL::text, since timestamp with time zone DEFAULT NULL::timestamp with time zone, until timestamp with time zone DEFAULT NULL::timestamp with time zone, max_rows integer DEFAULT 50, before_created_at timestamp with time zone DEFAULT NULL::timestamp with time zone, before_id uuid DEFAULT NULL::uuid) RETURNS SETOF public.webhook_logs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_log_page');
begin
  if api_webhook_log_page.status is not null
     and not api_webhook_log_page.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('status must be one of pending, success, failed, retrying; got %s', to_json(api_webhook_log_page.status)::text));
  end if;
  if api_webhook_log_page.max_rows is null or api_webhook_log_page.max_rows not between 1 and 1000 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('limit must be between 1 and 1000, got %s', coalesce(api_webhook_log_page.max_rows::text, 'null')));
  end if;
  if (api_webhook_log_page.before_created_at is null) <> (api_webhook_log_page.before_id is null) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter', 'cursor must give both a time and an id');
  end if;
  if api_webhook_log_page.routing_rule_id is null then
    if v_headers is not null and nullif(btrim(v_headers::json ->> 'x-api-key'), '') is not null then
      perform webhooks_private.api_http_error(400, 'invalid_parameter', 'routing_rule_id is required with an API key');
    end if;
  else
    perform webhooks_private.api_require_rule(v_user_id, api_webhook_log_page.routing_rule_id);
  end if;

  -- Built from fixed fragments so that each call is planned for the filters it has:
  -- with a rule and a cursor it is a range read of the (rule, created_at, id) index.
  return query execute
    'select l.* from public.webhook_logs l where '
    || case when api_webhook_log_page.routing_rule_id is null
            then 'l.routing_rule_id in (select r.id from public.routing_rules r join public.funnels f'
                 ' on f.id = r.funnel_id where f.owner_id = $1)'
            else 'l.routing_rule_id = $2' end
    || case when api_webhook_log_page.status is null then '' else ' and l.status = $3::public.webhook_log_status' end
    || case when api_webhook_log_page.since is null then '' else ' and l.created_at >= $4' end
    || case when api_webhook_log_page.until is null then '' else ' and l.created_at < $5' end
    || case when api_webhook_log_page.before_id is null then ''
            else ' and l.created_at <= $6 and (l.created_at < $6 or l.id < $7)' end
    || ' order by l.created_at desc, l.id desc limit $8'
    using v_user_id, api_webhook_log_page.routing_rule_id, api_webhook_log_page.status,
          api_webhook_log_page.since, api_webhook_log_page.until,
          api_webhook_log_page.before_created_at, api_webhook_log_page.before_id,
          api_webhook_log_page.max_rows;
end;
$_$;


--
-- Name: api_webhook_logs(uuid, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_logs(routing_rule_id uuid, status text DEFAULT NULL::text, max_rows integer DEFAULT 50) RETURNS SETOF public.webhook_logs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_key_authenticate('webhooks:read', 'api_webhook_logs');
begin
  if api_webhook_logs.status is not null
     and not api_webhook_logs.status = any (enum_range(null::public.webhook_log_status)::text[]) then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('status must be one of pending, success, failed, retrying; got %s',
                                                   to_json(api_webhook_logs.status)::text));
  end if;
  if api_webhook_logs.max_rows is null or api_webhook_logs.max_rows not between 1 and 1000 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('max_rows must be between 1 and 1000, got %s',
                                                   coalesce(api_webhook_logs.max_rows::text, 'null')));
  end if;
  if not webhooks_private.api_user_owns_rule(v_user_id, api_webhook_logs.routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found',
                                            format('routing rule %s not found', api_webhook_logs.routing_rule_id));
  end if;

  return query
  select l.*
  from public.webhook_logs l
  where l.routing_rule_id = api_webhook_logs.routing_rule_id
    and (api_webhook_logs.status is null or l.status = api_webhook_logs.status::public.webhook_log_status)
  order by l.created_at desc, l.id
  limit api_webhook_logs.max_rows;
end;
$$;


--
-- Name: api_webhook_rules(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_rules() RETURNS TABLE(routing_rule_id uuid, funnel_id uuid, funnel_name text, funnel_status text, client_name text, webhook_url text, is_active boolean, paused_at timestamp with time zone, paused_reason text, created_at timestamp with time zone, pending_deliveries bigint, held_deliveries bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_rules');
begin
  -- held: pending deliveries that wait for the rule (paused or inactive) or its funnel
  -- (not active) rather than for their time.
  return query
  select x.id, x.funnel_id, x.funnel_name, x.funnel_status, x.client_name, x.webhook_url, x.is_active,
         x.paused_at, x.paused_reason, x.created_at, x.pending,
         case when x.paused_at is not null or not x.is_active or x.funnel_status <> 'active'
              then x.pending else 0 end
  from (
    select r.id, f.id as funnel_id, f.name as funnel_name, f.status as funnel_status, r.client_name,
           r.webhook_url, r.is_active, (to_jsonb(c) ->> 'paused_at')::timestamptz as paused_at,
           to_jsonb(c) ->> 'paused_reason' as paused_reason, r.created_at,
           (select count(*) from public.webhook_queue q
            where q.routing_rule_id = r.id and q.status = 'pending') as pending
    from public.routing_rules r
    join public.funnels f on f.id = r.funnel_id
    left join public.webhook_configs c on c.routing_rule_id = r.id
    where f.owner_id = v_user_id
  ) x
  order by x.funnel_name, x.client_name, x.id;
end;
$$;


--
-- Name: api_webhook_stats(uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_stats(routing_rule_id uuid, days integer DEFAULT 7) RETURNS TABLE(total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric, success_rate numeric)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller('webhooks:read', 'api_webhook_stats');
begin
  if api_webhook_stats.days is null or api_webhook_stats.days not between 1 and 36500 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
                                            format('days must be between 1 and 36500, got %s',
                                                   coalesce(api_webhook_stats.days::text, 'null')));
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_stats.routing_rule_id);
  return query select * from webhooks_private.webhook_stats_for_rule(api_webhook_stats.routing_rule_id, api_webhook_stats.days);
end;
$$;


--
-- Name: api_webhook_stats_series(uuid, integer, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_webhook_stats_series(routing_rule_id uuid, days integer DEFAULT 7, bucket text DEFAULT 'day'::text) RETURNS TABLE(bucket_start timestamp with time zone, total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_user_id uuid := webhooks_private.api_caller_uncounted('webhooks:read');
begin
  if api_webhook_stats_series.bucket is null or api_webhook_stats_series.bucket not in ('hour', 'day') then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('series must be hour or day, got %s', coalesce(to_json(api_webhook_stats_series.bucket)::text, 'null')));
  end if;
  if api_webhook_stats_series.days is null or api_webhook_stats_series.days not between 1 and 36500 then
    perform webhooks_private.api_http_error(400, 'invalid_parameter',
      format('days must be between 1 and 36500, got %s', coalesce(api_webhook_stats_series.days::text, 'null')));
  end if;
  perform webhooks_private.api_require_rule(v_user_id, api_webhook_stats_series.routing_rule_id);
  return query
  select date_trunc(api_webhook_stats_series.bucket, h.hour, 'UTC') as b,
         sum(h.total_calls)::bigint, sum(h.success_calls)::bigint,
         (sum(h.total_calls) - sum(h.success_calls))::bigint,
         round(coalesce(sum(h.duration_sum)::numeric / nullif(sum(h.duration_count), 0), 0), 2)
  from public.webhook_stats_hourly h
  where h.routing_rule_id = api_webhook_stats_series.routing_rule_id
    and h.hour >= date_trunc(api_webhook_stats_series.bucket,
                             now() - make_interval(days => api_webhook_stats_series.days), 'UTC')
  group by 1
  order by 1;
end;
$$;


--
-- Name: cancel_webhook_deliveries(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.cancel_webhook_deliveries(routing_rule_id uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_count integer;
begin
  perform webhooks_private.webhook_require_rule(cancel_webhook_deliveries.routing_rule_id);
  update public.webhook_queue q
  set status = 'failed', error_message = 'cancelled', completed_at = now(), held = false, rate_reserved = false
  where q.routing_rule_id = cancel_webhook_deliveries.routing_rule_id and q.status = 'pending';
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;


--
-- Name: claim_webhook_jobs(text, integer, integer, uuid[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer, queue_ids uuid[] DEFAULT NULL::uuid[]) RETURNS TABLE(queue_id uuid, webhook_id uuid, lead_id uuid, routing_rule_id uuid, attempt_number integer, max_attempts integer, payload text, webhook_url text, custom_headers jsonb, timeout_ms integer, retry_enabled boolean, retry_delay_ms integer, retry_backoff_multiplier numeric, signing_secret text, claimed_at timestamp with time zone, previous_signing_secret text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_worker text := claim_webhook_jobs.worker_id;
  v_max integer := claim_webhook_jobs.max_jobs;
  v_ids uuid[] := claim_webhook_jobs.queue_ids;
  v_lease interval := make_interval(secs => claim_webhook_jobs.lease_seconds);
  v_expired uuid[];
  v_granted uuid[] := '{}';
  v_picked uuid[];
  v_now_granted uuid[];
  v_passes integer := 0;
begin
  -- A claim lost to a crash leaves its deliveries as they were (pending, or an expired
  -- lease): they are claimed again, at least once still holds. The record that follows
  -- commits after it in WAL order, so a durable record implies a durable claim. For the
  -- rest of the calling transaction (the worker calls this alone, in its own).
  set local synchronous_commit = off;
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

  -- Expired leases of held rules stay put: requeue_stale_webhook_jobs returns them
  -- to pending, where they are held.
  with picked as (
    select q.id
    from public.webhook_queue q
    where q.status = 'processing' and q.lease_expires_at <= now()
      and (v_ids is null or q.id = any (v_ids))
      and (q.lead_id is null or q.routing_rule_id not in (select webhooks_private.webhook_held_rules(array[q.routing_rule_id])))
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

  -- Most setups limit no rule: then one statement takes the due rows, as it always did.
  if v_ids is null
     and not exists (select 1 from public.webhook_configs c where c.max_requests_per_second is not null) then
    with picked as (
      select q.id
      from public.webhook_queue q
      where q.status = 'pending' and not q.held and q.scheduled_at <= now()
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
    select coalesce(array_agg(claimed.id), '{}') into v_granted from claimed;
    v_passes := 20;
  end if;

  -- Otherwise each pass takes due rows, keeps those its rules' rates allow and
  -- puts the rest off; a throttled rule's backlog thus leaves the due range
  -- instead of filling every claim. Passes are bounded so one claim stays short.
  while cardinality(v_expired) + cardinality(v_granted) < v_max and v_passes < 20 loop
    v_passes := v_passes + 1;
    if v_ids is null then
      select coalesce(array_agg(p.id), '{}') into v_picked
      from (
        select q.id
        from public.webhook_queue q
        where q.status = 'pending' and not q.held and q.scheduled_at <= now()
        order by q.priority desc, q.scheduled_at
        limit v_max - cardinality(v_expired) - cardinality(v_granted)
        for update skip locked
      ) p;
    else
      select coalesce(array_agg(p.id), '{}') into v_picked
      from (
        select q.id
        from public.webhook_queue q
        where q.id = any (v_ids) and q.status = 'pending' and not q.held and q.scheduled_at <= now()
        order by q.priority desc, q.scheduled_at
        limit v_max - cardinality(v_expired) - cardinality(v_granted)
        for update skip locked
      ) p;
    end if;
    exit when cardinality(v_picked) = 0;
    v_now_granted := webhooks_private.webhook_take_tokens(v_picked);
    -- Taken at once, so the next pass does not see them as due again.
    update public.webhook_queue q
    set status = 'processing', locked_by = v_worker, lease_expires_at = now() + v_lease, started_at = now(),
        rate_reserved = false
    where q.id = any (v_now_granted);
    v_granted := v_granted || v_now_granted;
    -- Nothing put off: the due rows are all taken, or the claim is full.
    exit when v_ids is not null or cardinality(v_now_granted) = cardinality(v_picked);
  end loop;

  -- Deliveries enqueued by hand-written inserts may lack a config row; give them
  -- one (and a signing secret) rather than hand out a null secret.
  insert into public.webhook_configs (routing_rule_id)
  select distinct q.routing_rule_id
  from public.webhook_queue q
  where q.id = any (v_expired || v_granted)
    and not exists (select 1 from public.webhook_configs c where c.routing_rule_id = q.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  return query
  select q.id, coalesce(q.webhook_id, q.id),
         coalesce(q.lead_id, '00000000-0000-0000-0000-000000000000'::uuid),
         q.routing_rule_id, q.attempt_number, q.max_attempts,
         q.payload::text, r.webhook_url, c.custom_headers, c.timeout_ms, c.retry_enabled,
         c.retry_delay_ms, c.retry_backoff_multiplier, c.signing_secret, now(),
         case when c.previous_secret_expires_at > now() then c.previous_signing_secret end
  from public.webhook_queue q
  join public.routing_rules r on r.id = q.routing_rule_id
  join public.webhook_configs c on c.routing_rule_id = q.routing_rule_id
  where q.id = any (v_expired || v_granted)
  order by q.priority desc, q.scheduled_at;
end;
$$;


--
-- Name: create_api_key(text, text[], timestamp with time zone, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_api_key(name text, scopes text[] DEFAULT '{webhooks:read,webhooks:replay}'::text[], expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone, rate_limit_per_minute integer DEFAULT 60) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  allowed constant text[] := '{webhooks:read,webhooks:replay,webhooks:write}';
  v_user_id uuid := auth.uid();
  v_unknown text;
  v_plain text;
  v_active bigint;
begin
  if v_user_id is null then
    perform webhooks_private.api_http_error(401, 'not_authenticated', 'sign in to create an API key',
                                            'Call create_api_key with a signed-in user''s access token.');
  end if;
  if create_api_key.name is null or length(btrim(create_api_key.name)) not between 1 and 200 then
    raise exception 'name must be between 1 and 200 characters'
      using errcode = 'invalid_parameter_value', column = 'name';
  end if;
  if create_api_key.scopes is null or cardinality(create_api_key.scopes) = 0 then
    raise exception 'scopes must list at least one of %', array_to_string(allowed, ', ')
      using errcode = 'invalid_parameter_value', column = 'scopes';
  end if;
  select s into v_unknown
  from unnest(create_api_key.scopes) as s
  where s is null or not s = any (allowed)
  limit 1;
  if found then
    raise exception 'scopes: unknown scope % (allowed: %)', coalesce(to_json(v_unknown)::text, 'null'),
                    array_to_string(allowed, ', ')
      using errcode = 'invalid_parameter_value', column = 'scopes';
  end if;
  if create_api_key.expires_at is not null and create_api_key.expires_at <= now() then
    raise exception 'expires_at must be in the future'
      using errcode = 'invalid_parameter_value', column = 'expires_at';
  end if;
  if create_api_key.rate_limit_per_minute is null or create_api_key.rate_limit_per_minute not between 1 and 10000 then
    raise exception 'rate_limit_per_minute must be between 1 and 10000, got %', coalesce(create_api_key.rate_limit_per_minute::text, 'null')
      using errcode = 'invalid_parameter_value', column = 'rate_limit_per_minute';
  end if;

  perform pg_advisory_xact_lock(hashtextextended('create_api_key:' || v_user_id::text, 0));
  select count(*) into v_active
  from public.api_keys k
  where k.user_id = v_user_id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now());
  if v_active >= 100 then
    raise exception 'too many active API keys: you have %, the limit is 100', v_active
      using errcode = 'P0001',  -- 400 in PostgREST and in serve, with this message
            hint = 'Revoke keys you no longer use with revoke_api_key(id), then create this one.';
  end if;

  v_plain := 'bpc_' || encode(extensions.gen_random_bytes(24), 'hex');
  insert into public.api_keys (user_id, name, key_prefix, key_hash, scopes, expires_at, rate_limit_per_minute)
  values (v_user_id, btrim(create_api_key.name), left(v_plain, 12),
          encode(sha256(convert_to(v_plain, 'UTF8')), 'hex'),
          (select array_agg(distinct s order by s) from unnest(create_api_key.scopes) as s),
          create_api_key.expires_at, create_api_key.rate_limit_per_minute);
  return v_plain;
end;
$$;


--
-- Name: defer_webhook_jobs(text, uuid[], integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.defer_webhook_jobs(worker_id text, ids uuid[], delay_ms integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  deferred integer;
begin
  if defer_webhook_jobs.delay_ms is null or defer_webhook_jobs.delay_ms not between 0 and 3600000 then
    raise exception 'delay_ms must be between 0 and 3600000, got %', coalesce(defer_webhook_jobs.delay_ms::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  update public.webhook_queue q
  set status = 'pending', locked_by = null, lease_expires_at = null,
      scheduled_at = greatest(q.scheduled_at, now() + make_interval(secs => defer_webhook_jobs.delay_ms / 1000.0))
  where q.id = any (defer_webhook_jobs.ids)
    and q.status = 'processing'
    and q.locked_by = defer_webhook_jobs.worker_id;
  get diagnostics deferred = row_count;
  return deferred;
end;
$$;


--
-- Name: enqueue_webhook(uuid, uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer DEFAULT 0) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_rule public.routing_rules%rowtype;
  v_lead public.leads%rowtype;
  v_owner uuid;
  v_id uuid := gen_random_uuid();
begin
  if enqueue_webhook.priority is not null and enqueue_webhook.priority not between -100 and 100 then
    raise exception 'priority must be between -100 and 100, got %', enqueue_webhook.priority
      using errcode = 'invalid_parameter_value', column = 'priority',
            hint = 'Higher is sooner; replays always run at 1000, ahead of any enqueued delivery.';
  end if;
  if not webhooks_private.webhook_rule_visible(enqueue_webhook.routing_rule_id) then
    raise exception 'routing rule % not found', enqueue_webhook.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  select * into v_rule from public.routing_rules r where r.id = enqueue_webhook.routing_rule_id;
  select * into v_lead from public.leads l where l.id = enqueue_webhook.lead_id;
  if v_lead.id is null or v_lead.funnel_id <> v_rule.funnel_id then
    raise exception 'lead % not found in the funnel of routing rule %', enqueue_webhook.lead_id, v_rule.id
      using errcode = 'no_data_found', hint = 'A lead can only be delivered to the rules of its own funnel.';
  end if;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_rule.id);

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload,
     enqueued_by)
  values (
    v_id, v_id, v_lead.id, v_rule.id, coalesce(enqueue_webhook.priority, 0), 1,
    webhooks_private.webhook_max_attempts(v_rule.id), now(),
    jsonb_build_object(
      'type', 'lead.created',
      'timestamp', now(),
      'data', jsonb_build_object(
        'lead_id', v_lead.id,
        'funnel_id', v_lead.funnel_id,
        'routing_rule_id', v_rule.id,
        'client_name', v_rule.client_name,
        'lead', v_lead.data,
        'created_at', v_lead.created_at)),
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;


--
-- Name: extend_webhook_leases(text, uuid[], integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.extend_webhook_leases(worker_id text, ids uuid[], lease_seconds integer) RETURNS TABLE(queue_id uuid)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if extend_webhook_leases.lease_seconds is null or extend_webhook_leases.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400, got %', coalesce(extend_webhook_leases.lease_seconds::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  return query
  update public.webhook_queue q
  set lease_expires_at = greatest(q.lease_expires_at, now() + make_interval(secs => extend_webhook_leases.lease_seconds))
  where q.id = any (extend_webhook_leases.ids)
    and q.status = 'processing'
    and q.locked_by = extend_webhook_leases.worker_id
    and q.lease_expires_at > now()
  returning q.id;
end;
$$;


--
-- Name: get_webhook_stats(uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.get_webhook_stats(routing_rule_id uuid, days integer DEFAULT 7) RETURNS TABLE(total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric, success_rate numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if get_webhook_stats.days is null or get_webhook_stats.days not between 1 and 36500 then
    raise exception 'days must be between 1 and 36500, got %', coalesce(get_webhook_stats.days::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if not webhooks_private.webhook_rule_visible(get_webhook_stats.routing_rule_id) then
    raise exception 'routing rule % not found', get_webhook_stats.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  return query select * from webhooks_private.webhook_stats_for_rule(get_webhook_stats.routing_rule_id, get_webhook_stats.days);
end;
$$;


--
-- Name: purge_api_rate_limit_log(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.purge_api_rate_limit_log() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  removed bigint;
begin
  delete from public.api_rate_limit_log r where r.created_at < now() - interval '1 hour';
  get diagnostics removed = row_count;
  return removed;
end;
$$;


--
-- Name: purge_webhook_logs(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.purge_webhook_logs() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_days integer;
  v_cutoff timestamptz;
  removed bigint;
begin
  select case when jsonb_typeof(s.value) = 'number' then (s.value #>> '{}')::numeric::integer end
  into v_days
  from public.webhook_settings s
  where s.key = 'log_retention_days';
  v_days := coalesce(v_days, 30);
  if v_days < 1 then
    raise exception 'webhook_settings.log_retention_days must be at least 1, got %', v_days
      using errcode = 'invalid_parameter_value';
  end if;
  v_cutoff := now() - make_interval(days => v_days);

  delete from public.webhook_logs l where l.created_at < v_cutoff;
  get diagnostics removed = row_count;

  delete from public.webhook_queue q
  where q.status in ('completed', 'failed') and q.completed_at < v_cutoff;

  delete from public.webhook_events e where e.created_at < v_cutoff;

  return removed;
end;
$$;


--
-- Name: record_webhook_attempts(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_webhook_attempts(results jsonb) RETURNS TABLE(queue_id uuid, log_id uuid, applied boolean, status text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET "webhooks.recording" TO 'on'
    AS $$
#variable_conflict use_column
declare
  -- First sends are inserted without ON CONFLICT; should one's log_id exist after all
  -- (a result marked first_send by mistake), the call is made again with ON CONFLICT
  -- for every result, the mark still sparing the lookup (tests/db/test_record_resend.py).
  v_plain boolean := true;
  v_queue_ids uuid[];
  v_log_ids uuid[];
  v_applied boolean[];
  v_statuses text[];
begin
  if results is null or jsonb_typeof(results) <> 'array' then
    raise exception 'results must be a JSON array of attempt results' using errcode = 'invalid_parameter_value';
  end if;

  loop
    begin
      with input as (
        -- One pass over the array: each header map is copied out once, not twice.
        select x.*
        from rows from (jsonb_to_recordset(record_webhook_attempts.results) as (
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
        )) with ordinality as x(queue_id, worker_id, attempt_number, webhook_url, request_headers,
                               response_status, response_headers, response_body, duration_ms, success,
                               error_type, error_message, retry_in_ms, log_id, first_send, status, ord)
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
               coalesce(i.first_send, false) as first,
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
      -- A first send's log_id is new (the sidecar made it for this attempt): a plain insert.
      first_logs as (
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
        where o.q_id is not null and o.first and v_plain
        returning 1
      ),
      -- A resend may find its log already written by the call it repeats.
      resent_logs as (
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
        where o.q_id is not null and not (o.first and v_plain) and not o.already_recorded
        on conflict (id) do nothing
        returning 1
      ),
      -- Retries of a held rule (paused, inactive, funnel not active) go back held; the
      -- rules are looked up only when there is a retry of a lead's delivery.
      held_rules as (
        select case
                 when exists (select 1 from outcome o where o.applies and o.action = 'retry' and o.q_lead_id is not null)
                   then array(select webhooks_private.webhook_held_rules(array(
                          select distinct o.q_routing_rule_id from outcome o
                          where o.applies and o.action = 'retry' and o.q_lead_id is not null)))
                 else '{}'::uuid[]
               end as ids
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
                               then now() + least(greatest(o.retry_in_ms, 0), webhooks_private.webhook_max_retry_delay_ms())
                                            * interval '1 millisecond'
                             else q.scheduled_at
                           end,
            completed_at = case when o.action = 'retry' then null else now() end,
            error_message = o.message,
            locked_by = null,
            lease_expires_at = null,
            held = case
                     when o.action = 'retry' and q.lead_id is not null and q.routing_rule_id = any (h.ids) then true
                     else q.held
                   end
        from outcome o, held_rules h
        where o.applies and q.id = o.q_id
        returning 1
      ),
      -- Each delivery that ended failed: its delivery.failed event (tests too).
      failed_events as (
        insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
        select o.q_routing_rule_id, r.funnel_id, 'delivery.failed',
               jsonb_build_object('queue_id', o.q_id, 'webhook_id', o.q_webhook_id, 'lead_id', o.q_lead_id,
                                  'log_id', o.new_log_id, 'attempts', o.attempt_number,
                                  'error_type', case when o.ok then null else o.error_type end,
                                  'error_message', o.message,
                                  'response_status', o.response_status, 'test', o.q_lead_id is null)
        from outcome o
        join public.routing_rules r on r.id = o.q_routing_rule_id
        where o.applies and o.action = 'fail'
        returning 1
      ),
      -- Per rule, over this call's ended deliveries: a success among leads' deliveries
      -- resets the count of failures in a row, else their failures add to it; a rule with
      -- a failure (a test's too) at or past auto_pause_after_failures is paused.
      per_rule as (
        select o.q_routing_rule_id as routing_rule_id,
               bool_or(o.q_lead_id is not null) as counts,
               bool_or(o.q_lead_id is not null and o.action = 'complete') as any_success,
               count(*) filter (where o.q_lead_id is not null and o.action = 'fail') as failures,
               bool_or(o.action = 'fail') as any_failed
        from outcome o
        where o.applies and o.action in ('complete', 'fail')
        group by o.q_routing_rule_id
      ),
      next_count as (
        select p.*, c.routing_rule_id as c_rule,
               case
                 when not p.counts then c.consecutive_failures
                 when p.any_success then 0
                 else least(c.consecutive_failures + p.failures, 2147483647)
               end as failures_now,
               case
                 when not p.counts then c.failing_since
                 when p.any_success then null
                 else coalesce(c.failing_since, now())
               end as since_now
        from per_rule p
        join public.webhook_configs c on c.routing_rule_id = p.routing_rule_id
      ),
      next_config as (
        select n.*,
               n.any_failed and c.paused_at is null and c.auto_pause_after_failures is not null
                 and n.failures_now >= c.auto_pause_after_failures as pauses,
               n.failures_now is distinct from c.consecutive_failures or n.since_now is distinct from c.failing_since
                 as changes
        from next_count n
        join public.webhook_configs c on c.routing_rule_id = n.c_rule
      ),
      counted as (
        update public.webhook_configs c
        set consecutive_failures = n.failures_now,
            failing_since = n.since_now,
            paused_at = case when n.pauses then now() else c.paused_at end,
            paused_reason = case
                              when n.pauses
                                then format('auto: %s deliveries in a row failed since %s',
                                            n.failures_now, to_char(n.since_now at time zone 'UTC',
                                                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                              else c.paused_reason
                            end
        from next_config n
        where c.routing_rule_id = n.c_rule and (n.pauses or n.changes)
        returning 1
      )
      select array_agg(o.queue_id order by o.ord),
             array_agg(case when o.q_id is null then null else o.new_log_id end order by o.ord),
             array_agg(o.applies order by o.ord),
             array_agg(case
                         when o.q_id is null then null
                         when o.already_recorded then o.recorded_status
                         else o.log_status
                       end order by o.ord)
      into v_queue_ids, v_log_ids, v_applied, v_statuses
      from outcome o;
      exit;
    exception when unique_violation then
      if not v_plain then
        raise;
      end if;
      v_plain := false;
    end;
  end loop;

  return query select * from unnest(v_queue_ids, v_log_ids, v_applied, v_statuses);
end;
$$;


--
-- Name: recover_webhook_deliveries(uuid, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_rule uuid := recover_webhook_deliveries.routing_rule_id;
  v_count integer;
begin
  perform webhooks_private.webhook_require_rule(v_rule);
  if recover_webhook_deliveries.since is null then
    raise exception 'since must be a timestamp, e.g. now() - interval ''2 hours''' using errcode = 'invalid_parameter_value';
  end if;
  if recover_webhook_deliveries.until is null or recover_webhook_deliveries.until < recover_webhook_deliveries.since then
    raise exception 'until must be a timestamp not before since' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('webhook_recover:' || v_rule::text, 0));

  insert into public.webhook_configs (routing_rule_id) values (v_rule)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  -- A webhook-id keeps its rule through replays and recovers, so one pass over the
  -- rule's rows finds both the failed deliveries and the ids already settled.
  with rule_rows as materialized (
    select q.webhook_id, q.lead_id, q.payload, q.webhook_log_id, q.status, q.created_at
    from public.webhook_queue q
    where q.routing_rule_id = v_rule
  ),
  candidates as (
    select distinct on (r.webhook_id) r.webhook_id, r.lead_id, r.payload, r.webhook_log_id
    from rule_rows r
    where r.created_at >= recover_webhook_deliveries.since
      and r.created_at < recover_webhook_deliveries.until
      and r.status = 'failed'
      and r.lead_id is not null
      and r.webhook_id not in (select s.webhook_id from rule_rows s
                               where s.status in ('completed', 'pending', 'processing'))
    order by r.webhook_id, r.created_at desc
  ),
  inserted as (
    insert into public.webhook_queue
      (webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload, parent_log_id)
    select c.webhook_id, c.lead_id, v_rule, 0, 1, webhooks_private.webhook_max_attempts(v_rule), now(), c.payload, c.webhook_log_id
    from candidates c
    returning 1
  )
  select count(*) into v_count from inserted;

  if v_count > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return v_count;
end;
$$;


--
-- Name: release_webhook_jobs(uuid[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.release_webhook_jobs(ids uuid[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: replay_webhook(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.replay_webhook(log_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_routing_rule_id uuid;
begin
  select l.routing_rule_id into v_routing_rule_id from public.webhook_logs l where l.id = replay_webhook.log_id;
  if v_routing_rule_id is null or not webhooks_private.webhook_rule_visible(v_routing_rule_id) then
    raise exception 'webhook log % not found', replay_webhook.log_id
      using errcode = 'no_data_found', hint = 'Pass the id of a row of webhook_logs for one of your routing rules.';
  end if;
  return webhooks_private.webhook_replay_log(replay_webhook.log_id);
end;
$$;


--
-- Name: requeue_stale_webhook_jobs(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.requeue_stale_webhook_jobs() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: revoke_api_key(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.revoke_api_key(id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.api_keys k
  set revoked_at = coalesce(k.revoked_at, now())
  where k.id = revoke_api_key.id
    and (webhooks_private.webhook_caller_is_admin() or k.user_id = (select auth.uid()));
  if not found then
    raise exception 'API key % not found', revoke_api_key.id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your API keys (table api_keys).';
  end if;
end;
$$;


--
-- Name: send_test_webhook(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.send_test_webhook(routing_rule_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_rule public.routing_rules%rowtype;
  v_id uuid := gen_random_uuid();
  v_owner uuid;
begin
  perform webhooks_private.webhook_require_rule(send_test_webhook.routing_rule_id);
  select * into v_rule from public.routing_rules r where r.id = send_test_webhook.routing_rule_id;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_rule.id);

  insert into public.webhook_configs (routing_rule_id) values (v_rule.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload,
     enqueued_by)
  values (
    v_id, v_id, null, v_rule.id, 1000, 1, 1, now(),
    jsonb_build_object(
      'type', 'webhook.test',
      'timestamp', now(),
      'data', jsonb_build_object(
        'lead_id', '00000000-0000-0000-0000-000000000000'::uuid,
        'funnel_id', v_rule.funnel_id,
        'routing_rule_id', v_rule.id,
        'client_name', v_rule.client_name,
        'lead', jsonb_build_object('email', 'test.lead@example.com', 'name', 'Test Lead',
                                   'phone', '+10000000000', 'test', true),
        'created_at', now())),
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;


--
-- Name: webhook_headers_problem(jsonb); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_headers_problem(headers jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
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
$_$;


--
-- Name: webhook_configs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_configs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    routing_rule_id uuid NOT NULL,
    custom_headers jsonb DEFAULT '{}'::jsonb NOT NULL,
    timeout_ms integer DEFAULT 10000 NOT NULL,
    retry_enabled boolean DEFAULT true NOT NULL,
    max_retries integer DEFAULT 3 NOT NULL,
    retry_delay_ms integer DEFAULT 1000 NOT NULL,
    retry_backoff_multiplier numeric DEFAULT 2.0 NOT NULL,
    signing_secret text DEFAULT ('whsec_'::text || encode(extensions.gen_random_bytes(32), 'base64'::text)) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    paused_at timestamp with time zone,
    paused_reason text,
    auto_pause_after_failures integer,
    secret_overlap_hours integer DEFAULT 24 NOT NULL,
    max_requests_per_second numeric,
    previous_signing_secret text,
    previous_secret_expires_at timestamp with time zone,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    failing_since timestamp with time zone,
    CONSTRAINT webhook_configs_auto_pause_after_failures_check CHECK (((auto_pause_after_failures IS NULL) OR ((auto_pause_after_failures >= 1) AND (auto_pause_after_failures <= 10000)))),
    CONSTRAINT webhook_configs_custom_headers_check CHECK ((webhooks_private.webhook_headers_problem(custom_headers) IS NULL)),
    CONSTRAINT webhook_configs_max_requests_per_second_check CHECK (((max_requests_per_second IS NULL) OR ((max_requests_per_second >= 0.1) AND (max_requests_per_second <= (10000)::numeric)))),
    CONSTRAINT webhook_configs_max_retries_check CHECK (((max_retries >= 0) AND (max_retries <= 20))),
    CONSTRAINT webhook_configs_retry_backoff_multiplier_check CHECK (((retry_backoff_multiplier >= (1)::numeric) AND (retry_backoff_multiplier <= (10)::numeric))),
    CONSTRAINT webhook_configs_retry_delay_ms_check CHECK (((retry_delay_ms >= 100) AND (retry_delay_ms <= 86400000))),
    CONSTRAINT webhook_configs_secret_overlap_hours_check CHECK (((secret_overlap_hours >= 0) AND (secret_overlap_hours <= 168))),
    CONSTRAINT webhook_configs_signing_secret_check CHECK ((signing_secret ~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$'::text)),
    CONSTRAINT webhook_configs_timeout_ms_check CHECK (((timeout_ms >= 100) AND (timeout_ms <= 300000)))
);


--
-- Name: TABLE webhook_configs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_configs IS 'Delivery settings per routing rule. Defaults: timeout 10000 ms, retries on, 3 retries, 1000 ms first delay, x2.0 backoff.';


--
-- Name: COLUMN webhook_configs.signing_secret; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_configs.signing_secret IS 'Standard Webhooks secret: whsec_ followed by base64 of the HMAC key. Receivers verify webhook-signature with it.';


--
-- Name: COLUMN webhook_configs.paused_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_configs.paused_at IS 'Set while the rule is paused: its deliveries are held (pending, not attempted). Null: not paused.';


--
-- Name: COLUMN webhook_configs.paused_reason; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_configs.paused_reason IS 'manual, or auto: ... when auto_pause_after_failures deliveries in a row failed.';


--
-- Name: COLUMN webhook_configs.previous_signing_secret; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_configs.previous_signing_secret IS 'The secret replaced last; requests are signed with it too until previous_secret_expires_at.';


--
-- Name: COLUMN webhook_configs.consecutive_failures; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_configs.consecutive_failures IS 'Deliveries of the rule that ended failed since its last success (kept by webhook_queue_outcomes).';


--
-- Name: update_webhook_config(uuid, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.update_webhook_config(routing_rule_id uuid, patch jsonb) RETURNS public.webhook_configs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  allowed constant text[] := array['custom_headers', 'timeout_ms', 'retry_enabled', 'max_retries',
                                   'retry_delay_ms', 'retry_backoff_multiplier', 'signing_secret',
                                   'paused', 'auto_pause_after_failures', 'secret_overlap_hours',
                                   'max_requests_per_second'];
  v_key text;
  v_value jsonb;
  v_row public.webhook_configs;
begin
  if not webhooks_private.webhook_rule_visible(update_webhook_config.routing_rule_id) then
    raise exception 'routing rule % not found', update_webhook_config.routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
  if patch is null or jsonb_typeof(patch) <> 'object' then
    raise exception 'invalid webhook config: patch must be a JSON object, e.g. {"timeout_ms": 5000}'
      using errcode = 'invalid_parameter_value';
  end if;

  for v_key, v_value in select e.key, e.value from jsonb_each(patch) as e loop
    if not v_key = any (allowed) then
      raise exception 'invalid webhook config: unknown key %', to_json(v_key)::text
        using errcode = 'invalid_parameter_value',
              hint = 'Allowed keys: ' || array_to_string(allowed, ', ') || '.';
    end if;
    if jsonb_typeof(v_value) = 'null' then
      continue;
    end if;
    if v_key in ('timeout_ms', 'max_retries', 'retry_delay_ms', 'auto_pause_after_failures', 'secret_overlap_hours')
       and (jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
            or v_value::numeric not between -2147483648 and 2147483647) then
      raise exception 'invalid webhook config: % must be a whole number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key in ('retry_backoff_multiplier', 'max_requests_per_second') and jsonb_typeof(v_value) <> 'number' then
      raise exception 'invalid webhook config: % must be a number, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key in ('retry_enabled', 'paused') and jsonb_typeof(v_value) <> 'boolean' then
      raise exception 'invalid webhook config: % must be true or false, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'signing_secret' and jsonb_typeof(v_value) <> 'string' then
      raise exception 'invalid webhook config: % must be a string starting with whsec_, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    elsif v_key = 'custom_headers' and jsonb_typeof(v_value) <> 'object' then
      raise exception 'invalid webhook config: % must be a JSON object of header name to value, got %', v_key, v_value::text
        using errcode = 'invalid_parameter_value', column = v_key;
    end if;
  end loop;

  insert into public.webhook_configs (routing_rule_id) values (update_webhook_config.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  update public.webhook_configs c
  set custom_headers = case when patch ? 'custom_headers'
                            then coalesce(nullif(patch -> 'custom_headers', 'null'::jsonb), '{}'::jsonb)
                            else c.custom_headers end,
      timeout_ms = case when patch ? 'timeout_ms'
                        then coalesce((patch ->> 'timeout_ms')::numeric::integer, 10000)
                        else c.timeout_ms end,
      retry_enabled = case when patch ? 'retry_enabled'
                           then coalesce((patch ->> 'retry_enabled')::boolean, true)
                           else c.retry_enabled end,
      max_retries = case when patch ? 'max_retries'
                         then coalesce((patch ->> 'max_retries')::numeric::integer, 3)
                         else c.max_retries end,
      retry_delay_ms = case when patch ? 'retry_delay_ms'
                            then coalesce((patch ->> 'retry_delay_ms')::numeric::integer, 1000)
                            else c.retry_delay_ms end,
      retry_backoff_multiplier = case when patch ? 'retry_backoff_multiplier'
                                      then coalesce((patch ->> 'retry_backoff_multiplier')::numeric, 2.0)
                                      else c.retry_backoff_multiplier end,
      signing_secret = case when patch ? 'signing_secret'
                            then coalesce(patch ->> 'signing_secret',
                                          'whsec_' || encode(extensions.gen_random_bytes(32), 'base64'))
                            else c.signing_secret end,
      auto_pause_after_failures = case when patch ? 'auto_pause_after_failures'
                                       then (patch ->> 'auto_pause_after_failures')::numeric::integer
                                       else c.auto_pause_after_failures end,
      secret_overlap_hours = case when patch ? 'secret_overlap_hours'
                                  then coalesce((patch ->> 'secret_overlap_hours')::numeric::integer, 24)
                                  else c.secret_overlap_hours end,
      max_requests_per_second = case when patch ? 'max_requests_per_second'
                                     then (patch ->> 'max_requests_per_second')::numeric
                                     else c.max_requests_per_second end,
      -- Pausing a paused rule keeps its first pause; resuming starts a fresh failure count.
      paused_at = case when not patch ? 'paused' then c.paused_at
                       when coalesce((patch ->> 'paused')::boolean, false) then coalesce(c.paused_at, now())
                       else null end,
      paused_reason = case when not patch ? 'paused' then c.paused_reason
                           when coalesce((patch ->> 'paused')::boolean, false) then coalesce(c.paused_reason, 'manual')
                           else null end,
      consecutive_failures = case when patch ? 'paused' and not coalesce((patch ->> 'paused')::boolean, false)
                                  then 0 else c.consecutive_failures end,
      failing_since = case when patch ? 'paused' and not coalesce((patch ->> 'paused')::boolean, false)
                           then null else c.failing_since end
  where c.routing_rule_id = update_webhook_config.routing_rule_id
  returning c.* into v_row;

  return v_row;
end;
$$;


--
-- Name: webhook_queue; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_queue (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    webhook_id uuid NOT NULL,
    lead_id uuid,
    routing_rule_id uuid NOT NULL,
    webhook_log_id uuid,
    status public.webhook_queue_status DEFAULT 'pending'::public.webhook_queue_status NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    attempt_number integer DEFAULT 1 NOT NULL,
    max_attempts integer DEFAULT 4 NOT NULL,
    scheduled_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    error_message text,
    payload jsonb NOT NULL,
    parent_log_id uuid,
    locked_by text,
    lease_expires_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    held boolean DEFAULT false NOT NULL,
    rate_reserved boolean DEFAULT false NOT NULL,
    enqueued_by uuid,
    CONSTRAINT webhook_queue_attempt_number_check CHECK (((attempt_number >= 1) AND (attempt_number <= max_attempts))),
    CONSTRAINT webhook_queue_lease_check CHECK (((status = 'processing'::public.webhook_queue_status) = ((locked_by IS NOT NULL) AND (lease_expires_at IS NOT NULL)))),
    CONSTRAINT webhook_queue_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 21)))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_insert_scale_factor='0.01', autovacuum_analyze_scale_factor='0.02', autovacuum_vacuum_cost_delay='0');


--
-- Name: COLUMN webhook_queue.webhook_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.webhook_id IS 'Value of the webhook-id header: the id of the first delivery of this lead to this rule (its own id unless it is a replay).';


--
-- Name: COLUMN webhook_queue.webhook_log_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.webhook_log_id IS 'The latest attempt''s log (webhook_logs.id); null once that log is deleted. Kept by triggers, not a foreign key.';


--
-- Name: COLUMN webhook_queue.attempt_number; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.attempt_number IS 'Number of the next attempt (1 before the first); after the delivery ends, the last attempt made.';


--
-- Name: COLUMN webhook_queue.payload; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.payload IS 'Request body, frozen at enqueue: sent byte-identical (compact jsonb text) on every attempt and replay.';


--
-- Name: COLUMN webhook_queue.held; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.held IS 'True while the pending delivery''s rule is paused or inactive, or its funnel is not active: not claimed.';


--
-- Name: COLUMN webhook_queue.rate_reserved; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.rate_reserved IS 'Its rule''s token was taken when the claim put it off to scheduled_at: it starts then without another.';


--
-- Name: COLUMN webhook_queue.enqueued_by; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.webhook_queue.enqueued_by IS 'Owner who enqueued this delivery by hand (enqueue_webhook, replay); null for the system''s.';


--
-- Name: webhook_delivery(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_delivery(queue_id uuid) RETURNS SETOF public.webhook_queue
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select q.* from public.webhook_queue q where q.id = webhook_delivery.queue_id
$$;


--
-- Name: webhook_effective_config(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_effective_config(routing_rule_id uuid) RETURNS TABLE(routing_rule_id uuid, client_name text, webhook_url text, is_active boolean, has_config_row boolean, custom_headers jsonb, timeout_ms integer, retry_enabled boolean, max_retries integer, retry_delay_ms integer, retry_backoff_multiplier numeric, signing_secret text, updated_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select r.id, r.client_name, r.webhook_url, r.is_active, c.id is not null,
         coalesce(c.custom_headers, '{}'::jsonb), coalesce(c.timeout_ms, 10000),
         coalesce(c.retry_enabled, true), coalesce(c.max_retries, 3),
         coalesce(c.retry_delay_ms, 1000), coalesce(c.retry_backoff_multiplier, 2.0),
         c.signing_secret, c.updated_at
  from public.routing_rules r
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = webhook_effective_config.routing_rule_id
$$;


--
-- Name: webhook_held_summary(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_held_summary() RETURNS TABLE(routing_rule_id uuid, client_name text, held bigint, reason text, paused_at timestamp with time zone, paused_reason text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with counts as (
    select q.routing_rule_id, count(*) as held
    from public.webhook_queue q
    where q.status = 'pending' and q.held
    group by q.routing_rule_id
  )
  select r.id, r.client_name, coalesce(n.held, 0),
         case when c.paused_at is not null then 'paused'
              when not r.is_active then 'rule inactive'
              when f.status <> 'active' then 'funnel ' || f.status
              else 'released' end,
         c.paused_at, c.paused_reason
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  left join public.webhook_configs c on c.routing_rule_id = r.id
  left join counts n on n.routing_rule_id = r.id
  where n.held is not null or c.paused_at is not null
  order by coalesce(n.held, 0) desc, r.id
$$;


--
-- Name: webhook_log_search(uuid, text, uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_log_search(routing_rule_id uuid DEFAULT NULL::uuid, status text DEFAULT NULL::text, queue_id uuid DEFAULT NULL::uuid, max_rows integer DEFAULT 50) RETURNS SETOF public.webhook_logs
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if webhook_log_search.status is not null
     and webhook_log_search.status not in (select unnest(enum_range(null::public.webhook_log_status))::text) then
    raise exception 'unknown log status %: use pending, success, failed or retrying', webhook_log_search.status
      using errcode = 'invalid_parameter_value';
  end if;
  if webhook_log_search.max_rows is null or webhook_log_search.max_rows not between 1 and 10000 then
    raise exception 'max_rows must be between 1 and 10000, got %', coalesce(webhook_log_search.max_rows::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;

  return query
  select l.*
  from public.webhook_logs l
  where (webhook_log_search.routing_rule_id is null or l.routing_rule_id = webhook_log_search.routing_rule_id)
    and (webhook_log_search.status is null or l.status::text = webhook_log_search.status)
    and (webhook_log_search.queue_id is null or l.queue_id = webhook_log_search.queue_id)
  order by l.created_at desc, l.attempt_number desc
  limit webhook_log_search.max_rows;
end;
$$;


--
-- Name: webhook_queue_summary(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_queue_summary() RETURNS TABLE(status public.webhook_queue_status, deliveries bigint, due_now bigint, oldest_scheduled_at timestamp with time zone, next_scheduled_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select s.status,
         count(q.id),
         count(q.id) filter (
           where (q.status = 'pending' and q.scheduled_at <= now())
              or (q.status = 'processing' and q.lease_expires_at <= now())),
         min(q.scheduled_at),
         min(q.scheduled_at) filter (where q.status = 'pending' and q.scheduled_at > now())
  from unnest(enum_range(null::public.webhook_queue_status)) as s(status)
  left join public.webhook_queue q on q.status = s.status
  group by s.status
  order by s.status
$$;


--
-- Name: webhook_stats_rebuild(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_stats_rebuild() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  written bigint;
begin
  lock table public.webhook_logs in share mode;
  delete from public.webhook_stats_hourly;
  insert into public.webhook_stats_hourly
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select l.routing_rule_id,
         date_trunc('hour', l.created_at, 'UTC'),
         count(*),
         count(*) filter (where l.status = 'success'),
         coalesce(sum(l.duration_ms), 0),
         count(l.duration_ms)
  from public.webhook_logs l
  group by 1, 2;
  get diagnostics written = row_count;
  return written;
end;
$$;


--
-- Name: api_act_as(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_act_as(p_user_id uuid) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select set_config('request.jwt.claims', json_build_object('sub', p_user_id, 'role', 'authenticated')::text, true),
         set_config('request.jwt.claim.sub', p_user_id::text, true)
$$;


--
-- Name: api_caller(text, text); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_caller(p_scope text, p_endpoint text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_uid uuid;
begin
  if v_headers is not null and nullif(btrim(v_headers::json ->> 'x-api-key'), '') is not null then
    return webhooks_private.api_key_authenticate(p_scope, p_endpoint);
  end if;
  if coalesce(nullif(current_setting('role', true), 'none'), session_user::text) = 'authenticated' then
    v_uid := auth.uid();
    if v_uid is not null then
      return v_uid;
    end if;
    perform webhooks_private.api_http_error(401, 'not_authenticated', 'the access token has no sub claim',
                                            'Sign in again to get a user access token.');
  end if;
  perform webhooks_private.api_http_error(401, 'not_authenticated', 'API key or access token missing',
                                          'Send Authorization: Bearer <bpc_ key or Supabase access token>.');
  return null;
end;
$$;


--
-- Name: api_caller_uncounted(text); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_caller_uncounted(p_scope text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_plain text;
  v_key public.api_keys%rowtype;
begin
  v_plain := case when v_headers is null then null else nullif(btrim(v_headers::json ->> 'x-api-key'), '') end;
  if v_plain is null then
    return webhooks_private.api_caller(p_scope, 'uncounted');  -- a JWT caller: nothing is counted anyway
  end if;
  select * into v_key from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex');
  if v_key.id is null or v_key.revoked_at is not null
     or (v_key.expires_at is not null and v_key.expires_at <= now()) then
    perform webhooks_private.api_http_error(401, 'api_key_invalid', 'API key not recognised, revoked or expired',
                                            'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform webhooks_private.api_http_error(403, 'api_key_scope_missing', format('API key lacks the %s scope', p_scope),
                                            format('Create a key whose scopes include %s.', p_scope));
  end if;
  return v_key.user_id;
end;
$$;


--
-- Name: api_config_view(uuid, boolean); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_config_view(p_routing_rule_id uuid, p_show_secret boolean) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
           'custom_headers', '{}'::jsonb, 'timeout_ms', 10000, 'retry_enabled', true, 'max_retries', 3,
           'retry_delay_ms', 1000, 'retry_backoff_multiplier', 2.0, 'signing_secret', null,
           'created_at', null, 'updated_at', null)
         || coalesce(to_jsonb(c) - 'id', '{}'::jsonb)
         || jsonb_build_object(
              'routing_rule_id', r.id, 'client_name', r.client_name, 'webhook_url', r.webhook_url,
              'is_active', r.is_active, 'has_config_row', c.id is not null,
              'signing_secret', case when c.signing_secret is null then null
                                     when p_show_secret then c.signing_secret
                                     else left(c.signing_secret, 10) || '…' end)
  from public.routing_rules r
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = p_routing_rule_id
$$;


--
-- Name: api_http_error(integer, text, text, text, jsonb); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_http_error(p_status integer, p_code text, p_message text, p_hint text DEFAULT NULL::text, p_headers jsonb DEFAULT '{}'::jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object('code', p_code, 'message', p_message, 'details', null, 'hint', p_hint)::text,
    detail = json_build_object('status', p_status, 'headers', coalesce(p_headers, '{}'::jsonb))::text;
end;
$$;


--
-- Name: api_key_authenticate(text, text); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_key_authenticate(p_scope text, p_endpoint text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_headers text := nullif(current_setting('request.headers', true), '');
  v_plain text;
  v_key public.api_keys%rowtype;
  v_used bigint;
  v_free_at timestamptz;
begin
  v_plain := nullif(btrim(v_headers::json ->> 'x-api-key'), '');
  if v_plain is null then
    perform webhooks_private.api_http_error(401, 'api_key_missing', 'API key missing',
                                            'Send your key (bpc_...) in the x-api-key header.');
  end if;

  select * into v_key
  from public.api_keys k
  where k.key_hash = encode(sha256(convert_to(v_plain, 'UTF8')), 'hex')
  for update;

  if v_key.id is null then
    perform webhooks_private.api_http_error(401, 'api_key_invalid', 'API key not recognised',
                                            'Check the key, or create a new one with create_api_key().');
  elsif v_key.revoked_at is not null then
    perform webhooks_private.api_http_error(401, 'api_key_revoked', 'API key has been revoked',
                                            'Create a new key with create_api_key().');
  elsif v_key.expires_at is not null and v_key.expires_at <= now() then
    perform webhooks_private.api_http_error(401, 'api_key_expired', 'API key has expired',
                                            'Create a new key with create_api_key().');
  elsif not p_scope = any (v_key.scopes) then
    perform webhooks_private.api_http_error(403, 'api_key_scope_missing',
                                            format('API key lacks the %s scope', p_scope),
                                            format('Create a key whose scopes include %s.', p_scope));
  end if;

  select count(*) into v_used
  from public.api_rate_limit_log r
  where r.api_key_id = v_key.id and r.created_at > now() - interval '60 seconds';

  if v_used >= v_key.rate_limit_per_minute then
    -- The call becomes possible once enough counted calls leave the 60 s window.
    select r.created_at into v_free_at
    from public.api_rate_limit_log r
    where r.api_key_id = v_key.id and r.created_at > now() - interval '60 seconds'
    order by r.created_at
    offset v_used - v_key.rate_limit_per_minute
    limit 1;
    perform webhooks_private.api_http_error(
      429, 'rate_limited',
      format('rate limit exceeded: at most %s calls per minute for this key', v_key.rate_limit_per_minute),
      'Wait for the number of seconds in Retry-After.',
      jsonb_build_object('Retry-After',
        greatest(1, ceil(extract(epoch from (v_free_at + interval '60 seconds' - now()))))::integer::text));
  end if;

  insert into public.api_rate_limit_log (api_key_id, endpoint) values (v_key.id, p_endpoint);
  update public.api_keys k set last_used_at = now() where k.id = v_key.id;
  return v_key.user_id;
end;
$$;


--
-- Name: api_require_rule(uuid, uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_require_rule(p_user_id uuid, p_routing_rule_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_routing_rule_id is null or not webhooks_private.api_user_owns_rule(p_user_id, p_routing_rule_id) then
    perform webhooks_private.api_http_error(404, 'not_found', format('routing rule %s not found', p_routing_rule_id),
                                            'Pass the id of one of your routing rules (GET /api/v1/webhooks/rules).');
  end if;
end;
$$;


--
-- Name: api_user_owns_rule(uuid, uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.api_user_owns_rule(p_user_id uuid, p_routing_rule_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select exists (
    select 1
    from public.routing_rules r
    join public.funnels f on f.id = r.funnel_id
    where r.id = p_routing_rule_id and f.owner_id = p_user_id
  )
$$;


--
-- Name: webhook_caller_is_admin(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_caller_is_admin() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
         not in ('anon', 'authenticated', 'authenticator')
$$;


--
-- Name: webhook_configs_keep_previous_secret(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_configs_keep_previous_secret() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if new.signing_secret is distinct from old.signing_secret then
    if new.secret_overlap_hours > 0 then
      new.previous_signing_secret := old.signing_secret;
      new.previous_secret_expires_at := now() + make_interval(hours => new.secret_overlap_hours);
    else
      new.previous_signing_secret := null;
      new.previous_secret_expires_at := null;
    end if;
  end if;
  return new;
end;
$$;


--
-- Name: webhook_configs_limits(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_configs_limits() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  problem text;
  field text;
  total bigint;
begin
  if tg_op = 'INSERT' or new.signing_secret is distinct from old.signing_secret then
    problem := webhooks_private.webhook_secret_problem(new.signing_secret);
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


--
-- Name: webhook_configs_pause_changed(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_configs_pause_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
  select new.routing_rule_id, r.funnel_id,
         case when new.paused_at is null then 'rule.resumed' else 'rule.paused' end,
         case when new.paused_at is null
              then jsonb_build_object('paused_at', old.paused_at, 'paused_reason', old.paused_reason)
              else jsonb_build_object('paused_at', new.paused_at, 'reason', new.paused_reason,
                                      'consecutive_failures', new.consecutive_failures,
                                      'failing_since', new.failing_since)
         end
  from public.routing_rules r
  where r.id = new.routing_rule_id;
  perform webhooks_private.webhook_refresh_held(array[new.routing_rule_id]);
  return null;
end;
$$;


--
-- Name: webhook_configs_validate(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_configs_validate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
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
    problem := webhooks_private.webhook_headers_problem(new.custom_headers);
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
$_$;


--
-- Name: webhook_configs_validate_breaker(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_configs_validate_breaker() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  problem text;
  field text;
begin
  if new.auto_pause_after_failures is not null and new.auto_pause_after_failures not between 1 and 10000 then
    field := 'auto_pause_after_failures';
    problem := format('auto_pause_after_failures must be between 1 and 10000 (or null to turn it off), got %s',
                      new.auto_pause_after_failures);
  elsif new.secret_overlap_hours is null or new.secret_overlap_hours not between 0 and 168 then
    field := 'secret_overlap_hours';
    problem := format('secret_overlap_hours must be between 0 and 168 (hours), got %s',
                      coalesce(new.secret_overlap_hours::text, 'null'));
  elsif new.max_requests_per_second is not null and new.max_requests_per_second not between 0.1 and 10000 then
    field := 'max_requests_per_second';
    problem := format('max_requests_per_second must be between 0.1 and 10000 (or null for no limit), got %s',
                      new.max_requests_per_second);
  end if;
  if problem is not null then
    raise exception 'invalid webhook config: %', problem
      using errcode = 'check_violation', column = field, table = 'webhook_configs', schema = 'public',
            constraint = 'webhook_configs_' || field || '_check';
  end if;
  return new;
end;
$$;


--
-- Name: webhook_enqueue_new_leads(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_enqueue_new_leads() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  enqueued bigint;
begin
  -- Every rule that can receive these leads gets its config row, and with it a
  -- signing secret, before any delivery of it can be claimed.
  insert into public.webhook_configs (routing_rule_id)
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id and f.status = 'active'
  where r.is_active
    and r.funnel_id in (select nl.funnel_id from new_leads nl)
    and not exists (select 1 from public.webhook_configs c where c.routing_rule_id = r.id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  with matched as materialized (
    select gen_random_uuid() as id,
           nl.id as lead_id,
           nl.funnel_id,
           nl.data,
           nl.created_at,
           r.id as routing_rule_id,
           r.client_name,
           case when coalesce(c.retry_enabled, true) then coalesce(c.max_retries, 3) + 1 else 1 end as max_attempts
    from new_leads nl
    join public.funnels f on f.id = nl.funnel_id and f.status = 'active'
    join public.routing_rules r
      on r.funnel_id = nl.funnel_id
     and r.is_active
     and (r.condition is null or r.condition = '{}'::jsonb or nl.data @> r.condition)
    left join public.webhook_configs c on c.routing_rule_id = r.id
  ),
  inserted as (
    insert into public.webhook_queue
      (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts, scheduled_at, payload)
    select m.id, m.id, m.lead_id, m.routing_rule_id, 0, 1, m.max_attempts, now(),
           jsonb_build_object(
             'type', 'lead.created',
             'timestamp', now(),
             'data', jsonb_build_object(
               'lead_id', m.lead_id,
               'funnel_id', m.funnel_id,
               'routing_rule_id', m.routing_rule_id,
               'client_name', m.client_name,
               'lead', m.data,
               'created_at', m.created_at))
    from matched m
    returning 1
  )
  select count(*) into enqueued from inserted;

  if enqueued > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
  return null;
end;
$$;


--
-- Name: webhook_funnels_hold_changed(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_funnels_hold_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform webhooks_private.webhook_refresh_held(array(select r.id from public.routing_rules r where r.funnel_id = new.id));
  return null;
end;
$$;


--
-- Name: webhook_hand_enqueue_owner(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_hand_enqueue_owner(p_routing_rule_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_owner uuid;
  v_pending bigint;
begin
  if webhooks_private.webhook_caller_is_admin() then
    return null;
  end if;
  select f.owner_id into v_owner
  from public.routing_rules r join public.funnels f on f.id = r.funnel_id
  where r.id = p_routing_rule_id;
  -- Serialises one owner's concurrent requests so the count below cannot be overtaken.
  perform pg_advisory_xact_lock(hashtextextended('webhook_hand_enqueue:' || v_owner::text, 0));
  select count(*) into v_pending
  from public.webhook_queue q
  where q.enqueued_by = v_owner and q.status = 'pending';
  if v_pending >= 1000 then
    raise exception 'too many deliveries enqueued by hand: % are pending, the limit is 1000 per owner', v_pending
      using errcode = 'P0001',  -- 400 in PostgREST and in serve, with this message
            hint = 'Wait until they are delivered, or cancel them with cancel_webhook_deliveries(routing_rule_id).';
  end if;
  return v_owner;
end;
$$;


--
-- Name: webhook_held_rules(uuid[]); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_held_rules(rule_ids uuid[]) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  left join public.webhook_configs c on c.routing_rule_id = r.id
  where r.id = any (rule_ids)
    and (not r.is_active or f.status <> 'active' or c.paused_at is not null)
$$;


--
-- Name: webhook_json_deeper_than(jsonb, integer); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_json_deeper_than(value jsonb, max_depth integer) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
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


--
-- Name: webhook_json_problem(jsonb, integer); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_json_problem(value jsonb, max_bytes integer) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
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
     and webhooks_private.webhook_json_deeper_than(value, 64) then
    return 'nests objects and arrays deeper than 64 levels';
  end if;
  return null;
end;
$$;


--
-- Name: webhook_leads_limits(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_leads_limits() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  problem text := webhooks_private.webhook_json_problem(new.data, 1048576);
begin
  if problem is not null then
    raise exception 'invalid lead: data %', problem
      using errcode = 'check_violation', column = 'data', table = 'leads', schema = 'public',
            hint = 'A lead''s data is at most 1 MiB as JSON text and 64 levels deep.';
  end if;
  return new;
end;
$$;


--
-- Name: webhook_logs_forget_deleted(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_logs_forget_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.webhook_queue q
  set webhook_log_id = null
  where q.webhook_log_id = any (array(select d.id from deleted_rows d));
  return null;
end;
$$;


--
-- Name: webhook_logs_forget_truncated(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_logs_forget_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.webhook_queue q set webhook_log_id = null where q.webhook_log_id is not null;
  return null;
end;
$$;


--
-- Name: webhook_max_attempts(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_max_attempts(p_routing_rule_id uuid) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(
    (select case when c.retry_enabled then c.max_retries + 1 else 1 end
     from public.webhook_configs c
     where c.routing_rule_id = p_routing_rule_id),
    4)
$$;


--
-- Name: webhook_max_retry_delay_ms(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_max_retry_delay_ms() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path TO ''
    AS $$ select 2592000000::bigint $$;


--
-- Name: webhook_my_rule_ids(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_my_rule_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select r.id
  from public.routing_rules r
  join public.funnels f on f.id = r.funnel_id
  where f.owner_id = (select auth.uid())
$$;


--
-- Name: webhook_queue_default_webhook_id(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_default_webhook_id() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.webhook_id := new.id;
  return new;
end;
$$;


--
-- Name: webhook_queue_forget_deleted(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_forget_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- An array, not a subquery: the planner then reads the logs by webhook_logs_queue_id_idx.
  update public.webhook_logs l
  set queue_id = null
  where l.queue_id = any (array(select d.id from deleted_rows d));
  return null;
end;
$$;


--
-- Name: webhook_queue_forget_truncated(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_forget_truncated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.webhook_logs l set queue_id = null where l.queue_id is not null;
  return null;
end;
$$;


--
-- Name: webhook_queue_hold_new(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_hold_new() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_held uuid[] := array(select webhooks_private.webhook_held_rules(array(select distinct n.routing_rule_id from new_rows n)));
begin
  if cardinality(v_held) > 0 then
    update public.webhook_queue q
    set held = true
    where q.id = any (array(select n.id from new_rows n
                            where n.routing_rule_id = any (v_held)
                              and n.status = 'pending' and not n.held and n.lead_id is not null));
  end if;
  return null;
end;
$$;


--
-- Name: webhook_queue_hold_returned(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_hold_returned() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if new.routing_rule_id in (select webhooks_private.webhook_held_rules(array[new.routing_rule_id])) then
    new.held := true;
  end if;
  return new;
end;
$$;


--
-- Name: webhook_queue_outcomes(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_queue_outcomes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- Updates made by other triggers end nothing (as before: a trigger's own writes).
  if pg_trigger_depth() > 1 then
    return null;
  end if;

  if new.status = 'failed' then
    insert into public.webhook_events (routing_rule_id, funnel_id, type, detail)
    select new.routing_rule_id, r.funnel_id, 'delivery.failed',
           jsonb_build_object('queue_id', new.id, 'webhook_id', new.webhook_id, 'lead_id', new.lead_id,
                              'log_id', new.webhook_log_id, 'attempts', new.attempt_number,
                              'error_type', l.error_type, 'error_message', new.error_message,
                              'response_status', l.response_status, 'test', new.lead_id is null)
    from public.routing_rules r
    left join public.webhook_logs l on l.id = new.webhook_log_id
    where r.id = new.routing_rule_id;
  end if;

  if new.lead_id is not null then
    update public.webhook_configs c
    set consecutive_failures = case when new.status = 'completed' then 0
                                    else least(c.consecutive_failures + 1, 2147483647) end,
        failing_since = case when new.status = 'completed' then null else coalesce(c.failing_since, now()) end
    where c.routing_rule_id = new.routing_rule_id
      and (new.status = 'failed' or c.consecutive_failures > 0);
  end if;

  if new.status = 'failed' then
    update public.webhook_configs c
    set paused_at = now(),
        paused_reason = format('auto: %s deliveries in a row failed since %s',
                               c.consecutive_failures, to_char(c.failing_since at time zone 'UTC',
                                                               'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    where c.routing_rule_id = new.routing_rule_id
      and c.paused_at is null
      and c.auto_pause_after_failures is not null
      and c.consecutive_failures >= c.auto_pause_after_failures;
  end if;
  return null;
end;
$$;


--
-- Name: webhook_refresh_held(uuid[]); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_refresh_held(rule_ids uuid[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  -- Arrays, not subqueries: the planner then reads the rules' rows by index.
  v_held uuid[] := array(select webhooks_private.webhook_held_rules(rule_ids));
  v_free uuid[] := array(select r from unnest(rule_ids) as r where r <> all (v_held));
  released integer := 0;
begin
  if cardinality(v_held) > 0 then
    update public.webhook_queue q
    set held = true
    where q.routing_rule_id = any (v_held)
      and q.status = 'pending' and not q.held and q.lead_id is not null;
  end if;

  if cardinality(v_free) > 0 then
    update public.webhook_queue q
    set held = false
    where q.routing_rule_id = any (v_free) and q.status = 'pending' and q.held;
    get diagnostics released = row_count;
  end if;
  if released > 0 then
    perform pg_notify('webhook_jobs', '');
  end if;
end;
$$;


--
-- Name: webhook_replay_log(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_replay_log(p_log_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_log public.webhook_logs%rowtype;
  v_webhook_id uuid;
  v_payload jsonb;
  v_owner uuid;
  v_id uuid := gen_random_uuid();
begin
  select * into v_log from public.webhook_logs l where l.id = p_log_id;
  if v_log.id is null then
    raise exception 'webhook log % not found', p_log_id using errcode = 'no_data_found';
  end if;
  v_owner := webhooks_private.webhook_hand_enqueue_owner(v_log.routing_rule_id);

  select q.webhook_id, q.payload into v_webhook_id, v_payload
  from public.webhook_queue q
  where q.id = v_log.queue_id;

  insert into public.webhook_configs (routing_rule_id) values (v_log.routing_rule_id)
  on conflict on constraint webhook_configs_routing_rule_id_key do nothing;

  insert into public.webhook_queue
    (id, webhook_id, lead_id, routing_rule_id, priority, attempt_number, max_attempts,
     scheduled_at, payload, parent_log_id, enqueued_by)
  values (
    v_id,
    coalesce(v_log.webhook_id, v_webhook_id, v_log.queue_id, v_id),
    v_log.lead_id,
    v_log.routing_rule_id,
    1000,
    1,
    webhooks_private.webhook_max_attempts(v_log.routing_rule_id),
    now(),
    coalesce(v_log.request_body, v_payload),
    v_log.id,
    v_owner);

  perform pg_notify('webhook_jobs', '');
  return v_id;
end;
$$;


--
-- Name: webhook_require_rule(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_require_rule(p_routing_rule_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_routing_rule_id is null or not webhooks_private.webhook_rule_visible(p_routing_rule_id) then
    raise exception 'routing rule % not found', p_routing_rule_id
      using errcode = 'no_data_found', hint = 'Pass the id of one of your routing rules.';
  end if;
end;
$$;


--
-- Name: webhook_routing_rules_limits(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_routing_rules_limits() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  problem text;
  field text;
begin
  if length(new.webhook_url) > 2048 then
    field := 'webhook_url';
    problem := format('webhook_url is %s characters long; at most 2048', length(new.webhook_url));
  else
    problem := webhooks_private.webhook_json_problem(new.condition, 65536);
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


--
-- Name: webhook_rule_visible(uuid); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_rule_visible(p_routing_rule_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select exists (
    select 1
    from public.routing_rules r
    join public.funnels f on f.id = r.funnel_id
    where r.id = p_routing_rule_id
      and (webhooks_private.webhook_caller_is_admin() or f.owner_id = (select auth.uid()))
  )
$$;


--
-- Name: webhook_rules_hold_changed(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_rules_hold_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform webhooks_private.webhook_refresh_held(array[new.id]);
  return null;
end;
$$;


--
-- Name: webhook_secret_problem(text); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_secret_problem(secret text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
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
$_$;


--
-- Name: webhook_stats_add_inserted(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_stats_add_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into public.webhook_stats_hourly as h
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select n.routing_rule_id,
         date_trunc('hour', n.created_at, 'UTC'),
         count(*),
         count(*) filter (where n.status = 'success'),
         coalesce(sum(n.duration_ms), 0),
         count(n.duration_ms)
  from inserted_logs n
  group by 1, 2
  order by 1, 2
  on conflict (routing_rule_id, hour) do update
  set total_calls = h.total_calls + excluded.total_calls,
      success_calls = h.success_calls + excluded.success_calls,
      duration_sum = h.duration_sum + excluded.duration_sum,
      duration_count = h.duration_count + excluded.duration_count;
  return null;
end;
$$;


--
-- Name: webhook_stats_clear(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_stats_clear() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  truncate public.webhook_stats_hourly;
  return null;
end;
$$;


--
-- Name: webhook_stats_for_rule(uuid, integer); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_stats_for_rule(p_routing_rule_id uuid, p_days integer) RETURNS TABLE(total_calls bigint, success_calls bigint, failed_calls bigint, avg_duration_ms numeric, success_rate numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_since timestamptz := now() - make_interval(days => p_days);
  v_first_hour timestamptz := date_trunc('hour', v_since, 'UTC');
  v_total bigint;
  v_success bigint;
  v_duration_sum numeric;
  v_duration_count bigint;
begin
  if v_first_hour < v_since then
    v_first_hour := v_first_hour + interval '1 hour';
  end if;

  select coalesce(sum(p.total_calls), 0)::bigint,
         coalesce(sum(p.success_calls), 0)::bigint,
         coalesce(sum(p.duration_sum), 0),
         coalesce(sum(p.duration_count), 0)::bigint
  into v_total, v_success, v_duration_sum, v_duration_count
  from (
    select h.total_calls, h.success_calls, h.duration_sum, h.duration_count
    from public.webhook_stats_hourly h
    where h.routing_rule_id = p_routing_rule_id
      and h.hour >= v_first_hour
    union all
    select count(*),
           count(*) filter (where l.status = 'success'),
           coalesce(sum(l.duration_ms), 0),
           count(l.duration_ms)
    from public.webhook_logs l
    where l.routing_rule_id = p_routing_rule_id
      and l.created_at >= v_since
      and l.created_at < v_first_hour
  ) as p;

  return query
  select v_total,
         v_success,
         v_total - v_success,
         round(case when v_duration_count = 0 then 0::numeric
                    else v_duration_sum / v_duration_count::numeric end, 2),
         case
           when v_total = 0 then 0.00
           else round(100.0 * v_success / v_total, 2)
         end;
end;
$$;


--
-- Name: webhook_stats_move_updated(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_stats_move_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into public.webhook_stats_hourly as h
    (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  select c.routing_rule_id, c.hour, sum(c.total_calls), sum(c.success_calls), sum(c.duration_sum),
         sum(c.duration_count)
  from (values
          (old.routing_rule_id, date_trunc('hour', old.created_at, 'UTC'), -1,
           -(old.status = 'success')::integer, -coalesce(old.duration_ms, 0)::bigint,
           -(old.duration_ms is not null)::integer),
          (new.routing_rule_id, date_trunc('hour', new.created_at, 'UTC'), 1,
           (new.status = 'success')::integer, coalesce(new.duration_ms, 0)::bigint,
           (new.duration_ms is not null)::integer)
       ) as c(routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
  group by 1, 2
  order by 1, 2
  on conflict (routing_rule_id, hour) do update
  set total_calls = h.total_calls + excluded.total_calls,
      success_calls = h.success_calls + excluded.success_calls,
      duration_sum = h.duration_sum + excluded.duration_sum,
      duration_count = h.duration_count + excluded.duration_count;

  delete from public.webhook_stats_hourly h
  where h.routing_rule_id = old.routing_rule_id
    and h.hour = date_trunc('hour', old.created_at, 'UTC')
    and h.total_calls <= 0;
  return null;
end;
$$;


--
-- Name: webhook_stats_remove_deleted(); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_stats_remove_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  emptied_rules uuid[];
  emptied_hours timestamptz[];
begin
  with gone as (
    select d.routing_rule_id,
           date_trunc('hour', d.created_at, 'UTC') as hour,
           count(*) as total_calls,
           count(*) filter (where d.status = 'success') as success_calls,
           coalesce(sum(d.duration_ms), 0) as duration_sum,
           count(d.duration_ms) as duration_count
    from deleted_logs d
    group by 1, 2
  ),
  applied as (
    insert into public.webhook_stats_hourly as h
      (routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count)
    select g.routing_rule_id, g.hour, -g.total_calls, -g.success_calls, -g.duration_sum, -g.duration_count
    from gone g
    where exists (select 1 from public.webhook_stats_hourly e
                  where e.routing_rule_id = g.routing_rule_id and e.hour = g.hour)
    order by 1, 2
    on conflict (routing_rule_id, hour) do update
    set total_calls = h.total_calls + excluded.total_calls,
        success_calls = h.success_calls + excluded.success_calls,
        duration_sum = h.duration_sum + excluded.duration_sum,
        duration_count = h.duration_count + excluded.duration_count
    returning h.routing_rule_id, h.hour, h.total_calls
  )
  select array_agg(a.routing_rule_id), array_agg(a.hour)
  into emptied_rules, emptied_hours
  from applied a
  where a.total_calls <= 0;

  if emptied_rules is not null then
    delete from public.webhook_stats_hourly h
    using unnest(emptied_rules, emptied_hours) as z(routing_rule_id, hour)
    where h.routing_rule_id = z.routing_rule_id and h.hour = z.hour and h.total_calls <= 0;
  end if;
  return null;
end;
$$;


--
-- Name: webhook_take_tokens(uuid[]); Type: FUNCTION; Schema: webhooks_private; Owner: -
--

CREATE FUNCTION webhooks_private.webhook_take_tokens(picked uuid[]) RETURNS uuid[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_limited uuid[];
  v_granted uuid[];
begin
  select coalesce(array_agg(distinct q.routing_rule_id), '{}') into v_limited
  from public.webhook_queue q
  join public.webhook_configs c on c.routing_rule_id = q.routing_rule_id
  where q.id = any (picked) and c.max_requests_per_second is not null and not q.rate_reserved;

  if cardinality(v_limited) = 0 then
    return picked;
  end if;

  insert into public.webhook_rate_buckets (routing_rule_id, tokens, updated_at)
  select c.routing_rule_id, greatest(c.max_requests_per_second, 1), now()
  from public.webhook_configs c
  where c.routing_rule_id = any (v_limited)
  on conflict (routing_rule_id) do nothing;

  with buckets as materialized (
    select b.routing_rule_id,
           c.max_requests_per_second::double precision as rate,
           least(greatest(c.max_requests_per_second::double precision, 1),
                 b.tokens + extract(epoch from now() - b.updated_at) * c.max_requests_per_second::double precision)
             as available
    from public.webhook_rate_buckets b
    join public.webhook_configs c on c.routing_rule_id = b.routing_rule_id
    where b.routing_rule_id = any (v_limited)
    order by b.routing_rule_id
    for update of b
  ),
  ranked as materialized (
    select q.id, q.routing_rule_id, b.rate, b.available,
           row_number() over (partition by q.routing_rule_id order by q.priority desc, q.scheduled_at, q.id) as rn,
           count(*) over (partition by q.routing_rule_id) as wanted
    from public.webhook_queue q
    join buckets b on b.routing_rule_id = q.routing_rule_id
    where q.id = any (picked) and not q.rate_reserved
  ),
  spent as (
    update public.webhook_rate_buckets b
    set tokens = k.available - k.wanted, updated_at = now()
    from (select distinct r.routing_rule_id, r.available, r.wanted from ranked r) k
    where b.routing_rule_id = k.routing_rule_id
    returning 1
  ),
  put_off as (
    update public.webhook_queue q
    set scheduled_at = now() + make_interval(secs => (r.rn - r.available) / r.rate),
        rate_reserved = true
    from ranked r
    where q.id = r.id and r.rn > floor(r.available)
    returning q.id
  )
  -- spent and put_off run although nothing reads them (data-modifying CTEs always do).
  select coalesce(array_agg(p.id), '{}') into v_granted
  from unnest(picked) as p(id)
  where p.id not in (select r.id from ranked r where r.rn > floor(r.available));

  return v_granted;
end;
$$;


--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    key_prefix text NOT NULL,
    key_hash text NOT NULL,
    scopes text[] DEFAULT '{webhooks:read,webhooks:replay}'::text[] NOT NULL,
    rate_limit_per_minute integer DEFAULT 60 NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT api_keys_key_hash_check CHECK ((key_hash ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT api_keys_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT api_keys_rate_limit_per_minute_check CHECK (((rate_limit_per_minute >= 1) AND (rate_limit_per_minute <= 10000))),
    CONSTRAINT api_keys_scopes_check CHECK (((cardinality(scopes) > 0) AND (scopes <@ '{webhooks:read,webhooks:replay,webhooks:write}'::text[])))
);


--
-- Name: COLUMN api_keys.key_prefix; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.key_prefix IS 'First characters of the key, to recognise it in lists.';


--
-- Name: COLUMN api_keys.key_hash; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.api_keys.key_hash IS 'sha256 of the key in hex; the key itself is shown once by create_api_key() and never stored.';


--
-- Name: api_rate_limit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_rate_limit_log (
    id bigint NOT NULL,
    api_key_id uuid NOT NULL,
    endpoint text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE api_rate_limit_log; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.api_rate_limit_log IS 'One row per accepted api_* call, for the per-key limit; purged hourly.';


--
-- Name: api_rate_limit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.api_rate_limit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_rate_limit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: funnels; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.funnels (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    owner_id uuid NOT NULL,
    name text NOT NULL,
    status text DEFAULT 'draft'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT funnels_status_check CHECK ((status = ANY (ARRAY['draft'::text, 'active'::text, 'paused'::text, 'archived'::text])))
);


--
-- Name: leads; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.leads (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    funnel_id uuid NOT NULL,
    data jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: routing_rules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.routing_rules (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    funnel_id uuid NOT NULL,
    client_name text NOT NULL,
    webhook_url text NOT NULL,
    condition jsonb DEFAULT '{}'::jsonb NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_events (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    routing_rule_id uuid NOT NULL,
    funnel_id uuid,
    type text NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_events_type_check CHECK ((type = ANY (ARRAY['rule.paused'::text, 'rule.resumed'::text, 'delivery.failed'::text])))
);


--
-- Name: TABLE webhook_events; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_events IS 'What happened to a rule: rule.paused, rule.resumed, delivery.failed. Written by the system; purged with the logs.';


--
-- Name: webhook_rate_buckets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_rate_buckets (
    routing_rule_id uuid NOT NULL,
    tokens double precision NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE webhook_rate_buckets; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_rate_buckets IS 'Token bucket per rule with max_requests_per_second, kept by claim_webhook_jobs.';


--
-- Name: webhook_settings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_settings (
    key text NOT NULL,
    value jsonb NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE webhook_settings; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_settings IS 'System-wide webhook settings. log_retention_days: attempt logs older than this are removed by purge_webhook_logs().';


--
-- Name: webhook_stats_hourly; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_stats_hourly (
    routing_rule_id uuid NOT NULL,
    hour timestamp with time zone NOT NULL,
    total_calls bigint NOT NULL,
    success_calls bigint NOT NULL,
    duration_sum bigint NOT NULL,
    duration_count bigint NOT NULL
)
WITH (fillfactor='70');


--
-- Name: TABLE webhook_stats_hourly; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.webhook_stats_hourly IS 'Per routing rule and UTC hour (date_trunc(''hour'', created_at, ''UTC'')): the attempts of webhook_logs, kept equal to them by triggers. duration_sum and duration_count cover the attempts that have a duration.';


--
-- Name: api_keys api_keys_key_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: api_rate_limit_log api_rate_limit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_rate_limit_log
    ADD CONSTRAINT api_rate_limit_log_pkey PRIMARY KEY (id);


--
-- Name: funnels funnels_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.funnels
    ADD CONSTRAINT funnels_pkey PRIMARY KEY (id);


--
-- Name: leads leads_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.leads
    ADD CONSTRAINT leads_pkey PRIMARY KEY (id);


--
-- Name: routing_rules routing_rules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.routing_rules
    ADD CONSTRAINT routing_rules_pkey PRIMARY KEY (id);


--
-- Name: webhook_configs webhook_configs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_configs
    ADD CONSTRAINT webhook_configs_pkey PRIMARY KEY (id);


--
-- Name: webhook_configs webhook_configs_routing_rule_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_configs
    ADD CONSTRAINT webhook_configs_routing_rule_id_key UNIQUE (routing_rule_id);


--
-- Name: webhook_events webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);


--
-- Name: webhook_logs webhook_logs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_logs
    ADD CONSTRAINT webhook_logs_pkey PRIMARY KEY (id);


--
-- Name: webhook_queue webhook_queue_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_queue
    ADD CONSTRAINT webhook_queue_pkey PRIMARY KEY (id);


--
-- Name: webhook_rate_buckets webhook_rate_buckets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_rate_buckets
    ADD CONSTRAINT webhook_rate_buckets_pkey PRIMARY KEY (routing_rule_id);


--
-- Name: webhook_settings webhook_settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_settings
    ADD CONSTRAINT webhook_settings_pkey PRIMARY KEY (key);


--
-- Name: webhook_stats_hourly webhook_stats_hourly_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_stats_hourly
    ADD CONSTRAINT webhook_stats_hourly_pkey PRIMARY KEY (routing_rule_id, hour);


--
-- Name: api_keys_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_keys_user_id_idx ON public.api_keys USING btree (user_id);


--
-- Name: api_rate_limit_log_api_key_id_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_rate_limit_log_api_key_id_created_at_idx ON public.api_rate_limit_log USING btree (api_key_id, created_at);


--
-- Name: api_rate_limit_log_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_rate_limit_log_created_at_idx ON public.api_rate_limit_log USING btree (created_at);


--
-- Name: funnels_owner_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX funnels_owner_id_idx ON public.funnels USING btree (owner_id);


--
-- Name: leads_funnel_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX leads_funnel_id_idx ON public.leads USING btree (funnel_id);


--
-- Name: routing_rules_funnel_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX routing_rules_funnel_id_idx ON public.routing_rules USING btree (funnel_id);


--
-- Name: webhook_configs_rate_limited_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_configs_rate_limited_idx ON public.webhook_configs USING btree (routing_rule_id) WHERE (max_requests_per_second IS NOT NULL);


--
-- Name: webhook_events_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_events_created_at_idx ON public.webhook_events USING btree (created_at);


--
-- Name: webhook_events_funnel_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_events_funnel_id_idx ON public.webhook_events USING btree (funnel_id);


--
-- Name: webhook_events_routing_rule_id_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_events_routing_rule_id_created_at_idx ON public.webhook_events USING btree (routing_rule_id, created_at DESC);


--
-- Name: webhook_logs_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_logs_created_at_idx ON public.webhook_logs USING btree (created_at);


--
-- Name: webhook_logs_lead_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_logs_lead_id_idx ON public.webhook_logs USING btree (lead_id);


--
-- Name: webhook_logs_parent_log_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_logs_parent_log_id_idx ON public.webhook_logs USING btree (parent_log_id) WHERE (parent_log_id IS NOT NULL);


--
-- Name: webhook_logs_queue_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_logs_queue_id_idx ON public.webhook_logs USING btree (queue_id, attempt_number);


--
-- Name: webhook_logs_routing_rule_id_created_at_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_logs_routing_rule_id_created_at_id_idx ON public.webhook_logs USING btree (routing_rule_id, created_at DESC, id DESC);


--
-- Name: webhook_queue_claim_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_claim_idx ON public.webhook_queue USING btree (priority DESC, scheduled_at) WHERE ((status = 'pending'::public.webhook_queue_status) AND (NOT held));


--
-- Name: webhook_queue_enqueued_by_pending_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_enqueued_by_pending_idx ON public.webhook_queue USING btree (enqueued_by) WHERE ((status = 'pending'::public.webhook_queue_status) AND (enqueued_by IS NOT NULL));


--
-- Name: webhook_queue_finished_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_finished_idx ON public.webhook_queue USING btree (completed_at) WHERE (status = ANY (ARRAY['completed'::public.webhook_queue_status, 'failed'::public.webhook_queue_status]));


--
-- Name: webhook_queue_held_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_held_idx ON public.webhook_queue USING btree (routing_rule_id) WHERE ((status = 'pending'::public.webhook_queue_status) AND held);


--
-- Name: webhook_queue_lead_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_lead_id_idx ON public.webhook_queue USING btree (lead_id);


--
-- Name: webhook_queue_lease_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_lease_idx ON public.webhook_queue USING btree (lease_expires_at) WHERE (status = 'processing'::public.webhook_queue_status);


--
-- Name: webhook_queue_parent_log_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_parent_log_id_idx ON public.webhook_queue USING btree (parent_log_id) WHERE (parent_log_id IS NOT NULL);


--
-- Name: webhook_queue_routing_rule_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_routing_rule_id_idx ON public.webhook_queue USING btree (routing_rule_id);


--
-- Name: webhook_queue_webhook_log_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_queue_webhook_log_id_idx ON public.webhook_queue USING btree (webhook_log_id) WHERE (webhook_log_id IS NOT NULL);


--
-- Name: funnels funnels_webhook_hold; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER funnels_webhook_hold AFTER UPDATE OF status ON public.funnels FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION webhooks_private.webhook_funnels_hold_changed();


--
-- Name: leads leads_enqueue_webhooks; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER leads_enqueue_webhooks AFTER INSERT ON public.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_enqueue_new_leads();


--
-- Name: routing_rules routing_rules_webhook_hold; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER routing_rules_webhook_hold AFTER UPDATE OF is_active, funnel_id ON public.routing_rules FOR EACH ROW WHEN (((old.is_active IS DISTINCT FROM new.is_active) OR (old.funnel_id IS DISTINCT FROM new.funnel_id))) EXECUTE FUNCTION webhooks_private.webhook_rules_hold_changed();


--
-- Name: webhook_configs webhook_configs_inserted_paused; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_inserted_paused AFTER INSERT ON public.webhook_configs FOR EACH ROW WHEN ((new.paused_at IS NOT NULL)) EXECUTE FUNCTION webhooks_private.webhook_configs_pause_changed();


--
-- Name: webhook_configs webhook_configs_keep_previous_secret; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_keep_previous_secret BEFORE UPDATE OF signing_secret ON public.webhook_configs FOR EACH ROW EXECUTE FUNCTION webhooks_private.webhook_configs_keep_previous_secret();


--
-- Name: webhook_configs webhook_configs_limits; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_limits BEFORE INSERT OR UPDATE ON public.webhook_configs FOR EACH ROW EXECUTE FUNCTION webhooks_private.webhook_configs_limits();


--
-- Name: webhook_configs webhook_configs_pause_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_pause_changed AFTER UPDATE OF paused_at ON public.webhook_configs FOR EACH ROW WHEN ((old.paused_at IS DISTINCT FROM new.paused_at)) EXECUTE FUNCTION webhooks_private.webhook_configs_pause_changed();


--
-- Name: webhook_configs webhook_configs_validate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_validate BEFORE INSERT OR UPDATE ON public.webhook_configs FOR EACH ROW EXECUTE FUNCTION webhooks_private.webhook_configs_validate();


--
-- Name: webhook_configs webhook_configs_validate_breaker; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_configs_validate_breaker BEFORE INSERT OR UPDATE ON public.webhook_configs FOR EACH ROW EXECUTE FUNCTION webhooks_private.webhook_configs_validate_breaker();


--
-- Name: leads webhook_leads_limits; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_leads_limits BEFORE INSERT OR UPDATE OF data ON public.leads FOR EACH ROW WHEN (((pg_column_size(new.data) >= 516) OR (pg_column_compression(new.data) IS NOT NULL))) EXECUTE FUNCTION webhooks_private.webhook_leads_limits();


--
-- Name: webhook_logs webhook_logs_forget_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_logs_forget_deleted AFTER DELETE ON public.webhook_logs REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_logs_forget_deleted();


--
-- Name: webhook_logs webhook_logs_forget_truncated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_logs_forget_truncated AFTER TRUNCATE ON public.webhook_logs FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_logs_forget_truncated();


--
-- Name: webhook_queue webhook_queue_default_webhook_id; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_default_webhook_id BEFORE INSERT ON public.webhook_queue FOR EACH ROW WHEN ((new.webhook_id IS NULL)) EXECUTE FUNCTION webhooks_private.webhook_queue_default_webhook_id();


--
-- Name: webhook_queue webhook_queue_forget_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_forget_deleted AFTER DELETE ON public.webhook_queue REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_queue_forget_deleted();


--
-- Name: webhook_queue webhook_queue_forget_truncated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_forget_truncated AFTER TRUNCATE ON public.webhook_queue FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_queue_forget_truncated();


--
-- Name: webhook_queue webhook_queue_hold_new; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_hold_new AFTER INSERT ON public.webhook_queue REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_queue_hold_new();


--
-- Name: webhook_queue webhook_queue_hold_returned; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_hold_returned BEFORE UPDATE ON public.webhook_queue FOR EACH ROW WHEN (((new.status = 'pending'::public.webhook_queue_status) AND (old.status = 'processing'::public.webhook_queue_status) AND (NOT new.held) AND (new.lead_id IS NOT NULL) AND (current_setting('webhooks.recording'::text, true) IS DISTINCT FROM 'on'::text))) EXECUTE FUNCTION webhooks_private.webhook_queue_hold_returned();


--
-- Name: webhook_queue webhook_queue_outcomes; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_queue_outcomes AFTER UPDATE ON public.webhook_queue FOR EACH ROW WHEN (((new.status = ANY (ARRAY['completed'::public.webhook_queue_status, 'failed'::public.webhook_queue_status])) AND (old.status = ANY (ARRAY['processing'::public.webhook_queue_status, 'pending'::public.webhook_queue_status])) AND (new.webhook_log_id IS DISTINCT FROM old.webhook_log_id) AND (current_setting('webhooks.recording'::text, true) IS DISTINCT FROM 'on'::text))) EXECUTE FUNCTION webhooks_private.webhook_queue_outcomes();


--
-- Name: routing_rules webhook_routing_rules_limits; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_routing_rules_limits BEFORE INSERT OR UPDATE OF webhook_url, condition ON public.routing_rules FOR EACH ROW EXECUTE FUNCTION webhooks_private.webhook_routing_rules_limits();


--
-- Name: webhook_logs webhook_stats_add_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_stats_add_inserted AFTER INSERT ON public.webhook_logs REFERENCING NEW TABLE AS inserted_logs FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_stats_add_inserted();


--
-- Name: webhook_logs webhook_stats_clear; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_stats_clear AFTER TRUNCATE ON public.webhook_logs FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_stats_clear();


--
-- Name: webhook_logs webhook_stats_move_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_stats_move_updated AFTER UPDATE ON public.webhook_logs FOR EACH ROW WHEN (((old.routing_rule_id IS DISTINCT FROM new.routing_rule_id) OR (old.created_at IS DISTINCT FROM new.created_at) OR (old.status IS DISTINCT FROM new.status) OR (old.duration_ms IS DISTINCT FROM new.duration_ms))) EXECUTE FUNCTION webhooks_private.webhook_stats_move_updated();


--
-- Name: webhook_logs webhook_stats_remove_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_stats_remove_deleted AFTER DELETE ON public.webhook_logs REFERENCING OLD TABLE AS deleted_logs FOR EACH STATEMENT EXECUTE FUNCTION webhooks_private.webhook_stats_remove_deleted();


--
-- Name: api_keys api_keys_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: api_rate_limit_log api_rate_limit_log_api_key_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_rate_limit_log
    ADD CONSTRAINT api_rate_limit_log_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES public.api_keys(id) ON DELETE CASCADE;


--
-- Name: funnels funnels_owner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.funnels
    ADD CONSTRAINT funnels_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: leads leads_funnel_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.leads
    ADD CONSTRAINT leads_funnel_id_fkey FOREIGN KEY (funnel_id) REFERENCES public.funnels(id) ON DELETE CASCADE;


--
-- Name: routing_rules routing_rules_funnel_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.routing_rules
    ADD CONSTRAINT routing_rules_funnel_id_fkey FOREIGN KEY (funnel_id) REFERENCES public.funnels(id) ON DELETE CASCADE;


--
-- Name: webhook_configs webhook_configs_routing_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_configs
    ADD CONSTRAINT webhook_configs_routing_rule_id_fkey FOREIGN KEY (routing_rule_id) REFERENCES public.routing_rules(id) ON DELETE CASCADE;


--
-- Name: webhook_events webhook_events_funnel_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_funnel_id_fkey FOREIGN KEY (funnel_id) REFERENCES public.funnels(id) ON DELETE CASCADE;


--
-- Name: webhook_events webhook_events_routing_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_routing_rule_id_fkey FOREIGN KEY (routing_rule_id) REFERENCES public.routing_rules(id) ON DELETE CASCADE;


--
-- Name: webhook_logs webhook_logs_lead_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_logs
    ADD CONSTRAINT webhook_logs_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES public.leads(id) ON DELETE CASCADE;


--
-- Name: webhook_logs webhook_logs_parent_log_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_logs
    ADD CONSTRAINT webhook_logs_parent_log_id_fkey FOREIGN KEY (parent_log_id) REFERENCES public.webhook_logs(id) ON DELETE SET NULL;


--
-- Name: webhook_logs webhook_logs_routing_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_logs
    ADD CONSTRAINT webhook_logs_routing_rule_id_fkey FOREIGN KEY (routing_rule_id) REFERENCES public.routing_rules(id) ON DELETE CASCADE;


--
-- Name: webhook_queue webhook_queue_lead_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_queue
    ADD CONSTRAINT webhook_queue_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES public.leads(id) ON DELETE CASCADE;


--
-- Name: webhook_queue webhook_queue_parent_log_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_queue
    ADD CONSTRAINT webhook_queue_parent_log_id_fkey FOREIGN KEY (parent_log_id) REFERENCES public.webhook_logs(id) ON DELETE SET NULL;


--
-- Name: webhook_queue webhook_queue_routing_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_queue
    ADD CONSTRAINT webhook_queue_routing_rule_id_fkey FOREIGN KEY (routing_rule_id) REFERENCES public.routing_rules(id) ON DELETE CASCADE;


--
-- Name: webhook_rate_buckets webhook_rate_buckets_routing_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_rate_buckets
    ADD CONSTRAINT webhook_rate_buckets_routing_rule_id_fkey FOREIGN KEY (routing_rule_id) REFERENCES public.routing_rules(id) ON DELETE CASCADE;


--
-- Name: api_keys; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.api_keys ENABLE ROW LEVEL SECURITY;

--
-- Name: api_keys api_keys_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY api_keys_owner_select ON public.api_keys FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));


--
-- Name: api_rate_limit_log; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.api_rate_limit_log ENABLE ROW LEVEL SECURITY;

--
-- Name: funnels; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.funnels ENABLE ROW LEVEL SECURITY;

--
-- Name: funnels funnels_owner_all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY funnels_owner_all ON public.funnels TO authenticated USING ((owner_id = ( SELECT auth.uid() AS uid))) WITH CHECK ((owner_id = ( SELECT auth.uid() AS uid)));


--
-- Name: leads; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;

--
-- Name: leads leads_owner_all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY leads_owner_all ON public.leads TO authenticated USING ((funnel_id IN ( SELECT f.id
   FROM public.funnels f
  WHERE (f.owner_id = ( SELECT auth.uid() AS uid))))) WITH CHECK ((funnel_id IN ( SELECT f.id
   FROM public.funnels f
  WHERE (f.owner_id = ( SELECT auth.uid() AS uid)))));


--
-- Name: routing_rules; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.routing_rules ENABLE ROW LEVEL SECURITY;

--
-- Name: routing_rules routing_rules_owner_all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY routing_rules_owner_all ON public.routing_rules TO authenticated USING ((funnel_id IN ( SELECT f.id
   FROM public.funnels f
  WHERE (f.owner_id = ( SELECT auth.uid() AS uid))))) WITH CHECK ((funnel_id IN ( SELECT f.id
   FROM public.funnels f
  WHERE (f.owner_id = ( SELECT auth.uid() AS uid)))));


--
-- Name: webhook_configs; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_configs ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_configs webhook_configs_owner_delete; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_configs_owner_delete ON public.webhook_configs FOR DELETE TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_configs webhook_configs_owner_insert; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_configs_owner_insert ON public.webhook_configs FOR INSERT TO authenticated WITH CHECK ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_configs webhook_configs_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_configs_owner_select ON public.webhook_configs FOR SELECT TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_configs webhook_configs_owner_update; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_configs_owner_update ON public.webhook_configs FOR UPDATE TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids))) WITH CHECK ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_events; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_events ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_events webhook_events_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_events_owner_select ON public.webhook_events FOR SELECT TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_logs; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_logs ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_logs webhook_logs_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_logs_owner_select ON public.webhook_logs FOR SELECT TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_queue; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_queue ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_queue webhook_queue_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_queue_owner_select ON public.webhook_queue FOR SELECT TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: webhook_rate_buckets; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_rate_buckets ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_settings; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_settings ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_stats_hourly; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_stats_hourly ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_stats_hourly webhook_stats_hourly_owner_select; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY webhook_stats_hourly_owner_select ON public.webhook_stats_hourly FOR SELECT TO authenticated USING ((routing_rule_id IN ( SELECT webhooks_private.webhook_my_rule_ids() AS webhook_my_rule_ids)));


--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA public TO anon;
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT USAGE ON SCHEMA public TO service_role;


--
-- Name: FUNCTION api_cancel_webhook_deliveries(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_cancel_webhook_deliveries(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_cancel_webhook_deliveries(routing_rule_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_cancel_webhook_deliveries(routing_rule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_cancel_webhook_deliveries(routing_rule_id uuid) TO service_role;


--
-- Name: FUNCTION api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) TO anon;
GRANT ALL ON FUNCTION public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION public.api_recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) TO service_role;


--
-- Name: FUNCTION api_replay_webhook(log_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_replay_webhook(log_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_replay_webhook(log_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_replay_webhook(log_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_replay_webhook(log_id uuid) TO service_role;


--
-- Name: FUNCTION api_send_test_webhook(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_send_test_webhook(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_send_test_webhook(routing_rule_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_send_test_webhook(routing_rule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_send_test_webhook(routing_rule_id uuid) TO service_role;


--
-- Name: FUNCTION api_update_webhook_config(routing_rule_id uuid, patch jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_update_webhook_config(routing_rule_id uuid, patch jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_update_webhook_config(routing_rule_id uuid, patch jsonb) TO anon;
GRANT ALL ON FUNCTION public.api_update_webhook_config(routing_rule_id uuid, patch jsonb) TO authenticated;
GRANT ALL ON FUNCTION public.api_update_webhook_config(routing_rule_id uuid, patch jsonb) TO service_role;


--
-- Name: FUNCTION api_webhook_config(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_config(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_config(routing_rule_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_config(routing_rule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_config(routing_rule_id uuid) TO service_role;


--
-- Name: TABLE webhook_logs; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_logs TO service_role;
GRANT SELECT ON TABLE public.webhook_logs TO authenticated;


--
-- Name: FUNCTION api_webhook_delivery_attempt(delivery_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_delivery_attempt(delivery_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_delivery_attempt(delivery_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_delivery_attempt(delivery_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_delivery_attempt(delivery_id uuid) TO service_role;


--
-- Name: FUNCTION api_webhook_events(routing_rule_id uuid, since timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_events(routing_rule_id uuid, since timestamp with time zone) TO service_role;


--
-- Name: FUNCTION api_webhook_log_chain(log_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_log_chain(log_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_log_chain(log_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_log_chain(log_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_log_chain(log_id uuid) TO service_role;


--
-- Name: FUNCTION api_webhook_log_page(routing_rule_id uuid, status text, since timestamp with time zone, until timestamp with time zone, max_rows integer, before_created_at timestamp with time zone, before_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_log_page(routing_rule_id uuid, status text, since timestamp with time zone, until timestamp with time zone, max_rows integer, before_created_at timestamp with time zone, before_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_log_page(routing_rule_id uuid, status text, since timestamp with time zone, until timestamp with time zone, max_rows integer, before_created_at timestamp with time zone, before_id uuid) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_log_page(routing_rule_id uuid, status text, since timestamp with time zone, until timestamp with time zone, max_rows integer, before_created_at timestamp with time zone, before_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_log_page(routing_rule_id uuid, status text, since timestamp with time zone, until timestamp with time zone, max_rows integer, before_created_at timestamp with time zone, before_id uuid) TO service_role;


--
-- Name: FUNCTION api_webhook_logs(routing_rule_id uuid, status text, max_rows integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_logs(routing_rule_id uuid, status text, max_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_logs(routing_rule_id uuid, status text, max_rows integer) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_logs(routing_rule_id uuid, status text, max_rows integer) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_logs(routing_rule_id uuid, status text, max_rows integer) TO service_role;


--
-- Name: FUNCTION api_webhook_rules(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_rules() FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_rules() TO anon;
GRANT ALL ON FUNCTION public.api_webhook_rules() TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_rules() TO service_role;


--
-- Name: FUNCTION api_webhook_stats(routing_rule_id uuid, days integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_stats(routing_rule_id uuid, days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_stats(routing_rule_id uuid, days integer) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_stats(routing_rule_id uuid, days integer) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_stats(routing_rule_id uuid, days integer) TO service_role;


--
-- Name: FUNCTION api_webhook_stats_series(routing_rule_id uuid, days integer, bucket text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_webhook_stats_series(routing_rule_id uuid, days integer, bucket text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_webhook_stats_series(routing_rule_id uuid, days integer, bucket text) TO anon;
GRANT ALL ON FUNCTION public.api_webhook_stats_series(routing_rule_id uuid, days integer, bucket text) TO authenticated;
GRANT ALL ON FUNCTION public.api_webhook_stats_series(routing_rule_id uuid, days integer, bucket text) TO service_role;


--
-- Name: FUNCTION cancel_webhook_deliveries(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.cancel_webhook_deliveries(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.cancel_webhook_deliveries(routing_rule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.cancel_webhook_deliveries(routing_rule_id uuid) TO service_role;


--
-- Name: FUNCTION claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer, queue_ids uuid[]); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer, queue_ids uuid[]) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_webhook_jobs(worker_id text, max_jobs integer, lease_seconds integer, queue_ids uuid[]) TO service_role;


--
-- Name: FUNCTION create_api_key(name text, scopes text[], expires_at timestamp with time zone, rate_limit_per_minute integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_api_key(name text, scopes text[], expires_at timestamp with time zone, rate_limit_per_minute integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_api_key(name text, scopes text[], expires_at timestamp with time zone, rate_limit_per_minute integer) TO authenticated;
GRANT ALL ON FUNCTION public.create_api_key(name text, scopes text[], expires_at timestamp with time zone, rate_limit_per_minute integer) TO service_role;


--
-- Name: FUNCTION defer_webhook_jobs(worker_id text, ids uuid[], delay_ms integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.defer_webhook_jobs(worker_id text, ids uuid[], delay_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.defer_webhook_jobs(worker_id text, ids uuid[], delay_ms integer) TO service_role;


--
-- Name: FUNCTION enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer) TO authenticated;
GRANT ALL ON FUNCTION public.enqueue_webhook(lead_id uuid, routing_rule_id uuid, priority integer) TO service_role;


--
-- Name: FUNCTION extend_webhook_leases(worker_id text, ids uuid[], lease_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.extend_webhook_leases(worker_id text, ids uuid[], lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.extend_webhook_leases(worker_id text, ids uuid[], lease_seconds integer) TO service_role;


--
-- Name: FUNCTION get_webhook_stats(routing_rule_id uuid, days integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.get_webhook_stats(routing_rule_id uuid, days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_webhook_stats(routing_rule_id uuid, days integer) TO authenticated;
GRANT ALL ON FUNCTION public.get_webhook_stats(routing_rule_id uuid, days integer) TO service_role;


--
-- Name: FUNCTION purge_api_rate_limit_log(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.purge_api_rate_limit_log() FROM PUBLIC;
GRANT ALL ON FUNCTION public.purge_api_rate_limit_log() TO service_role;


--
-- Name: FUNCTION purge_webhook_logs(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.purge_webhook_logs() FROM PUBLIC;
GRANT ALL ON FUNCTION public.purge_webhook_logs() TO service_role;


--
-- Name: FUNCTION record_webhook_attempts(results jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_webhook_attempts(results jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_webhook_attempts(results jsonb) TO service_role;


--
-- Name: FUNCTION recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) TO authenticated;
GRANT ALL ON FUNCTION public.recover_webhook_deliveries(routing_rule_id uuid, since timestamp with time zone, until timestamp with time zone) TO service_role;


--
-- Name: FUNCTION release_webhook_jobs(ids uuid[]); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.release_webhook_jobs(ids uuid[]) FROM PUBLIC;
GRANT ALL ON FUNCTION public.release_webhook_jobs(ids uuid[]) TO service_role;


--
-- Name: FUNCTION replay_webhook(log_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.replay_webhook(log_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.replay_webhook(log_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.replay_webhook(log_id uuid) TO service_role;


--
-- Name: FUNCTION requeue_stale_webhook_jobs(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.requeue_stale_webhook_jobs() FROM PUBLIC;
GRANT ALL ON FUNCTION public.requeue_stale_webhook_jobs() TO service_role;


--
-- Name: FUNCTION revoke_api_key(id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.revoke_api_key(id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.revoke_api_key(id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.revoke_api_key(id uuid) TO service_role;


--
-- Name: FUNCTION send_test_webhook(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.send_test_webhook(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.send_test_webhook(routing_rule_id uuid) TO authenticated;
GRANT ALL ON FUNCTION public.send_test_webhook(routing_rule_id uuid) TO service_role;


--
-- Name: FUNCTION webhook_headers_problem(headers jsonb); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_headers_problem(headers jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION webhooks_private.webhook_headers_problem(headers jsonb) TO authenticated;
GRANT ALL ON FUNCTION webhooks_private.webhook_headers_problem(headers jsonb) TO service_role;


--
-- Name: TABLE webhook_configs; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_configs TO service_role;
GRANT SELECT,INSERT,UPDATE ON TABLE public.webhook_configs TO authenticated;


--
-- Name: FUNCTION update_webhook_config(routing_rule_id uuid, patch jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.update_webhook_config(routing_rule_id uuid, patch jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.update_webhook_config(routing_rule_id uuid, patch jsonb) TO authenticated;
GRANT ALL ON FUNCTION public.update_webhook_config(routing_rule_id uuid, patch jsonb) TO service_role;


--
-- Name: TABLE webhook_queue; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_queue TO service_role;
GRANT SELECT ON TABLE public.webhook_queue TO authenticated;


--
-- Name: FUNCTION webhook_delivery(queue_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_delivery(queue_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_delivery(queue_id uuid) TO service_role;


--
-- Name: FUNCTION webhook_effective_config(routing_rule_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_effective_config(routing_rule_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_effective_config(routing_rule_id uuid) TO service_role;


--
-- Name: FUNCTION webhook_held_summary(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_held_summary() FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_held_summary() TO service_role;


--
-- Name: FUNCTION webhook_log_search(routing_rule_id uuid, status text, queue_id uuid, max_rows integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_log_search(routing_rule_id uuid, status text, queue_id uuid, max_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_log_search(routing_rule_id uuid, status text, queue_id uuid, max_rows integer) TO service_role;


--
-- Name: FUNCTION webhook_queue_summary(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_queue_summary() FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_queue_summary() TO service_role;


--
-- Name: FUNCTION webhook_stats_rebuild(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_stats_rebuild() FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_stats_rebuild() TO service_role;


--
-- Name: FUNCTION api_act_as(p_user_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_act_as(p_user_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION api_caller(p_scope text, p_endpoint text); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_caller(p_scope text, p_endpoint text) FROM PUBLIC;


--
-- Name: FUNCTION api_caller_uncounted(p_scope text); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_caller_uncounted(p_scope text) FROM PUBLIC;


--
-- Name: FUNCTION api_config_view(p_routing_rule_id uuid, p_show_secret boolean); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_config_view(p_routing_rule_id uuid, p_show_secret boolean) FROM PUBLIC;


--
-- Name: FUNCTION api_http_error(p_status integer, p_code text, p_message text, p_hint text, p_headers jsonb); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_http_error(p_status integer, p_code text, p_message text, p_hint text, p_headers jsonb) FROM PUBLIC;


--
-- Name: FUNCTION api_key_authenticate(p_scope text, p_endpoint text); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_key_authenticate(p_scope text, p_endpoint text) FROM PUBLIC;


--
-- Name: FUNCTION api_require_rule(p_user_id uuid, p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_require_rule(p_user_id uuid, p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION api_user_owns_rule(p_user_id uuid, p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.api_user_owns_rule(p_user_id uuid, p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_caller_is_admin(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_caller_is_admin() FROM PUBLIC;


--
-- Name: FUNCTION webhook_configs_keep_previous_secret(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_configs_keep_previous_secret() FROM PUBLIC;


--
-- Name: FUNCTION webhook_configs_limits(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_configs_limits() FROM PUBLIC;


--
-- Name: FUNCTION webhook_configs_pause_changed(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_configs_pause_changed() FROM PUBLIC;


--
-- Name: FUNCTION webhook_configs_validate(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_configs_validate() FROM PUBLIC;


--
-- Name: FUNCTION webhook_configs_validate_breaker(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_configs_validate_breaker() FROM PUBLIC;


--
-- Name: FUNCTION webhook_enqueue_new_leads(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_enqueue_new_leads() FROM PUBLIC;


--
-- Name: FUNCTION webhook_funnels_hold_changed(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_funnels_hold_changed() FROM PUBLIC;


--
-- Name: FUNCTION webhook_hand_enqueue_owner(p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_hand_enqueue_owner(p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_held_rules(rule_ids uuid[]); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_held_rules(rule_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION webhook_json_deeper_than(value jsonb, max_depth integer); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_json_deeper_than(value jsonb, max_depth integer) FROM PUBLIC;


--
-- Name: FUNCTION webhook_json_problem(value jsonb, max_bytes integer); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_json_problem(value jsonb, max_bytes integer) FROM PUBLIC;


--
-- Name: FUNCTION webhook_leads_limits(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_leads_limits() FROM PUBLIC;


--
-- Name: FUNCTION webhook_logs_forget_deleted(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_logs_forget_deleted() FROM PUBLIC;


--
-- Name: FUNCTION webhook_logs_forget_truncated(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_logs_forget_truncated() FROM PUBLIC;


--
-- Name: FUNCTION webhook_max_attempts(p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_max_attempts(p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_max_retry_delay_ms(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_max_retry_delay_ms() FROM PUBLIC;


--
-- Name: FUNCTION webhook_my_rule_ids(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_my_rule_ids() FROM PUBLIC;
GRANT ALL ON FUNCTION webhooks_private.webhook_my_rule_ids() TO authenticated;


--
-- Name: FUNCTION webhook_queue_default_webhook_id(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_default_webhook_id() FROM PUBLIC;


--
-- Name: FUNCTION webhook_queue_forget_deleted(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_forget_deleted() FROM PUBLIC;


--
-- Name: FUNCTION webhook_queue_forget_truncated(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_forget_truncated() FROM PUBLIC;


--
-- Name: FUNCTION webhook_queue_hold_new(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_hold_new() FROM PUBLIC;


--
-- Name: FUNCTION webhook_queue_hold_returned(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_hold_returned() FROM PUBLIC;


--
-- Name: FUNCTION webhook_queue_outcomes(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_queue_outcomes() FROM PUBLIC;


--
-- Name: FUNCTION webhook_refresh_held(rule_ids uuid[]); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_refresh_held(rule_ids uuid[]) FROM PUBLIC;


--
-- Name: FUNCTION webhook_replay_log(p_log_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_replay_log(p_log_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_require_rule(p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_require_rule(p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_routing_rules_limits(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_routing_rules_limits() FROM PUBLIC;


--
-- Name: FUNCTION webhook_rule_visible(p_routing_rule_id uuid); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_rule_visible(p_routing_rule_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION webhook_rules_hold_changed(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_rules_hold_changed() FROM PUBLIC;


--
-- Name: FUNCTION webhook_secret_problem(secret text); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_secret_problem(secret text) FROM PUBLIC;


--
-- Name: FUNCTION webhook_stats_add_inserted(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_stats_add_inserted() FROM PUBLIC;


--
-- Name: FUNCTION webhook_stats_clear(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_stats_clear() FROM PUBLIC;


--
-- Name: FUNCTION webhook_stats_for_rule(p_routing_rule_id uuid, p_days integer); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_stats_for_rule(p_routing_rule_id uuid, p_days integer) FROM PUBLIC;


--
-- Name: FUNCTION webhook_stats_move_updated(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_stats_move_updated() FROM PUBLIC;


--
-- Name: FUNCTION webhook_stats_remove_deleted(); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_stats_remove_deleted() FROM PUBLIC;


--
-- Name: FUNCTION webhook_take_tokens(picked uuid[]); Type: ACL; Schema: webhooks_private; Owner: -
--

REVOKE ALL ON FUNCTION webhooks_private.webhook_take_tokens(picked uuid[]) FROM PUBLIC;


--
-- Name: TABLE api_keys; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.api_keys TO service_role;
GRANT SELECT ON TABLE public.api_keys TO authenticated;


--
-- Name: TABLE api_rate_limit_log; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.api_rate_limit_log TO service_role;


--
-- Name: SEQUENCE api_rate_limit_log_id_seq; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON SEQUENCE public.api_rate_limit_log_id_seq TO service_role;


--
-- Name: TABLE funnels; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.funnels TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.funnels TO authenticated;
GRANT ALL ON TABLE public.funnels TO service_role;


--
-- Name: TABLE leads; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.leads TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.leads TO authenticated;
GRANT ALL ON TABLE public.leads TO service_role;


--
-- Name: TABLE routing_rules; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.routing_rules TO anon;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.routing_rules TO authenticated;
GRANT ALL ON TABLE public.routing_rules TO service_role;


--
-- Name: TABLE webhook_events; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_events TO service_role;
GRANT SELECT ON TABLE public.webhook_events TO authenticated;


--
-- Name: TABLE webhook_rate_buckets; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_rate_buckets TO service_role;


--
-- Name: TABLE webhook_settings; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.webhook_settings TO service_role;


--
-- Name: TABLE webhook_stats_hourly; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.webhook_stats_hourly TO authenticated;
GRANT SELECT ON TABLE public.webhook_stats_hourly TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR SEQUENCES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR FUNCTIONS; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO service_role;


--
-- PostgreSQL database dump complete
--
