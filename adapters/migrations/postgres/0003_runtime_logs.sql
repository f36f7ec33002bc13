-- The lines running containers write, shipped by agents (a resource's runtime logs, issue 17).
CREATE TABLE IF NOT EXISTS rm_runtime_log_lines (id uuid, request_id text, sequence bigint, stream text, timestamp timestamptz, message text, masked boolean, received_at timestamptz, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_runtime_log_lines_request_id_sequence_idx ON rm_runtime_log_lines (request_id, sequence);
CREATE INDEX IF NOT EXISTS rm_runtime_log_lines_received_at_idx ON rm_runtime_log_lines (received_at);
CREATE TABLE IF NOT EXISTS rm_runtime_log_heads (request_id text, last_sequence bigint, last_timestamp timestamptz, updated_at timestamptz, PRIMARY KEY (request_id));
