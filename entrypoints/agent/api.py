"""The admin's agent API (/agent/v1) as typed calls; failures become two kinds of exception.

`Unreachable` is anything worth retrying unchanged (no connection, timeout, 5xx, 429): the
caller backs off. `AdminError` is the admin's considered answer (401, 403, 422, ...) and keeps
the message and details from its error envelope, so the logs say what the admin said.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import httpx
import msgspec

from entrypoints.agent.identity import Identity
from entrypoints.agent.journal import Assignment

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 425, 429})


class Unreachable(Exception):
    """No usable answer from the admin; the same request may succeed later."""


class AdminError(Exception):
    """The admin refused the request; `status` and `code` say why, `message` in its words."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def __str__(self) -> str:
        text = f"{self.status} {self.code}: {self.message}"
        if self.details:
            text += " " + msgspec.json.encode(self.details).decode()
        return text


class EnrollReply(msgspec.Struct):
    """`data` of POST /agent/v1/enroll."""

    node_id: UUID
    api_token: str
    heartbeat_interval_seconds: float
    cluster_name: str | None = None
    status: str | None = None
    version: str | None = None
    reregistered: bool = False


class RegisterReply(msgspec.Struct):
    """`data` of POST /agent/v1/register."""

    node_id: UUID
    heartbeat_interval_seconds: float
    cluster_name: str | None = None
    status: str | None = None
    version: str | None = None


class HeartbeatReply(msgspec.Struct):
    """`data` of POST /agent/v1/heartbeat."""

    node_id: UUID
    status: str
    heartbeat_interval_seconds: float


class SelfUpdate(msgspec.Struct):
    request_id: UUID


class ContainerSpec(msgspec.Struct):
    """A deployment to run: everything the container needs."""

    request_id: str
    image: str
    ports: list[dict[str, Any]]
    env: dict[str, str]
    cpu_units: int
    memory_mb: int
    command: str | None = None
    arguments: str | None = None
    max_duration: int = 0


class WorkReply(msgspec.Struct):
    """`data` of POST /agent/v1/work."""

    executions: list[Assignment]
    cancel: list[UUID]
    self_update: SelfUpdate | None = None
    deployments: list[ContainerSpec] = []
    stop_deployments: list[str] = []


class DeploymentReply(msgspec.Struct):
    request_id: str
    status: str


class ResultReply(msgspec.Struct):
    """`data` of POST /agent/v1/executions/{id}/result."""

    id: UUID
    status: str
    accepted: bool


class SshVerdict(msgspec.Struct):
    allowed: bool
    reason: str | None = None
    ssh_username_id: UUID | None = None


class _Envelope(msgspec.Struct):
    data: msgspec.Raw


class MetricsReply(msgspec.Struct):
    received_at: str


class _ErrorBody(msgspec.Struct):
    code: str = "error"
    message: str = ""
    details: Any = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody


class AgentApi:
    """POSTs to /agent/v1 on one admin through a shared `httpx.AsyncClient`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def enroll(
        self, enrollment_key: str, identity: Identity, version: str, self_update: bool,
        ports: dict[str, int] | None = None,
    ) -> EnrollReply:
        body: dict[str, Any] = {"enrollment_key": enrollment_key, "id_type": identity.id_type,
                                "version": version, "self_update_enabled": self_update}
        if ports:
            body["ports"] = ports
        if identity.id_type == "persistent":
            body["node_id"] = identity.node_id
        return await self._post("/agent/v1/enroll", body, None, EnrollReply)

    async def register(self, api_token: str, version: str, self_update: bool,
                       ports: dict[str, int] | None = None) -> RegisterReply:
        body: dict[str, Any] = {"version": version, "self_update_enabled": self_update}
        if ports:
            body["ports"] = ports
        return await self._post("/agent/v1/register", body, api_token, RegisterReply)

    async def heartbeat(self, api_token: str, status: str) -> HeartbeatReply:
        return await self._post("/agent/v1/heartbeat", {"status": status}, api_token,
                                HeartbeatReply)

    async def work(self, api_token: str, running: list[UUID], wait: float,
                   accept_work: bool = True, deployments: list[str] | None = None) -> WorkReply:
        """Long poll: the HTTP timeout covers the admin's wait plus the usual margin."""
        body = {"running": running, "wait_seconds": wait, "accept_work": accept_work,
                "deployments": deployments or []}
        timeout = self.client.timeout.read or 10.0
        return await self._post("/agent/v1/work", body, api_token, WorkReply, wait + timeout)

    async def result(self, api_token: str, exec_id: UUID, exit_code: int,
                     output: str) -> ResultReply:
        body = {"exit_code": exit_code, "output": output}
        return await self._post(f"/agent/v1/executions/{exec_id}/result", body, api_token,
                                ResultReply)

    async def ssh_verify(self, api_token: str, username: str, method: str, *,
                         public_key: str | None = None,
                         password: str | None = None) -> SshVerdict:
        body: dict[str, Any] = {"username": username, "method": method}
        if public_key is not None:
            body["public_key"] = public_key
        if password is not None:
            body["password"] = password
        return await self._post("/agent/v1/ssh/verify", body, api_token, SshVerdict)

    async def deployment(self, api_token: str, request_id: str,
                         report: dict[str, Any]) -> DeploymentReply:
        return await self._post(f"/agent/v1/deployments/{request_id}/report", report,
                                api_token, DeploymentReply)

    async def telemetry(self, api_token: str, request_id: str,
                        body: dict[str, Any]) -> dict[str, Any]:
        return await self._post(f"/agent/v1/deployments/{request_id}/telemetry", body,
                                api_token, dict)

    async def host(self, api_token: str, report: dict[str, Any]) -> dict[str, Any]:
        return await self._post("/agent/v1/host", report, api_token, dict)

    async def metrics(self, api_token: str, report: dict[str, Any]) -> MetricsReply:
        return await self._post("/agent/v1/metrics", report, api_token, MetricsReply)

    async def _post(self, path: str, body: Any, token: str | None, reply: type[T],
                    timeout: float | None = None) -> T:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        try:
            response = await self.client.post(
                path, content=msgspec.json.encode(body), headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        status = response.status_code
        if status >= 500 or status in RETRYABLE_STATUS:
            raise Unreachable(str(_admin_error(response)))
        if status >= 400:
            raise _admin_error(response)
        try:
            data = msgspec.json.decode(response.content, type=_Envelope).data
            return msgspec.json.decode(data, type=reply)
        except msgspec.DecodeError as exc:
            # Something other than the admin at that URL (a proxy's page, another service).
            raise Unreachable(f"unexpected {status} answer to {path}: {exc}") from exc


def _admin_error(response: httpx.Response) -> AdminError:
    try:
        error = msgspec.json.decode(response.content, type=_ErrorEnvelope).error
    except msgspec.DecodeError:
        text = response.text.strip().replace("\n", " ")[:200]
        return AdminError(response.status_code, "http_error", text or response.reason_phrase)
    return AdminError(response.status_code, error.code, error.message, error.details)
