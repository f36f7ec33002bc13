"""Read-model changes for admin membership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.admin import Admin, admin_name
from projections.model import Change, Delete, Patch, Upsert

Handler = Callable[[Any], list[Change]]


def _joined(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "admin_id": e.admin_id, "name": admin_name(e.admin_id),
           "admin_cluster_name": e.admin_cluster_name, "max_peers": e.max_peers, "url": e.url,
           "present": True, "joined_at": e.at}
    return [Upsert("admins", row)]


ADMIN_HANDLERS: dict[type[Any], Handler] = {
    Admin.Joined: _joined,
    Admin.Rejoined: _joined,  # the row may be gone (forgotten): write it whole
    Admin.Left: lambda e: [Patch("admins", {"id": e.originator_id}, {"present": False})],
    # A forgotten admin leaves the read model; a restart with its id writes it back.
    Admin.Forgotten: lambda e: [Delete("admins", {"id": e.originator_id}),
                                Delete("admin_checkins", {"admin_id": e.originator_id})],
}
