"""EnrollmentKeys service: issue (cluster, default, public), update, delete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from application.errors import ForbiddenError, NotFoundError
from domain.enrollment_key import EnrollmentKey, decode_blob
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings
from tests.fakes import FixedClock


def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@contextmanager
def started(clock: FixedClock, **overrides: object) -> Iterator[Services]:
    services = build_services(make_settings("memory://", **overrides), clock=clock)
    services.start()
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def services(clock: FixedClock) -> Iterator[Services]:
    with started(clock) as services:
        yield services

@pytest.fixture
def prod(services: Services) -> str:
    services.clusters.create(CreateCluster(name="prod"))
    return "prod"


def test_issue_defaults_to_one_use_and_no_expiry(services: Services, prod: str) -> None:
    key_id = services.enrollment_keys.issue(prod, IssueEnrollmentKey())
    row = must_get(services, "enrollment_keys", key_id)
    assert (row["uses_remaining"], row["expired_at"], row["name"], row["cluster_name"]) == (
        1, None, None, "prod"
    )
    server, token = decode_blob(row["key"])
    assert server == services.settings.advertised_url
    assert EnrollmentKey.id_for(token) == key_id


def test_issue_with_null_uses_is_unlimited_and_keeps_expiry(
    services: Services, prod: str, clock: FixedClock
) -> None:
    expiry = clock.now() + timedelta(days=30)
    cmd = IssueEnrollmentKey(name="rollout", uses_remaining=None, expired_at=expiry)
    row = must_get(services, "enrollment_keys", services.enrollment_keys.issue(prod, cmd))
    assert (row["uses_remaining"], row["expired_at"], row["name"]) == (None, expiry, "rollout")


def test_every_issue_gets_a_new_secret(services: Services, prod: str) -> None:
    ids = {services.enrollment_keys.issue(prod, IssueEnrollmentKey()) for _ in range(5)}
    assert len(ids) == 5


def test_issue_for_unknown_cluster_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.enrollment_keys.issue("nope", IssueEnrollmentKey())


@pytest.mark.parametrize("days", [0, -1])
def test_issue_refuses_past_expiry(services: Services, prod: str, clock: FixedClock,
                                   days: int) -> None:
    cmd = IssueEnrollmentKey(expired_at=clock.now() + timedelta(days=days))
    with pytest.raises(InvalidValueError):
        services.enrollment_keys.issue(prod, cmd)


def test_issue_refuses_zero_uses(services: Services, prod: str) -> None:
    with pytest.raises(InvalidValueError):
        services.enrollment_keys.issue(prod, IssueEnrollmentKey(uses_remaining=0))
    assert services.view.select("enrollment_keys", {}) == []


def test_default_and_public_keys_are_forbidden_without_configuration(services: Services) -> None:
    with pytest.raises(ForbiddenError):
        services.enrollment_keys.issue_for_default(IssueEnrollmentKey())
    with pytest.raises(ForbiddenError):
        services.enrollment_keys.issue_public()


def test_public_keys_need_the_flag_as_well(clock: FixedClock) -> None:
    with started(clock, default_cluster_name="edge") as services:
        key_id = services.enrollment_keys.issue_for_default(IssueEnrollmentKey(uses_remaining=3))
        assert must_get(services, "enrollment_keys", key_id)["cluster_name"] == "edge"
        with pytest.raises(ForbiddenError):
            services.enrollment_keys.issue_public()


def test_public_key_is_single_use_and_unlabelled(clock: FixedClock) -> None:
    settings = {"default_cluster_name": "edge", "public_enrollment_key_enabled": True}
    with started(clock, **settings) as services:
        row = must_get(services, "enrollment_keys", services.enrollment_keys.issue_public())
        assert (row["cluster_name"], row["uses_remaining"], row["name"]) == ("edge", 1, None)
        services.clusters.delete("edge")
        with pytest.raises(NotFoundError):
            services.enrollment_keys.issue_public()


def test_update_changes_only_sent_fields(services: Services, prod: str, clock: FixedClock) -> None:
    expiry = clock.now() + timedelta(days=1)
    key_id = services.enrollment_keys.issue(
        prod, IssueEnrollmentKey(name="a", uses_remaining=2, expired_at=expiry)
    )
    services.enrollment_keys.update(key_id, UpdateEnrollmentKey(uses_remaining=9))
    row = must_get(services, "enrollment_keys", key_id)
    assert (row["name"], row["uses_remaining"], row["expired_at"]) == ("a", 9, expiry)
    services.enrollment_keys.update(key_id, UpdateEnrollmentKey(name=None, expired_at=None))
    row = must_get(services, "enrollment_keys", key_id)
    assert (row["name"], row["uses_remaining"], row["expired_at"]) == (None, 9, None)
    assert services.enrollment_keys.update(key_id, UpdateEnrollmentKey()) == key_id


@pytest.mark.parametrize(
    "cmd", [UpdateEnrollmentKey(uses_remaining=0), UpdateEnrollmentKey(uses_remaining=-5)]
)
def test_update_refuses_bad_values(services: Services, prod: str,
                                   cmd: UpdateEnrollmentKey) -> None:
    key_id = services.enrollment_keys.issue(prod, IssueEnrollmentKey())
    with pytest.raises(InvalidValueError):
        services.enrollment_keys.update(key_id, cmd)


def test_update_refuses_past_expiry(services: Services, prod: str, clock: FixedClock) -> None:
    key_id = services.enrollment_keys.issue(prod, IssueEnrollmentKey())
    past = UpdateEnrollmentKey(expired_at=clock.now() - timedelta(seconds=1))
    with pytest.raises(InvalidValueError):
        services.enrollment_keys.update(key_id, past)


def test_delete_removes_the_key(services: Services, prod: str) -> None:
    key_id = services.enrollment_keys.issue(prod, IssueEnrollmentKey())
    services.enrollment_keys.delete(key_id)
    assert services.view.get("enrollment_keys", key_id) is None
    with pytest.raises(NotFoundError):
        services.enrollment_keys.delete(key_id)
    with pytest.raises(NotFoundError):
        services.enrollment_keys.update(key_id, UpdateEnrollmentKey(name="x"))


def test_unknown_key_is_not_found(services: Services) -> None:
    with pytest.raises(NotFoundError):
        services.enrollment_keys.update(uuid4(), UpdateEnrollmentKey(name="x"))
    with pytest.raises(NotFoundError):
        services.enrollment_keys.delete(uuid4())


def test_keys_go_with_their_cluster(services: Services, prod: str) -> None:
    key_id = services.enrollment_keys.issue(prod, IssueEnrollmentKey())
    services.clusters.delete(prod)
    assert services.view.get("enrollment_keys", key_id) is None
    # Write side agrees with the read side: the key is gone, not merely unlisted.
    with pytest.raises(NotFoundError):
        services.enrollment_keys.update(key_id, UpdateEnrollmentKey(name="x"))
    with pytest.raises(NotFoundError):
        services.enrollment_keys.delete(key_id)
