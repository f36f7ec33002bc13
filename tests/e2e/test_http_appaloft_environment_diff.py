"""Appaloft's environment promote and diff (they answered 403 `environment-promotion` before):
a promotion is a clone of another kind, and a diff compares two environments' own variables,
secrets by value without showing either value."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_appaloft import SECRET, Workflow, get, post
from tests.e2e.test_http_support import AUTH, MISSING, error, running

pytestmark = pytest.mark.e2e


def set_variable(client: TestClient, environment: str, key: str, value: str,
                 **more: Any) -> None:
    sent = client.post(f"/environments/{environment}/variables", headers=AUTH,
                       json={"key": key, "value": value, **more})
    assert sent.status_code == 204, sent.text


def test_promote_makes_an_environment_of_the_target_kind_with_the_variables(
        any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        env = f"/environments/{flow.environment}"
        set_variable(client, flow.environment, "MODE", "staging")
        set_variable(client, flow.environment, "DB_PASSWORD", SECRET, isSecret=True)
        promoted = post(client, f"{env}/promote",
                        {"targetName": "prod-eu", "targetKind": "production-eu"}, 201)["id"]
        shown = get(client, f"/environments/{promoted}")
        assert (shown["name"], shown["kind"], shown["projectId"], shown["lifecycleStatus"]) == (
            "prod-eu", "production-eu", flow.project, "active")
        # Lineage: a promotion and a clone name their source; an environment made on its own
        # names none.
        assert shown["parentEnvironmentId"] == flow.environment
        assert get(client, env)["parentEnvironmentId"] is None
        cloned = post(client, f"/environments/{promoted}/clone", {"targetName": "prod-us"},
                      201)["id"]
        assert get(client, f"/environments/{cloned}")["parentEnvironmentId"] == promoted
        assert {v["key"]: v["value"] for v in shown["maskedVariables"]} == {
            "MODE": "staging", "DB_PASSWORD": "****"}
        assert without_times(get(client, f"{env}/diff/{promoted}")) == [
            entry("DB_PASSWORD", "****", "unchanged", secret=True),
            entry("MODE", "staging", "unchanged")]
        error(client.post(f"{env}/promote", headers=AUTH,
                          json={"targetName": "prod-eu", "targetKind": "production"}), 409,
              "conflict")  # the name is taken in the project
        error(client.post(f"{env}/promote", headers=AUTH, json={"targetName": "x"}), 422,
              "validation_failed", {"targetKind"})
        error(client.post(f"{env}/promote", headers=AUTH,
                          json={"targetName": "x", "targetKind": "Not A Kind"}), 422,
              "validation_failed", {"targetKind"})
        error(client.post(f"/environments/{MISSING}/promote", headers=AUTH,
                          json={"targetName": "x", "targetKind": "local"}), 404, "not_found")
        error(client.post("/environments/nope/promote", headers=AUTH,
                          json={"targetName": "x", "targetKind": "local"}), 400, "bad_request")
        post(client, f"{env}/lock", {})
        error(client.post(f"{env}/promote", headers=AUTH,
                          json={"targetName": "qa", "targetKind": "qa"}), 409, "conflict")
        assert get(client, "/environments/count", projectId=flow.project) == {"count": 3}


def entry(key: str, value: str, change: str, *, secret: bool = False,
          other: str | None = None) -> dict[str, Any]:
    """A diff entry of a runtime variable set on both sides (`other`: the other side's value)."""
    side = {"key": key, "value": value, "scope": "environment", "exposure": "runtime",
            "isSecret": secret, "kind": "secret" if secret else "plain-config"}
    return {"key": key, "exposure": "runtime", "left": side,
            "right": {**side, "value": value if other is None else other}, "change": change}


def without_times(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in found:
        for side in ("left", "right"):
            if item[side] is not None:
                assert item[side].pop("updatedAt")
    return found


def test_diff_names_each_change_and_compares_secrets_without_showing_them(
        any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        other = post(client, "/environments", {
            "projectId": flow.project, "name": "staging", "kind": "staging"}, 201)["id"]
        left, right = flow.environment, other
        for env, values in ((left, {"SAME": "1", "CHANGED": "a", "GONE": "x"}),
                            (right, {"SAME": "1", "CHANGED": "b", "NEW": "y"})):
            for key, value in values.items():
                set_variable(client, env, key, value)
        set_variable(client, left, "TOKEN", SECRET, isSecret=True)
        set_variable(client, right, "TOKEN", SECRET, isSecret=True)  # sealed apart, same value
        set_variable(client, left, "ROTATED", SECRET, isSecret=True)
        set_variable(client, right, "ROTATED", SECRET + "-2", isSecret=True)
        set_variable(client, left, "MIXED", "plain")
        set_variable(client, right, "MIXED", "plain", isSecret=True)
        set_variable(client, right, "SAME", "build", exposure="build-time")
        found = without_times(get(client, f"/environments/{left}/diff/{right}"))
        assert [(i["key"], i["exposure"], i["change"]) for i in found] == [
            ("CHANGED", "runtime", "changed"), ("GONE", "runtime", "removed"),
            ("MIXED", "runtime", "changed"), ("NEW", "runtime", "added"),
            ("ROTATED", "runtime", "changed"), ("SAME", "build-time", "added"),
            ("SAME", "runtime", "unchanged"), ("TOKEN", "runtime", "unchanged")]
        by_key = {(i["key"], i["exposure"]): i for i in found}
        assert by_key["CHANGED", "runtime"] == entry("CHANGED", "a", "changed", other="b")
        assert by_key["GONE", "runtime"]["right"] is None
        assert by_key["NEW", "runtime"]["left"] is None
        assert by_key["ROTATED", "runtime"] == entry("ROTATED", "****", "changed", secret=True)
        assert by_key["MIXED", "runtime"]["right"]["value"] == "****"
        back = get(client, f"/environments/{right}/diff/{left}")
        assert {(i["key"], i["exposure"]): i["change"] for i in back}[("NEW", "runtime")] == (
            "removed")
        itself = get(client, f"/environments/{left}/diff/{left}")
        assert {i["change"] for i in itself} == {"unchanged"} and len(itself) == 6
        post(client, f"/environments/{right}/archive", {})  # archived ones stay comparable
        assert len(get(client, f"/environments/{left}/diff/{right}")) == 8


def test_diff_of_unknown_or_malformed_environments() -> None:
    with running() as client:
        flow = Workflow(client)
        env = flow.environment
        for path in (f"/environments/{env}/diff/{MISSING}", f"/environments/{MISSING}/diff/{env}"):
            error(client.get(path, headers=AUTH), 404, "not_found")
        for path in (f"/environments/{env}/diff/nope", f"/environments/nope/diff/{env}",
                     f"/environments/{env}/diff/{flow.resource}x"):
            error(client.get(path, headers=AUTH), 400, "bad_request")
        assert get(client, f"/environments/{env}/diff/{env}") == []
