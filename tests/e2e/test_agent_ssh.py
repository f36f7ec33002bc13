"""A real `edge-agent` serving SSH, every login checked by a real `edge-admin serve` on
PostgreSQL: keys and passwords registered over HTTP work, anything else (wrong, revoked,
unknown, too many failures) is refused."""

from __future__ import annotations

import asyncio
import getpass
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncssh
import pytest

from tests.e2e.agent_fixtures import Admin, Agents, agents_of, free_port, module_admin
from tests.e2e.test_agent_commands import start

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
LIMIT = 4
admin = module_admin(postgres=True, SSH_LOGIN_MAX_FAILURES=str(LIMIT))


@pytest.fixture
def node(admin: Admin, tmp_path: Any) -> Iterator[tuple[str, int, Agents]]:
    """One agent with its SSH server on a free loopback port: (node id, port, agents)."""
    with agents_of(admin, tmp_path) as agents:
        cluster, key = admin.new_cluster()
        port = free_port()
        start(agents, "ssh", key, "--ssh-port", str(port), "--ssh-host", "127.0.0.1")
        [node_id] = agents.healthy(cluster, 1)
        yield node_id, port, agents


def public(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


def ssh(port: int, username: str, command: str, **auth: Any) -> asyncssh.SSHCompletedProcess:
    async def go() -> asyncssh.SSHCompletedProcess:
        options: dict[str, Any] = {"client_keys": None, "password": None, **auth}
        async with asyncssh.connect("127.0.0.1", port, username=username, known_hosts=None,
                                    preferred_auth="publickey,password",
                                    **options) as conn:
            return await conn.run(command, check=False, timeout=20)

    return asyncio.run(go())


def refused(port: int, username: str, **auth: Any) -> bool:
    try:
        ssh(port, username, "true", **auth)
    except asyncssh.PermissionDenied:
        return True
    return False


def test_registered_key_and_password_log_in_and_run_commands(
    admin: Admin, node: tuple[str, int, Agents]
) -> None:
    node_id, port, agents = node
    assert admin.data(admin.http.get(f"/api/v1/nodes/{node_id}"))["ssh_port"] == port
    key, stranger = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    owner = admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "deploy", "password": PASSWORD,
        "public_keys": [{"key_name": "laptop", "public_key": public(key)}]}))
    done = ssh(port, "deploy", "echo hello; id -un; echo oops >&2; exit 3", client_keys=[key])
    assert done.stdout == f"hello\n{getpass.getuser()}\n" and done.stderr == "oops\n"
    assert done.exit_status == 3
    assert ssh(port, "deploy", "echo $((6 * 7))", password=PASSWORD).stdout == "42\n"
    assert refused(port, "deploy", client_keys=[stranger])
    assert refused(port, "deploy", password="not the password")
    assert refused(port, "nobody", password=PASSWORD)
    assert refused(port, "nobody", client_keys=[key])
    # A revoked key fails at the next login; a deleted username takes its password along.
    admin.http.delete(f"/api/v1/ssh_public_keys/{owner['public_keys'][0]['id']}")
    assert refused(port, "deploy", client_keys=[key])
    assert ssh(port, "deploy", "true", password=PASSWORD).exit_status == 0
    admin.http.delete(f"/api/v1/ssh_usernames/{owner['id']}")
    assert refused(port, "deploy", password=PASSWORD)
    checks = admin.data(admin.http.get("/api/v1/events", params={
        "type": "edge.ssh_username.verified", "page_size": 100}))
    outcomes = {(c["data"]["username"], c["data"]["method"], c["data"]["outcome"])
                for c in checks if c["data"]["node_id"] == node_id}
    assert {("deploy", "publickey", "accepted"), ("deploy", "password", "accepted"),
            ("deploy", "publickey", "unknown_key"), ("nobody", "password", "unknown_username"),
            ("deploy", "password", "wrong_password")} <= outcomes
    assert "ssh accepted publickey login for 'deploy'" in agents.children.log("ssh")


