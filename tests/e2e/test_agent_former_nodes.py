"""A `random` agent is a new node at every start, so the containers its earlier run made belong
to a node nobody speaks for any more: killed with one running, its node deleted on the admin,
then started again, it stops and removes that container (it used to run for good) and the
admin never hears of it from the new node. Real admin, real agents, podman.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.agent_fixtures import eventually
from tests.e2e.podman_harness import Engine
from tests.e2e.test_agent_health_containers import containers
from tests.e2e.test_deployments_containers import Fleet, fleet_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def fleet(tmp_path: Path, engine: Engine) -> Iterator[Fleet]:
    before = set(containers(engine))
    with fleet_of(tmp_path, engine) as running:
        yield running
    # The engine is the suite's: later tests count its edge- containers, and the last
    # deployment here is left running when the agents go.
    made = [n for n in containers(engine) if n.startswith("edge-") and n not in before]
    if made:
        subprocess.run(["podman", "rm", "-f", "-t", "0", *made], env=engine.env,
                       check=True, capture_output=True, timeout=120)


def orphan_to_be(fleet: Fleet) -> tuple[dict[str, str], str]:
    """The fleet's agents started and a deployment READY in montreal: the hosts and its id."""
    hosts = fleet.start_agents()
    assert fleet.http.post("/api/v1/apps", headers=fleet.api, json={"name": "game"}).is_success
    fleet.version("v1", "exec httpd -f -p 8080 -h /www")
    orphan = fleet.deploy("v1", "montreal")
    fleet.reaches(orphan, "Status.READY")
    return hosts, orphan


def killed(fleet: Fleet, city: str) -> tuple[list[str], dict[str, str]]:
    """The city's agent killed (-9); how it was started."""
    argv, env, agent = fleet.agents[city]
    agent.kill()
    agent.wait(10)
    return argv, env


def test_a_random_agent_restarted_after_a_crash_removes_what_its_deleted_node_ran(
    fleet: Fleet,
) -> None:
    hosts, orphan = orphan_to_be(fleet)
    argv, env = killed(fleet, "montreal")
    deleted = fleet.http.delete(f"/api/v1/nodes/{hosts['montreal']}", headers=fleet.api)
    assert deleted.status_code == 204, deleted.text
    assert "was deleted" in fleet.reaches(orphan, "Status.ERROR")["error_detail"]
    assert f"edge-{orphan}" in containers(fleet.engine)  # no agent watches it now

    fleet.children.spawn("montreal-again", argv, env)
    eventually(lambda: f"edge-{orphan}" not in containers(fleet.engine), "the orphan removed",
               fleet.children, timeout=60)
    log = fleet.children.log("montreal-again")
    assert f"found deployment {orphan}" not in log  # not adopted, so never reported
    assert fleet.status(orphan)["current_status"] == "Status.ERROR"

    def new_node() -> bool:
        rows = fleet.http.get("/api/v1/hosts", headers=fleet.api).json()["data"]
        return any(r["location"].get("city") == "montreal" and r["node_id"] != hosts["montreal"]
                   for r in rows)

    eventually(new_node, "the new node's profile", fleet.children)
    # Its own work goes on: a deployment there runs on the new node.
    fleet.reaches(fleet.deploy("v1", "montreal"), "Status.READY")


def test_a_random_agent_whose_node_is_deleted_removes_what_it_ran_as_it_enrolls_again(
    fleet: Fleet,
) -> None:
    hosts, orphan = orphan_to_be(fleet)
    folder = fleet.tmp / "montreal" / ".local" / "state" / "edge-agent" / "random-nodes"
    old = hosts["montreal"]
    assert old in {p.name for p in folder.iterdir()}
    deleted = fleet.http.delete(f"/api/v1/nodes/{old}", headers=fleet.api)
    assert deleted.status_code == 204, deleted.text
    # The running agent enrolls again as a new node, and the admin has it stop the container
    # it still holds; the deleted node's record used to stay (locked) until the next start.
    eventually(lambda: f"edge-{orphan}" not in containers(fleet.engine), "the orphan removed",
               fleet.children, timeout=60)
    eventually(lambda: old not in {p.name for p in folder.iterdir()}, "the old record gone",
               fleet.children)
    assert fleet.agents["montreal"][2].poll() is None
    log = fleet.children.log("montreal")
    assert "enrolling again" in log
    # One removal: the record waits for the agent's own stop, not racing it to the engine.
    assert "could not remove" not in log and "removing the container" not in log


def test_a_random_agent_without_containers_leaves_a_former_nodes_containers_to_one_with(
    fleet: Fleet,
) -> None:
    hosts, orphan = orphan_to_be(fleet)
    argv, env = killed(fleet, "montreal")
    # The same state dir, without --docker-url: it cannot remove that node's containers, so
    # it must not forget the node either (it used to: its containers then ran for good).
    state_dir = Path(env["HOME"]) / ".local" / "state" / "edge-agent"
    plain = [a for a in argv[:argv.index("--docker-url")] if a not in ("--id-type", "random")]
    fleet.children.spawn("plain", [*plain, "--id-type", "random", "--state-dir",
                                   str(state_dir)], env)
    record = state_dir / "random-nodes" / hosts["montreal"]
    eventually(lambda: f"leaving node {hosts['montreal']}" in fleet.children.log("plain")
               or not record.exists(), "the node seen to", fleet.children)
    assert f"edge-{orphan}" in containers(fleet.engine)
    fleet.children.spawn("montreal-again", argv, env)
    eventually(lambda: f"edge-{orphan}" not in containers(fleet.engine), "the orphan removed",
               fleet.children, timeout=60)
