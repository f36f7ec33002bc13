"""The Edgegap wire format of the Deployment context (/v1, /v2): the msgspec Structs the
Edgegap handlers return, shared by their route modules (and errors.py for the error body).

The OpenAPI document takes their schemas from these classes (SHAPES, collected by
entrypoints/http/openapi/document.py), so what a handler sends and what the document promises
are one definition. Class and field names are the seed's; a class named `<X>Response` is the
component the operation table (entrypoints/http/openapi/deployments.py) names `<X>`. Rendering
rows into these shapes stays with the routes and edgegap_views.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from domain.deployment import Status
from entrypoints.http.serializers import Shape, described

_d = described

# Edgegap writes three clocks three ways (spec/edgegap-mengi.md 1.21); each is documented.
EdgegapTime = Annotated[str, _d("'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, as Edgegap writes it",
                                examples=["2025-11-29 22:35:31.971359"])]
IsoTime = Annotated[str, _d("UTC, ISO 8601 with microseconds and Z",
                            examples=["2025-11-26T16:32:30.825138Z"])]
DeploymentStatus = Annotated[str, Meta(extra_json_schema={"enum": [s.value for s in Status]})]
RequestId = Annotated[str, _d("Request ID. Unique identifier of the deployment request (12 hex"
                              " characters)", examples=["a69f8e3e0555"])]


# ---- status, stop, list (E4, E5, E6, E8) ----------------------------------------------------
class EdgegapPort(Shape):
    """A published port; null where the agent did not report the value"""

    external: Annotated[int | None, _d(
        "Port players connect to on public_ip; null before READY (the container engine picks"
        " it when the container starts)")]
    internal: Annotated[int | None, _d("Port inside the container")]
    protocol: Annotated[str | None, _d("UDP, TCP, TCP/UDP, HTTP, HTTPS, WS or WSS")]
    name: Annotated[str, _d("The port's name (the map key); its number when unnamed")]
    tls_upgrade: Annotated[bool, _d("Whether TLS is terminated in front of the port")]
    link: Annotated[str | None, _d(
        "public_ip:external, with a scheme for web protocols; null before READY")]
    proxy: Annotated[int | None, _d(
        "Edgegap's internal proxy port; no proxy stands in front of containers here: always"
        " null")]


class EdgegapSession(Shape):
    """A session of a session-based deployment (there are none here: sessions is empty)"""

    session_id: str
    status: str
    ready: bool
    linked: bool
    kind: Annotated[str, _d("DEFAULT, SEATS or MATCH")]
    user_count: str


class EdgegapLocation(Shape):
    """Where the deployment runs (its host's location; null where unset)"""

    city: str | None
    country: str | None
    continent: str | None
    administrative_division: str | None
    timezone: str | None
    latitude: float | None
    longitude: float | None


class DeploymentStatusResponse(Shape):
    """The status object of a deployment"""

    request_id: RequestId
    fqdn: Annotated[str | None, _d(
        "<request_id>.<DEPLOYMENT_DOMAIN>; null when that setting is empty. The admin"
        " publishes no DNS records: the operator's DNS makes the name resolve",
        examples=["a69f8e3e0555.deployments.example.com"])]
    app_name: str
    app_version: str
    current_status: DeploymentStatus
    running: Annotated[bool, _d("current_status is Status.READY")]
    whitelisting_active: Annotated[bool, _d("Always false: no ACL here")]
    start_time: EdgegapTime
    removal_time: Annotated[str | None, _d("When it terminated; null while it runs")]
    elapsed_time: Annotated[int, _d("Seconds since start_time (until removal_time)")]
    last_status: Annotated[DeploymentStatus | None, _d("The status before current_status")]
    error: bool
    error_detail: str
    ports: Annotated[dict[str, EdgegapPort], _d(
        "Port name -> port: the version's ports, with external and link once READY")]
    public_ip: Annotated[str | None, _d(
        "The address the node publishes ports on, as its agent reports it with READY; null"
        " before")]
    sessions: list[EdgegapSession]
    location: EdgegapLocation | None
    tags: list[str]
    sockets: Annotated[str | None, _d(
        "Capacity of a session-based deployment; no sessions here: always null")]
    sockets_usage: Annotated[str | None, _d(
        "Sockets in use by sessions; no sessions here: always null")]
    command: Annotated[str | None, _d(
        "The app version's command (the container's entrypoint); null: the image's")]
    arguments: Annotated[str | None, _d("The app version's arguments; null: the image's")]
    max_duration: Annotated[int, _d("Minutes before it is stopped; 0: no limit")]


class DeploymentStopResponse(Shape):
    """Stop accepted"""

    message: Annotated[str, _d("Instance <request_id> will be deleted")]
    deployment_summary: DeploymentStatusResponse


class DeploymentListItem(Shape):
    """A deployment in a list"""

    request_id: RequestId
    fqdn: str | None
    start_time: EdgegapTime
    ready: bool
    public_ip: str | None
    ports: dict[str, EdgegapPort]
    tags: list[str]
    sockets: str | None
    sockets_usage: str | None
    is_joinable_by_session: Annotated[bool, _d("Always false: no sessions here")]


class Paginator(Shape):
    num_pages: int


class EdgegapPagination(Shape):
    """Where this page sits"""

    number: int
    next_page_number: int | None
    previous_page_number: int | None
    paginator: Paginator
    has_next: bool
    has_previous: bool


class DeploymentListResponse(Shape):
    """A page of deployments, newest first"""

    data: list[DeploymentListItem]
    total_count: int
    pagination: EdgegapPagination
    message: list[str]


# ---- deploy (E1, E2) and bulk stop (E7) -------------------------------------------------------
_SECRET = _d("Only when webhook_on_* were given: signs their deliveries (Standard Webhooks and"
             " X-Edge-Signature, as for registered webhooks). Not in Edgegap's API")


class DeploymentAcceptedResponse(Shape):
    """Deployment Request Accepted (webhook_secret appears only with webhooks)"""

    request_id: RequestId
    webhook_secret: Annotated[str, _SECRET] | UnsetType = UNSET


class AllocationErrorResponse(Shape):
    """Couldn't Allocate Server: the deployment exists, in Status.ERROR"""

    request_id: RequestId
    message: str
    webhook_secret: Annotated[str, _SECRET] | UnsetType = UNSET


class Processable(Shape):
    request_id: RequestId


class BulkStopResponse(Shape):
    """The deployments that will be stopped"""

    processable: list[Processable]


# ---- locations (E9) and private fleet hosts (E3) ----------------------------------------------
class LocationTag(Shape):
    key: str
    value: str


class LocationEntry(Shape):
    """A place with a healthy host"""

    city: str | None
    continent: str | None
    country: str | None
    timezone: str | None
    administrative_division: str | None
    latitude: Annotated[str, _d("A number, written as a string as Edgegap does here")]
    longitude: Annotated[str, _d("A number, written as a string as Edgegap does here")]
    type: Literal["standard"]
    tags: list[LocationTag]


class LocationsResponse(Shape):
    """Places with a healthy host (with room for app/version if given)"""

    locations: list[LocationEntry]
    messages: list[str]


class Beacon(Shape):
    tcp_port: int
    udp_port: int
    ip_address: str


class Centroid(Shape):
    """No centroid orchestration here: each host is its own centre"""

    label: Annotated[str, _d("The fleet's name")]
    latitude: float | None
    longitude: float | None
    radius_km: int
    desired_host_count: Annotated[int, _d("Hosts in the fleet")]


class DeleteSchedule(Shape):
    uuid: str
    scheduled_at: IsoTime


class FleetHostSpecifications(Shape):
    cpu_units: int
    memory_mb: int
    base_clock_speed_mhz: Annotated[int | None, _d(
        "The CPU's base clock its agent reports (cpufreq's base_frequency, else /proc/cpuinfo"
        " `cpu MHz`); null until the agent's first metrics report, and from agents that do"
        " not report it")]


class FleetHost(Shape):
    """A host of a private fleet"""

    host_id: Annotated[str, _d("The node id; use it in private_host_ids")]
    status: Annotated[Literal["PENDING", "ACTIVE"], _d(
        "ACTIVE while the node is healthy; only ACTIVE hosts accept deployments")]
    ip_address: str | None
    latitude: float | None
    longitude: float | None
    city: str | None
    country: str | None
    continent: str | None
    allocated_cpu_units: Annotated[int, _d("1024 units = 1 vCPU")]
    allocated_memory_mb: int
    allocatable_cpu_units: int
    allocatable_memory_mb: int
    beacon: Beacon | None
    created_at: IsoTime
    updated_at: IsoTime
    centroid: Centroid
    delete_schedule: DeleteSchedule | None
    fleet_host_specifications: FleetHostSpecifications


class FleetHostsResponse(Shape):
    """The hosts of a private fleet"""

    data: list[FleetHost]


# ---- tags (E12-E16) ------------------------------------------------------------------------
class TagResponse(Shape):
    """A deployment tag"""

    name: str
    create_time: EdgegapTime
    last_updated: EdgegapTime


class EmptyPagination(Shape):
    """Always empty: a deployment's tags come in one page"""


class TagListResponse(Shape):
    """A deployment's tags"""

    tags: list[TagResponse]
    count: int
    pagination: EmptyPagination


# ---- container logs (E10) and metrics (E11) --------------------------------------------------
class CrashData(Shape):
    exit_code: int | None
    message: str | None
    restart_count: int


class ContainerLogsResponse(Shape):
    """Logs of the container"""

    logs: Annotated[str, _d("The latest log tail the agent sent")]
    encoding: Literal["utf-8"]
    crash_logs: Annotated[str | None, _d("The last logs of a crash; null if none")]
    crash_data: CrashData | None
    logs_link: Annotated[str | None, _d("Always null: no endpoint storage here")]


class MetricSeries(Shape):
    """One point per step (its last sample), or every sample with raw=true"""

    labels: Annotated[list[str], _d("HH:MM:SS")]
    datasets: Annotated[list[str], _d("The values, as strings")]
    timestamps: Annotated[list[str], _d("'YYYY-MM-DD HH:MM:SS.fff' in UTC")]


class MetricTotals(Shape):
    """Bytes, cumulative since the container started"""

    receive_total: MetricSeries
    transmit_total: MetricSeries
    disk_read_total: MetricSeries
    disk_write_total: MetricSeries


class NetworkSeries(Shape):
    receive: MetricSeries
    transmit: MetricSeries


class DeploymentMetricsResponse(Shape):
    """A deployment's resource series"""

    total: MetricTotals
    cpu: Annotated[MetricSeries, _d("Percent of one core")]
    mem: Annotated[MetricSeries, _d("Bytes")]
    network: NetworkSeries


class ErrorMessageResponse(Shape):
    """Edgegap's error body"""

    message: str
    details: Annotated[dict[str, list[str]], _d("Field name -> its problems; may be empty")]


SHAPES = (DeploymentStatusResponse, DeploymentStopResponse, DeploymentListResponse,
          DeploymentAcceptedResponse, AllocationErrorResponse, BulkStopResponse,
          LocationsResponse, FleetHostsResponse, TagResponse, TagListResponse,
          ContainerLogsResponse, DeploymentMetricsResponse, ErrorMessageResponse)
