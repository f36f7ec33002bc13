"""OpenAPI parts for Appaloft's projects, environments, variables, servers, resources,
deployments (attempts) and audit events (issue 17).

They answer in Appaloft's shapes (no {data, meta} envelope: `{id}`, `{items}`, `{count}` and
`schemaVersion` reads), taken from the Shape classes the handlers return; errors use the house
envelope, as the seed documents none.
"""

from __future__ import annotations

import msgspec

from application.deployment_attempts import (
    CancelDeployment,
    CreateDeployment,
    RollbackDeployment,
)
from application.environments import (
    ArchiveEnvironment,
    CreateEnvironment,
    LockEnvironment,
    RenameEnvironment,
    SetVariable,
    UnsetVariable,
)
from application.projects import (
    ArchiveProject,
    CreateProject,
    DeleteProject,
    DescribeProject,
    RenameProject,
)
from application.resources import (
    ConfigureHealthPolicy,
    ConfigureNetworkProfile,
    ConfigureRollbackPolicy,
    ConfigureRuntimeProfile,
    ConfigureSource,
    CreateResource,
    CreateSecret,
    DeleteResource,
    RotateSecret,
)
from entrypoints.http import (
    appaloft_views,
    attempt_events,
    attempt_readiness,
    attempt_views,
    audit_events,
    deployment_attempts,
    environments,
    resource_health,
    resources,
    servers,
    variables,
)
from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import STR, UUID_S, Schema

PROJECT, ENVIRONMENT, VARIABLE, SERVER, RESOURCE, DEPLOYMENT, AUDIT = (
    "Appaloft.Projects", "Appaloft.Environments", "Appaloft.Variables", "Appaloft.Servers",
    "Appaloft.Resources", "Appaloft.Deployments", "Appaloft.AuditEvents")
TAGS = [PROJECT, ENVIRONMENT, VARIABLE, SERVER, RESOURCE, DEPLOYMENT, AUDIT]
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "projectId": (UUID_S, "Project id"),
    "environmentId": (UUID_S, "Environment id"),
    "resourceId": (UUID_S, "Resource id"),
    "serverId": (UUID_S, "Server id: an enrolled node's id"),
    "deploymentId": (UUID_S, "Deployment (attempt) id"),
    "auditEventId": (UUID_S, "Audit event id: the catalog message id"),
    "key": ({**STR, "minLength": 1, "maxLength": 128}, "Variable key"),
}
_G, _P, _D = "GET", "POST", "DELETE"
_ID, _COUNT = "AppaloftId", "AppaloftCount"
_CMD = (404, 409, 422, 503)
_LOCKED = " 409 when its environment is locked or archived (it stays readable)."


def _op(  # noqa: PLR0913 - the fields of one table row
    tag: str, summary: str, status: int, data: str | None, errors: tuple[int, ...], *,
    body: type[msgspec.Struct] | None = None, query: type[msgspec.Struct] | None = None,
    description: str = "", stream: bool = False,
) -> Op:
    # 400 everywhere: a body that is not JSON, a path id that is not a UUID, a bad query.
    return Op(tag, summary, status, data, tuple(sorted({400, *errors})), body,
              description=description, flat=True, query=query, stream=stream)


