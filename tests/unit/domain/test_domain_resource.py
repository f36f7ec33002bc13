"""Resource: its profiles and their bounds, sealed secrets, the snapshot a deployment runs, and a
state machine of its attempts (one at a time, never deleted while one runs, rollback only to a
healthy one), checked against a plain model and replay."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.resource import Resource, ResourceArchivedError, ResourceGoneError
from domain.resource_attempts import (
    MAX_GOOD,
    OUTCOMES,
    ResourceBusyError,
    ResourceNotReadyError,
)
from domain.resource_profiles import DEFAULT_HEALTH
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import InvalidValueError, StateConflictError
from domain.variables import SecretExistsError, VariableNotFoundError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_resource(name: str = "Web Console") -> Resource:
    return Resource.create(uuid4(), uuid4(), uuid4(), name, AT)


def deployable() -> Resource:
    resource = new_resource()
    resource.configure_source("docker.io/library/busybox:1.36", AT)
    return resource


def replayed(events: Sequence[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_profiles_are_configured_once_per_change() -> None:
    resource = new_resource()
    assert resource.slug == "web-console"
    resource.configure_source("busybox:1.36", AT)
    resource.configure_source("busybox:1.36", AT)
    resource.configure_runtime("httpd -f", ["-p", "8080", "two words"], AT)
    resource.configure_runtime("httpd -f", ["-p", "8080", "two words"], AT)
    resource.configure_network(8080, "http", AT)
    resource.configure_network(8080, "http", AT)
    resource.configure_health({"enabled": True, "path": "/healthz"}, AT)
    resource.configure_health({"enabled": True, "path": "/healthz"}, AT)
    assert resource.health == {**DEFAULT_HEALTH, "enabled": True, "path": "/healthz"}
    resource.reset_health(AT)
    resource.reset_health(AT)
    events = resource.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Created", "SourceConfigured", "RuntimeProfileConfigured", "NetworkProfileConfigured",
        "HealthPolicyConfigured", "HealthPolicyReset"]
    assert replayed(events).__dict__ == resource.__dict__


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.configure_source("", AT), "image"),
    (lambda r: r.configure_source("busy box", AT), "image"),
    (lambda r: r.configure_source("x" * 513, AT), "image"),
    (lambda r: r.configure_runtime("   ", [], AT), "command"),
    (lambda r: r.configure_runtime("echo 'open", [], AT), "command"),
    (lambda r: r.configure_runtime(None, ["a\x00"], AT), "args[0]"),
    (lambda r: r.configure_runtime(None, ["a"] * 65, AT), "args"),
    (lambda r: r.configure_network(0, "http", AT), "internalPort"),
    (lambda r: r.configure_network(65536, "http", AT), "internalPort"),
    (lambda r: r.configure_network(80, "quic", AT), "protocol"),
    (lambda r: r.configure_health({"type": "grpc"}, AT), "healthCheck.type"),
    (lambda r: r.configure_health({"path": "healthz"}, AT), "healthCheck.path"),
    (lambda r: r.configure_health({"path": "/a b"}, AT), "healthCheck.path"),
    (lambda r: r.configure_health({"expected_status": 99}, AT), "healthCheck.expected_status"),
    (lambda r: r.configure_health({"retries": 0}, AT), "healthCheck.retries"),
    (lambda r: r.configure_health({"retries": True}, AT), "healthCheck.retries"),
    (lambda r: r.configure_health({"interval_seconds": 3601}, AT),
     "healthCheck.interval_seconds"),
    (lambda r: r.configure_health({"port": 2**63}, AT), "healthCheck.port"),
    (lambda r: r.configure_health({"enabled": 1}, AT), "healthCheck.enabled"),
    (lambda r: r.configure_health({"bogus": 1}, AT), "healthCheck"),
])
def test_out_of_bounds_profiles_are_refused_with_their_field(change: Any, field: str) -> None:
    resource = new_resource()
    with pytest.raises(InvalidValueError) as err:
        change(resource)
    assert err.value.field == field
    assert len(resource.collect_events()) == 1


def test_secrets_are_created_rotated_and_deleted_only_from_the_right_state() -> None:
    resource = new_resource()
    resource.create_secret("DB_PASSWORD", "runtime", "k:one", AT)
    with pytest.raises(SecretExistsError):
        resource.create_secret("DB_PASSWORD", "runtime", "k:two", AT)
    resource.rotate_secret("DB_PASSWORD", "runtime", "k:two", AT)
    assert resource.variable("DB_PASSWORD", "runtime")["sealed"] == "k:two"
    resource.set_variable("PLAIN", "runtime", "v", None, AT)
    refusals: list[Callable[[], None]] = [
        lambda: resource.rotate_secret("PLAIN", "runtime", "k:x", AT),
        lambda: resource.delete_secret("PLAIN", "runtime", AT),
        lambda: resource.rotate_secret("NOPE", "runtime", "k:x", AT)]
    for refused in refusals:
        with pytest.raises(VariableNotFoundError):
            refused()
    resource.delete_secret("DB_PASSWORD", "runtime", AT)
    assert "runtime:DB_PASSWORD" not in resource.variables


def test_the_snapshot_merges_the_environment_and_round_trips_through_the_spec() -> None:
    resource = deployable()
    resource.configure_runtime("httpd -f", ["-p", "8080", "it's two words"], AT)
    resource.configure_network(8080, "tcp", AT)
    resource.set_variable("MODE", "runtime", "resource", None, AT)
    resource.set_variable("MODE", "build-time", "build", None, AT)
    resource.create_secret("TOKEN", "runtime", "k:sealed-token", AT)
    environment = {"runtime:MODE": {"key": "MODE", "exposure": "runtime", "kind": "plain-config",
                                    "is_secret": False, "value": "env", "sealed": None},
                   "runtime:REGION": {"key": "REGION", "exposure": "runtime",
                                      "kind": "plain-config", "is_secret": False,
                                      "value": "eu", "sealed": None}}
    snapshot = resource.snapshot(environment, AT)
    spec = snapshot.as_spec()
    assert ResourceSnapshot.from_spec(spec) == snapshot
    # When it was taken goes with it: a rollback re-running it shows that time, not its own.
    assert ResourceSnapshot.from_spec(spec).as_spec()["resource"]["created_at"] == (
        AT.isoformat())
    assert shlex.split(spec["arguments"]) == ["-p", "8080", "it's two words"]
    assert spec["ports"] == [{"port": 8080, "protocol": "TCP", "name": "8080",
                              "tls_upgrade": False}]
    assert {v["key"]: (v.get("value"), v.get("sealed")) for v in spec["env"]} == {
        "MODE": ("resource", None), "REGION": ("eu", None), "TOKEN": (None, "k:sealed-token")}
    assert "sealed-token" not in str([v.get("value") for v in spec["resource"]["variables"]])
    # Later changes do not reach a snapshot already taken.
    resource.configure_source("busybox:1.37", AT)
    assert ResourceSnapshot.from_spec(spec).image == "docker.io/library/busybox:1.36"


def test_a_resource_without_a_source_is_not_ready_with_its_reason_codes() -> None:
    resource = new_resource()
    resource.configure_health({"enabled": True}, AT)
    with pytest.raises(ResourceNotReadyError) as err:
        resource.snapshot({})
    assert err.value.reasons == ["resource-source-missing", "resource-health-port-missing"]


def test_delete_needs_the_slug_and_no_attempt_in_progress() -> None:
    resource = deployable()
    attempt = uuid4()
    resource.begin_deployment(attempt, "create", AT)
    with pytest.raises(ResourceBusyError) as err:
        resource.delete_confirmed(resource.slug, AT)
    assert err.value.blockers == [attempt]
    with pytest.raises(InvalidValueError) as bad:
        resource.delete_confirmed("other-slug", AT)
    assert bad.value.field == "confirmation.resourceSlug"
    assert resource.settle_deployment(attempt, "failed", AT) is True
    resource.delete_confirmed(resource.slug, AT)
    with pytest.raises(ResourceGoneError):
        resource.configure_source("busybox", AT)


class ResourceMachine(RuleBasedStateMachine):
    """Random attempts, configuration, archive and delete against a plain model."""

    @initialize()
    def create(self) -> None:
        self.resource = deployable()
        self.events = list(self.resource.collect_events())
        self.active: UUID | None = None
        self.healthy: list[UUID] = []
        self.archived = self.deleted = False
        self.count = 0
        self.automatic = False
        self.trigger: str | None = None
        self.due: tuple[UUID, UUID] | None = None  # (failed, candidate)

    def _record(self) -> None:
        self.events += self.resource.collect_events()

    @rule(trigger=st.sampled_from(["create", "redeploy", "retry", "rollback", "bogus"]))
    def begin(self, trigger: str) -> None:
        attempt = uuid4()
        try:
            self.resource.begin_deployment(attempt, trigger, AT)
        except ResourceGoneError:
            assert self.deleted
        except ResourceArchivedError:
            assert self.archived and not self.deleted
        except InvalidValueError:
            assert trigger == "bogus"
        except ResourceBusyError as exc:
            assert self.active is not None and exc.blockers == [self.active]
        else:
            assert not (self.deleted or self.archived) and self.active is None
            self.active, self.count, self.trigger = attempt, self.count + 1, trigger
            self.due = None
        self._record()

    @precondition(lambda self: self.active is not None)
    @rule(outcome=st.sampled_from(OUTCOMES))
    def settle(self, outcome: str) -> None:
        assert self.active is not None
        assert self.resource.settle_deployment(self.active, outcome, AT) is True
        # Due only after a failure that was no rollback, with a healthy attempt to go back to.
        self.due = (self.active, self.healthy[-1]) if (
            outcome == "failed" and self.automatic and self.trigger != "rollback"
            and self.healthy) else None
        if outcome in ("succeeded", "rolled-back"):
            self.healthy = [*self.healthy, self.active][-MAX_GOOD:]
        self.active = None
        self._record()

    @rule(outcome=st.sampled_from(OUTCOMES))
    def settle_a_stranger(self, outcome: str) -> None:
        assert self.resource.settle_deployment(uuid4(), outcome, AT) is False
        assert not self.resource.collect_events()

    @rule(port=st.integers(0, 70000))
    def configure(self, port: int) -> None:
        try:
            self.resource.configure_network(port, "http", AT)
        except ResourceGoneError:
            assert self.deleted
        except ResourceArchivedError:
            assert self.archived
        except InvalidValueError:
            assert not 1 <= port <= 65535
        self._record()

    @rule()
    def archive(self) -> None:
        try:
            self.resource.archive(AT)
        except ResourceGoneError:
            assert self.deleted
        except ResourceBusyError:
            assert self.active is not None and not self.archived
        else:
            self.archived = True
        self._record()

    @rule()
    def delete(self) -> None:
        try:
            self.resource.delete_confirmed(self.resource.slug, AT)
        except ResourceGoneError:
            assert self.deleted
        except ResourceBusyError:
            assert self.active is not None
        else:
            assert self.active is None
            self.deleted = True
        self._record()

    @rule(automatic=st.booleans())
    def configure_rollback(self, automatic: bool) -> None:
        try:
            self.resource.configure_rollback(automatic, AT)
        except ResourceGoneError:
            assert self.deleted
        except ResourceArchivedError:
            assert self.archived
        else:
            self.automatic = automatic
        self._record()

    @rule(begun=st.booleans())
    def decide_automatic_rollback(self, begun: bool) -> None:
        failed = self.due[0] if self.due else uuid4()
        assert self.resource.rollback_due_after(failed) == (
            None if self.due is None or self.deleted else self.due[1])
        attempt = uuid4() if begun else None
        try:
            self.resource.decide_automatic_rollback(failed, attempt, None if begun else "no",
                                                    AT)
        except StateConflictError:
            assert self.due is None or self.deleted
        except ResourceArchivedError:  # nothing recorded: the caller decides it refused
            assert self.archived and begun
        else:
            assert self.due is not None
            self.due = None
            if attempt is not None:
                self.active, self.count, self.trigger = attempt, self.count + 1, "rollback"
        self._record()

    @rule()
    def rollback_to_a_candidate(self) -> None:
        for candidate in self.healthy:
            self.resource.check_rollback_candidate(candidate)
        with pytest.raises(InvalidValueError):
            self.resource.check_rollback_candidate(uuid4())

    @invariant()
    def matches_the_model_and_replays(self) -> None:
        resource = self.resource
        assert resource.active_deployment == self.active
        assert resource.healthy_deployments == self.healthy
        assert resource.serving_deployment == (self.healthy[-1] if self.healthy else None)
        assert resource.deployment_count == self.count
        assert resource.rollback_due == self.due
        assert resource.automatic_rollback == self.automatic
        assert replayed(self.events).__dict__ == resource.__dict__


ResourceMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30,
                                             deadline=None)
test_resource_attempts_follow_the_rules = ResourceMachine.TestCase


@given(name=st.text(min_size=1, max_size=100))
def test_any_accepted_name_has_a_dns_label_slug(name: str) -> None:
    try:
        resource = Resource.create(uuid4(), uuid4(), uuid4(), name, AT)
    except InvalidValueError:
        return
    assert 1 <= len(resource.slug) <= 63
    assert resource.slug == resource.slug.strip("-")
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in resource.slug)
