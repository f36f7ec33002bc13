"""Edge nodes: machines running our agent, enrolled into exactly one cluster."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.node_ports import check_ports
from domain.node_status import NodeStatus
from domain.shared import GoneError, StateConflictError
from domain.soft_delete import SoftDeletable


# Where a node's id comes from: a persistent one the agent keeps across restarts (a deleted node
# can enroll again as itself); a random one the admin gives at every enrollment. (A comment, not
# a docstring: msgspec would publish a docstring in the OpenAPI document.)
class IdType(StrEnum):
    PERSISTENT = "persistent"
    RANDOM = "random"


class NodeGoneError(GoneError):
    """The node was deleted."""


class SameClusterError(StateConflictError):
    """A node cannot be moved into the cluster it is already in."""


class NotUpdatableError(StateConflictError):
    """Self-updates only reach live, healthy nodes that allow them."""


_NO_USERNAMES: Mapping[str, str] = MappingProxyType({})


class Node(SoftDeletable, Aggregate):
    """A registered edge node; owns its credentials, status, version and alias ids."""

    # Class default: snapshots taken before self-updates existed lack the attribute.
    update_request_id: UUID | None = None
    # Same for SSH usernames (id -> username); unannotated so it is no dataclass field, and
    # read-only because instances only ever replace it.
    ssh_usernames = _NO_USERNAMES

    @event("Registered")
    def __init__(  # noqa: PLR0913
        self,
        id: UUID,  # noqa: A002
        cluster_id: UUID,
        cluster_name: str,
        id_type: str,
        agent_version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        api_token: str,
        proxy_password: str,
        enrollment_key_id: UUID,
        at: datetime,
    ) -> None:
        self.id_type = id_type
        self._start_over(cluster_id, cluster_name, agent_version, self_update_enabled, ports,
                         (api_token, proxy_password))

    def _start_over(  # noqa: PLR0913
        self,
        cluster_id: UUID,
        cluster_name: str,
        agent_version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        credentials: tuple[str, str],
    ) -> None:
        """State of a fresh registration (first time, or after deletion)."""
        self.cluster_id, self.cluster_name = cluster_id, cluster_name
        # Not `version`: eventsourcing uses that name for the aggregate's own version.
        self.agent_version = agent_version
        self.self_update_enabled = self_update_enabled
        self.ports = ports
        self.api_token, self.proxy_password = credentials
        self.status = NodeStatus.HEALTHY.value
        self.alias_ids: dict[str, str] = {}
        self.ssh_usernames = {}
        self.update_request_id = None
        self.deleted = False

    @classmethod
    def register(  # noqa: PLR0913
        cls,
        node_id: UUID,
        cluster_id: UUID,
        cluster_name: str,
        id_type: IdType,
        version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        credentials: tuple[str, str],
        enrollment_key_id: UUID,
        at: datetime,
    ) -> Node:
        api_token, proxy_password = credentials
        return cls(
            id=node_id,
            cluster_id=cluster_id,
            cluster_name=cluster_name,
            id_type=id_type.value,
            agent_version=version,
            self_update_enabled=self_update_enabled,
            ports=check_ports(ports),
            api_token=api_token,
            proxy_password=proxy_password,
            enrollment_key_id=enrollment_key_id,
            at=at,
        )

    def revive(  # noqa: PLR0913
        self,
        cluster_id: UUID,
        cluster_name: str,
        version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        credentials: tuple[str, str],
        enrollment_key_id: UUID,
        at: datetime,
    ) -> None:
        """A deleted persistent node enrolls again: it comes back as a fresh registration."""
        if not self.deleted:
            raise StateConflictError(f"node {self.id} is not deleted", "node_id")
        api_token, proxy_password = credentials
        self._revived(
            cluster_id=cluster_id, cluster_name=cluster_name, id_type=self.id_type,
            agent_version=version, self_update_enabled=self_update_enabled,
            ports=check_ports(ports), api_token=api_token, proxy_password=proxy_password,
            enrollment_key_id=enrollment_key_id, at=at,
        )

    @event("Revived")
    def _revived(  # noqa: PLR0913
        self,
        cluster_id: UUID,
        cluster_name: str,
        id_type: str,
        agent_version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        api_token: str,
        proxy_password: str,
        enrollment_key_id: UUID,
        at: datetime,
    ) -> None:
        self._start_over(cluster_id, cluster_name, agent_version, self_update_enabled, ports,
                         (api_token, proxy_password))

    def gone(self) -> GoneError:
        return NodeGoneError(f"node {self.id} was deleted")

    def reregister(  # noqa: PLR0913
        self,
        version: str | None,
        self_update_enabled: bool,
        ports: dict[str, int],
        api_token: str | None,
        enrollment_key_id: UUID | None,
        at: datetime,
    ) -> None:
        """A known node starts again; a new api_token is only issued on re-enrollment."""
        self.check_live()
        self._reregistered(
            cluster_name=self.cluster_name,
            self_update_enabled=self_update_enabled,
            ports=check_ports(ports),
            api_token=api_token or self.api_token,
            enrollment_key_id=enrollment_key_id,
            at=at,
        )
        if version != self.agent_version:
            self._version_changed(
                cluster_name=self.cluster_name, previous=self.agent_version,
                agent_version=version, at=at,
            )
        self.change_status(NodeStatus.HEALTHY, "reregistered", at)

    @event("Reregistered")
    def _reregistered(  # noqa: PLR0913
        self,
        cluster_name: str,
        self_update_enabled: bool,
        ports: dict[str, int],
        api_token: str,
        enrollment_key_id: UUID | None,
        at: datetime,
    ) -> None:
        self.self_update_enabled = self_update_enabled
        self.ports = ports
        self.api_token = api_token
        # A restarted agent has acted on (or dropped) any self-update it was asked for.
        self.update_request_id = None

    @event("VersionChanged")
    def _version_changed(
        self, cluster_name: str, previous: str | None, agent_version: str | None, at: datetime
    ) -> None:
        self.agent_version = agent_version

    def change_status(self, status: NodeStatus, reason: str, at: datetime) -> bool:
        """Records a transition; returns False when the node is already in that status."""
        self.check_live()
        if status.value == self.status:
            return False
        self._status_changed(
            cluster_name=self.cluster_name, previous=self.status, status=status.value,
            reason=reason, at=at,
        )
        return True

    @event("StatusChanged")
    def _status_changed(
        self, cluster_name: str, previous: str, status: str, reason: str, at: datetime
    ) -> None:
        self.status = status

    def move_to(self, cluster_id: UUID, cluster_name: str, at: datetime) -> None:
        self.check_live()
        if cluster_id == self.cluster_id:
            raise SameClusterError(f"node is already in cluster {cluster_name}", "cluster_name")
        self._cluster_changed(
            previous_cluster_id=self.cluster_id,
            previous_cluster_name=self.cluster_name,
            cluster_id=cluster_id,
            cluster_name=cluster_name,
            at=at,
        )

    @event("ClusterChanged")
    def _cluster_changed(
        self,
        previous_cluster_id: UUID,
        previous_cluster_name: str,
        cluster_id: UUID,
        cluster_name: str,
        at: datetime,
    ) -> None:
        self.cluster_id = cluster_id
        self.cluster_name = cluster_name

    def attach_alias(self, alias_id: UUID, name: str) -> None:
        self.check_live()
        self._alias_attached(alias_id=alias_id, name=name)

    @event("AliasAttached")
    def _alias_attached(self, alias_id: UUID, name: str) -> None:
        self.alias_ids[str(alias_id)] = name

    def detach_alias(self, alias_id: UUID) -> None:
        if str(alias_id) in self.alias_ids:
            self._alias_detached(alias_id=alias_id)

    @event("AliasDetached")
    def _alias_detached(self, alias_id: UUID) -> None:
        self.alias_ids.pop(str(alias_id), None)

    def attach_ssh_username(self, ssh_username_id: UUID, username: str) -> None:
        """Usernames are unique per node; the node's version check makes that race-free."""
        self.check_live()
        if username in self.ssh_usernames.values():
            raise StateConflictError(f"ssh username {username} already exists on this node",
                                     "username")
        self._ssh_username_attached(ssh_username_id=ssh_username_id, username=username)

    @event("SshUsernameAttached")
    def _ssh_username_attached(self, ssh_username_id: UUID, username: str) -> None:
        self.ssh_usernames = {**self.ssh_usernames, str(ssh_username_id): username}

    def detach_ssh_username(self, ssh_username_id: UUID) -> None:
        if str(ssh_username_id) in self.ssh_usernames:
            self._ssh_username_detached(ssh_username_id=ssh_username_id)

    @event("SshUsernameDetached")
    def _ssh_username_detached(self, ssh_username_id: UUID) -> None:
        self.ssh_usernames = {
            k: v for k, v in self.ssh_usernames.items() if k != str(ssh_username_id)
        }

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True

    def trigger_update(self, request_id: UUID, at: datetime) -> bool:
        """Asks the agent to update itself; False if this request already triggered it."""
        self.check_live()
        if self.update_request_id == request_id:
            return False
        if self.status != NodeStatus.HEALTHY.value or not self.self_update_enabled:
            raise NotUpdatableError(f"node {self.id} is not healthy with self-update enabled")
        self._update_triggered(cluster_name=self.cluster_name, self_update_request_id=request_id,
                               at=at)
        return True

    @event("UpdateTriggered")
    def _update_triggered(self, cluster_name: str, self_update_request_id: UUID,
                          at: datetime) -> None:
        self.update_request_id = self_update_request_id
