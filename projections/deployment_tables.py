"""Read-model tables for applications, hosts (placement profiles) and deployments.

JSON-shaped values (ports, location, spec) are stored as JSON text; they are shown, never
filtered on. Tags are also kept as "|a|b|" so "has tag" is a glob, as for webhook event types.
"""

from __future__ import annotations

from projections.model import STAMPS, Join, Kind, Table, cols

# No Record reads these tables yet (they are read as dict rows), so their columns are listed here.
TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


APPS = Table(
    "apps", "id",
    # A deleted application keeps its row (deleted = true) until its name is used again: the
    # row is the only place its name is known to a later App.Restored.
    cols(("id", UID), ("name", TXT), ("version_count", INT), ("deleted", BOOL), *STAMPS),
    indexes=("name", "inserted_at"),
)
APP_VERSIONS = Table(
    "app_versions", "id",
    cols(
        ("id", UID), ("app_name", TXT), ("name", TXT), ("image", TXT), ("ports", TXT),
        ("cpu_units", INT), ("memory_mb", INT), ("env", TXT), ("max_duration", INT),
        ("command", TXT), ("arguments", TXT), ("inserted_at", TIME),
    ),
    indexes=("app_name, name", "inserted_at"),
)
# Images a node holds, as its agent last reported them ("|image|image|"); not from events.
NODE_IMAGES = Table(
    "node_images", "node_id", cols(("node_id", UID), ("images", TXT)), owned=False,
)
HOSTS = Table(
    "hosts", "node_id",
    cols(
        ("node_id", UID), ("fleet", TXT), ("location", TXT), ("cpu_units", INT),
        ("memory_mb", INT), ("allocated_cpu_units", INT), ("allocated_memory_mb", INT),
        ("deployment_count", INT), *STAMPS,
    ),
    indexes=("fleet", "inserted_at"),
    joins=(
        Join("nodes", "node_id", "id", cols(("status", TXT), ("cluster_name", TXT))),
        Join("node_images", "node_id", "node_id", cols(("images", TXT))),
    ),
)
DEPLOYMENTS = Table(
    "deployments", "request_id",
    cols(
        ("request_id", TXT), ("id", UID), ("app_name", TXT), ("app_version", TXT),
        ("status", TXT), ("last_status", TXT), ("node_id", UID), ("error", BOOL),
        ("error_detail", TXT), ("start_time", TIME), ("ready_at", TIME), ("removal_time", TIME),
        ("ports", TXT), ("public_ip", TXT), ("location", TXT), ("tags", TXT), ("spec", TXT),
        ("stopping", TXT), ("stop_pending", TXT), ("delete_token", TXT), ("max_duration", INT),
        ("exit_code", INT), ("updated_at", TIME),
    ),
    indexes=("id", "status", "node_id", "app_name, app_version", "start_time"),
)
DEPLOYMENT_TAGS = Table(
    "deployment_tags", "id",
    cols(("id", UID), ("deployment_id", UID), ("name", TXT), ("create_time", TIME),
         ("last_updated", TIME)),
    indexes=("deployment_id, name",),
)

# What agents send about running containers (not events): the latest log tail, the logs of a
# crash, and periodic resource samples for the metrics endpoint.
DEPLOYMENT_LOGS = Table(
    "deployment_logs", "request_id",
    cols(("request_id", TXT), ("logs", TXT), ("crash_logs", TXT), ("exit_code", INT),
         ("updated_at", TIME)),
    owned=False,
)
DEPLOYMENT_SAMPLES = Table(
    "deployment_samples", "id",
    cols(("id", UID), ("request_id", TXT), ("at", TIME), ("cpu_percent", TXT),
         ("memory_bytes", INT), ("receive_total", INT), ("transmit_total", INT),
         ("disk_read_total", INT), ("disk_write_total", INT)),
    indexes=("request_id, at",),
    owned=False,
)

# A deployment's webhook_on_<kind> URLs, with the secret their deliveries are signed with.
DEPLOYMENT_HOOKS = Table(
    "deployment_hooks", "id",
    cols(("id", UID), ("request_id", TXT), ("kind", TXT), ("url", TXT), ("secret", TXT)),
    indexes=("request_id",),
)

DEPLOYMENT_TABLES = (APPS, APP_VERSIONS, NODE_IMAGES, HOSTS, DEPLOYMENTS, DEPLOYMENT_TAGS,
                     DEPLOYMENT_LOGS, DEPLOYMENT_SAMPLES, DEPLOYMENT_HOOKS)
