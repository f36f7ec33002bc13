"""Commands.Command endpoints: create (targets resolved once), list, get, delete."""

from __future__ import annotations

from application.commands import CreateCommand
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    int_range,
    presence,
    text,
    time_range,
)

SPEC = ListSpec(
    params=(
        *STANDARD,
        text("command_text"),
        *time_range("expired_at"),
        presence("has_expired_at", "expired_at"),
        presence("has_timeout", "timeout"),
        *int_range("timeout"),
    ),
    sortable=("command_text", "timeout", "expired_at", "inserted_at", "updated_at"),
)


RESOURCE = Resource(__name__, lambda svc: svc.command_reads.commands,
                    each(serializers.command), SPEC)
create = RESOURCE.create(CreateCommand, lambda svc, request, cmd: svc.commands.create(cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.commands.delete(key))

ROUTES = routes("/api/v1/commands", "/api/v1/commands/{id}", create=create, index=index,
                show=show, delete=delete)
