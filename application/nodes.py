"""Node commands: enrollment by agents, re-registration, status, cluster moves, deletion."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec

from application.agent_protocol import EnrollNode, ReregisterNode
from application.clusters import ClusterName, claim_name, live_cluster, release_name
from application.deployments import Deployments
from application.errors import NotFoundError, UnauthorizedError
from application.ports import ExecutionIndex, Liveness, Seen
from application.ssh_access import remove_username
from application.write_path import Decision, UnitOfWork, WritePath
from domain.alias import Alias
from domain.claims import NameClaim
from domain.cluster import Cluster
from domain.command_execution import NODE_DELETED, CommandExecution
from domain.enrollment_key import EnrollmentKey, KeyRefusedError, decode_blob
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError
from domain.ssh_access import SshUsername

MISSED = "missed heartbeats"
SWEEP_PAGE = 500  # nodes per status per sweep; a full page asks for another sweep at once


class ChangeCluster(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH /nodes/{id}/change_cluster."""

    cluster_name: ClusterName


@dataclass(frozen=True)
class Enrolled:
    """What an agent needs back after enrolling."""

    node_id: UUID
    api_token: str
    reregistered: bool


class Nodes:
    """Application service for nodes."""

    def __init__(self, writes: WritePath, liveness: Liveness, executions: ExecutionIndex,
                 deployments: Deployments) -> None:
        self.writes = writes
        self.liveness = liveness
        self.executions = executions
        self.deployments = deployments

    def enroll(self, cmd: EnrollNode) -> Enrolled:
        return self.writes.run(self._enrolling(cmd))

    async def enroll_async(self, cmd: EnrollNode) -> Enrolled:
        """`enroll` on the event loop (the HTTP route's way)."""
        return await self.writes.run_async(self._enrolling(cmd))

    def _enrolling(self, cmd: EnrollNode) -> Decision[Enrolled]:
        _, token = decode_blob(cmd.enrollment_key)
        id_type = IdType(cmd.id_type)  # the wire's enum, as the domain names it
        if id_type is IdType.PERSISTENT and cmd.node_id is None:
            raise InvalidValueError("is required when id_type is persistent", "node_id")
        node_id = cmd.node_id if id_type is IdType.PERSISTENT and cmd.node_id else uuid4()

        def decide(uow: UnitOfWork) -> Enrolled:
            key = uow.find(EnrollmentKey, EnrollmentKey.id_for(token))
            if key is None or key.deleted:
                raise UnauthorizedError("enrollment key is not valid", "enrollment_key")
            cluster = uow.find(Cluster, key.cluster_id)
            if cluster is None or cluster.deleted:
                raise KeyRefusedError("the key's cluster was deleted", "enrollment_key")
            key.use(node_id, uow.now)
            api_token = new_token()
            # A fresh random id cannot name a stored node: no need to look.
            node = uow.find(Node, node_id) if id_type is IdType.PERSISTENT else None
            if node is not None and not node.deleted:
                node.reregister(
                    cmd.version, cmd.self_update_enabled, cmd.ports.as_dict(), api_token,
                    key.id, uow.now,
                )
                if node.cluster_id != cluster.id:
                    move_node(uow, node, cluster)
                return Enrolled(node_id, api_token, reregistered=True)
            cluster.admit(node_id)
            credentials = (api_token, secrets.token_urlsafe(18))
            if node is not None:
                node.revive(
                    cluster.id, cluster.name, cmd.version, cmd.self_update_enabled,
                    cmd.ports.as_dict(), credentials, key.id, uow.now,
                )
            else:
                uow.add(Node.register(
                    node_id, cluster.id, cluster.name, id_type, cmd.version,
                    cmd.self_update_enabled, cmd.ports.as_dict(), credentials, key.id, uow.now,
                ))
            return Enrolled(node_id, api_token, reregistered=False)

        return decide

    def reregister(self, node_id: UUID, cmd: ReregisterNode) -> None:
        def decide(uow: UnitOfWork) -> None:
            node = uow.get(Node, node_id, "node")
            node.reregister(
                cmd.version, cmd.self_update_enabled, cmd.ports.as_dict(), None, None, uow.now
            )

        self.writes.run(decide)

    def heartbeat(self, node_id: UUID, reported: NodeStatus) -> str:
        """Touches last_seen_at on the read side; only a status transition becomes an event."""
        current = self.liveness.touch(node_id, self.writes.clock.now())
        if current is None:
            raise NotFoundError("node not found")
        if current != reported.value:
            self.set_status(node_id, reported, "heartbeat")
            return reported.value
        return current

    async def heartbeat_async(self, api_token: str, reported: NodeStatus) -> Seen | None:
        """`heartbeat` on the event loop, for the node bearing `api_token` (the agent
        endpoints' way): that node and its status after the heartbeat, None if no node bears
        the token (nothing recorded)."""
        seen = await self.liveness.seen_by_token_async(api_token, self.writes.clock.now())
        if seen is None or seen.status == reported.value:
            return seen
        await self.writes.run_async(_status_change(seen.node_id, reported, "heartbeat"))
        return Seen(seen.node_id, reported.value)

    def set_status(self, node_id: UUID, status: NodeStatus, reason: str) -> bool:
        return self.writes.run(_status_change(node_id, status, reason))

    def sweep_stale(
        self, listening_since: datetime | None, unhealthy_after: float, unreachable_after: float
    ) -> int:
        """Turns missed heartbeats into status transitions (healthy -> unhealthy -> unreachable)
        and returns how many it recorded. Silence counts only while an admin was listening
        (`listening_since`, None: not yet): after an outage, every node looks silent."""
        if listening_since is None:
            return 0
        now = self.writes.clock.now()
        changed = 0
        for after, statuses, status in (
            (unreachable_after, ("healthy", "unhealthy"), NodeStatus.UNREACHABLE),
            (unhealthy_after, ("healthy",), NodeStatus.UNHEALTHY),
        ):
            cutoff = now - timedelta(seconds=after)
            if listening_since > cutoff:
                continue
            for node_id in self.liveness.silent(cutoff, statuses, SWEEP_PAGE):
                changed += self.set_status(node_id, status, MISSED)
        return changed

    def change_cluster(self, node_id: UUID, cmd: ChangeCluster) -> None:
        def decide(uow: UnitOfWork) -> None:
            node = uow.get(Node, node_id, "node")
            target = live_cluster(uow, cmd.cluster_name)
            move_node(uow, node, target)

        self.writes.run(decide)

    def delete(self, node_id: UUID) -> None:
        """Cascades to aliases and SSH usernames (with their keys); open executions end as
        cancelled (history keeps the rest); its deployments end and give their room back."""
        open_executions = [ref.id for ref in self.executions.open_for_node(node_id, 100_000)]
        held = [ref.request_id for ref in self.deployments.finder.live_on(node_id)]

        def decide(uow: UnitOfWork) -> None:
            node = uow.get(Node, node_id, "node")
            for exec_id in open_executions:
                execution = uow.find(CommandExecution, exec_id)
                if execution is not None:
                    execution.abandon(NODE_DELETED, uow.now)
            for alias_id in list(node.alias_ids):
                remove_alias(uow, uow.get(Alias, UUID(alias_id), "alias"), node)
            for username_id in list(node.ssh_usernames):
                remove_username(uow, uow.get(SshUsername, UUID(username_id), "ssh username"),
                                node)
            self.deployments.end_on_deleted_node(uow, held)
            cluster = uow.find(Cluster, node.cluster_id)
            if cluster is not None:
                cluster.release(node.id)
            node.delete(uow.now)

        self.writes.run(decide)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def alias_claim_id(cluster_id: UUID, name: str) -> UUID:
    return NameClaim.id_for("alias", str(cluster_id), name)


def move_node(uow: UnitOfWork, node: Node, target: Cluster) -> None:
    """Moves a node and its aliases; fails whole if an alias name is taken in the target."""
    source = uow.find(Cluster, node.cluster_id)
    node.move_to(target.id, target.name, uow.now)
    target.admit(node.id)
    if source is not None:
        source.release(node.id)
    for alias_id, name in node.alias_ids.items():
        alias = uow.get(Alias, UUID(alias_id), "alias")
        claim_name(uow, alias_claim_id(target.id, name), alias.id, f"alias {name}")
        uow.get(NameClaim, alias_claim_id(alias.cluster_id, name), "alias name").release(alias.id)
        alias.move(target.id, target.name, uow.now)


def remove_alias(uow: UnitOfWork, alias: Alias, node: Node | None) -> None:
    release_name(uow, alias_claim_id(alias.cluster_id, alias.name), alias.id)
    if node is not None:
        node.detach_alias(alias.id)
    alias.delete(uow.now)


def _status_change(node_id: UUID, status: NodeStatus, reason: str) -> Decision[bool]:
    def decide(uow: UnitOfWork) -> bool:
        return uow.get(Node, node_id, "node").change_status(status, reason, uow.now)

    return decide
