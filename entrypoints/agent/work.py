"""The agent's work loop: long-poll the admin, run what it hands out, report, update itself.

Nothing is lost across restarts of either side: results stay in the journal until the admin
acknowledges them, and a command that was running when the agent died is reported as
interrupted (exit code 137) with the output it had produced, never run a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

from application.agent_protocol import Assignment, HealthProbe, WorkReply
from entrypoints.agent.api import AdminError, Unreachable
from entrypoints.agent.containers import ContainerRunner
from entrypoints.agent.executor import (
    INTERRUPTED,
    INTERRUPTED_NOTE,
    KILL_AFTER,
    Execution,
    cap,
    kill_leftovers,
    read_output,
    terminate,
)
from entrypoints.agent.journal import Journal, Result
from entrypoints.agent.session import Link, Session, retry_delay

log = logging.getLogger("edge_agent")
POLL_WAIT = 25.0
# An answer with nothing new (a cancel already being carried out, a pending self-update) comes
# back at once: wait this long before the next poll rather than polling in a tight loop.
QUIET_POLL = 1.0
# On SIGTERM the agent stops its commands (KILL_AFTER) and tries this long to report them.
REPORT_ON_STOP = 2.0
# What a result the admin refuses (other than 401/404) is cut to before it is sent again.
FALLBACK_OUTPUT = 4096
HANDOFF_ENV = "EDGE_AGENT_HANDOFF"
UPDATE_TIMEOUT = 600.0


class WorkLoop:
    """Runs beside the heartbeat loop and shares the agent's session."""

    def __init__(self, link: Link, journal: Journal | None, output_limit: int,  # noqa: PLR0913
                 update_command: str | None, containers: ContainerRunner | None = None,
                 probes: Callable[[HealthProbe], None] | None = None,
                 journals: Callable[[UUID], Journal] | None = None) -> None:
        """`journals`: a random agent keeps one journal per node (former_nodes.py); `journal`
        is then its node's at start, if it knows it (after a self-update), else None."""
        self.link, self.containers = link, containers
        self.journals = journals
        self.journal = journal
        self.node = link.identity.node_id if journal is not None else None
        self.probes = probes  # live health probes the admin asks for
        self.output_limit, self.update_command = output_limit, update_command
        self.running: dict[UUID, Execution] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.updating = False
        # The self-update request acted on last. A poll under way when a failed update ended
        # may answer with it again (looked at before the registration that clears it): it is
        # not run a second time.
        self.update_request: UUID | None = None
        # Executions handed out that the journal could not take (a full disk), said once each.
        self.unjournaled: set[UUID] = set()

    async def run(self) -> None:
        if self.journal is not None:
            prepare(self.journal)
            self._recover(self.journal)
        try:
            await self._poll()
        except asyncio.CancelledError:
            await self._shutdown()
            raise

    async def _poll(self) -> None:
        failures = 0
        while True:
            session = await self.link.session()
            journal = self._journal(session)
            try:
                self.link.counters["commands.synced_total"] += 1
                runner = self.containers
                held = runner.held() if runner is not None else []
                stopped = runner.stopped() if runner is not None else None
                # A runtime control under way is reported within a second, not a poll later.
                # While updating, polls refuse work: one must not wait long, refusing what
                # comes, after a failed update has ended.
                quick = self.updating or (runner is not None and runner.transitioning())
                wait = QUIET_POLL if quick else POLL_WAIT
                reply = await self.link.api.work(session.api_token, journal.held(),
                                                  wait, accept_work=not self.updating,
                                                  deployments=held, stopped=stopped)
            except (Unreachable, AdminError) as exc:
                if isinstance(exc, AdminError) and exc.status == 401:
                    self.link.drop(session, forget_token=True)
                    continue
                if failures == 0:
                    log.warning("work poll failed (%s); retrying with backoff", exc)
                failures += 1
                await asyncio.sleep(retry_delay(failures))
                continue
            failures = 0
            fresh = sum(self._start(assignment, journal) for assignment in reply.executions)
            for exec_id in reply.cancel:
                if exec_id in self.running and self.running[exec_id].stop("cancel"):
                    log.info("cancelling execution %s", exec_id)
                    fresh += 1
            update = reply.self_update
            if update is not None and not self.updating and (
                    update.request_id != self.update_request):
                self.updating, self.update_request = True, update.request_id
                fresh += 1
                self._spawn(self._self_update(session, update.request_id))
            fresh += self._containers(reply)
            asked = (reply.deployments or reply.stop_deployments or reply.pause_deployments
                     or reply.resume_deployments)
            if not fresh and (reply.executions or reply.cancel or reply.self_update or asked):
                # Every answer repeats a cancel until its result is in, and the pending update
                # while this agent drains its commands: poll gently, not in a tight loop.
                await asyncio.sleep(QUIET_POLL)

    def _journal(self, session: Session) -> Journal:
        """The journal of the session's node: a random agent that enrolled again (a new node)
        takes that node's; what still runs for the node it left reports from its own."""
        if self.journals is not None and (self.journal is None or session.node_id != self.node):
            self.node, self.journal = session.node_id, self.journals(session.node_id)
            prepare(self.journal)
            self._recover(self.journal)
        assert self.journal is not None
        return self.journal

    def _containers(self, reply: WorkReply) -> int:
        if self.containers is None:
            return 0
        if self.probes is not None:
            for asked in reply.health_probes:
                self.probes(asked)
        fresh = sum(self.containers.start(spec) for spec in reply.deployments)
        for request_id in reply.stop_deployments:
            if self.containers.stop(request_id):
                log.info("stopping deployment %s", request_id)
                fresh += 1
        fresh += sum(self.containers.pause(r) for r in reply.pause_deployments)
        fresh += sum(self.containers.resume(r) for r in reply.resume_deployments)
        return fresh

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _start(self, assignment: Assignment, journal: Journal) -> bool:
        if self.updating:
            return False  # not journaled: the admin hands it out again to the updated agent
        try:
            if not journal.accept(assignment):
                return False  # already held: a repeated hand-out
        except OSError as exc:
            # Unjournaled it is not run: a crash would leave it unknown to the next start,
            # which could not report it. Not held, it is handed out again (its due time, 2 s)
            # until there is room. The agent used to exit here with a traceback.
            if assignment.id not in self.unjournaled:
                self.unjournaled.add(assignment.id)
                log.error("cannot journal execution %s (%s); it runs once the journal can "
                          "take it", assignment.id, exc)
            return False
        self.unjournaled.discard(assignment.id)
        log.info("running execution %s of command %s", assignment.id, assignment.command_id)
        self.link.counters["commands.enqueued_total"] += 1
        self._spawn(self._execute(assignment, journal))
        return True

    async def _execute(self, assignment: Assignment, journal: Journal) -> None:
        execution = Execution(assignment, journal.output_path(assignment.id),
                              self.output_limit,
                              on_spawn=lambda pgid: journal.started(assignment.id, pgid))
        self.running[assignment.id] = execution
        try:
            exit_code, output = await execution.run()
        except OSError as exc:  # /bin/sh missing, no space for the output file, ...
            exit_code, output = 127, f"[edge-agent] could not run the command: {exc}"
        finally:
            self.running.pop(assignment.id, None)
        result = Result(exit_code=exit_code, output=output)
        keep(journal, assignment.id, result)
        self.link.counters["commands.completed_total"] += 1
        log.info("execution %s ended with exit code %d", assignment.id, exit_code)
        await self._report(assignment.id, result, journal)

    def _recover(self, journal: Journal) -> None:
        """Entries left by an earlier run: finish the interrupted ones, then report them all."""
        for exec_id, result in interrupted(journal, self.output_limit):
            self._spawn(self._report(exec_id, result, journal))

    async def _report(self, exec_id: UUID, result: Result, journal: Journal) -> None:
        """Retries until the admin has the result; only then is the journal entry dropped."""
        failures = 0
        while True:
            session = await self.link.session()
            try:
                reply = await self.link.api.result(session.api_token, exec_id, result.exit_code,
                                                    result.output)
            except Unreachable:
                failures += 1
                await asyncio.sleep(retry_delay(failures))
                continue
            except AdminError as exc:
                if exc.status == 401:
                    self.link.drop(session, forget_token=True)
                    continue
                if exc.status != 404:
                    # Forgetting it would make the admin hand the execution out again (it is
                    # no longer in `running`): send it again, cut short, until it is taken.
                    log.error("admin refused the result of %s (%s); sending it cut to %d"
                              " characters", exec_id, exc, FALLBACK_OUTPUT)
                    result = Result(exit_code=result.exit_code,
                                    output=cap(result.output, FALLBACK_OUTPUT))
                    failures += 1
                    await asyncio.sleep(retry_delay(failures))
                    continue
                # Not this node's any more (deleted, or the node enrolled anew).
                log.warning("admin refused the result of %s (%s); dropping it", exec_id, exc)
            else:
                self.link.counters["commands.reported_total"] += 1
                if not reply.accepted:
                    log.info("execution %s had already ended as %s; result dropped", exec_id,
                             reply.status)
            journal.forget(exec_id)
            return

    async def _self_update(self, session: Session, request_id: UUID) -> None:
        """Waits for running commands, runs the update command, then re-executes itself."""
        log.info("self-update requested (%s); waiting for %d running command(s)", request_id,
                 len(self.running))
        while self.running:
            await asyncio.sleep(0.2)
        if self.update_command and not await self._run_update_command():
            # Re-registering clears the admin's pending trigger; this agent carries on.
            await self.link.reconnect(session)
            self.updating = False
            return
        log.info("re-executing to complete self-update %s", request_id)
        os.environ[HANDOFF_ENV] = json.dumps(
            {"node_id": str(session.node_id), "api_token": session.api_token,
             "journal_dir": str(self.journal.directory) if self.journal else None})
        for handler in logging.getLogger().handlers:
            handler.flush()
        argv = [sys.executable, "-m", "entrypoints.agent.cli", *sys.argv[1:]]
        os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module

    async def _shutdown(self) -> None:
        """The agent is stopping: end the commands (reported as interrupted, now if the admin
        answers in time, else after the next start) rather than leave them unwatched."""
        for execution in list(self.running.values()):
            execution.stop("shutdown")
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=KILL_AFTER + REPORT_ON_STOP)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _run_update_command(self) -> bool:
        assert self.update_command is not None
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", self.update_command, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        done = asyncio.ensure_future(process.wait())
        try:
            code = await asyncio.wait_for(asyncio.shield(done), UPDATE_TIMEOUT)
        except TimeoutError:
            log.error("update command timed out after %gs; not updating", UPDATE_TIMEOUT)
            await terminate(process.pid, done)
            return False
        finally:
            if not done.done():  # the agent is stopping
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        if code != 0:
            log.error("update command exited with %d; not updating", code)
            return False
        return True


