"""The response check every HTTP test goes through refuses what the document does not say.

tests/contract.py passing silently would make every end-to-end test a little weaker without
anyone noticing, so its refusals are tested here on responses made by hand.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract import DOCUMENT, KNOWN_MISMATCHES, UNDOCUMENTED, ContractError, check, match

ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
META = {"request_id": "r-1", "timestamp": "2026-01-01T00:00:00.000Z"}
ERROR = {"error": {"code": "not_found", "message": "Resource not found", "details": None},
         "meta": META}
ALIAS = {"id": ID, "name": "web", "node_id": ID, "cluster_name": "prod", "vpn_hostname": "x",
         "inserted_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}


def respond(
    method: str, path: str, status: int, body: Any = None, **headers: str
) -> httpx.Response:
    request = httpx.Request(method, f"http://testserver{path}")
    content = {} if body is None else {"json": body}
    return httpx.Response(status, request=request, headers={"x-request-id": "r-1", **headers},
                          **content)


def test_documented_responses_pass() -> None:
    check(respond("GET", f"/api/v1/aliases/{ID}", 200, {"data": ALIAS, "meta": META}))
    check(respond("GET", f"/api/v1/aliases/{ID}", 404, ERROR))
    check(respond("DELETE", f"/api/v1/aliases/{ID}", 204))
    check(respond("GET", "/api/v1/nowhere", 404, ERROR))  # unrouted: the error envelope
    check(respond("PUT", "/api/v1/clusters", 405, ERROR))
    check(respond("GET", "/api/v1/events/stream", 200, **{"content-type": "text/event-stream"}))
    check(respond("GET", "/healthz", 200, {"anything": True}))


@pytest.mark.parametrize(("response", "says"), [
    (respond("GET", f"/api/v1/aliases/{ID}", 418, ERROR), "status not documented"),
    (respond("GET", f"/api/v1/aliases/{ID}", 200, {"data": {**ALIAS, "extra": 1}, "meta": META}),
     "body['data']"),
    (respond("GET", f"/api/v1/aliases/{ID}", 200, {"data": {**ALIAS, "id": "7"}, "meta": META}),
     "is not a 'uuid'"),
    (respond("GET", f"/api/v1/aliases/{ID}", 200, {"data": ALIAS}), "'meta' is a required"),
    (respond("GET", f"/api/v1/aliases/{ID}", 404, {"detail": "Not Found"}), "body"),
    (respond("DELETE", f"/api/v1/aliases/{ID}", 204, {"data": None}), "without a body"),
    (respond("GET", "/api/v1/nowhere", 200, {"data": []}), "is not documented"),
    (respond("GET", "/api/v1/nowhere", 404, {"detail": "Not Found"}), "body"),
    (respond("GET", "/api/v1/clusters", 200, **{"content-type": "text/event-stream"}),
     "documented ['application/json']"),
    (httpx.Response(200, json={"data": ALIAS, "meta": META},
                    request=httpx.Request("GET", f"http://t/api/v1/aliases/{ID}")),
     "no x-request-id"),
])
def test_what_the_document_does_not_say_is_refused(response: httpx.Response, says: str) -> None:
    with pytest.raises(ContractError) as refused:
        check(response)
    assert says in str(refused.value)


def test_a_literal_segment_beats_a_parameter() -> None:
    assert match("/api/v1/clusters/default/enrollment_keys") == (
        "/api/v1/clusters/default/enrollment_keys")
    assert match("/api/v1/clusters/prod/enrollment_keys") == (
        "/api/v1/clusters/{cluster_name}/enrollment_keys")
    assert match("/api/v1/clusters/prod/enrollment_keys/x") is None


def test_the_exceptions_name_real_routes() -> None:
    """An allow-listed path is one the document leaves out; a known mismatch is a documented
    route (so neither list can hide a typo)."""
    assert not UNDOCUMENTED & DOCUMENT["paths"].keys()
    for method, path, status in KNOWN_MISMATCHES:
        assert method.lower() in DOCUMENT["paths"][path], (method, path)
        assert 100 <= status < 600
