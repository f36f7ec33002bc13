"""Alias commands: create and delete DNS aliases of a node."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from msgspec import Meta

from application.clusters import claim_name
from application.nodes import alias_claim_id, remove_alias
from application.write_path import UnitOfWork, WritePath
from domain.alias import MAX_ALIAS, Alias, check_alias_name
from domain.node import Node
from domain.shared import DNS_LABEL_PATTERN

AliasName = Annotated[str, Meta(min_length=1, max_length=MAX_ALIAS, pattern=DNS_LABEL_PATTERN)]


class CreateAlias(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /nodes/{node_id}/aliases."""

    name: AliasName


class Aliases:
    """Application service for aliases."""

    def __init__(self, writes: WritePath) -> None:
        self.writes = writes

    def create(self, node_id: UUID, cmd: CreateAlias) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            node = uow.get(Node, node_id, "node")
            check_alias_name(cmd.name)
            alias_id = uuid4()
            claim = alias_claim_id(node.cluster_id, cmd.name)
            claim_name(uow, claim, alias_id, f"alias {cmd.name} in cluster {node.cluster_name}")
            alias = Alias.create(
                alias_id, node.id, node.cluster_id, node.cluster_name, cmd.name, uow.now
            )
            node.attach_alias(alias.id, alias.name)
            uow.add(alias)
            return alias_id

        return self.writes.run(decide)

    def delete(self, alias_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            alias = uow.get(Alias, alias_id, "alias")
            remove_alias(uow, alias, uow.find(Node, alias.node_id))

        self.writes.run(decide)
