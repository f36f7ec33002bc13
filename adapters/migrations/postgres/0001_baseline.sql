-- The tables that do not come from events, as the releases before versioned migrations made
-- them: liveness, check-ins, host metrics, node images, container logs and samples, the
-- projection's status and version, webhook deliveries and their attempts. IF NOT EXISTS lets a
-- database made by such a release adopt this baseline as it is. Never edit an applied
-- migration: a change to one of these tables is a new numbered file in both dialects' folders
-- (tests/integration/test_migrations.py fails until the tables the migrations make match the
-- code's table definitions).

CREATE TABLE IF NOT EXISTS rm_node_liveness (node_id uuid, last_seen_at timestamptz, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_admin_checkins (admin_id uuid, last_checked_in timestamptz, PRIMARY KEY (admin_id));
CREATE TABLE IF NOT EXISTS rm_node_metrics (node_id uuid, received_at timestamptz, host text, agent text, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_node_images (node_id uuid, images text, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_deployment_logs (request_id text, logs text, crash_logs text, exit_code bigint, updated_at timestamptz, PRIMARY KEY (request_id));
CREATE TABLE IF NOT EXISTS rm_deployment_samples (id uuid, request_id text, at timestamptz, cpu_percent text, memory_bytes bigint, receive_total bigint, transmit_total bigint, disk_read_total bigint, disk_write_total bigint, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_deployment_samples_request_id_at_idx ON rm_deployment_samples (request_id, at);
CREATE TABLE IF NOT EXISTS rm_projection_failures (name text, position bigint, notification_id bigint, event_type text, error text, since timestamptz, attempts bigint, PRIMARY KEY (name));
CREATE TABLE IF NOT EXISTS rm_read_model_meta (name text, version bigint, fingerprint text, built_at timestamptz, PRIMARY KEY (name));
CREATE TABLE IF NOT EXISTS webhook_deliveries (id uuid PRIMARY KEY, webhook_id uuid NOT NULL, message_id uuid NOT NULL, event_type TEXT NOT NULL, position BIGINT NOT NULL, body bytea NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at timestamptz, lease_until timestamptz, last_status_code INTEGER, last_error TEXT, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, delivered_at timestamptz);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE IF NOT EXISTS webhook_delivery_attempts (delivery_id uuid NOT NULL, attempt INTEGER NOT NULL, at timestamptz NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, PRIMARY KEY (delivery_id, attempt));
