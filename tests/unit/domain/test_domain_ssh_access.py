"""SshUsername, SshPublicKey and the node's username registry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import uuid4

import asyncssh
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.node import IdType, Node
from domain.shared import InvalidValueError, StateConflictError
from domain.ssh_access import (
    SshPublicKey,
    SshPublicKeyGoneError,
    SshUsername,
    SshUsernameGoneError,
    check_password,
    check_username,
)
from domain.ssh_key import SshKey, parse_public_key

AT = datetime(2026, 1, 1, tzinfo=UTC)
SEED_PATTERN = re.compile(r"^[a-z_][a-z0-9_-]*$")


def key() -> SshKey:
    generated = asyncssh.generate_private_key("ssh-ed25519")
    return parse_public_key(generated.export_public_key().decode())


def owner() -> SshUsername:
    return SshUsername.create(uuid4(), uuid4(), "deploy", None, AT)


@given(st.text(alphabet="abcXYZ_-09 .é", max_size=40))
def test_usernames_follow_the_seed_rule(username: str) -> None:
    valid = 3 <= len(username) <= 32 and SEED_PATTERN.fullmatch(username) is not None
    if valid:
        check_username(username)
    else:
        with pytest.raises(InvalidValueError) as raised:
            check_username(username)
        assert raised.value.field == "username"


@given(st.text(max_size=140))
def test_passwords_are_12_to_128_characters(password: str) -> None:
    if 12 <= len(password) <= 128:
        check_password(password)
    else:
        with pytest.raises(InvalidValueError):
            check_password(password)


def test_a_key_or_a_key_name_appears_once_per_username() -> None:
    user, laptop = owner(), key()
    first = SshPublicKey.create(uuid4(), user, "laptop", laptop, AT)
    user.attach_key(first.id, "laptop", laptop)
    with pytest.raises(StateConflictError) as same_key:
        user.attach_key(uuid4(), "other-name", laptop)
    assert same_key.value.field == "public_key"
    with pytest.raises(StateConflictError) as same_name:
        user.attach_key(uuid4(), "laptop", key(), "public_keys[1].")
    assert same_name.value.field == "public_keys[1].key_name"
    user.detach_key(first.id)
    user.attach_key(uuid4(), "laptop", laptop)  # free again once detached


def test_keys_copy_their_owner_and_deleted_things_stay_deleted() -> None:
    user = owner()
    created = SshPublicKey.create(uuid4(), user, "ci", key(), AT)
    assert (created.ssh_username_id, created.node_id, created.username) == (
        user.id, user.node_id, "deploy")
    created.delete(AT)
    with pytest.raises(SshPublicKeyGoneError):
        created.delete(AT)
    user.delete(AT)
    with pytest.raises(SshUsernameGoneError):
        user.attach_key(uuid4(), "x", key())


def test_a_node_holds_each_username_once_and_forgets_it_on_detach() -> None:
    node = Node.register(uuid4(), uuid4(), "prod", IdType.RANDOM, "1.0", False, {},
                         ("token", "password"), uuid4(), AT)
    first = uuid4()
    node.attach_ssh_username(first, "deploy")
    with pytest.raises(StateConflictError, match="already exists"):
        node.attach_ssh_username(uuid4(), "deploy")
    node.attach_ssh_username(uuid4(), "admin")
    node.detach_ssh_username(first)
    node.attach_ssh_username(uuid4(), "deploy")
    replayed = None
    for event in node.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Node)
    assert sorted(replayed.ssh_usernames.values()) == ["admin", "deploy"]
