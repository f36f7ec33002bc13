"""The nodes a `random` agent has held, so that it can clean up after them.

A random agent is a new node at every start, and again within a run when the admin refuses its
token (node deleted). The containers made for a node it no longer speaks for carry a node id
nobody will ever speak for again, so no agent would stop them: they would run for good; and a
command such a node was running when the agent died would never be reported (the admin ends it
`expired`), while what the command left behind ran on. So a random agent that keeps records (it
runs containers, or was given --state-dir) keeps one file per node id it holds,
`<state-dir>/random-nodes/<node id>`, locked (flock) while it runs and holding the node's
api_token (0600, as a persistent agent's identity.json), and the node's execution journal in
`<state-dir>/random-nodes/<node id>.executions/`. A file nobody holds is a run that ended,
however it ended (the kernel drops the lock of a killed process): the next start takes it over,
reports the node's interrupted commands with its token (killing what is left of them) and the
results it still owed, stops and removes its containers, then deletes its journal and file. The
file of a node this run leaves (it enrolled again) goes once its commands here have ended and
its containers are gone (the agent stops them on the admin's word, as any it holds for another
node). A start without a container engine leaves the file of a run that had one to a start
with one. Random agents sharing one state dir leave each other alone, since a live run's files
are locked. The lock of the run's own node survives the self-update's re-exec (inherited), which
keeps the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import aiodocker
import msgspec

from entrypoints.agent.api import AdminError, AgentApi, Unreachable
from entrypoints.agent.container_runtime import stop_container
from entrypoints.agent.containers import ENGINE_GLITCHES, LABEL, NODE_LABEL
from entrypoints.agent.identity import Identity, IdentityError
from entrypoints.agent.journal import Journal, Result
from entrypoints.agent.session import retry_delay
from entrypoints.agent.work import interrupted

log = logging.getLogger(__name__)
FOLDER = "random-nodes"
JOURNAL_SUFFIX = ".executions"
# How often a node this run left is looked at until its commands and containers have ended.
LEFT_NODE_LOOK = 1.0


class _Record(msgspec.Struct):
    api_token: str | None = None
    # Whether the run that held it ran containers (unknown, as in the empty records of the
    # release before tokens: assume so).
    containers: bool = True


class FormerNodes:
    """The files of this run's node ids (held) and of ended runs' (claimed, then forgotten)."""

    def __init__(self, state_dir: Path, containers: bool = True) -> None:
        self.folder = state_dir / FOLDER
        self.containers = containers  # this run's: it has a container engine
        self._locks: dict[uuid.UUID, int] = {}
        self.current: uuid.UUID | None = None
        # Nodes this run held and left (it enrolled again), for `clear_former_nodes`.
        self.left: asyncio.Queue[uuid.UUID] = asyncio.Queue()

    def prepare(self) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentityError(f"cannot create {self.folder}: {exc}") from exc

    def journal(self, node_id: uuid.UUID) -> Journal:
        return Journal(self.folder / f"{node_id}{JOURNAL_SUFFIX}")

    def save(self, identity: Identity) -> None:
        """What the session calls with the identity it enrolled, or whose token the admin
        refused (as IdentityStore.save). The node held before a new one is one this run left."""
        if identity.node_id is None:
            return
        if identity.node_id != self.current:
            if self.current is not None:
                self.left.put_nowait(self.current)
            self.hold(identity.node_id)
        fd = self._locks.get(identity.node_id)
        if fd is None:
            return
        record = msgspec.json.encode(_Record(identity.api_token, self.containers))
        try:  # in place: a new file (written, then renamed) would not be the locked one
            os.pwrite(fd, record, 0)
            os.ftruncate(fd, len(record))
            os.fsync(fd)
        except OSError as exc:
            log.error("cannot record the token of node %s (%s); a restart will not report its "
                      "interrupted commands", identity.node_id, exc)

    def hold(self, node_id: uuid.UUID) -> None:
        """Records `node_id` as this run's node. A file already locked is this node's own,
        locked by this process before its self-update's re-exec (its token is in it)."""
        self.current = node_id
        if node_id in self._locks:
            return
        try:
            fd = os.open(self.folder / str(node_id), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error("cannot record node %s in %s (%s); a restart will not clear up after it",
                      node_id, self.folder, exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return
        os.set_inheritable(fd, True)  # kept by the process a self-update re-executes
        self._locks[node_id] = fd

    def token(self, node_id: uuid.UUID) -> str | None:
        """The api_token recorded for a node this process holds (None: unknown, or refused)."""
        return self._record(node_id).api_token

    def had_containers(self, node_id: uuid.UUID) -> bool:
        return self._record(node_id).containers

    def _record(self, node_id: uuid.UUID) -> _Record:
        fd = self._locks.get(node_id)
        try:
            raw = os.pread(fd, 4096, 0) if fd is not None else b""
            return msgspec.json.decode(raw, type=_Record) if raw else _Record()
        except (OSError, msgspec.DecodeError):  # torn by a crash mid-write
            return _Record()

    def claim(self) -> set[uuid.UUID]:
        """The node ids of runs that ended, locked now by this one until `forget`."""
        try:
            paths = list(self.folder.iterdir())
        except OSError as exc:
            log.warning("cannot read %s (%s); earlier runs' nodes are not cleared", self.folder,
                        exc)
            return set()
        found = set()
        for path in paths:
            try:
                node_id = uuid.UUID(path.name)
            except ValueError:
                continue  # a journal, or not ours
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

    def release(self, node_id: uuid.UUID) -> None:
        """A claimed node left for a later start to clear (its lock dropped, its file kept)."""
        fd = self._locks.pop(node_id, None)
        if fd is not None:
            os.close(fd)

    def forget(self, node_id: uuid.UUID) -> None:
        """A node with nothing left to clean up: its journal goes, then its file (the lock)."""
        shutil.rmtree(self.journal(node_id).directory, ignore_errors=True)
        fd = self._locks.pop(node_id, None)
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(node_id)).unlink()
        if fd is not None:
            os.close(fd)


async def clear_former_nodes(nodes: FormerNodes, api: AgentApi,
                             docker: aiodocker.Docker | None, output_limit: int) -> None:
    """Runs beside the agent's work for the whole run: clears the nodes of ended runs at once,
    then each node this run leaves. A node whose containers could not all be removed keeps its
    file, so the next start tries again."""
    tasks: set[asyncio.Task[None]] = set()

    def spawn(node_id: uuid.UUID, ours: bool) -> None:
        task = asyncio.create_task(_clear(nodes, node_id, ours, api, docker, output_limit))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        for node_id in nodes.claim():
            spawn(node_id, ours=False)
        while True:
            spawn(await nodes.left.get(), ours=True)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _clear(nodes: FormerNodes, node_id: uuid.UUID, ours: bool,  # noqa: PLR0913
                 api: AgentApi, docker: aiodocker.Docker | None, output_limit: int) -> None:
    journal = nodes.journal(node_id)
    if ours:
        # Its commands here report through the work loop, and the admin has this agent stop
        # the containers it holds that are not its new node's: both are this run's to end.
        while journal.held() or await _made_for(docker, node_id):
            await asyncio.sleep(LEFT_NODE_LOOK)
        nodes.forget(node_id)
        return
    token = nodes.token(node_id)
    await asyncio.gather(*(_report(api, node_id, token, journal, exec_id, result)
                           for exec_id, result in interrupted(journal, output_limit)))
    if docker is None and nodes.had_containers(node_id):
        # Left to a start that can reach the engine: forgotten, its containers would run
        # for good (this state dir is shared with, or was, an agent running containers).
        log.info("leaving node %s, whose run had containers, to a start that runs them",
                 node_id)
        nodes.release(node_id)
        return
    if docker is not None:
        try:
            if not await remove_containers(docker, {node_id}):
                return
        except ENGINE_GLITCHES as exc:
            log.warning("could not remove the containers of node %s: %r", node_id, exc)
            return
    nodes.forget(node_id)


async def _made_for(docker: aiodocker.Docker | None, node_id: uuid.UUID) -> bool:
    """Whether a deployment container made for the node is still on the engine."""
    if docker is None:
        return False
    try:
        found = await docker.containers.list(
            all=True, filters={"label": [f"{NODE_LABEL}={node_id}"]})
    except ENGINE_GLITCHES:
        return True  # asked again later
    return bool(found)


async def _report(api: AgentApi, node_id: uuid.UUID, token: str | None,  # noqa: PLR0913
                  journal: Journal, exec_id: uuid.UUID, result: Result) -> None:
    """Reports a former node's result with its own token, until the admin has it or refuses
    it for good (the node was deleted: its executions were ended with it)."""
    failures = 0
    while token is not None:
        try:
            await api.result(token, exec_id, result.exit_code, result.output)
        except Unreachable:
            failures += 1
            await asyncio.sleep(retry_delay(failures))
            continue
        except AdminError as exc:
            log.warning("admin refused the result of %s, execution of former node %s (%s); "
                        "dropping it", exec_id, node_id, exc)
        else:
            log.info("reported execution %s of former node %s", exec_id, node_id)
        break
    journal.forget(exec_id)


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
                "earlier node of this random agent, which nobody speaks for any more",
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
