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
    """Steps move time forward; each either records a failure or asks whether one is blocked."""
    node = uuid4()
    failures = FailureWindow(limit, timedelta(seconds=window))
    model: dict[str, list[datetime]] = {"a": [], "b": []}
    now = T0
    for advance, user, fail in steps:
        now += timedelta(seconds=advance)
        if fail:
            failures.failed(node, user, now)
            model[user].append(now)
        else:
            recent = [t for t in model[user] if t > now - timedelta(seconds=window)]
            assert failures.blocked(node, user, now) == (len(recent) >= limit)


def test_failure_window_forgets_the_least_recent_pairs_beyond_its_bound() -> None:
    failures = FailureWindow(1, timedelta(hours=1), max_keys=2)
    node = uuid4()
    for user in ("a", "b", "c"):
        failures.failed(node, user, T0)
    assert not failures.blocked(node, "a", T0)
    assert failures.blocked(node, "b", T0) and failures.blocked(node, "c", T0)


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
