"""The agent's identity on disk: derived node ids, 0600 files, atomic replacement."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.agent.identity import (
    IDENTITY_FILE,
    NODE_ID_NAMESPACE,
    Identity,
    IdentityError,
    IdentityStore,
    default_state_dir,
    node_id_for_machine,
    persistent_identity,
    random_identity,
    read_machine_id,
    write_private,
)

MACHINE_A = "3d1219c7c4c5404aaa1f6d2a48adfda4"
MACHINE_B = "0b7d9e3f2a6c4e1d8f5a3c2b1e0d9f8a"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> IdentityStore:
    store = IdentityStore(tmp_path / "state" / "edge-agent")
    store.prepare()
    return store


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would make every new file world-readable."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_prepare_creates_a_private_state_directory(tmp_path: Path, open_umask: None) -> None:
    store = IdentityStore(tmp_path / "a" / "b")
    store.prepare()
    assert store.state_dir.is_dir()
    assert mode(store.state_dir) == 0o700


def test_prepare_fails_clearly_when_the_state_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory")
    with pytest.raises(IdentityError, match="cannot create state directory"):
        IdentityStore(tmp_path / "taken").prepare()


def test_persistent_node_id_is_uuid5_of_the_machine_id(store: IdentityStore) -> None:
    identity = persistent_identity(store, MACHINE_A)
    assert identity == Identity("persistent", uuid.uuid5(NODE_ID_NAMESPACE, MACHINE_A), None)
    assert identity.node_id == node_id_for_machine(MACHINE_A)
    assert identity.node_id != node_id_for_machine(MACHINE_B)
    assert store.load() == identity  # written down even before enrollment


def test_token_survives_a_restart(store: IdentityStore) -> None:
    node_id = node_id_for_machine(MACHINE_A)
    store.save(Identity("persistent", node_id, "token-1"))
    again = persistent_identity(IdentityStore(store.state_dir), MACHINE_A)
    assert again == Identity("persistent", node_id, "token-1")


def test_identity_file_is_0600_whatever_the_umask(store: IdentityStore, open_umask: None) -> None:
    store.save(Identity("persistent", uuid.uuid4(), "secret-token"))
    assert mode(store.path) == 0o600


def test_a_loose_existing_file_is_replaced_by_a_0600_one(store: IdentityStore) -> None:
    store.path.write_text(f'{{"node_id": "{uuid.uuid4()}"}}')
    store.path.chmod(0o644)
    store.save(Identity("persistent", uuid.uuid4(), "secret-token"))
    assert mode(store.path) == 0o600


def test_save_replaces_the_file_by_rename_never_in_place(store: IdentityStore) -> None:
    first = Identity("persistent", uuid.uuid4(), "token-1")
    store.save(first)
    old_inode = store.path.stat().st_ino
    with open(store.path, "rb") as reader:  # a reader mid-way through the old file
        store.save(Identity("persistent", first.node_id, "token-2"))
        assert b"token-1" in reader.read()  # it still sees the whole old file
    assert store.path.stat().st_ino != old_inode
    assert store.load() == Identity("persistent", first.node_id, "token-2")
    assert sorted(p.name for p in store.state_dir.iterdir()) == [IDENTITY_FILE]  # no temp files


def test_a_failed_write_leaves_no_temp_file_behind(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()  # rename onto a directory fails after the temp file was written
    with pytest.raises(OSError):
        write_private(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_an_unwritable_identity_is_an_identity_error(store: IdentityStore) -> None:
    store.path.mkdir()
    with pytest.raises(IdentityError, match="cannot write"):
        store.save(Identity("persistent", uuid.uuid4(), "t"))


def test_random_identities_are_never_stored(store: IdentityStore) -> None:
    identity = random_identity()
    assert identity == Identity("random", None, None)
    with pytest.raises(ValueError, match="only a persistent identity"):
        store.save(Identity("random", uuid.uuid4(), "t"))
    assert not store.path.exists()


def test_without_machine_id_a_random_id_is_generated_once(store: IdentityStore) -> None:
    first = persistent_identity(store, None)
    assert first.node_id is not None and first.node_id.version == 4
    assert persistent_identity(IdentityStore(store.state_dir), None) == first


def test_identity_from_another_machine_keeps_no_token(store: IdentityStore) -> None:
    store.save(Identity("persistent", node_id_for_machine(MACHINE_A), "token-of-a"))
    identity = persistent_identity(store, MACHINE_B)
    assert identity == Identity("persistent", node_id_for_machine(MACHINE_B), None)
    assert store.load() == identity


def test_an_unreadable_file_only_costs_the_token(store: IdentityStore) -> None:
    store.path.write_text("{half a fi")
    assert store.load() is None
    identity = persistent_identity(store, MACHINE_A)
    assert identity == Identity("persistent", node_id_for_machine(MACHINE_A), None)
    assert store.load() == identity


@pytest.mark.parametrize(
    ("override", "content", "expected"),
    [
        ("test-machine", MACHINE_A, "test-machine"),
        (None, f"{MACHINE_A}\n", MACHINE_A),
        ("  ", f"{MACHINE_A}\n", MACHINE_A),
        (None, "uninitialized\n", None),  # systemd's placeholder during first boot
        (None, "", None),
        (None, None, None),  # no file at all
    ],
)
def test_read_machine_id(
    tmp_path: Path, override: str | None, content: str | None, expected: str | None
) -> None:
    path = tmp_path / "machine-id"
    if content is not None:
        path.write_text(content)
    assert read_machine_id(override, path) == expected


def test_default_state_dir_follows_xdg(tmp_path: Path) -> None:
    assert default_state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "edge-agent"
    home_default = Path.home() / ".local" / "state" / "edge-agent"
    assert default_state_dir({}) == home_default
    assert default_state_dir({"XDG_STATE_HOME": "relative/dir"}) == home_default
