"""The wire contract between `edge-agent` and the admin's /agent/v1 routes, in one module.

Request bodies (agent -> admin) are decoded by the admin's routes and handed to its application
services; reply bodies (the `data` of the admin's answer) are what the agent decodes. Both sides
import this module and nothing else of each other, so it imports only the standard library and
msgspec. Reply structs accept unknown fields, so an older agent can read a newer admin's answer.
The output cap is here too: both sides keep head and tail around the same marker.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

# ---- the output cap -----------------------------------------------------------------------


def cut_marker(total: int, limit: int, by: str) -> tuple[str, int]:
    """The line saying how much `by` cut from `total` characters to fit `limit`, and how many
    characters of text stay beside it (the marker takes room too; settles in <= 3 rounds)."""
    omitted = total - limit
    while True:
        marker = f"\n[... {omitted} characters omitted by {by} ...]\n"
        keep = max(limit - len(marker), 0)
        if total - keep == omitted:
            return marker, keep
        omitted = total - keep


def cap_output(output: str, limit: int, by: str) -> str:
    """Keeps the head and the tail, where errors usually are, and says how much `by` cut."""
    if len(output) <= limit:
        return output
    marker, keep = cut_marker(len(output), limit, by)
    return output[: keep // 2] + marker + output[len(output) - (keep - keep // 2):]


# ---- enroll, register, heartbeat ------------------------------------------------------------


def key_blob_server(blob: str) -> str | None:
    """The admin URL an enrollment key blob names (base64 JSON {"server", "key"}, made by
    domain/enrollment_key.py encode_blob; a test holds the two together), or None when `blob`
    is not one: the agent then needs --admin-url, and the admin says what is wrong with it."""
    text = blob.strip()
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:  # binascii.Error and JSON and UTF-8 errors are ValueErrors
        return None
    server = doc.get("server") if isinstance(doc, dict) else None
    return server.strip() or None if isinstance(server, str) else None


Port = Annotated[int, Meta(ge=1, le=65535)]
Version = Annotated[str, Meta(min_length=1, max_length=64)]


# How the agent names its node: a stable id it keeps, or a fresh one at each enrollment.
IdType = Literal["persistent", "random"]


class Ports(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Ports the agent listens on; omitted ones take the documented defaults."""

    http_port: Port | None = None
    http_proxy_port: Port | None = None
    socks5_proxy_port: Port | None = None
    ssh_port: Port | None = None
    host_metrics_port: Port | None = None
    wireguard_metrics_port: Port | None = None

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}


class EnrollNode(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: join the cluster named by an enrollment key."""

    enrollment_key: Annotated[str, Meta(min_length=1, max_length=4096)]
    id_type: IdType = "random"
    node_id: UUID | None = None
    version: Version | None = None
    self_update_enabled: bool = False
    ports: Ports = msgspec.field(default_factory=Ports)


class ReregisterNode(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin on restart, authenticated by the node's api_token."""

    version: Version | None = None
    self_update_enabled: bool = False
    ports: Ports = msgspec.field(default_factory=Ports)


class Heartbeat(msgspec.Struct, forbid_unknown_fields=True):
    """Agent's periodic report; `unhealthy` when its own checks fail."""

    status: Literal["healthy", "unhealthy", "unreachable"] = "healthy"


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


# ---- work and results -------------------------------------------------------------------

MAX_WAIT = 30.0
ExitCode = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]