def test_an_interactive_shell_gets_a_terminal(admin: Admin, node: tuple[str, int, Agents]) -> None:
    node_id, port, _ = node
    key = asyncssh.generate_private_key("ssh-ed25519")
    admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "ops", "public_keys": [{"key_name": "k", "public_key": public(key)}]}))

    async def session() -> str:
        async with asyncssh.connect("127.0.0.1", port, username="ops", client_keys=[key],
                                    known_hosts=None) as conn:
            process = await conn.create_process(term_type="xterm", term_size=(100, 30))
            process.stdin.write("tty >/dev/null && echo on-a-tty; stty size; "
                                "echo $((40 + 2)); exit 5\n")
            output = await asyncio.wait_for(process.stdout.read(), 20)
            await process.wait()
            assert process.exit_status == 5
            return str(output)

    output = asyncio.run(session())
    assert "on-a-tty" in output and "30 100" in output and "42" in output


def _alive(marker: str) -> bool:
    """Whether a process whose command line holds `marker` still runs on this machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


@pytest.mark.parametrize("terminal", [False, True])
def test_a_session_ends_with_its_client(admin: Admin, node: tuple[str, int, Agents],
                                        terminal: bool) -> None:
    # A quiet command (nothing to read) ran on for good once its client went away.
    node_id, port, _ = node
    key = asyncssh.generate_private_key("ssh-ed25519")
    admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "gone", "public_keys": [{"key_name": "k", "public_key": public(key)}]}))
    marker = f"sleep 3{uuid4().int % 1000:03d}"

    async def leave() -> None:
        async with asyncssh.connect("127.0.0.1", port, username="gone", client_keys=[key],
                                    known_hosts=None) as conn:
            await conn.create_process(marker, term_type="xterm" if terminal else None)
            for _ in range(50):
                if _alive(marker):
                    break
                await asyncio.sleep(0.1)
            assert _alive(marker)
            conn.abort() if terminal else conn.close()

    asyncio.run(leave())
    for _ in range(100):
        if not _alive(marker):
            break
        time.sleep(0.1)
    assert not _alive(marker), "the session's command outlived its client"


def test_a_signal_is_an_exit_signal_and_other_subsystems_are_refused(admin: Admin,
                                                  node: tuple[str, int, Agents]) -> None:
    node_id, port, _ = node
    key = asyncssh.generate_private_key("ssh-ed25519")
    admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "odd", "public_keys": [{"key_name": "k", "public_key": public(key)}]}))
    killed = ssh(port, "odd", "kill -9 $$", client_keys=[key])
    assert (killed.exit_status, killed.exit_signal[0] if killed.exit_signal else None) == (
        -1, "KILL")  # it was 247: 256 - 9

    async def subsystem() -> int | None:
        async with asyncssh.connect("127.0.0.1", port, username="odd", client_keys=[key],
                                    known_hosts=None) as conn:
            process = await conn.create_process(subsystem="foo")
            await asyncio.wait_for(process.wait(), 20)
            return process.exit_status

    assert asyncio.run(subsystem()) == 1


def test_repeated_failures_lock_the_username_out(
    admin: Admin, node: tuple[str, int, Agents]
) -> None:
    node_id, port, _ = node
    admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "target", "password": PASSWORD}))
    admin.data(admin.http.post(f"/api/v1/nodes/{node_id}/ssh_usernames", json={
        "username": "bystander", "password": PASSWORD}))
    for attempt in range(LIMIT):
        assert refused(port, "target", password=f"guess number {attempt}")
    assert refused(port, "target", password=PASSWORD), "the right password is refused too"
    assert ssh(port, "bystander", "true", password=PASSWORD).exit_status == 0


def test_a_taken_ssh_port_stops_the_agent_with_a_clear_message(
    admin: Admin, agents: Agents
) -> None:
    cluster, key = admin.new_cluster()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        agent = start(agents, "late", key, "--ssh-port", str(port), "--ssh-host", "127.0.0.1")
        assert agent.wait(30) == 1
    assert f"cannot serve SSH on 127.0.0.1:{port}" in agents.children.log("late")
    # Before it enrolled: it left a healthy node no one could reach.
    nodes = admin.data(admin.http.get("/api/v1/nodes", params={"cluster_name": cluster}))
    assert nodes == []
