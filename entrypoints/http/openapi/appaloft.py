"""OpenAPI parts for Appaloft's projects, environments, variables, servers, resources,
deployments (attempts) and audit events (issue 17).

Tags, path parameters, request body wording and appaloft_op, with which the route modules
declare their Ops. They answer in Appaloft's shapes (no {data, meta} envelope: `{id}`, `{items}`,
`{count}` and `schemaVersion` reads), taken from the Shape classes the handlers return; errors
use the house envelope, as the seed documents none.
"""

from __future__ import annotations

import msgspec

from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import STR, UUID_S, Schema

PROJECT, ENVIRONMENT, VARIABLE, SERVER, RESOURCE, DEPLOYMENT, AUDIT = (
    "Appaloft.Projects", "Appaloft.Environments", "Appaloft.Variables", "Appaloft.Servers",
    "Appaloft.Resources", "Appaloft.Deployments", "Appaloft.AuditEvents")
TAGS = [PROJECT, ENVIRONMENT, VARIABLE, SERVER, RESOURCE, DEPLOYMENT, AUDIT]
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "projectId": (UUID_S, "Project id"),
    "environmentId": (UUID_S, "Environment id"),
    "otherEnvironmentId": (UUID_S, "The environment compared with environmentId"),
    "resourceId": (UUID_S, "Resource id"),
    "serverId": (UUID_S, "Server id: an enrolled node's id"),
    "deploymentId": (UUID_S, "Deployment (attempt) id"),
    "auditEventId": (UUID_S, "Audit event id: the catalog message id"),
    "key": ({**STR, "minLength": 1, "maxLength": 128}, "Variable key"),
    # The seed's ids of what this service does not have (its operations answer 403).
    **{name: ({**STR, "minLength": 1}, f"{what} id (not served here)") for name, what in (
        ("policyId", "Capacity policy"),
        ("archiveId", "Archive"), ("attachmentId", "Storage attachment"),
        ("bindingId", "Dependency binding"), ("previewEnvironmentId", "Preview environment"),
        ("holdId", "Legal hold"))},
}
# Shared by the Appaloft route modules' Ops.
ID_DATA, COUNT_DATA = "AppaloftId", "AppaloftCount"
COMMAND_ERRORS = (404, 409, 422, 503)
LOCKED = " 409 when its environment is locked or archived (it stays readable)."


def appaloft_op(  # noqa: PLR0913 - the fields of one Op
    tag: str, summary: str, status: int, data: str | None, errors: tuple[int, ...], *,
    body: type[msgspec.Struct] | None = None, query: type[msgspec.Struct] | None = None,
    description: str = "", stream: bool = False,
) -> Op:
    # 400 everywhere: a body that is not JSON, a path id that is not a UUID, a bad query.
    return Op(tag, summary, status, data, tuple(sorted({400, *errors})), body,
              description=description, flat=True, query=query, stream=stream)


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
    "CloneEnvironment": ("EnvironmentCloneRequest", {
        "targetName": "The new environment's name (1 to 100 characters), free in the project"}),
    "PromoteEnvironment": ("EnvironmentPromoteRequest", {
        "targetName": "The new environment's name (1 to 100 characters), free in the project",
        "targetKind": "Its kind: local, staging, production..."}),
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
        "source": "{locator: an image reference, kind: docker-image (any other is a 403:"
        " builds), displayName}", "idempotencyKey": "Accepted; the command is idempotent by"
        " value"}),
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
    "ImportVariables": ("VariablesImportRequest", {
        "content": ".env text: KEY=value lines", "exposure": "runtime or build-time, for"
        " every line"}),
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
    "ArchiveDeployment": ("DeploymentArchiveRequest", {"confirm": "The deployment id again"}),
}
