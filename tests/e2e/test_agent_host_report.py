"""An agent's host report (POST /agent/v1/host, every 15 s): a report that changes nothing is
taken without a decision (only its images are noted, on the event loop on PostgreSQL); one
that changes the profile goes through the write path. Either way the host shows what the
agent's flags say, and its detected capacity fills only what is unset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.concurrency import run_in_threadpool

from entrypoints.http import agent_deployments
from tests.e2e.test_http_support import AUTH, data, enroll, issue_key, running

pytestmark = pytest.mark.e2e
PARIS = {"city": "paris", "latitude": 48.86, "longitude": 2.35}


def test_a_repeated_host_report_is_noted_without_a_decision(
        any_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[Any] = []

    async def counted(func: Callable[..., Any], *args: Any) -> Any:
        decided.append(func)
        return await run_in_threadpool(func, *args)

    monkeypatch.setattr(agent_deployments, "run_in_threadpool", counted)
    with running(any_url) as client:
        enrolled = enroll(client, issue_key(client)["key"])
        node, token = enrolled["node_id"], {"Authorization": f"Bearer {enrolled['api_token']}"}

        def report(**body: Any) -> int:
            """How many decisions the report took (0: noted on the loop)."""
            before = len(decided)
            answer = data(client.post("/agent/v1/host", headers=token, json=body))
            assert answer["node_id"] == node
            return len(decided) - before

        def host() -> dict[str, Any]:
            shown: dict[str, Any] = data(client.get(f"/api/v1/nodes/{node}/host",
                                                    headers=AUTH))
            return shown

        base = {"location": PARIS, "detected_cpu_units": 2048, "detected_memory_mb": 1024}
        assert report(**base, images=["a:1"]) == 1  # no host yet: profiled
        assert (host()["cpu_units"], host()["memory_mb"]) == (2048, 1024)
        assert report(**base, images=["a:1", "b:2"]) == 0
        assert host()["cached_images"] == ["a:1", "b:2"]
        # The operator sets the capacity: the detected one no longer counts, so it is unchanged.
        patched = client.patch(f"/api/v1/nodes/{node}/host", headers=AUTH,
                               json={"cpu_units": 4096})
        assert patched.status_code == 200, patched.text
        assert report(**base, images=["b:2"]) == 0
        assert (host()["cpu_units"], host()["cached_images"]) == (4096, ["b:2"])
        # A flag that differs is decided, and wins.
        assert report(**{**base, "location": {**PARIS, "city": "lyon"}}, cpu_units=1024) == 1
        assert (host()["location"]["city"], host()["cpu_units"]) == ("lyon", 1024)
