-- The direct transport's SQL, one named query each; sidecar/store/queries.py reads
-- this file by name. Every state change is a database function (docs/internal-rpc.md);
-- these lines only call them.

-- name: claim_jobs
-- Take up to max_jobs due deliveries for worker_id, leased for lease_seconds.
select * from public.claim_webhook_jobs($1::text, $2::int, $3::int);

-- name: claim_given_jobs
-- The same, restricted to the given deliveries (replay and test deliver only their own).
select * from public.claim_webhook_jobs($1::text, $2::int, $3::int, $4::uuid[]);

-- name: record_attempts
-- Record finished attempts: a JSON array of the elements in docs/internal-rpc.md.
select * from public.record_webhook_attempts($1::jsonb);

-- name: release_jobs
-- Return claimed-but-unstarted deliveries to pending.
select public.release_webhook_jobs($1::uuid[]);

-- name: requeue_stale
select public.requeue_stale_webhook_jobs();

-- name: enqueue
select public.enqueue_webhook($1::uuid, $2::uuid, $3::int);

-- name: replay
select public.replay_webhook($1::uuid);

-- name: stats
select * from public.get_webhook_stats($1::uuid, $2::int);

-- Reads of rows with timestamps come back as jsonb, as over PostgREST: any date the
-- database holds ('infinity', year 20000) is then text, where asyncpg's datetime
-- would fail past year 9999.

-- name: logs
select to_jsonb(l) from public.webhook_log_search($1::uuid, $2::text, $3::uuid, $4::int) as l;

-- name: queue_summary
select to_jsonb(s) from public.webhook_queue_summary() as s;

-- name: delivery
select to_jsonb(q) from public.webhook_delivery($1::uuid) as q;

-- name: get_config
select * from public.webhook_effective_config($1::uuid);

-- name: update_config
select * from public.update_webhook_config($1::uuid, $2::jsonb);

-- name: recover
select public.recover_webhook_deliveries($1::uuid, $2::timestamptz, $3::timestamptz);

-- name: cancel
select public.cancel_webhook_deliveries($1::uuid);

-- name: send_test
select public.send_test_webhook($1::uuid);

-- name: held_summary
select * from public.webhook_held_summary();

-- name: ping
select 1;

-- name: defer_jobs
-- Return claimed-but-unstarted deliveries of a worker to pending, due after a delay.
select public.defer_webhook_jobs($1::text, $2::uuid[], $3::int);

-- name: extend_leases
-- Lengthen a worker's leases on deliveries about to start; returns those it still held.
select queue_id from public.extend_webhook_leases($1::text, $2::uuid[], $3::int);
