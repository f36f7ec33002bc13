-- What agents say while they start a deployment (issue 17: phases as they happen).
CREATE TABLE IF NOT EXISTS rm_deployment_progress (id uuid, request_id text, at timestamptz, phase text, level text, message text, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_deployment_progress_request_id_at_idx ON rm_deployment_progress (request_id, at);
CREATE INDEX IF NOT EXISTS rm_deployment_progress_at_idx ON rm_deployment_progress (at);
