-- Tables, columns, enums, indexes, the lead trigger and row level security.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(29);

-- ===========================================================================
-- Tables and columns
-- ===========================================================================
select has_table('public', 'funnels', 'host table funnels exists');
select has_table('public', 'routing_rules', 'host table routing_rules exists');
select has_table('public', 'leads', 'host table leads exists');
select has_table('public', 'webhook_configs', 'webhook_configs exists');
select has_table('public', 'webhook_logs', 'webhook_logs exists');
select has_table('public', 'webhook_queue', 'webhook_queue exists');
select has_table('public', 'webhook_settings', 'webhook_settings exists');
select has_table('public', 'api_keys', 'api_keys exists');
select has_table('public', 'api_rate_limit_log', 'api_rate_limit_log exists');

select columns_are('public', 'webhook_configs', array[
  'id', 'routing_rule_id', 'custom_headers', 'timeout_ms', 'retry_enabled', 'max_retries', 'retry_delay_ms',
  'retry_backoff_multiplier', 'signing_secret', 'created_at', 'updated_at', 'paused_at', 'paused_reason',
  'auto_pause_after_failures', 'secret_overlap_hours', 'max_requests_per_second', 'previous_signing_secret',
  'previous_secret_expires_at', 'consecutive_failures', 'failing_since']);
select columns_are('public', 'webhook_logs', array[
  'id', 'lead_id', 'routing_rule_id', 'webhook_url', 'request_headers', 'request_body', 'response_status',
  'response_headers', 'response_body', 'duration_ms', 'attempt_number', 'max_attempts', 'is_retry',
  'parent_log_id', 'status', 'error_message', 'error_type', 'created_at', 'queue_id', 'webhook_id']);
select columns_are('public', 'webhook_queue', array[
  'id', 'webhook_id', 'lead_id', 'routing_rule_id', 'webhook_log_id', 'status', 'priority', 'attempt_number',
  'max_attempts', 'scheduled_at', 'started_at', 'completed_at', 'error_message', 'payload', 'parent_log_id',
  'locked_by', 'lease_expires_at', 'created_at', 'held', 'rate_reserved', 'enqueued_by']);
select columns_are('public', 'api_keys', array[
  'id', 'user_id', 'name', 'key_prefix', 'key_hash', 'scopes', 'rate_limit_per_minute', 'expires_at',
  'revoked_at', 'last_used_at', 'created_at']);
select columns_are('public', 'api_rate_limit_log', array['id', 'api_key_id', 'endpoint', 'created_at']);

-- ===========================================================================
-- Enums
-- ===========================================================================
select has_enum('public', 'webhook_log_status', 'enum webhook_log_status exists');
select enum_has_labels('public', 'webhook_log_status', array['pending', 'success', 'failed', 'retrying']);
select has_enum('public', 'webhook_error_type', 'enum webhook_error_type exists');
select enum_has_labels('public', 'webhook_error_type',
                       array['timeout', 'network', 'http_error', 'invalid_response', 'blocked']);
select has_enum('public', 'webhook_queue_status', 'enum webhook_queue_status exists');
select enum_has_labels('public', 'webhook_queue_status', array['pending', 'processing', 'completed', 'failed']);

-- ===========================================================================
-- Indexes, trigger, settings, RLS
-- ===========================================================================
select has_index('public', 'webhook_queue', 'webhook_queue_claim_idx', array['priority', 'scheduled_at'],
                 'claim index on pending work');
select has_index('public', 'webhook_queue', 'webhook_queue_lease_idx', array['lease_expires_at'],
                 'index on leases of processing work');
select has_index('public', 'webhook_logs', 'webhook_logs_routing_rule_id_created_at_id_idx',
                 array['routing_rule_id', 'created_at', 'id'], 'logs by rule and time, keyset order');
select trigger_is('public', 'leads', 'leads_enqueue_webhooks', 'webhooks_private', 'webhook_enqueue_new_leads',
                  'lead inserts enqueue deliveries');
select is((select value from public.webhook_settings where key = 'log_retention_days'), '30'::jsonb,
          'logs are kept 30 days by default');
select is((select count(*) from pg_class
           where relnamespace = 'public'::regnamespace and relkind = 'r' and not relrowsecurity),
          0::bigint, 'row level security is on for every table in public');
select policies_are('public', 'webhook_logs', array['webhook_logs_owner_select'],
                    'webhook_logs: owners read, nobody writes through policies');
select policies_are('public', 'webhook_queue', array['webhook_queue_owner_select'],
                    'webhook_queue: owners read, nobody writes through policies');
select policies_are('public', 'webhook_settings', array[]::name[], 'webhook_settings: no policies at all');

select * from finish();
rollback;
