-- The API's SQL, one named query each (read by sidecar/api/store.py through
-- sidecar/store/queries.parse). Every query calls one api_* function; the
-- positional arguments follow the parameter order in store.RPCS.

-- name: act_as
-- The caller of this transaction, as PostgREST sets it: the role, the JWT's
-- claims, and the request headers (where an API key travels).
select set_config('role', $1::text, true), set_config('request.jwt.claims', $2::text, true),
       set_config('request.headers', $3::text, true);

-- name: api_webhook_rules
select * from public.api_webhook_rules();

-- name: api_webhook_log_page
select * from public.api_webhook_log_page($1::uuid, $2::text, $3::timestamptz, $4::timestamptz, $5::int, $6::timestamptz, $7::uuid);

-- name: api_webhook_log_chain
select * from public.api_webhook_log_chain($1::uuid);

-- name: api_webhook_delivery_attempt
select * from public.api_webhook_delivery_attempt($1::uuid);

-- name: api_webhook_stats
select * from public.api_webhook_stats($1::uuid, $2::int);

-- name: api_webhook_stats_series
select * from public.api_webhook_stats_series($1::uuid, $2::int, $3::text);

-- name: api_replay_webhook
select public.api_replay_webhook($1::uuid);

-- name: api_webhook_config
select public.api_webhook_config($1::uuid);

-- name: api_update_webhook_config
select public.api_update_webhook_config($1::uuid, $2::jsonb);

-- name: api_recover_webhook_deliveries
select public.api_recover_webhook_deliveries($1::uuid, $2::timestamptz, $3::timestamptz);

-- name: api_cancel_webhook_deliveries
select public.api_cancel_webhook_deliveries($1::uuid);

-- name: api_send_test_webhook
select public.api_send_test_webhook($1::uuid);

-- name: api_webhook_events
select public.api_webhook_events($1::uuid, $2::timestamptz);
