"""Real `edge-agent` processes against a real `edge-admin serve` process: enroll, heartbeat,
die, restart, get deleted, ride out an admin outage. Every wait has a deadline and every child
process is killed at the end, whatever happens."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from application.agent_protocol import key_blob_server
from domain.enrollment_key import encode_blob
from entrypoints.agent.api import AgentApi
from entrypoints.agent.identity import IdentityStore, node_id_for_machine, persistent_identity
from entrypoints.agent.session import Admission, Backoff, Link
from tests.e2e.agent_fixtures import BIN, DEADLINE, LENIENT_CHECKS, Admin, Agents, module_admin

pytestmark = pytest.mark.e2e
admin = module_admin()


def test_three_agents_join_and_a_killed_one_goes_unhealthy_then_unreachable(
    admin: Admin, agents: Agents
) -> None:
    cluster, key = admin.new_cluster()
    machine_a, machine_b = uuid.uuid4().hex, uuid.uuid4().hex
    # Two persistent agents on one host: their machine ids come from the env var and the flag.
    agents.persistent("a", key, machine_a, version="1.0.0")
    b = agents.start("b", key, "--state-dir", str(agents.tmp / "b"), "--machine-id", machine_b,
                     version="1.0.1")
    agents.start("c", key, "--id-type", "random", version="1.0.2")

    nodes = agents.healthy(cluster, 3)
    id_a, id_b = str(node_id_for_machine(machine_a)), str(node_id_for_machine(machine_b))
    (id_c,) = set(nodes) - {id_a, id_b}
    assert {i: (nodes[i]["id_type"], nodes[i]["version"]) for i in nodes} == {
        id_a: ("persistent", "1.0.0"), id_b: ("persistent", "1.0.1"), id_c: ("random", "1.0.2")}

    b.kill()
    agents.status(cluster, id_b, "unreachable")
    assert admin.transitions(id_b) == [("healthy", "unhealthy", "missed heartbeats"),
                                       ("unhealthy", "unreachable", "missed heartbeats")]
    nodes = admin.nodes(cluster)  # the others kept beating
    assert (nodes[id_a]["status"], nodes[id_c]["status"]) == ("healthy", "healthy")
    # Dozens of heartbeats by now, but the log only tells of changes.
    assert len(agents.children.log("a").splitlines()) <= 4, agents.children.log("a")


def test_restarted_persistent_agent_is_the_same_node_with_its_new_version(
    admin: Admin, agents: Agents
) -> None:
    cluster, key = admin.new_cluster()
    machine = uuid.uuid4().hex
    agent = agents.persistent("a", key, machine, version="1.0.0")
    ((node_id, first),) = agents.healthy(cluster, 1).items()
    assert node_id == str(node_id_for_machine(machine))
    agents.stop(agent)
    identity = agents.tmp / "a" / "identity.json"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert first["api_token"] in identity.read_text()

    agents.persistent("a", key, machine, version="2.0.0")
    agents.wait(lambda: admin.nodes(cluster)[node_id]["version"] == "2.0.0", "version 2.0.0")
    agents.status(cluster, node_id, "healthy")
    assert list(admin.nodes(cluster)) == [node_id]  # no new node
    assert admin.nodes(cluster)[node_id]["api_token"] == first["api_token"]  # registered
    assert "registered node" in agents.children.log("a")


class SlowAnswers(httpx.AsyncBaseTransport):
    """The network between agent and admin: each answer arrives `delay` s after the admin sent
    it, which leaves a window where the admin has committed and the agent does not know yet."""

    def __init__(self, delay: float) -> None:
        self.inner, self.delay = httpx.AsyncHTTPTransport(), delay
        self.answered = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.answered.set()
        await asyncio.sleep(self.delay)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_stop_during_enrollment_still_keeps_the_token_the_admin_issued(
    admin: Admin, tmp_path: Path
) -> None:
    # CI once sent SIGTERM between the admin's enrollment and its answer: the agent stopped
    # with no token on disk, and its next start would have spent another use of the key.
    cluster, key = admin.new_cluster()
    store = IdentityStore(tmp_path / "state")
    store.prepare()
    identity = persistent_identity(store, uuid.uuid4().hex)

    async def stop_while_the_answer_travels() -> None:
        network = SlowAnswers(0.3)
        async with httpx.AsyncClient(base_url=admin.url, transport=network) as client:
            link = Link(Admission("1.0.0", False, key, {}), identity, store,
                        Backoff(0.1, 1.0, random.Random(0)))
            link.attach(AgentApi(client))
            connecting = asyncio.create_task(link.session())
            await asyncio.wait_for(network.answered.wait(), DEADLINE)
            connecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await connecting

    asyncio.run(stop_while_the_answer_travels())
    (node,) = admin.nodes(cluster).values()
    stored = store.load()
    assert stored is not None and stored.node_id == identity.node_id
    assert stored.api_token == node["api_token"]


def test_deleted_node_is_enrolled_again_by_its_agent(admin: Admin, agents: Agents) -> None:
    cluster, key = admin.new_cluster()
    agent = agents.persistent("a", key, uuid.uuid4().hex)
    ((node_id, first),) = agents.healthy(cluster, 1).items()

    assert admin.http.delete(f"/api/v1/nodes/{node_id}").status_code == 204
    agents.status(cluster, node_id, "healthy")
    revived = admin.nodes(cluster)[node_id]
    assert revived["api_token"] != first["api_token"]
    assert agent.poll() is None
    # The admin has the new token a moment before the agent has its answer and saves it.
    identity = agents.tmp / "a" / "identity.json"
    agents.wait(lambda: revived["api_token"] in identity.read_text() or None, "token saved")
    assert agents.children.log("a").count("enrolling again") == 1


def test_revoked_token_without_enrollment_key_stops_with_a_clear_message(
    admin: Admin, agents: Agents
) -> None:
    cluster, key = admin.new_cluster()
    machine = uuid.uuid4().hex
    agent = agents.persistent("a", key, machine)
    (node_id,) = agents.healthy(cluster, 1)
    agents.stop(agent)
    assert admin.http.delete(f"/api/v1/nodes/{node_id}").status_code == 204

    assert agents.persistent("a", None, machine).wait(DEADLINE) == 1
    assert "ENROLLMENT_KEY is not set" in agents.children.log("a")
    # The dead token is forgotten, so the next start says at once what is missing.
    assert agents.persistent("a", None, machine).wait(DEADLINE) == 2


def test_restarted_random_agent_is_a_new_node(admin: Admin, agents: Agents) -> None:
    cluster, key = admin.new_cluster()
    state_dir = agents.tmp / "random-state"
    first = agents.start("r", key, "--id-type", "random", "--state-dir", str(state_dir))
    (old_id,) = agents.healthy(cluster, 1)
    agents.stop(first)
    agents.start("r", key, "--id-type", "random", "--state-dir", str(state_dir))
    agents.wait(lambda: len(admin.nodes(cluster)) == 2, "a second node")
    (new_id,) = set(admin.nodes(cluster)) - {old_id}
    agents.status(cluster, new_id, "healthy")
    assert not (agents.tmp / "xdg").exists()  # no identity on disk
    # Given a state dir, it keeps its node's record and journal there; the first node's go
    # (tests/e2e/test_agent_former_node_commands.py).
    agents.wait(lambda: {p.name for p in (state_dir / "random-nodes").iterdir()} == {
        new_id, f"{new_id}.executions"}, "the first node's record gone")


def test_agent_whose_checks_fail_reports_unhealthy(admin: Admin, agents: Agents) -> None:
    cluster, key = admin.new_cluster()
    # Every filesystem has less than 100% free, so the disk check always fails.
    agents.start("sick", key, "--id-type", "random", "--min-free-disk-percent", "100")
    (node_id,) = agents.wait(lambda: admin.nodes(cluster), "a node")
    agents.status(cluster, node_id, "unhealthy")
    time.sleep(3.5)  # longer than NODE_UNREACHABLE_AFTER_SECONDS: it keeps heartbeating
    assert admin.nodes(cluster)[node_id]["status"] == "unhealthy"
    assert admin.transitions(node_id) == [("healthy", "unhealthy", "heartbeat")]
    assert "local checks fail" in agents.children.log("sick")


def test_agent_rides_out_an_admin_outage(own_admin: Agents) -> None:
    agents, server = own_admin, own_admin.admin
    server.start()
    cluster, key = server.new_cluster()
    agent = agents.persistent("a", key, uuid.uuid4().hex)
    (node_id,) = agents.healthy(cluster, 1)
    # Healthy from enrollment on; the line the test counts comes with the first heartbeat.
    agents.wait(lambda: "heartbeating every" in agents.children.log("a") or None, "heartbeats")

    server.stop()
    time.sleep(3)  # several failed heartbeats
    assert agent.poll() is None
    server.start()
    before = server.nodes(cluster)[node_id]["last_seen_at"]
    agents.wait(lambda: (n := server.nodes(cluster)[node_id])["status"] == "healthy"
                and n["last_seen_at"] > before, "heartbeats after the outage")
    log = agents.children.log("a")
    assert log.count("admin unreachable") == 1, log  # one line per outage, not per retry
    assert log.count("heartbeating every") == 2, log  # before and after
    assert "admin answers again after" in log, log


def test_agent_without_admin_retries_quietly_and_stops_cleanly(own_admin: Agents) -> None:
    agent = own_admin.start("a", "key", "--id-type", "random")  # nothing listens on that port
    own_admin.wait(lambda: "admin unreachable" in own_admin.children.log("a"), "unreachable")
    time.sleep(2)  # a few more attempts
    assert agent.poll() is None
    agent.send_signal(signal.SIGINT)
    assert agent.wait(10) == 0
    assert own_admin.children.log("a").count("admin unreachable") == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"ENROLLMENT_KEY": "k"}, "the admin URL is not set"),
        # It said only to "set an ENROLLMENT_KEY whose blob names it", to someone who had.
        ((), {"ENROLLMENT_KEY": "k"}, "ENROLLMENT_KEY is not a key blob"),
        (("--admin-url", "ftp://x"), {"ENROLLMENT_KEY": "k"}, "must be http(s)://"),
        (("--admin-url", "http://127.0.0.1:9"), {}, "ENROLLMENT_KEY is not set"),
        (("--admin-url", "http://x", "--id-type", "other"), {}, "invalid choice"),
        (("--admin-url", "http://x", "--agent-version", "v" * 65), {}, "--agent-version must be"),
        (("--admin-url", "http://x", "--ssh-port", "70000"), {}, "--ssh-port must be"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    full_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}
    result = subprocess.run([str(BIN / "edge-agent"), "--state-dir", str(tmp_path / "s"), *args],
                            env=full_env, capture_output=True, text=True, timeout=DEADLINE,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("edge-agent: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_agent_without_admin_url_uses_the_one_its_key_names_and_logs_json(
    admin: Admin, agents: Agents
) -> None:
    cluster, key = admin.new_cluster()
    assert key_blob_server(key) == admin.url  # the admin writes its own URL into the blob
    env = {"PATH": os.environ["PATH"], "HOME": str(agents.tmp / "home"), "ENROLLMENT_KEY": key}
    agents.children.spawn("a", ["edge-agent", "--id-type", "random", *LENIENT_CHECKS], env)
    agents.healthy(cluster, 1)
    lines = [json.loads(line) for line in agents.children.log("a").splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert lines[0]["message"].startswith("edge-agent ") and admin.url in lines[0]["message"]


@pytest.mark.parametrize("key", [
    encode_blob("http://unused", "never-issued"),  # a well-formed blob the admin never made
    "not-a-key-blob",
])
def test_a_key_the_admin_refuses_stops_the_agent_with_status_3(
    admin: Admin, agents: Agents, key: str
) -> None:
    assert agents.start("a", key, "--id-type", "random").wait(DEADLINE) == 3
    log = agents.children.log("a")
    assert "refuses ENROLLMENT_KEY" in log
    assert log.count("refuses ENROLLMENT_KEY") == 1  # said once, not retried


def test_an_engine_it_cannot_reach_stops_the_agent_with_one_line(
    admin: Admin, agents: Agents
) -> None:
    _, key = admin.new_cluster()
    engine = f"unix://{agents.tmp}/no-engine.sock"
    assert agents.start("a", key, "--id-type", "random", "--docker-url", engine
                        ).wait(DEADLINE) == 1
    errors = [line for line in agents.children.log("a").splitlines()
              if json.loads(line)["level"] != "info"]
    # The engine's client session was left open: asyncio added "Unclosed client session".
    assert len(errors) == 1 and "cannot reach the container engine" in errors[0], errors


def test_a_long_poll_in_flight_is_answered_when_the_admin_stops(own_admin: Agents) -> None:
    server = own_admin.admin
    server.start()
    _, key = server.new_cluster()
    enrolled = server.data(server.http.post("/agent/v1/enroll", json={"enrollment_key": key}))
    token = {"authorization": f"Bearer {enrolled['api_token']}"}
    answers: list[httpx.Response] = []

    def poll() -> None:
        answers.append(server.http.post("/agent/v1/work", json={"wait_seconds": 25},
                                        headers=token, timeout=30))

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(1)  # the poll is waiting for work
    stopped_at = time.monotonic()
    assert server.proc is not None
    server.proc.terminate()
    waiting.join(20)
    # Answered with the (empty) work at once, not cut off after the grace period with a 500.
    assert [a.status_code for a in answers] == [200]
    assert answers[0].json()["data"]["executions"] == []
    assert time.monotonic() - stopped_at < 2.5
    server.proc.wait(15)