def interrupted(journal: Journal, output_limit: int) -> list[tuple[UUID, Result]]:
    """The entries an earlier run left, each with its result to report: a command that was
    running when that run died is finished as interrupted (never run again), and what is left
    of it killed."""
    found = []
    for entry in journal.entries():
        exec_id, result = entry.assignment.id, entry.result
        if result is None:
            pgid = journal.pgid(exec_id)
            # The shell died with the agent, but what it started in the background may not.
            if pgid is not None and kill_leftovers(pgid, exec_id):
                log.warning("killed what was left of execution %s", exec_id)
            partial = read_output(journal.output_path(exec_id),
                                  output_limit - len(INTERRUPTED_NOTE))
            result = Result(exit_code=INTERRUPTED, output=partial + INTERRUPTED_NOTE)
            keep(journal, exec_id, result)
            log.warning("execution %s was interrupted by an agent restart; reporting it",
                        exec_id)
        found.append((exec_id, result))
    return found


def prepare(journal: Journal) -> None:
    """A journal folder that cannot be made (a full disk) leaves the agent polling: what it is
    handed cannot be journaled, so waits (see WorkLoop._start), instead of the agent exiting."""
    try:
        journal.prepare()
    except OSError as exc:
        log.error("cannot make the execution journal %s (%s)", journal.directory, exc)


def keep(journal: Journal, exec_id: UUID, result: Result) -> None:
    """Journals a result before it is reported. One the disk will not take (full) is reported
    from memory all the same: it used to end the task, and the result never reached the admin
    (the execution stayed `sent` for as long as the agent ran)."""
    try:
        journal.finish(exec_id, result)
    except OSError as exc:
        log.error("cannot journal the result of execution %s (%s); reporting it from memory "
                  "(should the agent stop before the admin has it, it is reported interrupted)",
                  exec_id, exc)
