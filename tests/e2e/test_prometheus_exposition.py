"""GET /metrics follows the Prometheus naming conventions (issue 15): reserved suffixes only
where they belong, `_total` on every counter, a sentence for every HELP, the renamed families
gone, and README "Metrics" naming every family. Parsed with prometheus_client's own parser."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from entrypoints.http.admin_metrics_prometheus import FAMILIES
from entrypoints.http.admin_metrics_shapes import AdminMetricsResponse
from tests.e2e.test_http_support import AUTH, data, enroll, running

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
# Suffixes the exposition formats give to the series of histograms and summaries, and `_total`
# to counters; a gauge or counter named with one of them reads as something it is not.
RESERVED = ("_total", "_count", "_sum", "_bucket", "_created", "_gcount", "_gsum")
JSON_PATH = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
SENTENCE = re.compile(r"^[A-Z][^\n]* [^\n]*\.$")
RENAMED = {  # the old name -> the new one (README "renamed in this release")
    "edge_admin_commands_delivery_delivered_count":
        "edge_admin_commands_delivery_last_batch_executions",
    "edge_admin_vpn_zombie_cleanup_deleted_count":
        "edge_admin_vpn_zombie_cleanup_last_deleted_admins",
    "edge_admin_ssh_verifications_failed": "edge_admin_ssh_verifications_failed_total",
}
Families = dict[str, tuple[str, str, list[Sample]]]


def written(families: Families) -> set[str]:
    """The names as exposed (a counter's family name has no `_total`; its series do)."""
    return {n + "_total" if kind == "counter" else n for n, (kind, _, _) in families.items()}


@pytest.fixture(scope="module")
def families() -> Families:
    """Every family of a busy admin's /metrics: name -> (type, HELP, samples)."""
    with running() as client:
        key = data(client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH, json={}),
                   201)["key"]
        token = {"Authorization": f"Bearer {enroll(client, key)['api_token']}"}
        assert client.post("/agent/v1/heartbeat", headers=token, json={}).status_code == 200
        refused = client.post("/agent/v1/ssh/verify", headers=token, json={
            "username": "nobody", "method": "password", "password": "x" * 12})
        assert refused.status_code == 200
        assert client.get("/api/v1/nope", headers=AUTH).status_code == 404
        response = client.get("/metrics")
    assert response.status_code == 200
    return {f.name: (f.type, f.documentation, f.samples)
            for f in text_string_to_metric_families(response.text)}


def test_names_types_and_help_follow_the_conventions(families: Families) -> None:
    assert len(families) > 40
    for name, (kind, doc, samples) in families.items():
        assert kind in ("counter", "gauge", "histogram"), name
        assert not JSON_PATH.match(doc) and SENTENCE.match(doc), (name, doc)
        series = {s.name for s in samples}
        if kind == "counter":  # the parser names the family without `_total`; its series have it
            assert series == {name + "_total"}, (name, series)
        if kind == "gauge":
            assert not name.endswith(RESERVED), name
            assert series == {name}, (name, series)
        if kind == "histogram":
            assert name.endswith("_seconds") and all(
                s.removeprefix(name) in ("_bucket", "_count", "_sum") for s in series), series
    names = written(families)
    for old, new in RENAMED.items():
        assert old not in names and new in names, old
    assert families["edge_admin_ssh_verifications_failed"][0] == "counter"
    failed = families["edge_admin_ssh_verifications_failed"][2]
    assert failed[0].value == 1  # the refused login above
    for gauge in ("projection_lag_events", "relay_lag_events", "webhook_deliveries_pending",
                  "webhook_oldest_pending_delivery_age_seconds"):
        assert families[f"edge_admin_{gauge}"][0] == "gauge"


def test_the_readme_names_every_family_and_what_was_renamed(families: Families) -> None:
    text = README.read_text()
    section = text[text.index("### Metrics"):]
    section = section[:section.index("\n### ", 1)]
    for name in written(families):
        if not name.startswith("edge_admin_process_"):  # the library's: README names the prefix
            assert f"`{name}`" in section, name
    assert "`edge_admin_process_*`" in section
    for old, new in RENAMED.items():
        assert f"`{old}`" in section and f"`{new}`" in section, old


def test_every_exported_name_belongs_to_a_field_of_the_json_figures() -> None:
    fields = {f"{group.name}.{field.name}" for group in msgspec.structs.fields(AdminMetricsResponse)
              if isinstance(group.type, type) and issubclass(group.type, msgspec.Struct)
              for field in msgspec.structs.fields(group.type)}
    assert len(fields) > 60
    assert set(FAMILIES) <= fields, set(FAMILIES) - fields
