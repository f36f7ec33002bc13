"""A real `edge-admin serve` whose database goes away and comes back: meanwhile every request is
answered 503 service_unavailable within the pool's timeout (not 500, not a hang; at once once
it is known to be away), /readyz says so within its bound, /metrics still answers (database_up
0), nothing is half-written or taken for a stuck read model, the background loops say each
trouble once, an open event stream waits it out, and all goes on when the database is back."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import PG_BASE, pg_schema
from tests.e2e.agent_fixtures import API_KEY, Admin, Children, eventually

pytestmark = pytest.mark.e2e

POOL_TIMEOUT = 5.0  # POSTGRES_CONNECT_TIMEOUT (entrypoints/settings.py)
READY_WITHIN = 2.0  # entrypoints/http/health.READY_WITHIN


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own (closing it to connections must not touch other tests' schemas)."""
    with pg_schema():  # skips where PostgreSQL is not reachable
        pass
    name = "outage_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _connections(name: str, allowed: bool) -> None:
    """Closes the database to new connections and ends its sessions, or opens it again: what a
    restart, a failover or a network cut looks like from here."""
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if allowed else "false")))
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s", (name,))


class Stream:
    """/api/v1/events/stream read on a thread of its own: its lines, and how it ended."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.lines: list[bytes] = []
        self.ended: str | None = None
        self.status = 0  # once the server has answered
        threading.Thread(target=self._read, args=(url, headers), daemon=True).start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=None) as answer:
                self.status = answer.status_code
                for line in answer.iter_lines():
                    self.lines.append(line.encode())
            self.ended = "closed by the server"
        except httpx.HTTPError as exc:
            self.ended = repr(exc)


def test_requests_answer_503_while_the_database_is_away_and_go_on_after(
        tmp_path: Path, database: str) -> None:
    children = Children(tmp_path / "logs")
    admin = Admin(children, tmp_path)
    admin.env.update(DATABASE_URL=urlparse(PG_BASE)._replace(path=f"/{database}").geturl(),
                     LOG_FORMAT="json")
    key = {"Authorization": f"Bearer {API_KEY}"}
    try:
        admin.start()
        http = admin.http

        def ready() -> bool:
            try:
                return http.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, "ready admin", children)
        assert http.post("/api/v1/clusters", json={"name": "c1"}).status_code == 201
        stream = Stream(f"{admin.url}/api/v1/events/stream", key)
        assert eventually(lambda: stream.status, "the stream's answer", children) == 200

        _connections(database, allowed=False)
        assert http.get("/healthz").status_code == 200  # the process itself is fine
        started = time.monotonic()
        readiness = http.get("/readyz")
        assert time.monotonic() - started < READY_WITHIN + 1.5
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["database"].startswith("error")
        scrape = http.get("/metrics")  # Prometheus keeps the target and sees why
        assert scrape.status_code == 200, scrape.text
        assert "\nedge_admin_database_up 0.0\n" in scrape.text
        assert 'route="/readyz",status="503"' in scrape.text
        assert "edge_admin_projection_lag_events" not in scrape.text  # not read, not invented
        for method, path, body in [("GET", "/api/v1/clusters/c1", None),
                                   ("POST", "/api/v1/clusters", {"name": "c2"}),
                                   ("POST", "/api/v1/clusters", {"name": "c2"})]:
            started = time.monotonic()
            answer = http.request(method, path, json=body)
            assert time.monotonic() - started < POOL_TIMEOUT + 3, (method, path)
            assert answer.status_code == 503, (method, path, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "service_unavailable"
            assert "database is unavailable" in error["message"], error  # not "stuck"

        # Known to be away now: of many requests at once, one waits to find out, the rest
        # are refused at once instead of each waiting for the pool's timeout.
        def timed(_: int) -> tuple[int, float]:
            started = time.monotonic()
            return (http.get("/api/v1/clusters/c1").status_code,
                    time.monotonic() - started)

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(timed, range(10)))
        assert {status for status, _ in answers} == {503}
        assert sum(took < 1.0 for _, took in answers) >= 8, answers

        _connections(database, allowed=True)
        eventually(ready, "ready admin after the database came back", children,
                   timeout=20)
        names = [c["name"] for c in http.get("/api/v1/clusters").json()["data"]]
        assert names == ["c1"]  # the refused write left nothing behind
        assert http.post("/api/v1/clusters", json={"name": "c2"}).status_code == 201
        assert http.get("/api/v1/clusters/c2").status_code == 200
        scraped = http.get("/metrics").text
        assert "\nedge_admin_database_up 1.0\n" in scraped
        assert "\nedge_admin_projection_lag_events " in scraped
        # the stream open through it all goes on with what is recorded now
        assert http.post("/projects", json={"name": "after"}).status_code == 201
        eventually(lambda: any(b"event: edge.project.created" in f for f in stream.lines),
                   f"the project's event on the stream opened before the outage "
                   f"({stream.lines[-5:]}, {stream.ended})", children, timeout=10)
        assert stream.ended is None
    finally:
        admin.close()
    lines = [json.loads(line) for line in children.log("admin").splitlines() if line.strip()]
    messages = [str(e["message"]) for e in lines]
    assert not [m for m in messages if "unhandled error" in m or "cannot apply" in m]
    retrying = [m for m in messages if "failed; retrying" in m]
    # each loop says its trouble once or twice (a session ended, then refused), not per retry
    assert len(retrying) <= 12, "\n".join(retrying)
    assert any("works again" in m for m in messages)
