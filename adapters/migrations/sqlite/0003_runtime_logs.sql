-- The lines running containers write, shipped by agents (a resource's runtime logs, issue 17).
CREATE TABLE IF NOT EXISTS rm_runtime_log_lines (id TEXT, request_id TEXT, sequence INTEGER, stream TEXT, timestamp TEXT, message TEXT, masked INTEGER, received_at TEXT, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_runtime_log_lines_request_id_sequence_idx ON rm_runtime_log_lines (request_id, sequence);
CREATE INDEX IF NOT EXISTS rm_runtime_log_lines_received_at_idx ON rm_runtime_log_lines (received_at);
CREATE TABLE IF NOT EXISTS rm_runtime_log_heads (request_id TEXT, last_sequence INTEGER, last_timestamp TEXT, updated_at TEXT, PRIMARY KEY (request_id));