class WorkPoll(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: what it holds, and how long it is willing to wait for more."""

    running: Annotated[list[UUID], Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    wait_seconds: Annotated[float, Meta(ge=0, le=MAX_WAIT)] = 25.0
    # False while the agent drains for a self-update: cancels only, no new executions.
    accept_work: bool = True
    # request_ids of the deployments (containers) the agent runs or is starting.
    deployments: Annotated[list[Annotated[str, Meta(max_length=12)]],
                           Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    # Those of them stopped and kept by a runtime control (a subset of `deployments`); None
    # from an agent that cannot pause containers (it is then never asked to).
    stopped: Annotated[list[Annotated[str, Meta(max_length=12)]],
                       Meta(max_length=10_000)] | None = None


class Assignment(msgspec.Struct, kw_only=True):
    """One execution as the admin handed it out (the agent journals it as it came)."""

    id: UUID
    command_id: UUID
    command_text: str
    timeout: int | None = None
    expired_at: datetime | None = None


class SelfUpdate(msgspec.Struct):
    request_id: UUID


Seconds = Annotated[float, Meta(ge=0, le=3600)]
Period = Annotated[float, Meta(gt=0, le=3600)]
# Absolute, no spaces or control characters (check_health_policy in domain/resource_profiles.py
# allows no more: a path it takes must never fail the agent's decoding of its whole work answer).
HealthPath = Annotated[str, Meta(min_length=1, max_length=1024, pattern=r"^/[^\x00-\x20\x7f]*\Z")]


class HealthCheck(msgspec.Struct, kw_only=True):
    """How the agent tells that a deployment's container serves: an HTTP GET of `path` answered
    with `expected_status`, or a TCP connection, to the host port published for the container's
    `port`. One probe every `interval_seconds`, each within `timeout_seconds`; `retries` failed
    probes in a row fail it, except those within `start_period_seconds` of the start."""

    type: Literal["http", "tcp"] = "http"
    port: Port
    path: HealthPath = "/"
    expected_status: Annotated[int, Meta(ge=100, le=599)] = 200
    interval_seconds: Period = 5.0
    timeout_seconds: Period = 2.0
    retries: Annotated[int, Meta(ge=1, le=100)] = 3
    start_period_seconds: Seconds = 0.0


class PortMapping(msgspec.Struct):
    """A container port, published on a host port the engine picks (reported back by name)"""

    # As the admin's spec keeps it (application/apps.py PortSpec, domain/resource.py as_spec);
    # its bounds are the admin's, checked on the way in. The descriptions are the OpenAPI
    # document's (the admin's work answer carries this struct).
    port: Annotated[int, Meta(description="The container's port")]
    protocol: Annotated[str, Meta(description=(
        "TCP, UDP, TCP/UDP, HTTP, HTTPS, WS or WSS: UDP is published as UDP, TCP/UDP as both,"
        " the others as TCP; HTTP, HTTPS, WS and WSS also name the link's scheme"))]
    name: Annotated[str, Meta(description="Its key in the deployment's reported ports")]
    tls_upgrade: Annotated[bool, Meta(description=(
        "TLS is terminated in front of it: an HTTP port's link is https"))] = False


class ContainerSpec(msgspec.Struct):
    """A deployment to run: everything the container needs (`health`: report it ready only
    once that check passes; None, as soon as it runs)."""

    request_id: str
    image: str
    ports: list[PortMapping]
    env: dict[str, str]
    cpu_units: int
    memory_mb: int
    command: str | None = None
    arguments: str | None = None
    max_duration: int = 0
    health: HealthCheck | None = None


class WorkReply(msgspec.Struct):
    """`data` of POST /agent/v1/work."""

    executions: list[Assignment]
    cancel: list[UUID]
    self_update: SelfUpdate | None = None
    deployments: list[ContainerSpec] = []
    stop_deployments: list[str] = []
    # Probe these deployments' health now and answer each with a HealthObservation.
    health_probes: list[HealthProbe] = []
    # Runtime control: stop and keep these running containers; start these stopped ones again.
    pause_deployments: list[str] = []
    resume_deployments: list[str] = []


class ExecutionResult(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: how a command ended (the admin caps the stored output)."""

    exit_code: ExitCode
    output: Annotated[str, Meta(max_length=1_048_576)] = ""


class ResultReply(msgspec.Struct):
    """`data` of POST /agent/v1/executions/{id}/result."""

    id: UUID
    status: str
    accepted: bool


# ---- SSH logins -------------------------------------------------------------------------

# A password longer than any stored one cannot match; the cap keeps hashing cheap.
MAX_ATTEMPT_PASSWORD = 1024
# Clients may offer any name; longer than any valid one simply is not found.
MAX_ATTEMPT_USERNAME = 256
# The longest public key line the admin stores (domain.ssh_key.MAX_KEY_TEXT; a test checks).
MAX_KEY_TEXT = 16384

AttemptUsername = Annotated[str, Meta(min_length=1, max_length=MAX_ATTEMPT_USERNAME)]
AttemptKey = Annotated[str, Meta(min_length=1, max_length=MAX_KEY_TEXT)]
AttemptPassword = Annotated[str, Meta(max_length=MAX_ATTEMPT_PASSWORD)]


class CheckSshLogin(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /agent/v1/ssh/verify: one credential an SSH client offered the agent."""

    username: AttemptUsername
    method: Literal["publickey", "password"]
    public_key: AttemptKey | None = None
    password: AttemptPassword | None = None


class SshVerdict(msgspec.Struct):
    """`data` of POST /agent/v1/ssh/verify."""

    allowed: bool
    reason: str | None = None
    ssh_username_id: UUID | None = None


# ---- deployments (containers) and the host ---------------------------------------------------


class ReportedPort(msgspec.Struct, forbid_unknown_fields=True):
    """A published port of a ready container, in the Edgegap status's port shape (what the
    agent does not say stays null)."""

    name: Annotated[str, Meta(max_length=32)] | None = None
    internal: Annotated[int, Meta(ge=0, le=65535)] | None = None
    external: Annotated[int, Meta(ge=0, le=65535)] | None = None  # 0: nothing was published
    protocol: Annotated[str, Meta(max_length=16)] | None = None
    tls_upgrade: bool = False
    link: Annotated[str, Meta(max_length=2048)] | None = None
    proxy: Annotated[int, Meta(ge=0, le=65535)] | None = None


# Where a deployment's start stands: its image pulled, its container started, its health checked.
Phase = Literal["pull", "start", "health"]


class DeploymentReport(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: what became of a deployment's container; `phase`, on a `ready` or an
    `error` that ends a start, is the step it ended in (None: a running container ended)."""

    state: Literal["ready", "error", "terminated"]
    phase: Phase | None = None
    ports: Annotated[dict[Annotated[str, Meta(max_length=32)], ReportedPort],
                     Meta(max_length=64)] = {}
    public_ip: Annotated[str, Meta(max_length=64)] = ""
    exit_code: int | None = None
    detail: Annotated[str, Meta(max_length=4096)] = ""


class DeploymentProgress(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Agent -> admin, while a deployment starts: one step as it happens (the image pulled,
    the container started, a health probe's result), before the report that ends the start.
    Telemetry, bounded by both sides; an agent that sends none is reported on as before."""

    phase: Phase
    level: Literal["info", "error"] = "info"
    message: Annotated[str, Meta(min_length=1, max_length=1024)]


class DeploymentProgressReply(msgspec.Struct):
    """`data` of POST /agent/v1/deployments/{request_id}/progress."""

    request_id: str
    recorded: bool  # false: the deployment has all the lines the admin keeps of it


class DeploymentReply(msgspec.Struct):
    """`data` of POST /agent/v1/deployments/{request_id}/report."""

    request_id: str
    status: str


Total = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class ContainerSample(msgspec.Struct, forbid_unknown_fields=True):
    """One reading of a container's resources (totals since it started)."""

    cpu_percent: Annotated[float, Meta(ge=0, le=100_000)] = 0.0
    memory_bytes: Total = 0
    receive_total: Total = 0
    transmit_total: Total = 0
    disk_read_total: Total = 0
    disk_write_total: Total = 0


class DeploymentTelemetry(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: a running (or just crashed) container's log tail and a sample."""

    logs: Annotated[str, Meta(max_length=65_536)] = ""
    sample: ContainerSample | None = None
    crashed: bool = False  # the logs are the crash's; exit_code says how it ended
    exit_code: int | None = None


class TelemetryReply(msgspec.Struct):
    """`data` of POST /agent/v1/deployments/{request_id}/telemetry."""

    request_id: str
    received_at: str


Units = Annotated[int, Meta(ge=0, le=1 << 40)]
Place = Annotated[str, Meta(max_length=128)]


class Location(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    city: Place | None = None
    country: Place | None = None
    continent: Place | None = None
    administrative_division: Place | None = None
    timezone: Place | None = None
    latitude: Annotated[float, Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Meta(ge=-180, le=180)] | None = None


class AgentHostReport(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /agent/v1/host: what the agent was told (flags) and what it found."""

    location: Location | None = None
    cpu_units: Units | None = None  # set by the operator on the agent's command line
    memory_mb: Units | None = None
    fleet: Annotated[str, Meta(max_length=63)] | None = None
    detected_cpu_units: Units = 0  # the machine's own: used while no capacity is set
    detected_memory_mb: Units = 0
    images: Annotated[list[Annotated[str, Meta(max_length=512)]], Meta(max_length=1000)] = []


class HostReply(msgspec.Struct):
    """`data` of POST /agent/v1/host."""

    node_id: UUID
    images: int


# ---- metrics ----------------------------------------------------------------------------

Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Amount = Annotated[float, Meta(ge=0)]
Percent = Annotated[float, Meta(ge=0, le=100)]
Group = dict[Annotated[str, Meta(max_length=64)], Any]


class Cpu(msgspec.Struct, forbid_unknown_fields=True):
    cores: Count | None = None
    load_1m: Amount | None = None
    load_5m: Amount | None = None
    load_15m: Amount | None = None
    usage_percent: Percent | None = None
    # Edgegap's fleet hosts show it; agents before it was reported leave it out (null).
    base_clock_mhz: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None


class Usage(msgspec.Struct, forbid_unknown_fields=True):
    available_bytes: Count | None = None
    available_gb: Amount | None = None
    total_bytes: Count | None = None
    total_gb: Amount | None = None
    usage_percent: Percent | None = None
    used_bytes: Count | None = None
    used_gb: Amount | None = None


class Uptime(msgspec.Struct, forbid_unknown_fields=True):
    human: Annotated[str, Meta(max_length=64)] | None = None
    seconds: Count | None = None


class HostReport(msgspec.Struct, forbid_unknown_fields=True):
    cpu: Cpu | None = None
    disk: Usage | None = None
    memory: Usage | None = None
    uptime: Uptime | None = None


class AgentReport(msgspec.Struct, forbid_unknown_fields=True):
    application: Group | None = None
    commands: Group | None = None
    discovery: Group | None = None
    health_check: Group | None = None
    oban_queues: Annotated[list[Group], Meta(max_length=64)] | None = None
    proxy: Group | None = None
    ssh: Group | None = None
    vpn: Group | None = None


class MetricsBody(msgspec.Struct, forbid_unknown_fields=True):
    """Agent -> admin: the host's figures and the agent's own counters."""

    host: HostReport
    agent: AgentReport


class MetricsReply(msgspec.Struct):
    """`data` of POST /agent/v1/metrics."""

    received_at: str


# ---- resource health (issue 17): the agent's observations of a running deployment ----------

# How often an agent repeats an unchanged health state of a deployment it watches (at least one
# check interval): between changes it sends only this, so the admin's volume stays bounded.
HEALTH_HEARTBEAT_SECONDS = 60.0
Lifecycle = Literal["running", "exited", "stopped", "missing"]


class HealthProbe(msgspec.Struct):
    """Admin -> agent (in a work reply): probe `request_id` now, answer with `probe_id`."""

    probe_id: UUID
    request_id: str


class HealthObservation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Agent -> admin: what the agent found of a deployment's container. `kind` says why it
    was sent: its health changed, an unchanged state repeated (heartbeat), the answer to a
    live probe, or its container ended."""

    kind: Literal["change", "heartbeat", "probe", "exit"]
    lifecycle: Lifecycle
    health: Literal["healthy", "unhealthy", "unknown"]
    message: Annotated[str, Meta(max_length=4096)] = ""
    duration_ms: Annotated[int, Meta(ge=0, le=3_600_000)] | None = None
    status_code: Annotated[int, Meta(ge=100, le=599)] | None = None
    exit_code: ExitCode | None = None
    probe_id: UUID | None = None


class HealthObservationReply(msgspec.Struct):
    """`data` of POST /agent/v1/deployments/{request_id}/health."""

    request_id: str
    recorded: bool  # false: not a resource's deployment (nothing kept)
# ---- runtime logs: what a running container writes, shipped as it comes --------------------

MAX_LOG_LINE = 8192  # characters of one line kept (the agent cuts longer ones)
MAX_LOG_BATCH = 500  # lines in one batch (the agent sends the rest in the next)


# A stamp with its zone: one without cannot be put beside those stored (agents always sent one).
Stamp = Annotated[datetime, Meta(tz=True)]
# Of a stream's lines stamped alike, how many a batch's mark says were sent: the places of the
# batch's lines (this plus up to MAX_LOG_BATCH) are kept in 64 bits.
SentCount = Annotated[int, Meta(ge=0, le=2**63 - 1 - MAX_LOG_BATCH)]


class RuntimeLogLine(msgspec.Struct, forbid_unknown_fields=True):
    stream: Literal["stdout", "stderr"]
    timestamp: Stamp  # when the engine read it from the container (RFC 3339 with its zone)
    message: Annotated[str, Meta(max_length=MAX_LOG_LINE)]


class RuntimeLogMark(msgspec.Struct, forbid_unknown_fields=True):
    """Where a batch starts in its container's log, which names each of its lines however often
    it is sent: a line's place among its stream's lines stamped as it (engines stamp whole
    seconds, so the stamp alone does not). The batch's lines of a stream stamped `timestamp`
    come after the first `stdout` (`stderr`) lines of that stream stamped so, sent before; at
    any other stamp, it holds its stream's lines from the first one stamped so. No
    `timestamp`: every stamp from its first line (the agent's first batch for a container)."""

    timestamp: Stamp | None = None
    stdout: SentCount = 0
    stderr: SentCount = 0


class RuntimeLogBatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Agent -> admin: the lines a deployment's container wrote since the last batch, oldest
    first. `after` lets the admin store once the lines of a batch sent again (its answer lost);
    an agent that sends none (before this field) has the lines of the last second it sent
    stored twice then. No `after` is left out of the body, not sent as null: an admin of the
    release before it refuses any field it does not know, null too."""

    lines: Annotated[list[RuntimeLogLine], Meta(max_length=MAX_LOG_BATCH)]
    after: RuntimeLogMark | None = None


class RuntimeLogReply(msgspec.Struct):
    """`data` of POST /agent/v1/deployments/{request_id}/runtime-logs."""

    request_id: str
    last_sequence: int  # the sequence the admin gave the batch's last line
