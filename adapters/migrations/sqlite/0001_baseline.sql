-- The tables that do not come from events, as the releases before versioned migrations made
-- them: liveness, check-ins, host metrics, node images, container logs and samples, the
-- projection's status and version, webhook deliveries and their attempts. IF NOT EXISTS lets a
-- database made by such a release adopt this baseline as it is. Never edit an applied
-- migration: a change to one of these tables is a new numbered file in both dialects' folders
-- (tests/integration/test_migrations.py fails until the tables the migrations make match the
-- code's table definitions).

CREATE TABLE IF NOT EXISTS rm_node_liveness (node_id TEXT, last_seen_at TEXT, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_admin_checkins (admin_id TEXT, last_checked_in TEXT, PRIMARY KEY (admin_id));
CREATE TABLE IF NOT EXISTS rm_node_metrics (node_id TEXT, received_at TEXT, host TEXT, agent TEXT, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_node_images (node_id TEXT, images TEXT, PRIMARY KEY (node_id));
CREATE TABLE IF NOT EXISTS rm_deployment_logs (request_id TEXT, logs TEXT, crash_logs TEXT, exit_code INTEGER, updated_at TEXT, PRIMARY KEY (request_id));
CREATE TABLE IF NOT EXISTS rm_deployment_samples (id TEXT, request_id TEXT, at TEXT, cpu_percent TEXT, memory_bytes INTEGER, receive_total INTEGER, transmit_total INTEGER, disk_read_total INTEGER, disk_write_total INTEGER, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_deployment_samples_request_id_at_idx ON rm_deployment_samples (request_id, at);
CREATE TABLE IF NOT EXISTS rm_projection_failures (name TEXT, position INTEGER, notification_id INTEGER, event_type TEXT, error TEXT, since TEXT, attempts INTEGER, PRIMARY KEY (name));
CREATE TABLE IF NOT EXISTS rm_read_model_meta (name TEXT, version INTEGER, fingerprint TEXT, built_at TEXT, PRIMARY KEY (name));
CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, message_id TEXT NOT NULL, event_type TEXT NOT NULL, position BIGINT NOT NULL, body BLOB NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, lease_until TEXT, last_status_code INTEGER, last_error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, delivered_at TEXT);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE IF NOT EXISTS webhook_delivery_attempts (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, PRIMARY KEY (delivery_id, attempt));
