"""The PostgreSQL connection budget of real `edge-admin serve` processes (README, "Connections
per process"): an idle admin holds at most 10, and under load each stays within its
DATABASE_POOL_SIZE plus its locks and LISTEN connections, so three admins fit easily in
PostgreSQL's default max_connections=100 (three admins of 33 each once exhausted it)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import PG_BASE
from tests.contract import HOOKS
from tests.e2e.agent_fixtures import Children, eventually
from tests.integration.test_admin_processes import API_KEY, AdminProcess, children

pytestmark = pytest.mark.integration
__all__ = ["children"]  # the fixture, shared with the two-admin tests
IDLE_BUDGET = 10
POOL = 4  # DATABASE_POOL_SIZE in the load test: small, so reaching past it would show
PER_ADMIN_MAX = POOL + 2  # the pool, the advisory locks' session, the LISTEN connection


def connections(prefix: str) -> Counter[str]:
    """Connections by application_name among those whose name starts with `prefix` (libpq's
    PGAPPNAME, which names every connection of a process and prefixes our pool names)."""
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        rows = conn.execute("SELECT application_name FROM pg_stat_activity "
                            "WHERE starts_with(application_name, %s)", (prefix,)).fetchall()
    return Counter(str(name) for (name,) in rows)


@pytest.fixture
def env(pg_url: str) -> Iterator[dict[str, str]]:
    yield {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": pg_url, "API_KEY": API_KEY, "ENCRYPTION_KEY": "budget-key",
           "LOG_FORMAT": "json"}


def admin(children: Children, env: dict[str, str], **extra: str) -> AdminProcess:
    app_name = "t" + uuid.uuid4().hex[:10]
    return AdminProcess(children, uuid.uuid4().hex[:12], {**env, "PGAPPNAME": app_name, **extra})


def settled(process: AdminProcess) -> Counter[str]:
    """Its connections once start-up is over (the count is steady for half a second)."""
    last: list[Counter[str]] = []

    def steady() -> Counter[str] | None:
        now = connections(process.env["PGAPPNAME"])
        steady = bool(last) and now == last[-1]
        last.append(now)
        time.sleep(0.5)
        return now if steady else None

    return eventually(steady, f"{process.name}'s connections settling", process.children)


def test_an_idle_serve_holds_at_most_ten_connections_each_named_by_its_pool(
    env: dict[str, str], children: Children
) -> None:
    process = admin(children, env).start()
    held = settled(process)
    assert sum(held.values()) <= IDLE_BUDGET, held
    app_name = process.env["PGAPPNAME"]
    assert set(held) <= {f"{app_name}:store", f"{app_name}:locks", f"{app_name}:listen"}, held
    assert held[f"{app_name}:locks"] == 1  # projector, relay, scheduler and admin-id locks
    assert held[f"{app_name}:listen"] == 1


def load(process: AdminProcess, stop: threading.Event) -> None:
    """Writes and reads, back to back, until `stop`."""
    with httpx.Client(base_url=process.http.base_url, headers=process.http.headers,
                      timeout=30, event_hooks=HOOKS) as http:
        while not stop.is_set():
            name = "c-" + uuid.uuid4().hex[:10]
            assert http.post("/api/v1/clusters", json={"name": name}).status_code == 201
            assert http.get("/api/v1/clusters", params={"page_size": 20}).status_code == 200


def test_three_admins_on_one_database_stay_within_their_budget(
    env: dict[str, str], children: Children
) -> None:
    admins: list[AdminProcess] = []
    for _ in range(3):  # each start adds at most one idle admin's budget
        admins.append(admin(children, env, DATABASE_POOL_SIZE=str(POOL)).start())
        held = [settled(a) for a in admins]
        assert sum(sum(h.values()) for h in held) <= IDLE_BUDGET * len(admins), held
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(a, stop)) for a in admins for _ in range(8)]
    peak: Counter[str] = Counter()
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for a in admins:
                now = connections(a.env["PGAPPNAME"])
                app_name = a.env["PGAPPNAME"]
                peak[app_name] = max(peak[app_name], sum(now.values()))
                assert now[f"{app_name}:store"] <= POOL, now
            time.sleep(0.1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert all(count <= PER_ADMIN_MAX for count in peak.values()), peak
    assert sum(peak.values()) <= 3 * PER_ADMIN_MAX, peak


def test_a_projections_process_listens_and_keeps_a_no_projections_serve_current(
    env: dict[str, str], children: Children
) -> None:
    """`projections run` beside `serve --no-projections`: it holds its LISTEN connection (other
    processes' commits wake it; it polls only once a second besides), stays within its budget,
    and the serve's writes are answered once the read model, kept by the other process, has
    them."""
    app_name = "t" + uuid.uuid4().hex[:10]
    projector_env = {**env, "PGAPPNAME": app_name}
    children.spawn("projections", ["edge-admin", "projections", "run"], projector_env)
    held = eventually(lambda: (lambda c: c if c[f"{app_name}:listen"] == 1 else None)(
        connections(app_name)), "the projections process listening", children)
    assert sum(held.values()) <= IDLE_BUDGET, held
    serve = admin(children, env, RUN_PROJECTIONS="false").start()
    for n in range(5):  # each answered with its row: the other process applied it
        created = serve.post("/api/v1/clusters", {"name": f"p{n}"})
        assert created["name"] == f"p{n}"
        assert serve.get(f"/api/v1/clusters/p{n}")["name"] == f"p{n}"
    for n in range(3):  # a write decided on the event loop waits the same way
        command = serve.post("/api/v1/commands", {"command_text": f"c{n}",
                                                  "targeting": {"type": "all"}})
        assert serve.get(f"/api/v1/commands/{command['id']}")["command_text"] == f"c{n}"


def test_work_recorded_on_one_admin_wakes_a_long_poll_waiting_on_another(
    env: dict[str, str], children: Children
) -> None:
    """Two admins on one database, the agent's long poll waiting on the one that keeps no read
    model (`--no-projections`): a command created on the other reaches it at once, by the work
    bell's NOTIFY, not at the poll's own look again (30 s on PostgreSQL, past its 25 s wait)."""
    writer = admin(children, env).start()
    waiter = admin(children, env, RUN_PROJECTIONS="false").start()
    writer.post("/api/v1/clusters", {"name": "bell"})
    key = writer.post("/api/v1/clusters/bell/enrollment_keys", {"uses_remaining": None})["key"]
    enrolled = waiter.post("/agent/v1/enroll", {"enrollment_key": key, "id_type": "random",
                                                "version": "1.0.0"})
    answers: list[tuple[float, dict[str, Any]]] = []

    def poll() -> None:
        response = httpx.post(f"{waiter.http.base_url}/agent/v1/work", json={"wait_seconds": 25},
                              headers={"authorization": f"Bearer {enrolled['api_token']}"},
                              timeout=40)
        answers.append((time.monotonic(), response.json()["data"]))

    polling = threading.Thread(target=poll)
    polling.start()
    time.sleep(1.0)  # it has looked, found nothing, and waits
    assert not answers, answers
    created_at = time.monotonic()
    command = writer.post("/api/v1/commands", {"command_text": "uptime", "targeting": {
        "type": "nodes", "node_ids": [enrolled["node_id"]]}})
    polling.join(40)
    [(answered_at, work)] = answers
    assert [e["command_id"] for e in work["executions"]] == [command["id"]]
    assert answered_at - created_at < 5, "the poll waited for its own look again"
