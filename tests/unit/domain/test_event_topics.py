"""Stored events are decoded by topic (`domain.alias:Alias.Deleted`) and by attribute name, so
moving an `@event` method to another class (a mixin) or renaming an argument would orphan every
event already stored in users' databases. These tests pin both, for every aggregate."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

import domain
from application.store import EdgeStore
from domain.alias import Alias, AliasGoneError
from domain.app import App
from domain.cluster import Cluster, ClusterGoneError
from domain.enrollment_key import EnrollmentKey, KeyGoneError
from domain.environment import Environment
from domain.node import IdType, Node, NodeGoneError
from domain.project import Project, ProjectGoneError
from domain.resource import Resource, ResourceGoneError
from domain.shared import GoneError
from domain.ssh_access import (
    SshPublicKey,
    SshPublicKeyGoneError,
    SshUsername,
    SshUsernameGoneError,
)
from domain.ssh_key import parse_public_key
from domain.variables import variable_entry
from domain.webhook import Webhook, WebhookGoneError
from projections.model import Upsert
from projections.resource_handlers import RESOURCE_HANDLERS

AT = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

# topic -> the event's own attributes, in order (beyond originator_id/_version/timestamp/_topic).
STORED_EVENTS: dict[str, str] = {
    "domain.admin:Admin.Created": "",
    "domain.admin:Admin.Forgotten": "at reason",
    "domain.admin:Admin.Joined": "admin_id admin_cluster_name max_peers url at",
    "domain.admin:Admin.Left": "at",
    "domain.admin:Admin.Rejoined": "admin_id admin_cluster_name max_peers url at",
    "domain.alias:Alias.Created": "node_id cluster_id cluster_name name at",
    "domain.alias:Alias.Deleted": "at",
    "domain.alias:Alias.Moved": "cluster_id cluster_name at",
    "domain.app:App.Created": "name at",
    "domain.app:App.Deleted": "at",
    "domain.app:App.Restored": "at",
    "domain.app:App.VersionAdded": "spec at",
    "domain.app:App.VersionRemoved": "app version at",
    "domain.claims:AddressPool.Allocated": "cluster_id cidr",
    "domain.claims:AddressPool.Created": "",
    "domain.claims:AddressPool.Opened": "",
    "domain.claims:AddressPool.Released": "cluster_id",
    "domain.claims:NameClaim.Claimed": "owner_id",
    "domain.claims:NameClaim.Created": "",
    "domain.claims:NameClaim.Reclaimed": "owner_id",
    "domain.claims:NameClaim.Released": "",
    "domain.cluster:Cluster.Created": "name ipv4_range node_limit at",
    "domain.cluster:Cluster.Deleted": "at",
    "domain.cluster:Cluster.NodeAdmitted": "node_id",
    "domain.cluster:Cluster.NodeLimitChanged": "node_limit at",
    "domain.cluster:Cluster.NodeReleased": "node_id",
    "domain.command:Command.Created": "command_text targeting timeout expired_at node_ids at",
    "domain.command:Command.Deleted": "at",
    "domain.command_execution:CommandExecution.CancelRequested": (
        "command_id node_id cluster_name at"
    ),
    "domain.command_execution:CommandExecution.Cancelled": (
        "command_id node_id cluster_name reason exit_code output at"
    ),
    "domain.command_execution:CommandExecution.Completed": (
        "command_id node_id cluster_name exit_code output at"
    ),
    "domain.command_execution:CommandExecution.Created": (
        "command_id node_id cluster_name target_all command_text timeout expired_at "
        "node_cluster_name at"
    ),
    "domain.command_execution:CommandExecution.Expired": (
        "command_id node_id cluster_name reason at"
    ),
    "domain.command_execution:CommandExecution.Pruned": "command_id node_id cluster_name at",
    "domain.command_execution:CommandExecution.Redelivered": "command_id node_id cluster_name at",
    "domain.command_execution:CommandExecution.Sent": "command_id node_id cluster_name at",
    "domain.deployment:Deployment.Archived": "request_id status at",
    "domain.deployment:Deployment.Created": "",
    # Version 2 added `reported`; version 1 events are upcast (Deployment.Failed.upcast_v1_v2).
    "domain.deployment:Deployment.Failed": "request_id detail exit_code previous reported at",
    "domain.deployment:Deployment.Placed": "request_id node_id location at",
    "domain.deployment:Deployment.Ready": "request_id ports public_ip at",
    "domain.deployment:Deployment.Requested": "request_id spec at",
    "domain.deployment:Deployment.StopDeferred": "request_id reason at",
    "domain.deployment:Deployment.StopRequested": "request_id reason status at",
    "domain.deployment:Deployment.TagAdded": "name at",
    "domain.deployment:Deployment.TagRemoved": "name at",
    "domain.deployment:Deployment.TagRenamed": "old new at",
    "domain.deployment:Deployment.Terminated": "request_id reason exit_code previous at",
    "domain.enrollment_key:EnrollmentKey.Created": (
        "cluster_id cluster_name key name uses_remaining expired_at at"
    ),
    "domain.enrollment_key:EnrollmentKey.Deleted": "at",
    "domain.enrollment_key:EnrollmentKey.Updated": "changes at",
    "domain.enrollment_key:EnrollmentKey.Used": "node_id cluster_name uses_remaining at",
    "domain.environment:Environment.Archived": "reason at",
    "domain.environment:Environment.Created": "project_id name kind at parent_environment_id",
    "domain.environment:Environment.Deleted": "at",
    "domain.environment:Environment.Locked": "reason at",
    "domain.environment:Environment.Renamed": "name at",
    "domain.environment:Environment.Unlocked": "at",
    "domain.environment:Environment.VariableSet": "key exposure kind value sealed at",
    "domain.environment:Environment.VariableUnset": "key exposure at",
    "domain.host:Host.Allocated": "node_id request_id cpu_units memory_mb at",
    "domain.host:Host.Created": "",
    "domain.host:Host.Profiled": "node_id location cpu_units memory_mb fleet at",
    "domain.host:Host.Released": "node_id request_id cpu_units memory_mb at",
    "domain.host:Host.Updated": "node_id location cpu_units memory_mb fleet at",
    "domain.node:Node.AliasAttached": "alias_id name",
    "domain.node:Node.AliasDetached": "alias_id",
    "domain.node:Node.ClusterChanged": (
        "previous_cluster_id previous_cluster_name cluster_id cluster_name at"
    ),
    "domain.node:Node.Created": "",
    "domain.node:Node.Deleted": "at",
    "domain.node:Node.Registered": (
        "cluster_id cluster_name id_type agent_version self_update_enabled ports api_token "
        "proxy_password enrollment_key_id at"
    ),
    "domain.node:Node.Reregistered": (
        "cluster_name self_update_enabled ports api_token enrollment_key_id at"
    ),
    "domain.node:Node.Revived": (
        "cluster_id cluster_name id_type agent_version self_update_enabled ports api_token "
        "proxy_password enrollment_key_id at"
    ),
    "domain.node:Node.SshUsernameAttached": "ssh_username_id username",
    "domain.node:Node.SshUsernameDetached": "ssh_username_id",
    "domain.node:Node.StatusChanged": "cluster_name previous status reason at",
    "domain.node:Node.UpdateTriggered": "cluster_name self_update_request_id at",
    "domain.node:Node.VersionChanged": "cluster_name previous agent_version at",
    "domain.project:Project.Archived": "reason at",
    "domain.project:Project.Created": "name slug description at",
    "domain.project:Project.Deleted": "at",
    "domain.project:Project.DescriptionSet": "description at",
    "domain.project:Project.EnvironmentAdded": "environment_id at",
    "domain.project:Project.Renamed": "name at",
    "domain.project:Project.ResourceAdded": "resource_id at",
    "domain.project:Project.Restored": "at",
    "domain.resource:Resource.Archived": "at",
    "domain.resource:Resource.AutomaticRollbackDecided": (
        "failed_deployment_id candidate_deployment_id deployment_id refused at"),
    "domain.resource:Resource.Created": (
        "project_id environment_id name slug kind description at"
    ),
    "domain.resource:Resource.Deleted": "at",
    "domain.resource:Resource.DeploymentBegun": "deployment_id trigger at",
    "domain.resource:Resource.DeploymentSettled": "deployment_id status at",
    "domain.resource:Resource.RuntimeControlRequested":
        "attempt_id operation deployment_id blocked_reason runtime_state at",
    "domain.resource:Resource.RuntimeControlPhaseCompleted":
        "attempt_id phase completed runtime_state at",
    "domain.resource:Resource.RuntimeControlFailed": "attempt_id error_code at",
    "domain.resource:Resource.HealthPolicyConfigured": "policy at",
    "domain.resource:Resource.HealthPolicyReset": "at",
    "domain.resource:Resource.NetworkProfileConfigured": "internal_port protocol at",
    "domain.resource:Resource.RollbackPolicyConfigured": "automatic at",
    "domain.resource:Resource.RuntimeProfileConfigured": "command args at",
    "domain.resource:Resource.SourceConfigured": "image at",
    "domain.resource:Resource.VariableSet": "key exposure kind value sealed at",
    "domain.resource:Resource.VariableUnset": "key exposure at",
    "domain.self_update:SelfUpdateRequest.Completed": "total triggered failed at",
    "domain.self_update:SelfUpdateRequest.Created": "targeting at",
    "domain.self_update:SelfUpdateRequest.Deleted": "at",
    "domain.self_update:SelfUpdateRequest.Progressed": "triggered failed at",
    "domain.self_update:SelfUpdateRequest.Started": "node_ids at",
    "domain.ssh_access:SshLogin.Checked": (
        "node_id ssh_username_id username method outcome fingerprint at"
    ),
    "domain.ssh_access:SshLogin.Created": "",
    "domain.ssh_access:SshPublicKey.Created": (
        "ssh_username_id node_id username key_name public_key algorithm fingerprint at"
    ),
    "domain.ssh_access:SshPublicKey.Deleted": "at",
    "domain.ssh_access:SshUsername.Created": "node_id username password_hash at",
    "domain.ssh_access:SshUsername.Deleted": "at",
    "domain.ssh_access:SshUsername.KeyAttached": "key_id key_name fingerprint",
    "domain.ssh_access:SshUsername.KeyDetached": "key_id",
    "domain.webhook:Webhook.Created": "url subscribed_events sealed_secret sealed_headers at",
    "domain.webhook:Webhook.Deleted": "at",
}
_BASE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def declared_events() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{info.name}")
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, Aggregate)
                    and cls.__module__ == module.__name__):
                continue
            for name, event in vars(cls).items():
                if isinstance(event, type) and issubclass(event, Aggregate.Event) \
                        and name != "Event":
                    fields = [f.name for f in dataclasses.fields(event) if f.name not in _BASE]
                    found[get_topic(event)] = " ".join(fields)
    return found


def test_every_stored_event_keeps_its_topic_and_attributes() -> None:
    """A new event adds a line here; a changed or vanished line is a stored event orphaned."""
    assert declared_events() == STORED_EVENTS


@pytest.mark.parametrize("topic", sorted(STORED_EVENTS))
def test_every_stored_topic_still_resolves_to_its_event_class(topic: str) -> None:
    event = resolve_topic(topic)
    assert get_topic(event) == topic
    assert isinstance(event, type)
    assert issubclass(event, Aggregate.Event)


def _node() -> Node:
    return Node.register(uuid4(), uuid4(), "c", IdType.PERSISTENT, "1.0", True, {}, ("t", "p"),
                         uuid4(), AT)


def _archived_project() -> Project:
    project = Project.create(uuid4(), "shop", AT)
    project.archive(None, AT)
    return project


def _username() -> SshUsername:
    return SshUsername.create(uuid4(), uuid4(), "deploy", None, AT)


SOFT_DELETABLE: dict[str, tuple[Callable[[], Any], type[GoneError]]] = {
    "domain.alias:Alias": (
        lambda: Alias.create(uuid4(), uuid4(), uuid4(), "c", "www", AT), AliasGoneError),
    "domain.app:App": (lambda: App.create("shop", AT), GoneError),
    "domain.cluster:Cluster": (
        lambda: Cluster.create(uuid4(), "c", "100.64.0.0/24", None, AT), ClusterGoneError),
    "domain.enrollment_key:EnrollmentKey": (
        lambda: EnrollmentKey.issue("tok", "http://a", uuid4(), "c", None, None, None, AT),
        KeyGoneError),
    "domain.node:Node": (_node, NodeGoneError),
    "domain.project:Project": (_archived_project, ProjectGoneError),
    "domain.resource:Resource": (
        lambda: Resource.create(uuid4(), uuid4(), uuid4(), "web", AT), ResourceGoneError),
    "domain.ssh_access:SshUsername": (_username, SshUsernameGoneError),
    "domain.ssh_access:SshPublicKey": (
        lambda: SshPublicKey.create(uuid4(), _username(), "laptop", parse_public_key(KEY), AT),
        SshPublicKeyGoneError),
    "domain.webhook:Webhook": (
        lambda: Webhook.create(uuid4(), "https://example.com/h", ["edge.node.registered"], "s",
                               None, AT),
        WebhookGoneError),
}


@pytest.mark.parametrize("aggregate_topic", sorted(SOFT_DELETABLE))
def test_a_delete_is_stored_under_the_aggregates_own_topic_and_reloads(
    aggregate_topic: str,
) -> None:
    make, gone = SOFT_DELETABLE[aggregate_topic]
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregate = make()
    assert get_topic(type(aggregate)) == aggregate_topic
    aggregate.delete(AT)
    store.save(aggregate)
    stored = list(store.recorder.select_events(aggregate.id))
    assert stored[-1].topic == f"{aggregate_topic}.Deleted"
    loaded: Any = store.repository.get(aggregate.id)
    assert loaded.deleted is True
    with pytest.raises(gone) as refused:
        loaded.delete(AT)
    assert type(refused.value) is gone
    assert len(list(store.recorder.select_events(aggregate.id))) == len(stored)


def _moment(name: str) -> str:
    return f'"{name}":{{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"}}'


_PROJECT = '"project_id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000002"}'
_ENVIRONMENT = '"environment_id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000003"}'
# Events as the store held them while each aggregate declared its own @event methods for
# variables (before VariableWasSet and VariableWasUnset were declared once, in domain/variables):
# topic suffix, then the event's own fields as stored.
VARIABLES_AS_STORED: dict[str, tuple[Callable[[], Any], list[tuple[str, str]]]] = {
    "domain.environment:Environment": (
        lambda: Environment.create(UUID(int=1), UUID(int=2), "staging", "staging", AT), [
            ("Created", '"originator_topic":"domain.environment:Environment",'
             f'{_PROJECT},"name":"staging","kind":"staging"'),
            ("VariableSet", '"key":"A","exposure":"runtime","kind":"plain-config","value":"1",'
             '"sealed":null'),
            ("VariableSet", '"key":"S","exposure":"build-time","kind":"secret","value":null,'
             '"sealed":"sealed!"'),
            ("VariableUnset", '"key":"A","exposure":"runtime"'),
        ]),
    "domain.resource:Resource": (
        lambda: Resource.create(UUID(int=1), UUID(int=2), UUID(int=3), "staging", AT), [
            ("Created", '"originator_topic":"domain.resource:Resource",'
             f'{_PROJECT},{_ENVIRONMENT},"name":"staging","slug":"staging",'
             '"kind":"application","description":""'),
            ("VariableSet", '"key":"A","exposure":"runtime","kind":"plain-config","value":"1",'
             '"sealed":null'),
            ("VariableSet", '"key":"S","exposure":"build-time","kind":"secret","value":null,'
             '"sealed":"sealed!"'),
            ("VariableUnset", '"key":"A","exposure":"runtime"'),
        ]),
}


# Attributes added to an event since it was first stored, with their default: a stored event
# without one loads as if it held the default.
ADDED_SINCE = {"parent_environment_id": None}


def _fields(state: bytes) -> dict[str, Any]:
    return {k: v for k, v in json.loads(state).items()
            if k != "timestamp" and not (k in ADDED_SINCE and v == ADDED_SINCE[k])}


@pytest.mark.parametrize("aggregate_topic", sorted(VARIABLES_AS_STORED))
def test_variable_events_stored_before_they_were_declared_once_still_load_and_match(
    aggregate_topic: str,
) -> None:
    make, as_stored = VARIABLES_AS_STORED[aggregate_topic]
    old = [StoredEvent(UUID(int=1), version, f"{aggregate_topic}.{suffix}",
                       f"{{{_moment('timestamp')},{fields},{_moment('at')}}}".encode())
           for version, (suffix, fields) in enumerate(as_stored, 1)]
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    store.recorder.insert_events(old)
    loaded: Any = store.repository.get(UUID(int=1))
    assert loaded.variables == {"build-time:S": variable_entry(
        "S", "build-time", "secret", None, "sealed!", AT)}

    aggregate = make()
    aggregate.set_variable("A", "runtime", "1", None, AT)
    aggregate.set_variable("S", "build-time", None, "sealed!", AT)
    aggregate.unset_variable("A", "runtime", AT)
    fresh = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    fresh.save(aggregate)
    assert [(e.topic, _fields(e.state)) for e in fresh.recorder.select_events(UUID(int=1))] \
        == [(e.topic, _fields(e.state)) for e in old]


def test_an_environment_stored_before_clones_named_their_source_loads_and_projects_without_one(
) -> None:
    _, as_stored = VARIABLES_AS_STORED["domain.environment:Environment"]
    suffix, fields = as_stored[0]
    stored = StoredEvent(UUID(int=1), 1, f"domain.environment:Environment.{suffix}",
                         f"{{{_moment('timestamp')},{fields},{_moment('at')}}}".encode())
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    store.recorder.insert_events([stored])
    loaded: Any = store.repository.get(UUID(int=1))
    assert loaded.parent_environment_id is None
    [created] = RESOURCE_HANDLERS[Environment.Created](store.mapper.to_domain_event(stored))
    assert isinstance(created, Upsert)
    assert created.row["parent_environment_id"] is None

    source = Environment.create(UUID(int=4), UUID(int=2), "staging", "staging", AT)
    copy = source.clone(UUID(int=5), "staging-2", AT, "production")
    assert copy.parent_environment_id == source.id
    [event] = copy.collect_events()
    [created] = RESOURCE_HANDLERS[Environment.Created](event)
    assert isinstance(created, Upsert)
    assert created.row["parent_environment_id"] == source.id
