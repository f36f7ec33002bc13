"""The node ids a `random` agent has held, so that its next start can clean up after it.

A random agent is a new node at every start. The containers an earlier run made carry a node id
nobody will ever speak for again (the admin may have deleted that node meanwhile), so no agent
would stop them: they would run for good. Each run that hosts containers keeps one empty file per
node id it holds, `<state-dir>/random-nodes/<node id>`, locked (flock) while it runs. A file
nobody holds is a run that ended, however it ended (the kernel drops the lock of a killed
process): the next start takes it over, stops and removes that node's containers, then deletes
it. Random agents sharing one state dir leave each other alone, since a live run's files are
locked. The lock of the run's own node survives the self-update's re-exec (inherited), which
keeps the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import aiodocker

from entrypoints.agent.container_runtime import stop_container
from entrypoints.agent.containers import LABEL, NODE_LABEL
from entrypoints.agent.identity import Identity, IdentityError

log = logging.getLogger(__name__)
FOLDER = "random-nodes"


class FormerNodes:
    """The files of this run's node ids (held) and of ended runs' (claimed, then forgotten)."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / FOLDER
        self._locks: dict[uuid.UUID, int] = {}

    def prepare(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentityError(f"cannot create {self.folder}: {exc}") from exc

    def save(self, identity: Identity) -> None:
        """What the session calls with the identity it enrolled (as IdentityStore.save)."""
        if identity.node_id is not None:
            self.hold(identity.node_id)

    def hold(self, node_id: uuid.UUID) -> None:
        """Records `node_id` as this run's. A file already locked is this node's own, locked by
        this process before its self-update's re-exec."""
        if node_id in self._locks:
            return
        try:
            fd = os.open(self.folder / str(node_id), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error("cannot record node %s in %s (%s); a restart will not remove its "
                      "containers", node_id, self.folder, exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return
        os.set_inheritable(fd, True)  # kept by the process a self-update re-executes
        self._locks[node_id] = fd

    def claim(self) -> set[uuid.UUID]:
        """The node ids of runs that ended, locked now by this one until `forget`."""
        try:
            paths = list(self.folder.iterdir())
        except OSError as exc:
            log.warning("cannot read %s (%s); earlier runs' containers stay", self.folder, exc)
            return set()
        found = set()
        for path in paths:
            try:
                node_id = uuid.UUID(path.name)
            except ValueError:
                continue
            if node_id not in self._locks and self._lock(path):
                found.add(node_id)
        return found

    def _lock(self, path: Path) -> bool:
        node_id = uuid.UUID(path.name)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:  # another start took it over and deleted it
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink == 0:  # deleted by the start that held it meanwhile
                raise BlockingIOError
        except BlockingIOError:
            os.close(fd)
            return False
        self._locks[node_id] = fd
        return True

    def forget(self, node_id: uuid.UUID) -> None:
        """A claimed node whose containers are all gone: nothing is left to clean up."""
        fd = self._locks.pop(node_id, None)
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(node_id)).unlink()
        if fd is not None:
            os.close(fd)


async def remove_containers(docker: aiodocker.Docker, nodes: set[uuid.UUID]) -> set[uuid.UUID]:
    """Stops and removes every deployment container made for one of `nodes`; returns the ones
    left with none (a container the engine would not remove keeps its node's file)."""
    wanted = {str(node_id) for node_id in nodes}
    found = await docker.containers.list(all=True, filters={"label": [LABEL]})
    theirs = [c for c in found if (c._container.get("Labels") or {}).get(NODE_LABEL) in wanted]
    kept = await asyncio.gather(*(_remove(container) for container in theirs))
    return nodes - {uuid.UUID(made_for) for made_for in kept if made_for is not None}


async def _remove(container: Any) -> str | None:
    """None once removed, else the node id it was made for."""
    labels = container._container.get("Labels") or {}
    request_id, node_id = labels.get(LABEL, ""), labels[NODE_LABEL]
    log.warning("removing the container of deployment %s: it was made for node %s, an "
                "earlier run of this random agent, which nobody speaks for any more",
                request_id, node_id)
    await stop_container(container, request_id)
    try:
        await container.delete(force=True)
    except aiodocker.DockerError as exc:
        if exc.status == 404:  # gone meanwhile
            return None
        log.warning("could not remove the container of %s: %s", request_id, exc.message)
        return str(node_id)
    return None
