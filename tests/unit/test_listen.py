"""`serve` listens before it builds anything: a port in use, an unknown host, IPv6 and port 0."""

from __future__ import annotations

import socket

import pytest

from entrypoints.listen import ListenError, OpenFiles, listen


def test_a_port_in_use_is_one_line_naming_host_and_port() -> None:
    [first] = listen("127.0.0.1", 0)
    port = first.getsockname()[1]
    try:
        with pytest.raises(ListenError) as caught:
            listen("127.0.0.1", port)
        assert str(caught.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"
    finally:
        first.close()


def test_an_unresolvable_host_is_one_line() -> None:
    with pytest.raises(ListenError, match=r"^cannot listen on no-such-host\.invalid:8080: "):
        listen("no-such-host.invalid", 8080)


def test_port_zero_gets_a_port_and_ipv6_hosts_are_bracketed() -> None:
    sockets = listen("127.0.0.1", 0)
    try:
        assert sockets[0].getsockname()[1] > 0
    finally:
        for sock in sockets:
            sock.close()
    if not socket.has_ipv6:
        return
    try:
        [six] = listen("::1", 0)
    except ListenError:
        pytest.skip("no IPv6 loopback here")
    try:
        with pytest.raises(ListenError, match=r"^cannot listen on \[::1\]:\d+: address already"):
            listen("::1", six.getsockname()[1])
    finally:
        six.close()


def test_open_files_are_said_near_the_limit_and_once_clear_again() -> None:
    files = OpenFiles(1000)
    assert files.check(899) is None
    line = files.check(900)
    assert line is not None and line.startswith("900 of the 1000 files this process may open")
    assert files.check(1000) is None  # said once
    assert files.check(850) is None
    assert files.check(799) == "799 of the 1000 files this process may open are open again"
    assert files.check(10) is None