OPERATIONS: dict[tuple[str, str], Op] = {
    # projects
    (_P, "/projects"): _op(PROJECT, "Create a project", 201, _ID, (409, 422, 503),
                           body=CreateProject,
                           description="The slug is derived from the name and unique."),
    (_G, "/projects"): _op(PROJECT, "List projects", 200, "ProjectList", (400,),
                           query=appaloft_views.LimitQuery),
    (_G, "/projects/count"): _op(PROJECT, "Count projects", 200, _COUNT, (400,)),
    (_G, "/projects/{projectId}"): _op(PROJECT, "Show a project", 200, "Project", (400, 404)),
    (_D, "/projects/{projectId}"): _op(
        PROJECT, "Delete a project", 200, _ID, (400, *_CMD), body=DeleteProject,
        description="Only an archived project (see delete-check); confirmation.projectId"
        " must repeat the id."),
    (_P, "/projects/{projectId}/rename"): _op(PROJECT, "Rename a project", 200, _ID,
                                              (400, *_CMD), body=RenameProject),
    (_P, "/projects/{projectId}/description"): _op(
        PROJECT, "Set or clear a project's description", 200, _ID, (400, *_CMD),
        body=DescribeProject),
    (_P, "/projects/{projectId}/archive"): _op(PROJECT, "Archive a project", 200, _ID,
                                               (400, *_CMD), body=ArchiveProject),
    (_P, "/projects/{projectId}/restore"): _op(PROJECT, "Restore an archived project", 200,
                                               _ID, (400, *_CMD)),
    (_G, "/projects/{projectId}/delete-check"): _op(
        PROJECT, "Whether a project can be deleted", 200, "ProjectDeleteCheck", (400, 404)),
    # environments
    (_P, "/environments"): _op(ENVIRONMENT, "Create an environment", 201, _ID, _CMD,
                               body=CreateEnvironment,
                               description="In an active project; the name is unique in it."),
    (_G, "/environments"): _op(ENVIRONMENT, "List environments", 200, "EnvironmentList", (400,),
                               query=environments.EnvironmentListQuery),
    (_G, "/environments/count"): _op(ENVIRONMENT, "Count environments", 200, _COUNT, (400,),
                                     query=environments.EnvironmentCountQuery),
    (_G, "/environments/{environmentId}"): _op(ENVIRONMENT, "Show an environment", 200,
                                               "EnvironmentShow", (400, 404)),
    (_P, "/environments/{environmentId}/rename"): _op(
        ENVIRONMENT, "Rename an environment", 200, _ID, (400, *_CMD), body=RenameEnvironment,
        description=_LOCKED),
    (_P, "/environments/{environmentId}/lock"): _op(
        ENVIRONMENT, "Lock an environment", 200, _ID, (400, *_CMD), body=LockEnvironment,
        description="Every change in it (its variables, its resources, their deployments)"
        " is refused with 409 until unlocked."),
    (_P, "/environments/{environmentId}/unlock"): _op(ENVIRONMENT, "Unlock an environment",
                                                      200, _ID, (400, *_CMD)),
    (_P, "/environments/{environmentId}/archive"): _op(
        ENVIRONMENT, "Archive an environment", 200, _ID, (400, *_CMD), body=ArchiveEnvironment,
        description="For good; it stays readable." + _LOCKED),
    # variables
    (_P, "/environments/{environmentId}/variables"): _op(
        VARIABLE, "Set an environment variable", 204, None, (400, *_CMD), body=SetVariable,
        description="A secret (isSecret or kind secret) is sealed before it is recorded and"
        " never shown again." + _LOCKED),
    (_D, "/environments/{environmentId}/variables/{key}"): _op(
        VARIABLE, "Remove an environment variable", 204, None, (400, *_CMD),
        body=UnsetVariable),
    (_G, "/environments/{environmentId}/effective-precedence"): _op(
        VARIABLE, "An environment's variables after precedence", 200, "EffectivePrecedence",
        (400, 404)),
    (_P, "/resources/{resourceId}/variables"): _op(
        VARIABLE, "Set a resource variable", 204, None, (400, *_CMD), body=SetVariable,
        description="It overrides the environment's entry with the same key and exposure."
        + _LOCKED),
    (_D, "/resources/{resourceId}/variables/{key}"): _op(
        VARIABLE, "Remove a resource variable", 204, None, (400, *_CMD), body=UnsetVariable),
    (_G, "/resources/{resourceId}/secrets"): _op(
        VARIABLE, "List a resource's secrets (masked)", 200, "SecretList", (400, 404),
        query=variables.SecretsQuery),
    (_P, "/resources/{resourceId}/secrets"): _op(
        VARIABLE, "Create a resource secret", 200, "SecretAccepted", (400, *_CMD),
        body=CreateSecret, description="The value is sealed and never echoed; 409 when it"
        " exists (rotate it)."),
    (_P, "/resources/{resourceId}/secrets/{key}"): _op(
        VARIABLE, "Rotate a resource secret", 200, "SecretAccepted", (400, *_CMD),
        body=RotateSecret),
    (_D, "/resources/{resourceId}/secrets/{key}"): _op(
        VARIABLE, "Delete a resource secret", 200, "SecretAccepted", (400, *_CMD),
        body=UnsetVariable),
    (_G, "/resources/{resourceId}/effective-config"): _op(
        VARIABLE, "What a deployment of the resource would get (masked)", 200,
        "EffectiveConfig", (400, 404)),
    # servers
    (_G, "/servers"): _op(SERVER, "List servers (enrolled nodes)", 200, "ServerList", (400,),
                          query=appaloft_views.LimitQuery,
                          description="Registering a server is enrolling its agent."),
    (_G, "/servers/count"): _op(SERVER, "Count servers", 200, _COUNT, (400,)),
    (_G, "/servers/{serverId}"): _op(SERVER, "Show a server with its rollups", 200,
                                     "ServerShow", (400, 404), query=servers.ServerShowQuery),
    # resources
    (_P, "/resources"): _op(RESOURCE, "Create a resource", 201, _ID, _CMD,
                            body=CreateResource, description="The slug is derived from the"
                            " name and unique in its environment." + _LOCKED),
    (_G, "/resources"): _op(RESOURCE, "List resources", 200, "ResourceList", (400,),
                            query=resources.ResourceListQuery),
    (_G, "/resources/count"): _op(RESOURCE, "Count resources", 200, _COUNT, (400,),
                                  query=resources.ResourceCountQuery),
    (_G, "/resources/{resourceId}"): _op(RESOURCE, "Show a resource", 200, "ResourceShow",
                                         (400, 404)),
    (_D, "/resources/{resourceId}"): _op(
        RESOURCE, "Delete a resource", 200, _ID, (400, *_CMD), body=DeleteResource,
        description="Confirmed by its slug. 409 while an attempt is in progress: details"
        " name the blocking deployment ids (blockers). The container still serving is"
        " stopped." + _LOCKED),
    (_P, "/resources/{resourceId}/archive"): _op(RESOURCE, "Archive a resource", 200, _ID,
                                                 (400, *_CMD)),
    (_P, "/resources/{resourceId}/source"): _op(
        RESOURCE, "Configure the source (a container image)", 200, _ID, (400, *_CMD),
        body=ConfigureSource),
    (_P, "/resources/{resourceId}/runtime-profile"): _op(
        RESOURCE, "Configure the command and arguments", 200, _ID, (400, *_CMD),
        body=ConfigureRuntimeProfile),
    (_P, "/resources/{resourceId}/network-profile"): _op(
        RESOURCE, "Configure the internal port and protocol", 200, _ID, (400, *_CMD),
        body=ConfigureNetworkProfile),
    (_P, "/resources/{resourceId}/health-policy"): _op(
        RESOURCE, "Configure the health check", 200, _ID, (400, *_CMD),
        body=ConfigureHealthPolicy, description="HTTP (path, expected status) or TCP; an"
        " attempt succeeds only after it passes."),
    (_P, "/resources/{resourceId}/health-policy/reset"): _op(
        RESOURCE, "Reset the health check (off)", 200, _ID, (400, *_CMD)),
    (_P, "/resources/{resourceId}/rollback-policy"): _op(
        RESOURCE, "Configure automatic rollback", 200, _ID, (400, *_CMD),
        body=ConfigureRollbackPolicy, description="Ours (the seed names no such setting):"
        " with automatic true, an attempt that fails is rolled back at once to the last"
        " healthy one (edge.resource.automatic_rollback_decided); a rollback that fails is"
        " not rolled back again."),
    # deployments
    (_G, "/deployments/plan"): _op(
        DEPLOYMENT, "Plan a deployment (no mutation)", 200, "Plan", (400, 404),
        query=attempt_readiness.PlanQuery,
        description="readiness.reasonCodes name what blocks it now."),
    (_P, "/deployments"): _op(
        DEPLOYMENT, "Deploy a resource", 201, _ID, (400, *_CMD), body=CreateDeployment,
        description="Runs an immutable snapshot of the resource on serverId (or any healthy"
        " node). 409 while another attempt of it runs, or when it is not ready (plan)."),
    (_G, "/deployments"): _op(DEPLOYMENT, "List deployments", 200, "DeploymentAttemptList",
                              (400,), query=deployment_attempts.DeploymentListQuery),
    (_G, "/deployments/count"): _op(DEPLOYMENT, "Count deployments", 200, _COUNT, (400,),
                                    query=deployment_attempts.DeploymentCountQuery),
    (_G, "/deployments/{deploymentId}"): _op(
        DEPLOYMENT, "Show a deployment", 200, "DeploymentShow", (400, 404),
        query=attempt_views.DeploymentShowQuery,
        description="With its masked snapshot and the timeline of its events."),
    (_P, "/deployments/{deploymentId}/retry"): _op(
        DEPLOYMENT, "Retry a failed or canceled deployment", 201, _ID, (400, *_CMD),
        description="A new attempt runs the same snapshot."),
    (_P, "/deployments/{deploymentId}/cancel"): _op(
        DEPLOYMENT, "Cancel an active deployment", 200, "Cancel", (400, *_CMD),
        body=CancelDeployment, description="confirm must repeat the id. cancel-requested"
        " until its node stops it, then canceled."),
    (_P, "/deployments/{deploymentId}/rollback"): _op(
        DEPLOYMENT, "Roll back to an earlier healthy deployment", 201, _ID, (400, *_CMD),
        body=RollbackDeployment,
        description="A new attempt runs the candidate's snapshot exactly."),
    (_G, "/deployments/{deploymentId}/recovery-readiness"): _op(
        DEPLOYMENT, "What can be done about a deployment", 200, "RecoveryReadiness",
        (400, 404), query=deployment_attempts.RecoveryReadinessQuery),
    (_G, "/deployments/{deploymentId}/events"): _op(
        DEPLOYMENT, "Read a deployment's events", 200, "DeploymentEvents", (400, 404),
        query=attempt_events.EventsQuery,
        description="`deployments.stream-events/v1` envelopes of its lifecycle events after"
        " `cursor` (the sequence of the last one seen), oldest first; `nextCursor` resumes."
        " With follow=true an empty page waits up to 10 s for the next events (untilTerminal:"
        " not once the attempt is terminal). 400 for a cursor that is not a sequence from 0"
        " to 2^63-1 or a historyLimit out of 0..200."),
    (_G, "/deployments/{deploymentId}/events/stream"): _op(
        DEPLOYMENT, "Stream a deployment's events (Server-Sent Events)", 200, None,
        (400, 404), query=attempt_events.StreamQuery, stream=True,
        description="The same envelopes as text/event-stream: `id: <sequence>`, `data:"
        " <envelope JSON>`, a `: heartbeat` comment every 15 s when idle. Resumes after"
        " Last-Event-ID (or `cursor`). follow=false sends the page and ends; untilTerminal ends"
        " with `event: end` (data: {kind: end, status, cursor}) once the attempt is terminal;"
        " a stopping server ends it. Between the events, the agent's progress lines while it"
        " starts the container come as `event: progress` frames without an id (data: {kind:"
        " progress, progress: {deploymentId, emittedAt, source, phase, level, message}};"
        " includeProgress=false leaves them out); a resumed stream sends again those after"
        " the event it resumes from."),
    (_G, "/deployments/{deploymentId}/logs"): _op(
        DEPLOYMENT, "Read a deployment's logs", 200, "DeploymentLogs", (400, 404),
        description="Phase by phase (plan, pull, start, health, stop), from its lifecycle"
        " events, the progress its agent reported while it started the container (the pull,"
        " the start, its health probes: shown while the attempt runs) and the container logs"
        " its agent last sent (the log tail, or the logs of a crash or a failed health"
        " check), oldest first."),
    (_G, "/resources/{resourceId}/health"): _op(
        RESOURCE, "Read a resource's health", 200, "ResourceHealth", (400, 404),
        query=resource_health.HealthQuery,
        description="Of its current deployment (the one that last became healthy). cached:"
        " from its agent's last report; live (or includeRuntimeProbe=true): its agent probes"
        " it now, within timeoutSeconds, else the cached answer with a live-probe-timeout"
        " source error. overall: not-deployed, stopped, unhealthy (its container exited, or"
        " its check fails), healthy, or unknown (no health policy, or no report for three"
        " heartbeats)."),
    (_G, "/resources/{resourceId}/health-history"): _op(
        RESOURCE, "Read a resource's retained health observations", 200,
        "ResourceHealthHistory", (400, 404), query=resource_health.HistoryQuery,
        description="The agent's observations (changes, heartbeats, live probes, the"
        " container's end) in [window.from, window.to], the newest `limit`, oldest first."
        " 400 when a bound is not a UTC date-time ending in Z, or window.from is after"
        " window.to."),
    (_P, "/resources/{resourceId}/redeploy"): _op(
        DEPLOYMENT, "Redeploy a resource as it is now", 201, _ID, (400, *_CMD)),
    # audit
    (_G, "/audit-events"): _op(AUDIT, "List audit events (from the event store)", 200,
                               "AuditEventList", (400,), query=audit_events.AuditListQuery),
    (_G, "/audit-events/{auditEventId}"): _op(
        AUDIT, "Show an audit event", 200, "AuditEventShow", (400, 404),
        query=audit_events.AuditShowQuery),
}

