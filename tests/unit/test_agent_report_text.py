"""What a container or a command writes reaches the admin even when it holds a NUL or a lone
surrogate: every body the agent sends passes the admin's own check of stored text (its
`check_values`, which answers 422), with each such character replaced by U+FFFD one for one,
and the rest of the body as it was."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from application.agent_protocol import (
    DeploymentProgress,
    DeploymentReport,
    DeploymentTelemetry,
    ExecutionResult,
    HealthObservation,
    RuntimeLogBatch,
    RuntimeLogLine,
)
from entrypoints.agent.api import AgentApi, encode
from entrypoints.http.inputs import BodyError, check_values

WRITTEN = "x\x00y \udc80z caf\u00e9 \U0001f600"
SHIPPED = "x\ufffdy \ufffdz caf\u00e9 \U0001f600"
AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
BODIES: list[tuple[Any, Any]] = [
    (DeploymentTelemetry(logs=WRITTEN, crashed=True, exit_code=3),
     lambda b: b.logs),
    (RuntimeLogBatch(lines=[RuntimeLogLine(stream="stdout", timestamp=AT, message=WRITTEN)]),
     lambda b: b.lines[0].message),
    (DeploymentReport(state="error", phase="start", detail=WRITTEN), lambda b: b.detail),
    (DeploymentProgress(phase="health", message=WRITTEN), lambda b: b.message),
    (HealthObservation(kind="change", lifecycle="running", health="unhealthy",
                       message=WRITTEN), lambda b: b.message),
    (ExecutionResult(exit_code=0, output=WRITTEN), lambda b: b.output),
]


@pytest.mark.parametrize(("body", "text"), BODIES, ids=lambda b: type(b).__name__)
def test_text_the_admin_would_refuse_is_replaced_before_it_is_sent(body: Any,
                                                                   text: Any) -> None:
    with pytest.raises(BodyError):  # as the admin would answer the body unchanged
        check_values(body)
    sent = msgspec.json.decode(encode(body), type=type(body))
    check_values(sent)
    assert text(sent) == SHIPPED and len(text(sent)) == len(WRITTEN)
    assert msgspec.to_builtins(sent) == _shipped(msgspec.to_builtins(body))


def _shipped(value: Any) -> Any:
    """What the agent should send: `value` with WRITTEN as SHIPPED, nothing else changed."""
    if isinstance(value, dict):
        return {k: _shipped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shipped(v) for v in value]
    return SHIPPED if value == WRITTEN else value


def test_a_body_without_such_text_is_encoded_as_msgspec_does() -> None:
    body = RuntimeLogBatch(lines=[RuntimeLogLine(stream="stderr", timestamp=AT,
                                                 message='a "\\u0000" written out, caf\u00e9')])
    assert encode(body) == msgspec.json.encode(body)
    assert msgspec.json.decode(encode(body), type=RuntimeLogBatch) == body


def test_the_agents_telemetry_with_a_nul_in_its_logs_is_taken() -> None:
    """Through AgentApi to a stand-in for the admin's route that checks as the admin does."""
    taken: list[DeploymentTelemetry] = []

    def admin(request: httpx.Request) -> httpx.Response:
        body = msgspec.json.decode(request.content, type=DeploymentTelemetry)
        try:
            check_values(body)
        except BodyError as exc:
            return httpx.Response(422, json={"error": {"code": "invalid",
                                                       "message": str(exc.details())}})
        taken.append(body)
        return httpx.Response(200, content=json.dumps({"data": {
            "request_id": "abc123", "received_at": "2025-01-02T03:04:05Z"}}))

    async def send() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(admin),
                                     base_url="http://admin") as client:
            await AgentApi(client).report_on("token", "abc123", DeploymentTelemetry(
                logs='printf "x\\000y\\n" wrote x\x00y\n'))

    asyncio.run(send())
    assert [t.logs for t in taken] == ['printf "x\\000y\\n" wrote x\ufffdy\n']
