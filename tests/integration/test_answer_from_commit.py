"""A write's answer from the rows its own commit left (projections.committed), on PostgreSQL
with the read model applied in the insert transaction: the created object is rendered without
reading it back, and renders as a read of it does."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from application.write_path import rows_of_last_write
from domain.targeting import Targeting, TargetType
from entrypoints.bootstrap import Services
from entrypoints.http.crud import written_as
from tests.e2e.test_http_support import (
    AUTH,
    add_node,
    create_cluster,
    data,
    enroll,
    get_node,
    issue_key,
    running,
)
from tests.integration.test_project_in_commit import started

pytestmark = pytest.mark.integration


def test_a_created_command_is_known_from_its_commit(pg_url: str) -> None:
    services = started(pg_url)
    try:
        services.clusters.create(CreateCluster(name="main"))
        cmd = CreateCommand(command_text="echo \x00 hi", targeting=Targeting(type=TargetType.ALL))

        async def create() -> tuple[Any, Any]:
            key = await services.commands.create_async(cmd)
            return key, rows_of_last_write().row("commands", key)

        key, row = asyncio.run(create())
        assert row is not None
        read = services.command_reads.commands.get(key)
        assert services.command_reads.commands.of_row(row) == read
        assert read is not None and read.command_text == "echo \ufffd hi"  # as stored
        # The thread path: the same rows, for a write decided in the caller's thread.
        key = services.commands.create(cmd)
        row = rows_of_last_write().row("commands", key)
        assert row is not None
        assert services.command_reads.commands.of_row(row) == \
            services.command_reads.commands.get(key)
    finally:
        services.close()


def test_without_the_read_model_in_the_commit_nothing_is_known(pg_url: str) -> None:
    services: Services = started(pg_url, write_project_in_commit=False)
    try:
        services.clusters.create(CreateCluster(name="main"))
        key = services.commands.create(CreateCommand(command_text="x",
                                                     targeting=Targeting(type=TargetType.ALL)))
        assert rows_of_last_write().row("commands", key) is None
    finally:
        services.close()


@pytest.mark.parametrize("fields", [
    {},
    {"command_text": "é ✓ \U0001f600", "timeout": 2**62},
    {"expired_at": "2999-01-01T10:00:00+05:30"},
])
def test_the_answer_is_the_read(pg_url: str, fields: dict[str, Any]) -> None:
    with running(pg_url) as client:
        create_cluster(client, "prod")
        add_node(client, "prod")
        body = {"command_text": "echo hi", "targeting": {"type": "all"}, **fields}
        created = data(client.post("/api/v1/commands", headers=AUTH, json=body), 201)
        assert data(client.get(f"/api/v1/commands/{created['id']}", headers=AUTH)) == created


def test_an_enrollment_answers_from_its_commit_as_a_read_would(pg_url: str) -> None:
    """The node's table joins its liveness, which no commit tells: the agent's answer takes the
    node's own columns from the commit, and matches the node read afterwards."""
    with running(pg_url) as client:
        create_cluster(client, "prod")
        versions: list[dict[str, Any]] = [{"version": "1.2.3"}, {}, {"version": "é" * 64}]
        for fields in versions:
            key = issue_key(client, "prod")["key"]
            answer = enroll(client, key, **fields)
            node = get_node(client, answer["node_id"])
            assert (answer["cluster_name"], answer["status"], answer["version"]) == \
                (node["cluster_name"], node["status"], node["version"])
        persistent: dict[str, Any] = {"id_type": "persistent", "node_id": str(uuid4())}
        for status, version in ((201, "1.0"), (200, "2.0")):  # enrolled, then re-enrolled
            answer = enroll(client, issue_key(client, "prod")["key"], status, version=version,
                            **persistent)
            node = get_node(client, persistent["node_id"])
            assert (answer["cluster_name"], answer["status"], answer["version"]) == \
                (node["cluster_name"], node["status"], version)


def test_a_node_s_row_from_a_commit_makes_no_record_but_its_columns_are_known(
        pg_url: str) -> None:
    services = started(pg_url)
    try:
        services.clusters.create(CreateCluster(name="main"))
        key_id = services.enrollment_keys.issue("main", IssueEnrollmentKey(uses_remaining=None))
        blob = services.view.get("enrollment_keys", key_id)
        assert blob is not None
        enrolled = services.nodes.enroll(EnrollNode(enrollment_key=blob["key"], version="9.9"))
        row = rows_of_last_write().row("nodes", enrolled.node_id)
        assert row is not None and row["version"] == "9.9" and "last_seen_at" not in row
        assert services.fleet_reads.nodes.of_row(row) is None
    finally:
        services.close()


def test_every_edge_admin_create_answers_as_its_read(pg_url: str) -> None:
    """The creates answered through crud's load_written, on PostgreSQL: each 201 is what a GET
    of the new object answers (values the database keeps otherwise than sent included)."""
    with running(pg_url, webhook_allow_private_ips=True) as client:
        cluster = create_cluster(client, "prod", node_limit=2**31, ipv4_range="10.9.0.0/16")
        assert data(client.get("/api/v1/clusters/prod", headers=AUTH)) == cluster
        node_id = add_node(client, "prod", version="1.0.0", self_update_enabled=True)
        made = {
            "enrollment_keys": client.post("/api/v1/clusters/prod/enrollment_keys", headers=AUTH,
                                           json={"name": "k é", "uses_remaining": 2**40,
                                                 "expired_at": "2999-01-01T00:00:00-09:30"}),
            "aliases": client.post(f"/api/v1/nodes/{node_id}/aliases", headers=AUTH,
                                   json={"name": "web-1"}),
            "webhooks": client.post("/api/v1/webhooks", headers=AUTH, json={
                "url": "http://127.0.0.1:9/hook", "secret": "s" * 32,
                "subscribed_events": ["edge.node.registered"]}),
            "self_update_requests": client.post("/api/v1/self_update_requests", headers=AUTH,
                                                json={"targeting": {"type": "all"}}),
        }
        for kind, response in made.items():
            created = data(response, 201)
            assert data(client.get(f"/api/v1/{kind}/{created['id']}", headers=AUTH)) == created


class _NotTheRecord(msgspec.Struct):
    command_text: int  # the row holds text: it does not convert


def test_a_committed_row_that_does_not_convert_is_read_instead(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    services = started(pg_url)
    try:
        services.clusters.create(CreateCluster(name="main"))
        key = services.commands.create(CreateCommand(command_text="x",
                                                     targeting=Targeting(type=TargetType.ALL)))
        assert written_as("commands", key, lambda row: msgspec.convert(row, _NotTheRecord)) \
            is None
        assert "not what it reads as" in caplog.text
        converted = written_as("commands", key, services.command_reads.commands.of_row)
        assert converted == services.command_reads.commands.get(key)
    finally:
        services.close()
