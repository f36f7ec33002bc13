"""Fleet projection: clusters, enrollment keys, nodes and aliases for the list/get endpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.alias import Alias
from domain.cluster import Cluster
from domain.enrollment_key import EnrollmentKey
from domain.node import Node
from domain.node_ports import DEFAULT_PORTS
from domain.webhook import Webhook
from projections.admin_handlers import ADMIN_HANDLERS
from projections.command_handlers import COMMAND_HANDLERS, NODE_EXTRAS
from projections.deployment_handlers import DEPLOYMENT_HANDLERS
from projections.model import Change, Delete, Increment, Patch, Upsert, UpsertMax
from projections.resource_handlers import ATTEMPT_HANDLERS, RESOURCE_HANDLERS
from projections.runtime_controls import RUNTIME_HANDLERS
from projections.ssh_handlers import SSH_HANDLERS
from projections.view import TableView
from projections.webhook_tables import join_events

Handler = Callable[[Any], list[Change]]


def _stamps(event: Any) -> dict[str, Any]:
    return {"inserted_at": event.at, "updated_at": event.at}


def _by_id(event: Any) -> dict[str, Any]:
    return {"id": event.originator_id}


def _cluster_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "name": e.name, "ipv4_range": e.ipv4_range,
           "node_limit": e.node_limit, "node_count": 0, **_stamps(e)}
    return [Upsert("clusters", row)]


def _cluster_deleted(e: Any) -> list[Change]:
    keys = Delete("enrollment_keys", {"cluster_id": e.originator_id})
    return [Delete("clusters", _by_id(e)), keys]


def _key_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "cluster_id": e.cluster_id, "cluster_name": e.cluster_name,
           "key": e.key, "name": e.name, "uses_remaining": e.uses_remaining,
           "expired_at": e.expired_at, "last_used_at": None, **_stamps(e)}
    return [Upsert("enrollment_keys", row)]


def _key_used(e: Any) -> list[Change]:
    fields = {"uses_remaining": e.uses_remaining, "last_used_at": e.at, "updated_at": e.at}
    return [Patch("enrollment_keys", _by_id(e), fields)]


def _node_row(e: Any) -> dict[str, Any]:
    ports = {**DEFAULT_PORTS, **e.ports}
    return {"id": e.originator_id, "cluster_id": e.cluster_id, "cluster_name": e.cluster_name,
            "id_type": e.id_type, "api_token": e.api_token, "proxy_password": e.proxy_password,
            "status": "healthy", "version": e.agent_version,
            "self_update_enabled": e.self_update_enabled, "update_request_id": None,
            "netmaker_host_id": None, **ports, **_stamps(e)}


def _seen(e: Any) -> Change:
    return UpsertMax("node_liveness", {"node_id": e.originator_id, "last_seen_at": e.at},
                     "last_seen_at")


def _node_reregistered(e: Any) -> list[Change]:
    fields = {"self_update_enabled": e.self_update_enabled, "api_token": e.api_token,
              "updated_at": e.at, **{**DEFAULT_PORTS, **e.ports}}
    return [Patch("nodes", _by_id(e), fields), _seen(e)]


def _patch(table: str, **names: str) -> Handler:
    """Handler copying event attributes (values of `names`) into columns (keys of `names`)."""

    def handle(e: Any) -> list[Change]:
        fields = {col: getattr(e, attr) for col, attr in names.items()}
        return [Patch(table, _by_id(e), {**fields, "updated_at": e.at})]

    return handle


HANDLERS: dict[type[Any], Handler] = {
    Cluster.Created: _cluster_created,
    Cluster.NodeLimitChanged: _patch("clusters", node_limit="node_limit"),
    Cluster.NodeAdmitted: lambda e: [Increment("clusters", _by_id(e), "node_count", 1)],
    Cluster.NodeReleased: lambda e: [Increment("clusters", _by_id(e), "node_count", -1)],
    Cluster.Deleted: _cluster_deleted,
    EnrollmentKey.Created: _key_created,
    EnrollmentKey.Updated: lambda e: [
        Patch("enrollment_keys", _by_id(e), {**e.changes, "updated_at": e.at})
    ],
    EnrollmentKey.Used: _key_used,
    EnrollmentKey.Deleted: lambda e: [Delete("enrollment_keys", _by_id(e))],
    Node.Registered: lambda e: [Upsert("nodes", _node_row(e)), _seen(e)],
    Node.Revived: lambda e: [Upsert("nodes", _node_row(e)), _seen(e)],
    Node.Reregistered: _node_reregistered,
    Node.VersionChanged: _patch("nodes", version="agent_version"),
    Node.StatusChanged: _patch("nodes", status="status"),
    Node.ClusterChanged: _patch("nodes", cluster_id="cluster_id", cluster_name="cluster_name"),
    Node.Deleted: lambda e: [
        # Liveness is no event: a replay keeps what heartbeats wrote after the deletion (the
        # node re-enrolled under its persistent id) instead of taking it back to the revival.
        Delete("nodes", _by_id(e)),
        Delete("node_liveness", {"node_id": e.originator_id}, "last_seen_at", e.at),
        Delete("node_metrics", {"node_id": e.originator_id}),
    ],
    Alias.Created: lambda e: [Upsert("aliases", {
        "id": e.originator_id, "node_id": e.node_id, "cluster_id": e.cluster_id,
        "cluster_name": e.cluster_name, "name": e.name, **_stamps(e)})],
    Alias.Moved: _patch("aliases", cluster_id="cluster_id", cluster_name="cluster_name"),
    Alias.Deleted: lambda e: [Delete("aliases", _by_id(e))],
    Webhook.Deleted: lambda e: [Delete("webhooks", _by_id(e))],
}


def _webhook_created(e: Any, position: int) -> list[Change]:
    row = {"id": e.originator_id, "url": e.url,
           "subscribed_events": join_events(e.subscribed_events),
           "sealed_secret": e.sealed_secret, "sealed_headers": e.sealed_headers,
           "created_position": position, **_stamps(e)}
    return [Upsert("webhooks", row)]


def _also(first: Handler, second: Handler) -> Handler:
    return lambda e: first(e) + second(e)


HANDLERS.update(COMMAND_HANDLERS)
HANDLERS.update(SSH_HANDLERS)
HANDLERS.update(ADMIN_HANDLERS)
HANDLERS.update(DEPLOYMENT_HANDLERS)
HANDLERS.update(RESOURCE_HANDLERS)
HANDLERS.update(RUNTIME_HANDLERS)
for _type, _extra in (*NODE_EXTRAS.items(), *ATTEMPT_HANDLERS.items()):
    HANDLERS[_type] = _also(HANDLERS[_type], _extra) if _type in HANDLERS else _extra

# Handlers that also need the event's position in the log.
POSITIONED: dict[type[Any], Callable[[Any, int], list[Change]]] = {
    Webhook.Created: _webhook_created,
}


def changes_for(event: Any, position: int = 0) -> list[Change]:
    """Pure mapping from one domain event to read-model changes; unknown events change nothing."""
    positioned = POSITIONED.get(type(event))
    if positioned is not None:
        return positioned(event, position)
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []


class FleetProjection(Projection[TableView]):
    """Keeps the fleet tables in step with the event log, exactly once per event."""

    name = "fleet"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply([(changes_for(domain_event, tracking.notification_id), tracking)])

    def process_batch(self, batch: list[tuple[Any, Tracking]], bulk: bool = False) -> None:
        """Many events, one transaction: how the runner keeps up with bursts of writes.
        `bulk` (a replay's large pages): the changes are reordered and folded first."""
        changes = [(changes_for(event, tracking.notification_id), tracking)
                   for event, tracking in batch]
        if bulk:
            self.view.apply_bulk(changes)
        else:
            self.view.apply(changes)

    @staticmethod
    def changes(events: Sequence[tuple[Any, int]]) -> list[Change]:
        """The changes of (event, notification id) pairs in order, for a writer's transaction
        that applies its own events (adapters.pg_commit_projection)."""
        return [change for event, position in events for change in changes_for(event, position)]
