-- How many lines each source of a deployment's log holds, kept as they are stored (Appaloft's
-- logCount). Progress lines already kept are counted here; container lines are counted from
-- each deployment's next report (a running container reports every 10 s).
CREATE TABLE IF NOT EXISTS rm_deployment_log_counts (request_id text, progress_lines bigint, log_lines bigint, crash_lines bigint, updated_at timestamptz, PRIMARY KEY (request_id));
INSERT INTO rm_deployment_log_counts (request_id, progress_lines, updated_at) SELECT request_id, count(*), max(at) FROM rm_deployment_progress GROUP BY request_id ON CONFLICT (request_id) DO NOTHING;
