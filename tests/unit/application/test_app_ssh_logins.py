"""The login-failure window against a model, and the services on the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncssh
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.argon2_hasher import Argon2Hasher
from application import agent_protocol
from application.agent_protocol import CheckSshLogin
from application.errors import NotFoundError
from application.ssh_access import CreateSshUsername, SshPublicKeyItem
from application.ssh_logins import FailureWindow
from domain.ssh_key import MAX_KEY_TEXT
from entrypoints.bootstrap import Services
from tests.unit.application.test_app_aliases import node_in

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["a", "b"]), st.booleans()),
                max_size=60),
       st.integers(1, 5), st.integers(1, 20))
def test_failure_window_matches_a_model(
    steps: list[tuple[int, str, bool]], limit: int, window: int
) -> None:
    """Steps move time forward; each is an attempt, allowed while fewer than `limit` failures
    lie in the window, that then fails or succeeds."""
    node = uuid4()
    failures = FailureWindow(limit, timedelta(seconds=window))
    model: dict[str, list[datetime]] = {"a": [], "b": []}
    now = T0
    for advance, user, fail in steps:
        now += timedelta(seconds=advance)
        recent = [t for t in model[user] if t > now - timedelta(seconds=window)]
        allowed = failures.begin(node, user, now)
        assert allowed == (len(recent) < limit)
        if allowed and fail:
            model[user].append(now)
        elif allowed:
            failures.succeeded(node, user, now)


def test_concurrent_attempts_cannot_outrun_the_limit() -> None:
    # Each is allowed before any has been checked: only `limit` of them may be.
    failures, node = FailureWindow(5, timedelta(minutes=1)), uuid4()
    assert [failures.begin(node, "racer", T0) for _ in range(8)] == [True] * 5 + [False] * 3
    failures.succeeded(node, "racer", T0)  # one of them was the right password
    assert failures.begin(node, "racer", T0) and not failures.begin(node, "racer", T0)


def test_failure_window_forgets_the_least_recent_pairs_beyond_its_bound() -> None:
    failures = FailureWindow(1, timedelta(hours=1), max_keys=2)
    node = uuid4()
    for user in ("a", "b", "c"):
        assert failures.begin(node, user, T0)
    assert not failures.begin(node, "b", T0) and not failures.begin(node, "c", T0)
    assert failures.begin(node, "a", T0)  # forgotten


def test_the_wire_accepts_exactly_the_keys_the_domain_stores() -> None:
    # The protocol module imports nothing of ours, so it states the domain's limit again.
    assert agent_protocol.MAX_KEY_TEXT == MAX_KEY_TEXT


def test_argon2id_hashes_use_owasp_parameters_and_verify() -> None:
    hasher = Argon2Hasher()
    hashed = hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(hashed, "correct horse battery")
    assert not hasher.verify(hashed, "correct horse batterY")
    assert not hasher.verify("not a hash", "correct horse battery")


def test_services_create_check_and_revoke(memory_services: Services) -> None:
    node_id = node_in(memory_services, "prod")
    generated = asyncssh.generate_private_key("ssh-ed25519")
    line = generated.export_public_key().decode().strip()
    item = SshPublicKeyItem(key_name="k", public_key=line)
    owner = memory_services.ssh_access.create_username(
        node_id, CreateSshUsername(username="deploy", password="x" * 12, public_keys=[item]))
    row = memory_services.view.get("ssh_usernames", owner)
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    logins = memory_services.ssh_logins
    by_key = CheckSshLogin(username="deploy", method="publickey", public_key=line)
    assert logins.verify(node_id, by_key).allowed
    [key_row] = memory_services.view.select("ssh_public_keys", {"ssh_username_id": owner})
    memory_services.ssh_access.delete_key(key_row["id"])
    assert logins.verify(node_id, by_key).reason == "unknown_key"
    with pytest.raises(NotFoundError):
        memory_services.ssh_access.delete_key(key_row["id"])
    memory_services.nodes.delete(node_id)
    assert memory_services.view.get("ssh_usernames", owner) is None
