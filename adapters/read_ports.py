"""Application read ports (targets, executions) answered from the fleet read model."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.ports import ExecutionRef, StoredUsername, Target
from domain.command_execution import OPEN, TERMINAL
from domain.targeting import Targeting
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.targets import resolve
from projections.view import TableView

_OPEN = AnyOf(tuple(Cond("status", "eq", s) for s in OPEN))
_TERMINAL = AnyOf(tuple(Cond("status", "eq", s) for s in TERMINAL))


class ViewTargetFinder:
    """TargetFinder: targeting resolved against the nodes and clusters tables."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def resolve(self, targeting: Targeting) -> list[Target]:
        return [Target(r.node_id, r.cluster_name) for r in resolve(self.view, targeting)]


class ViewExecutionIndex:
    """ExecutionIndex: open executions and unfinished requests, oldest first."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def _ids(
        self, table: str, filters: tuple[Filter, ...], limit: int, page: int = 1
    ) -> list[UUID]:
        query = ListQuery(filters, (Order("inserted_at"), Order("id")), page=page,
                          page_size=limit)
        return [r["id"] for r in self.view.query(table, query).rows]

    def open_for_node(self, node_id: UUID, limit: int) -> list[ExecutionRef]:
        query = ListQuery((Cond("node_id", "eq", node_id), _OPEN),
                          (Order("inserted_at"), Order("id")), page_size=limit)
        return [ExecutionRef(r["id"], r["status"], bool(r["cancel_requested"]), r["sent_at"])
                for r in self.view.query("command_executions", query).rows]

    def due(self, now: datetime, limit: int) -> list[UUID]:
        return self._ids("command_executions", (Cond("expired_at", "le", now), _OPEN), limit)

    def orphaned(self, limit: int) -> list[UUID]:
        # No liveness row: the node was deleted (its row goes with it) or never existed.
        return self._ids("command_executions", (Cond("last_seen_at", "null"), _OPEN), limit)

    def on_unreachable_nodes(self, seen_before: datetime, limit: int) -> list[UUID]:
        # Pages through the unreachable nodes: the first `limit` of them may have no open work
        # (long-dead machines nobody deleted) while later ones do.
        stale = (Cond("status", "eq", "unreachable"), Cond("last_seen_at", "lt", seen_before))
        found: list[UUID] = []
        page = 1
        while len(found) < limit:
            nodes = self._ids("nodes", stale, limit, page)
            if not nodes:
                break
            of_nodes = AnyOf(tuple(Cond("node_id", "eq", n) for n in nodes))
            found += self._ids("command_executions", (of_nodes, _OPEN), limit - len(found))
            if len(nodes) < limit:
                break
            page += 1
        return found

    def finished_before(self, cutoff: datetime, limit: int) -> list[UUID]:
        return self._ids("command_executions", (Cond("updated_at", "lt", cutoff), _TERMINAL),
                         limit)

    def unfinished_update_requests(self, limit: int) -> list[UUID]:
        unfinished = AnyOf((Cond("status", "eq", "pending"), Cond("status", "eq", "processing")))
        return self._ids("self_update_requests", (unfinished,), limit)


class ViewSshCredentials:
    """SshCredentials from the fleet read model (what the API shows is what logins see)."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def username(self, node_id: UUID, username: str) -> StoredUsername | None:
        query = ListQuery((Cond("node_id", "eq", node_id), Cond("username", "eq", username)),
                          page_size=1)
        rows = self.view.query("ssh_usernames", query).rows
        return StoredUsername(rows[0]["id"], rows[0]["password_hash"]) if rows else None

    def has_key(self, ssh_username_id: UUID, fingerprint: str) -> bool:
        query = ListQuery((Cond("ssh_username_id", "eq", ssh_username_id),
                           Cond("fingerprint", "eq", fingerprint)), page_size=1)
        return bool(self.view.query("ssh_public_keys", query).rows)
