"""Tables of the fleet read model: clusters, enrollment keys, nodes, aliases, liveness."""

from __future__ import annotations

from projections.model import Column, Join, Kind, Table

T, I, B, D, U = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


def cols(*spec: tuple[str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(n, k) for n, k in spec)


STAMPS = (("inserted_at", D), ("updated_at", D))
PORTS = (
    "http_port", "http_proxy_port", "socks5_proxy_port", "ssh_port", "host_metrics_port",
    "wireguard_metrics_port",
)

CLUSTERS = Table(
    "clusters", "id",
    cols(("id", U), ("name", T), ("ipv4_range", T), ("node_limit", I), ("node_count", I), *STAMPS),
    indexes=("name", "inserted_at"),
)
ENROLLMENT_KEYS = Table(
    "enrollment_keys", "id",
    cols(
        ("id", U), ("cluster_id", U), ("cluster_name", T), ("key", T), ("name", T),
        ("uses_remaining", I), ("expired_at", D), ("last_used_at", D), *STAMPS,
    ),
    indexes=("cluster_id", "key", "inserted_at"),
)
NODE_LIVENESS = Table(
    "node_liveness", "node_id", cols(("node_id", U), ("last_seen_at", D)), owned=False,
)
NODES = Table(
    "nodes", "id",
    cols(
        ("id", U), ("cluster_id", U), ("cluster_name", T), ("id_type", T), ("api_token", T),
        ("proxy_password", T), ("status", T), ("version", T), ("self_update_enabled", B),
        ("netmaker_host_id", U), *((p, I) for p in PORTS), *STAMPS,
    ),
    indexes=("cluster_id", "cluster_name", "api_token", "status", "inserted_at"),
    joins=(Join("node_liveness", "id", "node_id", cols(("last_seen_at", D))),),
)
ALIASES = Table(
    "aliases", "id",
    cols(("id", U), ("node_id", U), ("cluster_id", U), ("cluster_name", T), ("name", T), *STAMPS),
    indexes=("node_id", "cluster_name", "inserted_at"),
)

FLEET_TABLES = (CLUSTERS, ENROLLMENT_KEYS, NODE_LIVENESS, NODES, ALIASES)
