-- Agents' observations of resources' health and the live probes asked of them (issue 17).
CREATE TABLE IF NOT EXISTS rm_resource_health_observations (id TEXT, resource_id TEXT, deployment_id TEXT, request_id TEXT, node_id TEXT, observed_at TEXT, kind TEXT, lifecycle TEXT, health TEXT, overall TEXT, message TEXT, duration_ms INTEGER, status_code INTEGER, exit_code INTEGER, probe_id TEXT, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_resource_id_observed_at_idx ON rm_resource_health_observations (resource_id, observed_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_deployment_id_observed_at_idx ON rm_resource_health_observations (deployment_id, observed_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_probe_id_idx ON rm_resource_health_observations (probe_id);
CREATE INDEX IF NOT EXISTS rm_resource_health_observations_observed_at_idx ON rm_resource_health_observations (observed_at);
CREATE TABLE IF NOT EXISTS rm_resource_health_probes (id TEXT, resource_id TEXT, request_id TEXT, node_id TEXT, requested_at TEXT, handed_out_at TEXT, PRIMARY KEY (id));
CREATE INDEX IF NOT EXISTS rm_resource_health_probes_node_id_requested_at_idx ON rm_resource_health_probes (node_id, requested_at);
CREATE INDEX IF NOT EXISTS rm_resource_health_probes_requested_at_idx ON rm_resource_health_probes (requested_at);
