-- Vacuum settings for the two tables every delivery writes.
--
-- webhook_queue: each delivery is inserted once and updated at least twice
-- (claim, record), so it leaves dead tuples in every index at the rate of the
-- traffic. The default scale factor (20 % of the table) lets a busy queue bloat
-- until the claim's index scan walks dead entries; vacuum it after 1 % changes,
-- without cost-based sleeps. The claim, record and release updates change
-- indexed columns, so a lower fillfactor would not make them HOT; it is left.
--
-- webhook_logs: insert-only apart from purges. Vacuuming after 2 % new rows
-- keeps the visibility map current, so reads by rule and time (logs pages,
-- the partial hour of get_webhook_stats) stay index-only where they can.

alter table public.webhook_queue set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);

alter table public.webhook_logs set (
  autovacuum_vacuum_insert_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.02
);
