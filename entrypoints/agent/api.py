"""The admin's agent API (/agent/v1) as typed calls; failures become two kinds of exception.

`Unreachable` is anything worth retrying unchanged (no connection, timeout, 5xx, 429): the
caller backs off. `AdminError` is the admin's considered answer (401, 403, 422, ...) and keeps
the message and details from its error envelope, so the logs say what the admin said.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar
from uuid import UUID

import httpx
import msgspec

from application.agent_protocol import (
    AgentHostReport,
    CheckSshLogin,
    DeploymentProgress,
    DeploymentProgressReply,
    DeploymentReply,
    DeploymentReport,
    DeploymentTelemetry,
    EnrollNode,
    EnrollReply,
    ExecutionResult,
    HealthObservation,
    HealthObservationReply,
    Heartbeat,
    HeartbeatReply,
    HostReply,
    MetricsBody,
    MetricsReply,
    Ports,
    RegisterReply,
    ReregisterNode,
    ResultReply,
    RuntimeLogBatch,
    RuntimeLogReply,
    SshVerdict,
    TelemetryReply,
    WorkPoll,
    WorkReply,
)
from entrypoints.agent.identity import Identity

T = TypeVar("T")
LoginMethod = Literal["publickey", "password"]
RETRYABLE_STATUS = frozenset({408, 425, 429})
ENROLL = "/agent/v1/enroll"
CLOSED_UNDER_US = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates (lone in a str)
AboutDeployment = (DeploymentReport | DeploymentTelemetry | DeploymentProgress | HealthObservation
                   | RuntimeLogBatch)
# Each report on a deployment: its route below /agent/v1/deployments/{request_id}/, its reply.
_ABOUT_DEPLOYMENT: dict[type[AboutDeployment], tuple[str, type[msgspec.Struct]]] = {
    DeploymentReport: ("report", DeploymentReply),
    DeploymentTelemetry: ("telemetry", TelemetryReply),
    DeploymentProgress: ("progress", DeploymentProgressReply),
    HealthObservation: ("health", HealthObservationReply),
    RuntimeLogBatch: ("runtime-logs", RuntimeLogReply),
}


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


class _Envelope(msgspec.Struct):
    data: msgspec.Raw


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
        persistent = identity.id_type == "persistent"
        body = EnrollNode(enrollment_key=enrollment_key, id_type=identity.id_type,
                          node_id=identity.node_id if persistent else None, version=version,
                          self_update_enabled=self_update, ports=Ports(**(ports or {})))
        return await self._post(ENROLL, body, None, EnrollReply)

    async def register(self, api_token: str, version: str, self_update: bool,
                       ports: dict[str, int] | None = None) -> RegisterReply:
        body = ReregisterNode(version=version, self_update_enabled=self_update,
                              ports=Ports(**(ports or {})))
        return await self._post("/agent/v1/register", body, api_token, RegisterReply)

    async def heartbeat(self, api_token: str,
                        status: Literal["healthy", "unhealthy"]) -> HeartbeatReply:
        return await self._post("/agent/v1/heartbeat", Heartbeat(status=status), api_token,
                                HeartbeatReply)

    async def work(self, api_token: str, running: list[UUID], wait: float,  # noqa: PLR0913
                   accept_work: bool = True, deployments: list[str] | None = None,
                   stopped: list[str] | None = None) -> WorkReply:
        """Long poll: the HTTP timeout covers the admin's wait plus the usual margin."""
        body = WorkPoll(running=running, wait_seconds=wait, accept_work=accept_work,
                        deployments=deployments or [], stopped=stopped)
        timeout = self.client.timeout.read or 10.0
        return await self._post("/agent/v1/work", body, api_token, WorkReply, wait + timeout)

    async def result(self, api_token: str, exec_id: UUID, exit_code: int,
                     output: str) -> ResultReply:
        body = ExecutionResult(exit_code=exit_code, output=output)
        return await self._post(f"/agent/v1/executions/{exec_id}/result", body, api_token,
                                ResultReply)

    async def ssh_verify(self, api_token: str, username: str, method: LoginMethod, *,
                         public_key: str | None = None,
                         password: str | None = None) -> SshVerdict:
        body = CheckSshLogin(username=username, method=method, public_key=public_key,
                             password=password)
        return await self._post("/agent/v1/ssh/verify", body, api_token, SshVerdict)

    async def report_on(self, api_token: str, request_id: str, body: AboutDeployment) -> None:
        """One of the agent's reports on a deployment, to that report's route; the admin's
        reply is checked (a body from anything else is `Unreachable`), not returned: the agent
        acts on none of them."""
        route, reply = _ABOUT_DEPLOYMENT[type(body)]
        await self._post(f"/agent/v1/deployments/{request_id}/{route}", body, api_token, reply)

    async def host(self, api_token: str, report: AgentHostReport) -> HostReply:
        return await self._post("/agent/v1/host", report, api_token, HostReply)

    async def metrics(self, api_token: str, report: MetricsBody) -> MetricsReply:
        return await self._post("/agent/v1/metrics", report, api_token, MetricsReply)

    async def _post(self, path: str, body: Any, token: str | None, reply: type[T],
                    timeout: float | None = None) -> T:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        content = encode(body)
        for attempt in (1, 2):
            try:
                response = await self.client.post(
                    path, content=content, headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
                break
            except httpx.HTTPError as exc:
                # A kept connection the other side closed (or reset) as the request went out
                # (the admin, or a proxy between with a shorter idle timeout than ours: runner.
                # ADMIN_KEEPALIVE_SECONDS): sent once more, on a new connection, unless it is
                # an enrollment, which a second sending could make a second node of.
                if attempt == 1 and path != ENROLL and isinstance(exc, CLOSED_UNDER_US):
                    continue
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


def encode(body: Any) -> bytes:
    """`body` as JSON the admin takes. The admin refuses text with a NUL or a lone surrogate
    in any field (422), and what carries it (container output in logs, a command's output)
    is not the agent's to choose: one NUL a container printed made every later telemetry
    report of its deployment, logs and metrics together, refused for good. Such characters
    become U+FFFD, one for one, so lengths the admin bounds are kept."""
    try:
        content = msgspec.json.encode(body)
    except UnicodeEncodeError:  # a lone surrogate
        content = None
    # A literal backslash before "u0000" would be written "\\u0000": a false alarm costs
    # one more encoding, never a wrong body.
    if content is None or b"\\u0000" in content:
        content = msgspec.json.encode(_storable(msgspec.to_builtins(body)))
    return content


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _admin_error(response: httpx.Response) -> AdminError:
    try:
        error = msgspec.json.decode(response.content, type=_ErrorEnvelope).error
    except msgspec.DecodeError:
        text = response.text.strip().replace("\n", " ")[:200]
        return AdminError(response.status_code, "http_error", text or response.reason_phrase)
    return AdminError(response.status_code, error.code, error.message, error.details)
