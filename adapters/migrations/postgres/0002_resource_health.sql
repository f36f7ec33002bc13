-- Agents' observations of resources' health and the live probes asked of them (issue 17).
CREATE TABLE IF NOT EXISTS rm_resource_health_observations (id uuid, resource_id uuid, deployment_id uuid, request_id text, node_id uuid, observed_at timestamptz, kind text, lifecycle text, health text, overall text, message text, duration_ms bigint, status_code bigint, exit_code bigint, probe_id uuid, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_resource_id_observed_at_idx ON rm_resource_health_observations (resource_id, observed_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_deployment_id_observed_at_idx ON rm_resource_health_observations (deployment_id, observed_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_probe_id_idx ON rm_resource_health_observations (probe_id);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_observed_at_idx ON rm_resource_health_observations (observed_at);
CREATE TABLE IF NOT EXISTS rm_resource_health_probes (id uuid, resource_id uuid, request_id text, node_id uuid, requested_at timestamptz, handed_out_at timestamptz, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_resource_health_probes_node_id_requested_at_idx ON rm_resource_health_probes (node_id, requested_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_probes_requested_at_idx ON rm_resource_health_probes (requested_at);
