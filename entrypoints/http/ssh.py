"""Ssh.SshUsername and Ssh.SshPublicKey endpoints, and the agent's login check."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.agent_protocol import CheckSshLogin
from application.ssh_access import CreateSshPublicKey, CreateSshUsername
from domain.ssh_access import LoginOutcome
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
from entrypoints.http.inputs import agent_node, path_uuid, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    boolean,
    exact,
    parse_text,
    parse_uuid,
    text,
)
from entrypoints.http.responses import ok
from entrypoints.http.serializers import Shape, described
from projections.ssh_tables import SshUsernameRecord

USERNAMES = ListSpec(
    params=(*STANDARD, text("cluster_name"), boolean("has_password"),
            exact("node_id", parse_uuid), text("username")),
    sortable=("username", "inserted_at", "updated_at"),
)
KEYS = ListSpec(
    params=(*STANDARD, text("cluster_name"), text("key_name"), exact("node_id", parse_uuid),
            text("public_key"), exact("ssh_username_id", parse_uuid), text("username"),
            exact("fingerprint", parse_text)),
    sortable=("key_name", "username", "inserted_at", "updated_at"),
)
MAX_KEYS_SHOWN = 10_000
# Every outcome but `accepted` (domain/ssh_access.py LoginOutcome).
Refusal = Annotated[str, Meta(extra_json_schema={"enum": [
    o.value for o in LoginOutcome if o is not LoginOutcome.ACCEPTED]})]


class AgentSshVerdictResponse(Shape):
    """Whether the offered credential may log in"""

    allowed: Annotated[bool, described(
        "true only for a known username with this key or password")]
    reason: Annotated[Refusal | None, described("Why it was refused (null when allowed)")]
    ssh_username_id: Annotated[UUID | None, described(
        "The username's ID when it exists on this node")]


SHAPES = (AgentSshVerdictResponse,)


def _usernames(svc: Services,
               records: list[SshUsernameRecord]) -> list[serializers.SshUsernameResponse]:
    keys = svc.ssh_reads.keys_of([r.id for r in records])
    return [serializers.ssh_username(r, keys[r.id]) for r in records]


USERNAME = Resource(__name__, lambda svc: svc.ssh_reads.usernames, _usernames, USERNAMES)
KEY = Resource(__name__, lambda svc: svc.ssh_reads.public_keys,
               each(serializers.ssh_public_key), KEYS)


create_username = USERNAME.create(
    CreateSshUsername,
    lambda svc, request, cmd: svc.ssh_access.create_username(path_uuid(request, "node_id"), cmd),
    "create_username")
list_usernames = USERNAME.index("list_usernames")
show_username = USERNAME.show("show_username")
delete_username = USERNAME.delete(lambda svc, key: svc.ssh_access.delete_username(key),
                                  "delete_username")
create_key = KEY.create(
    CreateSshPublicKey,
    lambda svc, request, cmd: svc.ssh_access.add_key(path_uuid(request, "ssh_username_id"), cmd),
    "create_key")
list_keys = KEY.index("list_keys")
show_key = KEY.show("show_key")
delete_key = KEY.delete(lambda svc, key: svc.ssh_access.delete_key(key), "delete_key")


async def verify(request: Request) -> Response:
    """Agent API: may this credential log in as this username on the calling node?"""
    node = await run_in_threadpool(agent_node, request)
    cmd = await read_body(request, CheckSshLogin)
    verdict = await run_in_threadpool(services(request).ssh_logins.verify, node.id, cmd)
    services(request).counters.add("ssh.verifications_total")
    if not verdict.allowed:
        services(request).counters.add("ssh.verifications_failed")
    return ok(request, AgentSshVerdictResponse(
        allowed=verdict.allowed, reason=verdict.reason,
        ssh_username_id=verdict.ssh_username_id))


ROUTES = [
    *routes("/api/v1/ssh_usernames", "/api/v1/ssh_usernames/{id}", create=create_username,
            index=list_usernames, show=show_username, delete=delete_username,
            create_at="/api/v1/nodes/{node_id}/ssh_usernames"),
    *routes("/api/v1/ssh_public_keys", "/api/v1/ssh_public_keys/{id}", create=create_key,
            index=list_keys, show=show_key, delete=delete_key,
            create_at="/api/v1/ssh_usernames/{ssh_username_id}/ssh_public_keys"),
    Route("/agent/v1/ssh/verify", verify, methods=["POST"]),
]
