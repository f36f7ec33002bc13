"""Enrollment key commands: issue (per cluster, default, public), update, delete."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from application.clusters import live_cluster
from application.errors import ForbiddenError, NotFoundError
from application.write_path import UnitOfWork, WritePath, sent_fields
from domain.cluster import Cluster
from domain.enrollment_key import UPDATABLE, EnrollmentKey

Uses = Annotated[int, Meta(ge=1)]
KeyName = Annotated[str, Meta(max_length=255)]


class IssueEnrollmentKey(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /clusters/{cluster_name}/enrollment_keys; omit uses_remaining for 1 use."""

    name: KeyName | None = None
    uses_remaining: Uses | UnsetType | None = UNSET
    expired_at: datetime | None = None


class UpdateEnrollmentKey(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH /enrollment_keys/{id}; only fields present are changed."""

    name: KeyName | UnsetType | None = UNSET
    uses_remaining: Uses | UnsetType | None = UNSET
    expired_at: datetime | UnsetType | None = UNSET


class EnrollmentKeys:
    """Application service for enrollment keys."""

    def __init__(
        self, writes: WritePath, public_url: str, default_cluster: str | None, public_enabled: bool
    ) -> None:
        self.writes = writes
        self.public_url = public_url
        self.default_cluster = default_cluster
        self.public_enabled = public_enabled

    def issue(self, cluster_name: str, cmd: IssueEnrollmentKey) -> UUID:
        uses = 1 if cmd.uses_remaining is UNSET else cmd.uses_remaining

        def decide(uow: UnitOfWork) -> UUID:
            cluster = live_cluster(uow, cluster_name)
            key = EnrollmentKey.issue(
                secrets.token_urlsafe(32), self.public_url, cluster.id, cluster.name,
                cmd.name, uses, cmd.expired_at, uow.now,
            )
            uow.add(key)
            return key.id

        return self.writes.run(decide)

    def issue_for_default(self, cmd: IssueEnrollmentKey) -> UUID:
        if not self.default_cluster:
            raise ForbiddenError("DEFAULT_CLUSTER_NAME is not configured on this admin")
        return self.issue(self.default_cluster, cmd)

    def issue_public(self) -> UUID:
        if not (self.public_enabled and self.default_cluster):
            raise ForbiddenError(
                "public enrollment keys need PUBLIC_ENROLLMENT_KEY_ENABLED=true and "
                "DEFAULT_CLUSTER_NAME"
            )
        return self.issue(self.default_cluster, IssueEnrollmentKey())

    def update(self, key_id: UUID, cmd: UpdateEnrollmentKey) -> UUID:
        changes = sent_fields(cmd, UPDATABLE)

        def decide(uow: UnitOfWork) -> UUID:
            key = live_key(uow, key_id)
            if changes:
                key.update(changes, uow.now)
            return key.id

        return self.writes.run(decide)

    def delete(self, key_id: UUID) -> None:
        self.writes.run(lambda uow: live_key(uow, key_id).delete(uow.now))


def live_key(uow: UnitOfWork, key_id: UUID) -> EnrollmentKey:
    key = uow.find(EnrollmentKey, key_id)
    cluster = uow.find(Cluster, key.cluster_id) if key is not None else None
    if key is None or key.deleted or cluster is None or cluster.deleted:
        # A deleted cluster takes its keys with it (the read model drops them too).
        raise NotFoundError("enrollment key not found")
    return key
