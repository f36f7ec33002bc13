"""SelfUpdates.Request endpoints: create (processed in the background), list, get, delete."""

from __future__ import annotations

from application.self_updates import CreateSelfUpdateRequest
from domain.self_update import RequestStatus
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
from entrypoints.http.listing import STANDARD, ListSpec, exact, one_of

SPEC = ListSpec(
    params=(*STANDARD, exact("status", one_of(*(s.value for s in RequestStatus)))),
    sortable=("status", "inserted_at", "updated_at"),
)


RESOURCE = Resource(__name__, lambda svc: svc.command_reads.self_update_requests,
                    each(serializers.self_update_request), SPEC)
create = RESOURCE.create(CreateSelfUpdateRequest,
                         lambda svc, request, cmd: svc.self_updates.create(cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.self_updates.delete(key))

ROUTES = routes("/api/v1/self_update_requests", "/api/v1/self_update_requests/{id}",
                create=create, index=index, show=show, delete=delete)