_NAME = {"name": "Display name (1 to 100 characters)"}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateProject": ("ProjectCreateRequest", {**_NAME, "description": "Free text"}),
    "RenameProject": ("ProjectRenameRequest", _NAME),
    "DescribeProject": ("ProjectDescriptionRequest", {"description": "Empty clears it"}),
    "ArchiveProject": ("ProjectArchiveRequest", {"reason": "Why (optional)"}),
    "DeleteProject": ("ProjectDeleteRequest", {"confirmation": "{projectId}: the id again"}),
    "CreateEnvironment": ("EnvironmentCreateRequest", {
        "projectId": "The project", **_NAME, "kind": "local, staging, production..."}),
    "RenameEnvironment": ("EnvironmentRenameRequest", _NAME),
    "LockEnvironment": ("EnvironmentLockRequest", {"lockReason": "Why (optional)"}),
    "ArchiveEnvironment": ("EnvironmentArchiveRequest", {"archiveReason": "Why (optional)"}),
    "SetVariable": ("VariableSetRequest", {
        "key": "An environment variable name", "value": "At most 4096 characters",
        "exposure": "runtime (the container gets it) or build-time",
        "isSecret": "Seal it; never shown again", "kind": "secret seals it too"}),
    "UnsetVariable": ("VariableUnsetRequest", {"exposure": "Which entry (default runtime)"}),
    "CreateResource": ("ResourceCreateRequest", {
        "projectId": "The project", "environmentId": "An environment of that project",
        **_NAME, "kind": "application", "description": "Free text"}),
    "ConfigureSource": ("ResourceSourceRequest", {
        "source": "{locator: an image reference}", "idempotencyKey": "Accepted; the command"
        " is idempotent by value"}),
    "ConfigureRuntimeProfile": ("ResourceRuntimeProfileRequest", {
        "runtimeProfile": "{command, args}"}),
    "ConfigureNetworkProfile": ("ResourceNetworkProfileRequest", {
        "networkProfile": "{internalPort, protocol}"}),
    "ConfigureHealthPolicy": ("ResourceHealthPolicyRequest", {
        "healthCheck": "{enabled, type, intervalSeconds, timeoutSeconds, retries,"
        " startPeriodSeconds, port, http{path, expectedStatusCode, port}}"}),
    "ConfigureRollbackPolicy": ("ResourceRollbackPolicyRequest", {
        "rollbackPolicy": "{automatic}"}),
    "CreateSecret": ("SecretCreateRequest", {
        "key": "An environment variable name", "value": "Sealed at once, never echoed",
        "exposure": "runtime or build-time"}),
    "RotateSecret": ("SecretRotateRequest", {"value": "The new value, sealed",
                                             "exposure": "Which entry (default runtime)"}),
    "DeleteResource": ("ResourceDeleteRequest", {"confirmation": "{resourceSlug}"}),
    "CreateDeployment": ("DeploymentAttemptCreateRequest", {
        "projectId": "The resource's project", "environmentId": "The resource's environment",
        "resourceId": "What to deploy", "serverId": "An enrolled node; omitted: any",
        "destinationId": "Accepted, unused"}),
    "RollbackDeployment": ("DeploymentRollbackRequest", {
        "rollbackCandidateDeploymentId": "An earlier healthy attempt of the same resource"}),
    "CancelDeployment": ("DeploymentCancelRequest", {"confirm": "The deployment id again"}),
}
