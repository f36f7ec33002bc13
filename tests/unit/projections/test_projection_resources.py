"""The Resources read side on the in-memory store: what each command leaves in the projects,
environments, resources, variables and attempts tables; the attempt status folded by
conditional patches equals the aggregate's own (`attempt_of`) after every step; secrets are
never in a row, not even sealed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import product
from uuid import UUID, uuid4

import msgspec
import pytest

from application.deployment_attempts import CancelDeployment, RollbackDeployment
from application.environments import LockEnvironment, SetVariable
from application.projects import ArchiveProject, RenameProject
from application.resources import CreateSecret, DeleteResource
from domain.deployment import deployment_uuid
from domain.deployment_attempt import AttemptStatus, advance
from entrypoints.bootstrap import Services, build_services
from projections.resource_handlers import _moves
from projections.resource_reads import timeline
from projections.resource_tables import TIMELINE
from tests.conftest import make_settings
from tests.unit.application.test_app_deployment_attempts import Flow


@pytest.fixture
def services() -> Iterator[Services]:
    services = build_services(make_settings("memory://", placement_snapshot=0))
    services.start()
    yield services
    services.close()


def test_each_conditional_patch_is_what_advance_says() -> None:
    class Event:
        originator_id = uuid4()
        at = None

    for (current, name), rollback in product(
            product((AttemptStatus.CREATED, AttemptStatus.RUNNING,
                     AttemptStatus.CANCEL_REQUESTED), [n for n in TIMELINE if n != "Requested"]),
            (False, True)):
        applied = [p for p in _moves(Event(), name) if p.where["status"] == current.value
                   and p.where.get("is_rollback", rollback) == rollback]
        expected = advance(current, name, rollback)
        got = AttemptStatus(applied[0].fields["status"]) if applied else current
        assert got == expected, (current, name, rollback)
        assert len(applied) <= 1


def test_hierarchy_rows_follow_the_commands(services: Services) -> None:
    flow = Flow(services)
    reads = services.resource_reads
    flow.projects.rename(flow.project, RenameProject(name="Shop Two"))
    project = reads.projects.get(flow.project)
    assert project is not None and (project.name, project.slug) == ("Shop Two", "shop")
    flow.environments.set_variable(flow.environment, SetVariable(key="MODE", value="prod"))
    flow.environments.set_variable(flow.environment, SetVariable(key="TOKEN", value="t0p",
                                                                 is_secret=True))
    flow.resources.create_secret(flow.resource, CreateSecret(key="API_KEY", value="s3cret"))
    env_vars = {v.key: v for v in reads.variables_of(flow.environment)}
    assert env_vars["MODE"].plain_value == "prod" and env_vars["TOKEN"].plain_value is None
    assert env_vars["TOKEN"].is_secret and env_vars["TOKEN"].scope == "environment"
    [secret] = reads.variables_of(flow.resource)
    assert (secret.key, secret.plain_value, secret.scope) == ("API_KEY", None, "resource")
    flow.environments.lock(flow.environment, LockEnvironment(lock_reason="freeze"))
    environment = reads.environments.get(flow.environment)
    assert environment is not None and environment.lifecycle_status == "locked"
    assert environment.lock_reason == "freeze"
    resource = reads.resources.get(flow.resource)
    assert resource is not None and (resource.image, resource.internal_port) == (
        "busybox:1.36", 8080)


def test_attempt_rows_fold_like_the_aggregate(services: Services) -> None:
    flow = Flow(services)
    flow.resources.create_secret(flow.resource, CreateSecret(key="API_KEY", value="s3cret"))
    node = flow.node()
    reads = services.resource_reads

    def same(deployment: UUID) -> AttemptStatus:
        row = reads.attempts.get(deployment)
        assert row is not None
        assert row.status == flow.status(deployment), deployment
        assert timeline(row)[-1].status == row.status
        return row.status

    first = flow.create()
    assert same(first) == AttemptStatus.RUNNING
    flow.report(node, first, "ready")
    assert same(first) == AttemptStatus.SUCCEEDED
    second = flow.create()
    flow.report(node, second, "error")
    assert same(second) == AttemptStatus.FAILED
    row = reads.attempts.get(second)
    assert row is not None and row.error_detail == "health check failed: 503"
    back = flow.attempts.rollback(second, RollbackDeployment(
        rollback_candidate_deployment_id=first))
    rolled = deployment_uuid(back.request_id)
    flow.report(node, rolled, "ready")
    assert same(rolled) == AttemptStatus.ROLLED_BACK
    rolled_row = reads.attempts.get(rolled)
    assert rolled_row is not None and rolled_row.rollback_candidate_id == first
    assert rolled_row.source_deployment_id == second and rolled_row.trigger_kind == "rollback"
    assert same(first) == AttemptStatus.SUCCEEDED  # superseded and stopped: stays succeeded
    third = flow.create()
    flow.attempts.cancel(third, CancelDeployment(confirm=str(third)))
    assert same(third) in (AttemptStatus.CANCEL_REQUESTED, AttemptStatus.CANCELED)
    flow.report(node, third, "ready")
    assert same(third) == AttemptStatus.CANCEL_REQUESTED  # now being stopped
    flow.report(node, third, "terminated")
    assert same(third) == AttemptStatus.CANCELED  # a cancel asked first wins
    events = [e.event_type for e in timeline(rolled_row)]
    assert events[:3] == ["Requested", "Placed", "Ready"]
    assert [e.sequence for e in timeline(rolled_row)] == sorted(
        e.sequence for e in timeline(rolled_row))
    snapshot = json.loads(rolled_row.snapshot)
    assert {v["key"]: v["value"] for v in snapshot["variables"]}["API_KEY"] == "****"
    for table in ("deployment_attempts", "config_variables", "resources"):
        assert "s3cret" not in json.dumps(services.view.select(table, {}), default=str)
    resource = reads.resources.get(flow.resource)
    assert resource is not None and resource.deployment_count == 4
    assert resource.serving_deployment_id == rolled


def test_delete_and_create_again_under_the_same_name(services: Services) -> None:
    flow = Flow(services)
    reads = services.resource_reads
    flow.resources.create_secret(flow.resource, CreateSecret(key="K", value="v"))
    flow.resources.delete(flow.resource, msgspec.convert(
        {"confirmation": {"resourceSlug": "web"}}, DeleteResource))
    assert reads.resources.get(flow.resource) is None
    assert reads.variables_of(flow.resource) == []
    from application.resources import CreateResource

    again = flow.resources.create(CreateResource(project_id=flow.project,
                                                 environment_id=flow.environment, name="web"))
    found = reads.resources.get(again)
    assert found is not None and found.slug == "web"
    flow.projects.archive(flow.project, ArchiveProject())
    project = reads.projects.get(flow.project)
    assert project is not None and project.lifecycle_status == "archived"
    assert reads.project_count() == 1
