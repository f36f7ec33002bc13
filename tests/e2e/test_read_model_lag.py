"""A write recorded while the read model cannot take it (its projector waits for the database:
on SQLite a full disk that took the events but not their rows; here a read-model table another
session holds) is answered 503 saying that it was recorded and must not be sent again. It was
the plain timeout's "retry": a client that did so recorded it twice, and a command ran twice on
every node it targets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PG_BASE
from tests.e2e.agent_fixtures import eventually, pg_admin

pytestmark = pytest.mark.e2e


def test_a_write_the_read_model_does_not_show_in_time_is_not_to_be_sent_again(
    tmp_path: Path,
) -> None:
    # The projector's own transaction, not the writer's (WRITE_PROJECT_IN_COMMIT), as on SQLite.
    with pg_admin(tmp_path, WRITE_PROJECT_IN_COMMIT="false") as admin:
        schema = admin.env["DATABASE_URL"].rsplit("schema=", 1)[1]
        with psycopg.connect(PG_BASE) as holder:
            holder.execute(f'LOCK TABLE "{schema}".rm_commands, "{schema}".rm_projects '
                           "IN EXCLUSIVE MODE")  # reads go on, the projector's writes wait
            # Each waits for the read model (10 s), longer than the harness's client does.
            with ThreadPoolExecutor(2) as pool, httpx.Client(
                    base_url=admin.url, timeout=30, headers=admin.http.headers) as http:
                # One write on the event loop's path (commands), one from the thread pool.
                writes = [pool.submit(http.post, "/api/v1/commands", json={
                              "command_text": "true", "targeting": {"type": "all"}}),
                          pool.submit(http.post, "/projects", json={"name": "lagging"})]
                answers = [w.result() for w in writes]
            holder.rollback()
        for answer in answers:
            assert answer.status_code == 503, answer.text
            message = answer.json()["error"]["message"]
            assert "was recorded" in message and "do not send it again" in message, message
        def commands() -> list[str] | None:  # once the projector has its table again
            rows = admin.data(admin.http.get("/api/v1/commands"))
            return [row["command_text"] for row in rows] or None

        assert eventually(commands, "the recorded command", admin.children) == ["true"]
        assert admin.http.post("/projects", json={"name": "lagging"}).status_code == 409
