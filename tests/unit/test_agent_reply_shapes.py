"""The admin's closed answers to the agent decode as the agent's tolerant reply structs.

The admin documents and returns shapes whose every field is always present; the agent decodes
the same JSON with application/agent_protocol.py, whose defaults let it read older admins. Each
pair must agree on every field the agent reads, with the values the admin sends. The node
metrics shapes show every figure an agent reports, even from a report stored before a figure
existed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from application.agent_protocol import (
    AgentReport,
    Cpu,
    DeploymentReply,
    DeploymentReport,
    EnrollReply,
    HealthCheck,
    HealthObservationReply,
    HeartbeatReply,
    HostReply,
    HostReport,
    MetricsReply,
    PortMapping,
    RegisterReply,
    ResultReply,
    SshVerdict,
    TelemetryReply,
    Uptime,
    Usage,
    WorkReply,
)
from domain.command_execution import ExecutionStatus
from domain.node_status import NodeStatus
from entrypoints.http import node_metrics
from entrypoints.http.agent import (
    AgentEnrollmentResponse,
    AgentHeartbeatResponse,
    AgentNodeResponse,
)
from entrypoints.http.agent_deployments import (
    AgentDeploymentReportResponse,
    AgentHostResponse,
    AgentTelemetryResponse,
)
from entrypoints.http.agent_health import AgentHealthObservationResponse
from entrypoints.http.agent_work import (
    AgentAssignment,
    AgentContainer,
    AgentExecutionResultResponse,
    AgentHealthCheck,
    AgentHealthProbe,
    AgentSelfUpdate,
    AgentWorkResponse,
)
from entrypoints.http.node_metrics import (
    AgentMetricsReceiptResponse,
    AgentMetricsResponse,
    AgentSource,
    CpuFigures,
    HostMetricsResponse,
    HostSource,
    UptimeFigures,
    UsageFigures,
)
from entrypoints.http.ssh import AgentSshVerdictResponse

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
# A port as the admin's specs keep it and hand it out (application/apps.py version_spec).
PORT = {"port": 80, "protocol": "UDP", "name": "80", "tls_upgrade": False}
TYPED_PORT = msgspec.convert(PORT, PortMapping)  # the work answer's, built from that dict
NODE = uuid4()
SAMPLES: list[tuple[msgspec.Struct, type[msgspec.Struct]]] = [
    (AgentEnrollmentResponse(node_id=NODE, cluster_name="edge", status=NodeStatus.HEALTHY,
                             version="1.0",
                             heartbeat_interval_seconds=10.0, api_token="t", reregistered=True),
     EnrollReply),
    (AgentNodeResponse(node_id=NODE, cluster_name=None, status=None, version=None,
                       heartbeat_interval_seconds=2.5), RegisterReply),
    (AgentHeartbeatResponse(node_id=NODE, status=NodeStatus.UNHEALTHY,
                            heartbeat_interval_seconds=10.0),
     HeartbeatReply),
    (AgentWorkResponse(
        deployments=[AgentContainer(request_id="abc", image="x:1", ports=[TYPED_PORT],
                                    env={"A": "1"}, cpu_units=256, memory_mb=128,
                                    command=None, arguments="-v", max_duration=0,
                                    health=None),
                     AgentContainer(request_id="abd", image="x:1", ports=[TYPED_PORT],
                                    env={}, cpu_units=256, memory_mb=128, command="sh",
                                    arguments=None, max_duration=5, health=AgentHealthCheck(
                                        type="tcp", port=80, path="/", expected_status=200,
                                        interval_seconds=1, timeout_seconds=0.5, retries=100,
                                        start_period_seconds=3600))],
        stop_deployments=["def"],
        executions=[AgentAssignment(id=uuid4(), command_id=uuid4(), command_text="uptime",
                                    timeout=1000, expired_at=NOW)],
        cancel=[uuid4()], self_update=AgentSelfUpdate(request_id=uuid4()),
        heartbeat_interval_seconds=10.0,
        health_probes=[AgentHealthProbe(probe_id=uuid4(), request_id="abc")]), WorkReply),
    (AgentHealthCheck(type="http", port=65535, path="/caf\u00e9?q=1", expected_status=599,
                      interval_seconds=3600, timeout_seconds=3600, retries=1,
                      start_period_seconds=0), HealthCheck),
    (AgentExecutionResultResponse(id=uuid4(), status=ExecutionStatus.CANCELLED, accepted=False),
     ResultReply),
    (AgentSshVerdictResponse(allowed=False, reason="unknown_key", ssh_username_id=uuid4()),
     SshVerdict),
    (AgentMetricsReceiptResponse(received_at=NOW), MetricsReply),
    (AgentDeploymentReportResponse(request_id="abc", status="Status.READY"), DeploymentReply),
    (AgentTelemetryResponse(request_id="abc", received_at=NOW), TelemetryReply),
    (AgentHostResponse(node_id=NODE, images=2), HostReply),
    (AgentHealthObservationResponse(request_id="abc", recorded=False), HealthObservationReply),
]


def _plain(struct: msgspec.Struct) -> Any:
    return msgspec.json.decode(msgspec.json.encode(struct))


@pytest.mark.parametrize(("sent", "reply"), SAMPLES, ids=[r.__name__ for _, r in SAMPLES])
def test_the_agent_reads_every_field_it_knows_as_the_admin_sent_it(
    sent: msgspec.Struct, reply: type[msgspec.Struct]
) -> None:
    read = msgspec.json.decode(msgspec.json.encode(sent), type=reply)
    assert set(reply.__struct_fields__) <= set(type(sent).__struct_fields__)
    sent_json, read_json = _plain(sent), _plain(read)
    assert {k: sent_json[k] for k in reply.__struct_fields__} == read_json


def test_the_node_metrics_shapes_show_every_figure_the_agent_reports() -> None:
    head = {"node_id", "cluster_name", "timestamp"}
    host, agent = set(HostReport.__struct_fields__), set(AgentReport.__struct_fields__)
    assert set(HostSource.__struct_fields__) - {"available"} == host
    assert set(HostMetricsResponse.__struct_fields__) - head == host
    assert set(AgentSource.__struct_fields__) - {"available"} == agent
    assert set(AgentMetricsResponse.__struct_fields__) - head == agent
    for figures, reported in ((CpuFigures, Cpu), (UsageFigures, Usage), (UptimeFigures, Uptime)):
        # The base clock is shown with the fleet's hosts (Edgegap's base_clock_speed_mhz), not
        # among the Edge Admin seed's node figures.
        shown = tuple(f for f in reported.__struct_fields__ if f != "base_clock_mhz")
        assert figures.__struct_fields__ == shown


def test_a_stored_host_group_missing_a_figure_shows_it_as_null() -> None:
    # A report stored by an agent that did not send usage_percent yet (or an older admin).
    assert node_metrics._figures(CpuFigures, {"cores": 2, "load_1m": 0.5}) == CpuFigures(
        cores=2, load_1m=0.5, load_5m=None, load_15m=None, usage_percent=None)
    assert node_metrics._figures(CpuFigures, None) is None


class OlderContainerSpec(msgspec.Struct):
    """ContainerSpec as an agent from before health checks declares it (in part)."""

    request_id: str
    image: str
    max_duration: int = 0


class OlderWorkReply(msgspec.Struct):
    executions: list[Any]
    cancel: list[Any]
    deployments: list[OlderContainerSpec] = []


def test_an_older_agent_reads_a_container_with_a_health_check_it_does_not_know() -> None:
    # The reply structs accept unknown fields: an agent from before health checks starts it.
    work, _ = SAMPLES[3]
    read = msgspec.json.decode(msgspec.json.encode(work), type=OlderWorkReply)
    assert [d.request_id for d in read.deployments] == ["abc", "abd"]


def test_a_port_mapping_is_the_port_the_admin_sends_and_an_older_agent_read() -> None:
    # Older agents decoded the ports as plain objects: the typed one keeps their JSON.
    typed = msgspec.convert(PORT, PortMapping)
    assert msgspec.json.decode(msgspec.json.encode(typed)) == PORT
    assert msgspec.convert({k: v for k, v in PORT.items() if k != "tls_upgrade"},
                           PortMapping) == typed  # left out: false, as agents read it before


@pytest.mark.parametrize("health", [
    {"port": 0}, {"port": 80, "retries": 0}, {"port": 80, "retries": 101},
    {"port": 80, "expected_status": 99}, {"port": 80, "expected_status": 600},
    {"port": 80, "path": "relative"}, {"port": 80, "path": "/a b"},
    {"port": 80, "interval_seconds": 0}, {"port": 80, "timeout_seconds": 3601},
    {"port": 80, "start_period_seconds": -1}, {"port": 80, "type": "grpc"}, {},
])
def test_a_health_check_out_of_bounds_is_refused(health: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(health, HealthCheck)


def test_a_report_names_its_phase_and_a_report_without_one_still_decodes() -> None:
    for phase in ("pull", "start", "health", None):
        sent = DeploymentReport(state="error", phase=phase, detail="health check failed: x")
        assert msgspec.json.decode(msgspec.json.encode(sent), type=DeploymentReport) == sent
    assert msgspec.json.decode(b'{"state":"ready"}', type=DeploymentReport).phase is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"state":"ready","phase":"plan"}', type=DeploymentReport)
