"""The agent's SSH server (asyncssh): every login attempt is checked by the admin.

Nothing about credentials is kept here: each public key or password a client offers is sent to
`POST /agent/v1/ssh/verify`, so a key or username the operator deleted fails at the next login.
If the admin cannot be asked, the attempt fails (closed, not open). Sessions run as the agent's
own OS user: `ssh node 'cmd'` runs `/bin/sh -c cmd`, a shell request runs `/bin/sh` (interactive,
on a pseudo-terminal, when the client asked for one). A closed channel ends its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import struct
import termios
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh

from entrypoints.agent.api import LoginMethod
from entrypoints.agent.executor import child_env, terminate

log = logging.getLogger("edge_agent.ssh")
HOST_KEY_FILE = "ssh_host_ed25519_key"
_CHUNK = 65_536
# (username, method, public_key, password) -> allowed?
Check = Callable[[str, LoginMethod, str | None, str | None], Awaitable[bool]]


def host_key(state_dir: Path | None) -> asyncssh.SSHKey:
    """The node's ed25519 host key: kept in the state dir (0600) so clients can pin it; a
    random agent keeps no identity on disk and gets a new one each start."""
    if state_dir is None:
        return asyncssh.generate_private_key("ssh-ed25519")
    path = state_dir / HOST_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    state_dir.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("openssh"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    return key


class _Gate(asyncssh.SSHServer):
    """One per connection: asks the admin about each credential, remembers the answers for
    this connection only (asyncssh checks a key once when queried and again when signed)."""

    def __init__(self, check: Check, connected: Callable[[], None]) -> None:
        self._check = check
        self._connected = connected
        self._answers: dict[tuple[str, str], bool] = {}
        self._peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._connected()

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        line = key.export_public_key("openssh").decode().strip()
        if (username, line) not in self._answers:
            allowed = await self._check(username, "publickey", line, None)
            self._answers[(username, line)] = allowed
            self._log(username, "publickey", allowed)
        return self._answers[(username, line)]

    async def validate_password(self, username: str, password: str) -> bool:
        allowed = await self._check(username, "password", None, password)
        self._log(username, "password", allowed)
        return allowed

    def _log(self, username: str, method: str, allowed: bool) -> None:
        verdict = "accepted" if allowed else "refused"
        log.info("ssh %s %s login for %r from %s", verdict, method, username, self._peer)


async def listen(host: str, port: int, key: asyncssh.SSHKey, check: Check,
                 connected: Callable[[], None] = lambda: None) -> asyncssh.SSHAcceptor:
    """Bound and accepting until `serve` ends; raises OSError if the address cannot be bound."""
    server = await asyncssh.create_server(
        lambda: _Gate(check, connected), host, port, server_host_keys=[key],
        process_factory=run_session,
        encoding=None, allow_scp=False, agent_forwarding=False, x11_forwarding=False,
        sftp_factory=None, login_timeout=30,
    )
    log.info("ssh server listening on %s:%d", host, port)
    return server


async def serve(server: asyncssh.SSHAcceptor) -> None:
    """Serves what `listen` bound until cancelled."""
    try:
        await asyncio.Future()  # until cancelled
    finally:
        server.close()
        await server.wait_closed()


async def run_session(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Runs the session's command until it ends or the client goes: then the work is cancelled
    and its `finally` ends the child's process group. Waiting on the child alone left a quiet
    one (`sleep 300`) running after the client went, nothing reading its output any more."""
    if process.subsystem is not None:  # sftp is refused by asyncssh; any other one here
        process.stderr.write(f"subsystem {process.subsystem} is not served\n".encode())
        process.exit(1)
        return
    work = asyncio.ensure_future(_on_terminal(process) if process.get_terminal_type() is not None
                                 else _on_pipes(process))
    gone = asyncio.ensure_future(process.channel.wait_closed())
    try:
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
    try:
        code = await work
    except (ConnectionError, asyncssh.Error, asyncio.CancelledError):
        return  # the client went away; its processes were ended on the way out
    except Exception:  # a session must not take the server down
        log.exception("ssh session failed")
        code = 255
    named = {s.value: s.name.removeprefix("SIG") for s in signal.Signals}
    if code < 0 and -code in named:  # a signal ended it: said as OpenSSH does, not 256 - N
        process.exit_with_signal(named[-code])
    else:
        process.exit(128 - code if code < 0 else code)  # a real-time signal: as the shell says


def _argv(process: asyncssh.SSHServerProcess[bytes], interactive: bool) -> list[str]:
    if process.command is not None:  # an empty one too: `sh -c ''`, as OpenSSH (a shell hung)
        return ["/bin/sh", "-c", process.command]
    return ["/bin/sh", "-i"] if interactive else ["/bin/sh"]


async def _on_pipes(process: asyncssh.SSHServerProcess[bytes]) -> int:
    child = await asyncio.create_subprocess_exec(
        *_argv(process, interactive=False), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=child_env(os.environ), start_new_session=True, cwd=_home())
    assert child.stdin and child.stdout and child.stderr
    feeding = asyncio.create_task(_feed(process.stdin, child.stdin.write, child.stdin.close))
    try:
        await asyncio.gather(_pump(child.stdout.read, process.stdout),
                             _pump(child.stderr.read, process.stderr))
        return await child.wait()
    finally:
        feeding.cancel()
        await _end(child)


async def _on_terminal(process: asyncssh.SSHServerProcess[bytes]) -> int:
    main, tty = os.openpty()
    _resize(tty, *process.term_size[:2])
    try:
        child = await asyncio.create_subprocess_exec(
            *_argv(process, interactive=True), stdin=tty, stdout=tty, stderr=tty,
            env={**child_env(os.environ), "TERM": process.get_terminal_type() or "xterm"},
            start_new_session=True, cwd=_home(), preexec_fn=_take_terminal)
    finally:
        os.close(tty)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    pipe = os.fdopen(main, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), pipe)
    feeding = asyncio.create_task(_feed(process.stdin, lambda data: os.write(main, data),
                                        lambda: None, tty_fd=main))
    try:
        await _pump(reader.read, process.stdout)
        return await child.wait()
    finally:
        feeding.cancel()
        transport.close()
        await _end(child)


def _take_terminal() -> None:
    """In the child: the pseudo-terminal becomes its controlling terminal (job control)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _resize(fd: int, width: int, height: int) -> None:
    if width and height:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _pump(read: Callable[[int], Awaitable[bytes]], out: Any) -> None:
    """Copies child output to the channel until the child closes it (EIO: the tty is gone)."""
    while True:
        try:
            chunk = await read(_CHUNK)
        except OSError:
            return
        if not chunk:
            return
        out.write(chunk)
        await out.drain()


async def _feed(source: Any, write: Callable[[bytes], Any], close: Callable[[], Any],
                tty_fd: int | None = None) -> None:
    """Copies client input to the child; window changes resize its terminal."""
    while True:
        try:
            data = await source.read(_CHUNK)
        except asyncssh.TerminalSizeChanged as change:
            if tty_fd is not None:
                _resize(tty_fd, change.width, change.height)
            continue
        except (asyncssh.BreakReceived, asyncssh.SignalReceived):
            continue
        if not data:
            close()
            return
        with contextlib.suppress(OSError):
            write(data)


async def _end(child: asyncio.subprocess.Process) -> None:
    """The client left or the shell ended: nothing of the session may outlive it."""
    if child.returncode is None:
        await terminate(child.pid, asyncio.ensure_future(child.wait()))


def _home() -> str:
    home = os.environ.get("HOME", "/")
    return home if os.path.isdir(home) else "/"
