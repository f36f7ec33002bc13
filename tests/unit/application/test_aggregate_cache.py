"""The store's cache of decoded aggregates (AGGREGATE_CACHE_MAXSIZE, for hot ones: a cluster,
an enrollment key) keeps none that has ended: a finished or pruned execution, a terminated
deployment, a deleted node. A long-running admin filled it with them, one per command a node
ran and per deployment, each loaded once or twice and never again (bench/soak.py: +15 MB an
hour at two commands a second), and a pruned execution brought its whole output in with it."""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.application import LRUCache

from application.agent_protocol import DeploymentReport, EnrollNode
from application.apps import CreateApp, CreateAppVersion
from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.deployment_inputs import DeploymentCreate
from application.enrollment_keys import IssueEnrollmentKey
from application.hosts import UpdateHost
from domain.cluster import Cluster
from domain.command import execution_id
from domain.command_execution import OUTPUT_LIMIT, CommandExecution
from domain.deployment import Deployment, Status
from domain.node import Node
from entrypoints.bootstrap import Services
from tests.fakes import FixedClock


def cached(services: Services, kind: type[Any]) -> list[Any]:
    cache = services.store.repository.cache
    assert isinstance(cache, LRUCache)
    return [link[3] for link in list(cache.cache.values()) if isinstance(link[3], kind)]


def enrolled(services: Services, count: int) -> list[Any]:
    services.clusters.create(CreateCluster(name="soak"))
    key_id = services.enrollment_keys.issue("soak", IssueEnrollmentKey(uses_remaining=None))
    blob = services.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
    return [services.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0")).node_id
            for _ in range(count)]


def test_finished_executions_leave_the_cache_and_hot_aggregates_stay(
    clocked_services: Services,
) -> None:
    services = clocked_services
    [node] = enrolled(services, 1)
    for _ in range(20):
        command_id = services.commands.create(msgspec.convert(
            {"command_text": "uptime", "targeting": {"type": "nodes", "node_ids": [node]}},
            CreateCommand))
        [handed] = services.executions.next_work(node, []).executions
        assert handed.id == execution_id(command_id, node)
        services.executions.report(node, handed.id, 0, "up 1 day")
    assert cached(services, CommandExecution) == []
    assert [c.name for c in cached(services, Cluster)] == ["soak"]  # still hot


def test_a_pruned_execution_does_not_bring_its_output_into_the_cache(
    clocked_services: Services, clock: FixedClock,
) -> None:
    services = clocked_services
    [node] = enrolled(services, 1)
    command_id = services.commands.create(msgspec.convert(
        {"command_text": "cat big", "targeting": {"type": "nodes", "node_ids": [node]}},
        CreateCommand))
    exec_id = execution_id(command_id, node)
    services.executions.next_work(node, [])
    services.executions.report(node, exec_id, 0, "x" * OUTPUT_LIMIT)
    clock.advance(86_400 * 31)
    assert services.executions.prune_finished(retention_days=30) == 1
    assert cached(services, CommandExecution) == []


def test_deleted_nodes_leave_the_cache(clocked_services: Services) -> None:
    services = clocked_services
    nodes = enrolled(services, 3)
    for node in nodes:
        services.nodes.delete(node)
    assert cached(services, Node) == []


def test_ended_deployments_leave_the_cache(clocked_services: Services) -> None:
    services = clocked_services
    [node] = enrolled(services, 1)
    services.hosts.update(node, msgspec.convert({
        "location": {"city": "paris", "latitude": 48.86, "longitude": 2.35},
        "cpu_units": 1 << 20, "memory_mb": 1 << 20}, UpdateHost))
    services.apps.create(CreateApp(name="game"))
    services.apps.add_version("game", CreateAppVersion(name="1", image="localhost/game:1"))
    for _ in range(5):
        accepted = services.deployments.deploy(msgspec.convert({
            "application": "game", "version": "1", "users": [{
                "user_type": "geo_coordinates",
                "user_data": {"latitude": 48.0, "longitude": 2.0}}]}, DeploymentCreate))
        services.deployments.report(node, accepted.request_id,
                                    DeploymentReport(state="ready"))
        services.deployments.stop(accepted.request_id)
        assert services.deployments.report(node, accepted.request_id, DeploymentReport(
            state="terminated", exit_code=0)) == Status.TERMINATED
    assert cached(services, Deployment) == []
