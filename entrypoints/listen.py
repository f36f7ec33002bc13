"""The listening sockets of `serve`, bound before anything is built or recorded: a second admin
started on a port in use must stop without having joined the admin cluster in its name; and
what the process needs to hold many clients' connections."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import threading
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BACKLOG = 2048  # uvicorn's default
log = logging.getLogger(__name__)


class ListenError(OSError):
    """The address cannot be listened on (in use, not local, not resolvable)."""


def where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to, as asyncio's create_server (and
    so uvicorn) binds them: SO_REUSEADDR, IPv6 sockets IPv6-only. Listening at once, not only
    bound: two bound sockets with SO_REUSEADDR may share a port until one listens."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where(host, port)}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            sock.listen(BACKLOG)
            if port == 0:  # the other addresses take the port the first one was given
                port = sock.getsockname()[1]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(f"cannot listen on {where(host, port)}: {reason}") from None
    return sockets


def open_files_limit() -> int:
    """Raises this process's limit of open files to the most it may have, and returns it.

    Every connected agent holds a connection (its long poll) and often a second one: with the
    soft limit many systems start services with (1,024), an admin of a thousand agents runs out
    of descriptors and stops accepting anyone, operators included. Go servers raise it the same
    way at start; Python does not by itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        # Linux refuses an infinite RLIMIT_NOFILE; nr_open bounds what it takes.
        wanted = hard if hard != resource.RLIM_INFINITY else _nr_open()
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass  # kept as it was: the caller logs the limit it runs with
    return soft if soft != resource.RLIM_INFINITY else _nr_open()


class OpenFiles:
    """Says when the process nears its limit of open files, and when it is clear again.

    At the limit nothing else says it: uvloop (libuv) accepts each new connection and closes
    it at once, unanswered and unlogged, so agents and operators (their /readyz and /metrics
    included) meet connection resets, and SQLite cannot open its file ("unable to open
    database file"). Seen with 150 agents and a limit of 256."""

    NEAR = 0.9  # of the limit: said
    CLEAR = 0.8  # below this again: said once more

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.near = False

    def check(self, in_use: int) -> str | None:
        """The line to log for `in_use` open files, if it is time for one."""
        if not self.near and in_use >= self.limit * self.NEAR:
            self.near = True
            return (f"{in_use} of the {self.limit} files this process may open are open: at "
                    f"the limit new connections are closed unanswered and the database file "
                    f"cannot be opened (raise LimitNOFILE or ulimit -n)")
        if self.near and in_use < self.limit * self.CLEAR:
            self.near = False
            return f"{in_use} of the {self.limit} files this process may open are open again"
        return None


def watch_open_files(limit: int, every: float = 5.0) -> threading.Thread:
    """Checks this process's open files every `every` s on a thread of its own (it needs no
    descriptor, and keeps going when the event loop has none to give)."""
    files = OpenFiles(limit)

    def watch() -> None:
        while True:
            try:
                in_use = len(os.listdir("/proc/self/fd"))
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    return  # no /proc: not Linux
                in_use = limit  # not one descriptor left to list them with
            line = files.check(in_use)
            if line is not None:
                log.warning(line)
            time.sleep(every)

    thread = threading.Thread(target=watch, name="open-files", daemon=True)
    thread.start()
    return thread


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 1 << 20


class HeadDeadline(HttpToolsProtocol):
    """uvicorn's HTTP protocol, where a connection has HTTP_KEEP_ALIVE_SECONDS (uvicorn's
    `timeout_keep_alive`) to send a whole request head, from when it opens and from each
    answer, and as long again for the request's body once the head is in, or is closed.
    uvicorn waits for a first request forever, for the rest of a head once any byte of it
    came, and for the rest of a body: connections that send nothing, or a byte now and then,
    would hold the admin's descriptors for good (2,000 of them trickling a body into the
    unauthenticated enrollment were all still open after 100 s)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_headers_complete(self) -> None:
        self._await_head()  # now the body, if any: on_message_complete stops the wait
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_waiting()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle now: no pipelined request to run
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._no_head)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _no_head(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()
