"""Ssh.SshUsername and Ssh.SshPublicKey endpoints, and the agent's login check."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import CheckSshLogin
from application.ssh_access import CreateSshPublicKey, CreateSshUsername
from domain.ssh_access import LoginOutcome
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
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
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.openapi.schemas import wildcard
from entrypoints.http.openapi.ssh import KEY as KEY_TAG
from entrypoints.http.openapi.ssh import USERNAME as USERNAME_TAG
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape, described
from projections.ssh_tables import SshUsernameRecord

_CLUSTER = "Filter by cluster name via node's cluster " + wildcard("prod, east*, etc.")
USERNAMES = ListSpec(
    params=(*STANDARD, text("cluster_name"), boolean("has_password"),
            exact("node_id", parse_uuid), text("username")),
    sortable=("username", "inserted_at", "updated_at"),
    docs={
        "cluster_name": _CLUSTER,
        "has_password": "Filter by whether username has password configured",
        "node_id": "Filter by node ID",
        "username": "Filter by username " + wildcard("root, admin*, etc."),
    },
)
KEYS = ListSpec(
    params=(*STANDARD, text("cluster_name"), text("key_name"), exact("node_id", parse_uuid),
            text("public_key"), exact("ssh_username_id", parse_uuid), text("username"),
            exact("fingerprint", parse_text)),
    sortable=("key_name", "username", "inserted_at", "updated_at"),
    docs={
        "cluster_name": _CLUSTER,
        "fingerprint": "Filter by SHA256 fingerprint (exact, as `ssh-keygen -l` prints it)",
        "key_name": "Filter by key name " + wildcard("my-key, prod*, etc."),
        "node_id": "Filter by node ID",
        "public_key": "Filter by public key content (useful for searching email comments:"
        " *@example.com)",
        "ssh_username_id": "Filter by SSH username ID",
        "username": "Filter by SSH username " + wildcard("deploy, admin*, etc."),
    },
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
    node = await agent_node(request)
    cmd = await read_body(request, CheckSshLogin)
    verdict = await run_in_threadpool(services(request).ssh_logins.verify, node.id, cmd)
    services(request).counters.add("ssh.verifications_total")
    if not verdict.allowed:
        services(request).counters.add("ssh.verifications_failed")
    return ok(request, AgentSshVerdictResponse(
        allowed=verdict.allowed, reason=verdict.reason,
        ssh_username_id=verdict.ssh_username_id))


_KEYS_RULES = (" Keys must be ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of at least"
               " 2048 bits; the base64 data is decoded and checked. A private key, an RFC 4716"
               " key or a truncated one is a 422 saying so.")
_LOGINS = (" Agents check every login against the admin and cache nothing, so the change"
           " applies from the next login; sessions already open stay open.")

ROUTES = [
    route("POST", "/api/v1/nodes/{node_id}/ssh_usernames", create_username, Op(
        USERNAME_TAG, "Create SSH username", 201, "SshUsername", (400, 404, 409, 422),
        CreateSshUsername,
        description="Create a new SSH username for a specific node, optionally with public"
        " keys and/or password. All or nothing: one bad key refuses the whole request (422"
        " naming `public_keys[i].public_key`). The password is hashed with Argon2id (OWASP:"
        " 19 MiB, 2 iterations, 1 lane) and never returned. 409 when the node already has"
        " this username, or when two inline keys are the same key or share a name."
        + _KEYS_RULES)),
    route("GET", "/api/v1/ssh_usernames", list_usernames, Op(
        USERNAME_TAG, "List SSH usernames", 200, "SshUsername", (400,), listing=USERNAMES,
        description="Returns a paginated list of SSH usernames with their public keys.")),
    route("GET", "/api/v1/ssh_usernames/{id}", show_username, Op(
        USERNAME_TAG, "Get SSH username", 200, "SshUsername", (400, 404),
        description="Get a specific SSH username by ID")),
    route("DELETE", "/api/v1/ssh_usernames/{id}", delete_username, Op(
        USERNAME_TAG, "Delete SSH username", 204, None, (400, 404),
        description="Delete an SSH username and all associated public keys." + _LOGINS)),
    route("POST", "/api/v1/ssh_usernames/{ssh_username_id}/ssh_public_keys", create_key, Op(
        KEY_TAG, "Create SSH public key", 201, "SshPublicKey", (400, 404, 409, 422),
        CreateSshPublicKey,
        description="Create a new SSH public key for a specific SSH username. The key must be"
        " in valid OpenSSH format." + _KEYS_RULES + " 409 when this username already has the"
        " same key (same fingerprint) or a key with the same name.")),
    route("GET", "/api/v1/ssh_public_keys", list_keys, Op(
        KEY_TAG, "List SSH public keys", 200, "SshPublicKey", (400,), listing=KEYS,
        description="Returns a paginated list of SSH public keys.")),
    route("GET", "/api/v1/ssh_public_keys/{id}", show_key, Op(
        KEY_TAG, "Get SSH public key", 200, "SshPublicKey", (400, 404),
        description="Get a specific SSH public key by ID")),
    route("DELETE", "/api/v1/ssh_public_keys/{id}", delete_key, Op(
        KEY_TAG, "Delete SSH public key", 204, None, (400, 404),
        description="Delete a specific SSH public key." + _LOGINS)),
    route("POST", "/agent/v1/ssh/verify", verify, Op(
        AGENT, "Check an SSH login", 200, "AgentSshVerdict", (400, 422), CheckSshLogin,
        security=NODE_TOKEN,
        description="The agent's SSH server asks before letting anyone in: is this public key"
        " or password valid for this username on the calling node? Answered from the read"
        " model, recorded as edge.ssh_username.verified (method, outcome and key fingerprint;"
        " never the password). After SSH_LOGIN_MAX_FAILURES failures for one node and"
        " username within SSH_LOGIN_WINDOW_SECONDS, every attempt is refused as"
        " `rate_limited` until older failures leave the window (counted per admin process).")),
]
