"""Cluster commands: create, change node limit, delete, and ensure the configured default."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from eventsourcing.domain import Aggregate
from msgspec import UNSET, Meta, UnsetType

from application.errors import NotFoundError
from application.write_path import UnitOfWork, WritePath
from domain.claims import AddressPool, NameClaim, NameTakenError
from domain.cluster import (
    MAX_NAME,
    RESERVED_NAMES,
    Cluster,
    check_cluster_name,
    check_ipv4_range,
)
from domain.shared import DNS_LABEL_PATTERN, InvalidValueError

ClusterName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME, pattern=DNS_LABEL_PATTERN)]
Ipv4Range = Annotated[str, Meta(pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,2}\Z")]
NodeLimit = Annotated[int, Meta(ge=1)]


class CreateCluster(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /clusters."""

    name: ClusterName
    ipv4_range: Ipv4Range | None = None
    node_limit: NodeLimit | None = None


class UpdateCluster(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH /clusters/{name}; omitted fields stay as they are."""

    node_limit: NodeLimit | UnsetType | None = UNSET


def cluster_claim_id(name: str) -> UUID:
    return NameClaim.id_for("cluster", name)


def live_cluster(uow: UnitOfWork, name: str) -> Cluster:
    """The live cluster holding this name, found through its name claim (never the read side)."""
    claim = uow.find(NameClaim, cluster_claim_id(name))
    if claim is None or claim.owner_id is None:
        raise NotFoundError(f"cluster {name} not found", "name")
    return uow.get(Cluster, claim.owner_id, f"cluster {name}")


class Clusters:
    """Application service for clusters."""

    def __init__(self, writes: WritePath) -> None:
        self.writes = writes

    def create(self, cmd: CreateCluster) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            check_cluster_name(cmd.name)
            if cmd.name in RESERVED_NAMES:
                raise InvalidValueError(f"'{cmd.name}' is reserved", "name")
            cidr = None if cmd.ipv4_range is None else check_ipv4_range(cmd.ipv4_range)
            cluster_id = uuid4()
            claim_name(uow, cluster_claim_id(cmd.name), cluster_id, f"cluster name {cmd.name}")
            pool = uow.find(AddressPool, AddressPool.POOL_ID) or AddressPool(id=AddressPool.POOL_ID)
            uow.add(pool)
            cidr = pool.allocate(cluster_id, cidr)
            uow.add(Cluster.create(cluster_id, cmd.name, cidr, cmd.node_limit, uow.now))
            return cluster_id

        return self.writes.run(decide)

    def update(self, name: str, cmd: UpdateCluster) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            cluster = live_cluster(uow, name)
            if cmd.node_limit is not UNSET:
                cluster.change_node_limit(cmd.node_limit, uow.now)
            return cluster.id

        return self.writes.run(decide)

    def delete(self, name: str) -> None:
        def decide(uow: UnitOfWork) -> None:
            cluster = live_cluster(uow, name)
            cluster.delete(uow.now)
            claim = uow.get(NameClaim, cluster_claim_id(name), "cluster name")
            claim.release(cluster.id)
            pool = uow.find(AddressPool, AddressPool.POOL_ID)
            if pool is not None:
                pool.release(cluster.id)

        self.writes.run(decide)

    def ensure(self, name: str) -> None:
        """Creates the configured default cluster unless it exists already."""
        try:
            self.create(CreateCluster(name=name))
        except NameTakenError:
            pass


def claim_name(uow: UnitOfWork, claim_id: UUID, owner_id: UUID, label: str) -> NameClaim:
    claim = uow.find(NameClaim, claim_id)
    if claim is None:
        claim = NameClaim(id=claim_id, owner_id=owner_id)
        uow.add(claim)
    else:
        claim.claim(owner_id, label)
    return claim


def release_name(uow: UnitOfWork, claim_id: UUID, owner_id: UUID) -> None:
    """Gives a name up for others to take; a claim already gone (or another's) stays as it is."""
    claim = uow.find(NameClaim, claim_id)
    if claim is not None:
        claim.release(owner_id)


def add_named(uow: UnitOfWork, aggregate: Aggregate, claim_id: UUID, label: str) -> UUID:
    """A new aggregate whose name is unique: claims the name for it (or refuses, as
    `claim_name` does), adds it, and answers its id."""
    claim_name(uow, claim_id, aggregate.id, label)
    uow.add(aggregate)
    return aggregate.id
