"""Who the agent speaks for: a node id (persistent or random) and the admin's api_token for it.

A persistent node id is derived from the machine id, so reinstalling the agent (or losing its
state directory) brings back the same node. The token sits beside it in
`<state-dir>/identity.json`, readable only by this user and always replaced atomically, so a
crash mid-write leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from entrypoints.agent.disk import full_disk, is_full

log = logging.getLogger(__name__)

IdType = Literal["persistent", "random"]
MACHINE_ID_PATH = Path("/etc/machine-id")
MACHINE_ID_ENV = "EDGE_AGENT_MACHINE_ID"
IDENTITY_FILE = "identity.json"
# uuid5 under our own namespace: the node id never reveals the machine id itself (machine-id(5)
# asks applications to use an application-specific hash of it rather than the raw value).
NODE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edge-control-plane:agent:machine-id")


class IdentityError(Exception):
    """The state directory cannot be read or written; the agent cannot keep its identity."""


class StateDiskFull(IdentityError):
    """The state directory's disk has no room: nothing an operator set is wrong, but the agent
    cannot keep its identity until someone makes room."""


@dataclass(frozen=True)
class Identity:
    """The node this agent speaks for; `node_id` is None until a random agent has enrolled."""

    id_type: IdType
    node_id: uuid.UUID | None = None
    api_token: str | None = None


class _Stored(msgspec.Struct):
    node_id: uuid.UUID
    api_token: str | None = None


def default_state_dir(env: Mapping[str, str]) -> Path:
    """`$XDG_STATE_HOME/edge-agent`, else `~/.local/state/edge-agent` (XDG base directories)."""
    base = env.get("XDG_STATE_HOME", "")
    # The XDG spec says relative paths are invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "edge-agent"


def read_machine_id(override: str | None = None, path: Path = MACHINE_ID_PATH) -> str | None:
    """The override (tests, cloned images), else the machine id file; None if there is none."""
    if override is not None and override.strip():
        return override.strip()
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s (%s); using a stored or generated node id", path, exc)
        return None
    # systemd writes "uninitialized" while the id is not yet committed during first boot.
    return text if text and text != "uninitialized" else None


def node_id_for_machine(machine_id: str) -> uuid.UUID:
    return uuid.uuid5(NODE_ID_NAMESPACE, machine_id)


def write_private(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` atomically (temp file + rename), mode 0600 whatever the umask."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class IdentityStore:
    """Keeps a persistent agent's node id and api_token in `<state-dir>/identity.json`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / IDENTITY_FILE

    def prepare(self) -> None:
        """Creates the state directory (0700) and checks it is writable, before any enrollment."""
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            if is_full(exc):
                raise StateDiskFull(full_disk(self.state_dir, exc)) from exc
            raise IdentityError(f"cannot create state directory {self.state_dir}: {exc}") from exc
        if not os.access(self.state_dir, os.W_OK | os.X_OK):
            raise IdentityError(f"state directory {self.state_dir} is not writable")

    def load(self) -> Identity | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IdentityError(f"cannot read {self.path}: {exc}") from exc
        try:
            stored = msgspec.json.decode(raw, type=_Stored)
        except msgspec.DecodeError as exc:
            # Only the token is lost: the node id comes back from the machine id, and the
            # enrollment key gets a new token for it.
            log.warning("ignoring unreadable %s (%s)", self.path, exc)
            return None
        return Identity("persistent", stored.node_id, stored.api_token)

    def save(self, identity: Identity) -> None:
        if identity.id_type != "persistent" or identity.node_id is None:
            raise ValueError("only a persistent identity with a node id is stored")
        body = msgspec.json.encode(_Stored(identity.node_id, identity.api_token)) + b"\n"
        try:
            write_private(self.path, body)
        except OSError as exc:
            if is_full(exc):
                raise StateDiskFull(full_disk(self.path, exc)) from exc
            raise IdentityError(f"cannot write {self.path}: {exc}") from exc


def persistent_identity(store: IdentityStore, machine_id: str | None) -> Identity:
    """The stored identity if it belongs to this machine, else a fresh one (saved, no token)."""
    stored = store.load()
    if machine_id is None:
        if stored is not None:
            return stored
        # No machine id: a random id, generated once and kept, stands in for it.
        fresh = Identity("persistent", uuid.uuid4())
    else:
        node_id = node_id_for_machine(machine_id)
        if stored is not None and stored.node_id == node_id:
            return stored
        if stored is not None:
            # A state directory copied from another machine (cloned image): its token belongs
            # to that machine's node, not to this one.
            log.warning("%s is for node %s but this machine is node %s; not using its token",
                        store.path, stored.node_id, node_id)
        fresh = Identity("persistent", node_id)
    store.save(fresh)
    return fresh


def random_identity() -> Identity:
    """A new node on every start; the admin picks the id and nothing is written to disk."""
    return Identity("random")
