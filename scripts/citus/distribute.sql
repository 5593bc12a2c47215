-- Levier on Citus: distribute the schema that `levier migrate` built (docs/scaling.md).
--
-- Run once, on the coordinator, as the role that owns the schema (LEVIER_MIGRATION_DATABASE_URL),
-- after `levier migrate` and before the application writes (on an empty schema nothing is
-- copied; see docs/scaling.md for distributing a database that already holds data):
--
--   psql "$LEVIER_MIGRATION_DATABASE_URL" -v ON_ERROR_STOP=1 -f scripts/citus/distribute.sql
--
-- Prerequisites, done once by a superuser on the coordinator:
--   CREATE EXTENSION citus;                                  -- in this database, on every node
--   SELECT citus_set_coordinator_host('<coordinator host>', 5432);  -- coordinator in metadata:
--                                                            -- local tables below need it
--   SELECT citus_add_node('<worker host>', 5432);            -- once per worker
--
-- Three kinds of table (tests/core/test_citus_compatibility.py keeps this file complete):
--   reference    platform tables every node joins or checks foreign keys against: one copy on
--                every node, written with two-phase commit (rare writes: agencies, brands, grants)
--   distributed  every tenant table, hashed on tenant_id, all in one co-location group: a brand's
--                rows of every table live in the same shard group, so brand-scoped statements
--                (joins included) run on one worker
--   local        coordinator-only queues, logs and sessions, added to Citus' metadata so that a
--                transaction writing one of them and a brand's shard commits as one
--                (two-phase commit) and so that any node may query them

-- Every shard count is fixed at distribution time; 64 leaves room for 64 worker nodes.
SET citus.shard_count = 64;

-- Row-level security reads levier.tenant_id on the worker that holds the shard: the application
-- sets it with SET LOCAL (levier_set_local), which Citus forwards to the workers only with this.
-- (ALTER DATABASE needs the database's owner: run the script as it, or this block as a superuser.)
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = %L',
                 current_database(), 'local');
END
$$;

-- Reference tables, each after the tables it references.
SELECT create_reference_table('agencies');
SELECT create_reference_table('users');
SELECT create_reference_table('agency_members');
SELECT create_reference_table('brands');
SELECT create_reference_table('oauth_clients');
SELECT create_reference_table('brand_grants');
SELECT create_reference_table('hook_routes');
SELECT create_reference_table('messaging_hook_routes');
SELECT create_reference_table('oauth_client_brands');

-- Distributed tables: profiles first (it anchors the co-location group), then each table after
-- the tables it references. The partitioned ledger (messages, message_events) is distributed with
-- its partitions; partitions created later (messaging_ensure_partitions) are distributed by
-- Citus as they are attached.
SELECT create_distributed_table('profiles', 'tenant_id', colocate_with => 'none');
SELECT create_distributed_table('rfm_scores', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('brand_settings', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('captured_messages', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('connectors', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('consent_topics', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('content_snippets', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('content_templates', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('coupon_pools', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('event_settings', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('event_types', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('feedback_tokens', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('imports', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('inbound_sms', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('linked_tables', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('message_events', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('message_keys', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('message_sightings', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('pressure_policies', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('profile_attributes', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('profile_exports', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('profile_merges', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('rfm_runs', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('rfm_settings', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('segments', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('programs', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('campaigns', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('campaign_variants', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('campaign_occurrences', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('campaign_recipients', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('message_holds', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenarios', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenario_versions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenario_entries', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenario_entry_keys', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenario_journeys', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('scenario_steps', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('sender_identities', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('suppressions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('trigger_definitions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('webhook_endpoints', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('webhook_events', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('carts', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('consent_changes', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('content_template_versions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('coupon_codes', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('events', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('export_chunks', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('import_chunks', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('import_rejections', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('inbound_deliveries', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('linked_row_versions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('linked_rows', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('messages', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('orders', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('profile_identities', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('profile_unique_values', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('provider_accounts', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('push_devices', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('segment_members', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('segment_sizes', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('segment_transitions', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('soft_bounce_runs', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('trigger_carts', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('trigger_occurrences', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('trigger_watermarks', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('webhook_deliveries', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('order_lines', 'tenant_id', colocate_with => 'profiles');
SELECT create_distributed_table('webhook_attempts', 'tenant_id', colocate_with => 'profiles');

-- Local tables: on the coordinator only, in Citus' metadata. Those with a foreign key to a
-- reference table (sessions, tokens) were added already by create_reference_table; the guard
-- adds each table once.
SELECT citus_add_local_table_to_metadata(local_table)
FROM unnest(ARRAY[
  'audit_events',
  'due_tasks',
  'idempotency_records',
  'outbox_messages',
  'web_sessions',
  'access_tokens',
  'oauth_authorization_codes',
  'oauth_consents',
  'billing_prices',
  'billing_accounts',
  'billing_stripe_events',
  'billing_brand_meters',
  'billing_meter_reports',
  'billing_usage_warnings'
]::regclass[]) AS local_table
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = local_table);
