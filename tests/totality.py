"""The projection-totality state machine, shared by the memory and PostgreSQL test modules.

Random sequences of commands go through the application services of every aggregate, with
values at and past their bounds. Each payload first passes the HTTP edge's own checks (msgspec
decoding and `check_values`), so what the machine sends is exactly what a client could get
through. After every step the projector has not failed; at the end, a replay of the whole log
equals the live read model, table by table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import asyncssh
import msgspec
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from application.errors import ConflictError, NotFoundError
from domain.deployment import deployment_uuid
from domain.node_status import NodeStatus
from domain.shared import DomainError
from entrypoints.bootstrap import Services, build_services
from entrypoints.http.inputs import BodyError, check_values
from entrypoints.replay import rebuild
from projections.fleet_tables import FLEET_RECORDS
from projections.query import ListQuery
from projections.records import Records
from tests.conftest import make_settings
from tests.fakes import FixedClock

T = TypeVar("T")

BIG = 2**63 - 1
# Integers at and past every bound a column or an event can hold.
INTS = st.sampled_from([0, 1, -1, 2, 255, 65535, 65536, 1 << 20, 1 << 22, 2**31, 2**32,
                        BIG, BIG + 1, -(2**63), -(2**63) - 1, 2**70]) | st.integers()
TEXTS = st.sampled_from(["", "a", "x" * 1000, "ünï-cødé 😀", "a\x00b", "\ud800", "A" * 4097,
                         "line\nbreak", " padded "]) | st.text(max_size=40)
NAMES = st.sampled_from(["alpha", "beta", "gamma", "a", "x" * 24, "x" * 25, "Bad", "-x", ""])
APP_NAMES = st.sampled_from(["game", "chat", "x" * 64, "Game", ""])
VERSIONS = st.sampled_from(["v1", "v2", "1.0.0", "x" * 128, "", "bad name"])
TAGS = st.sampled_from(["red", "blue", "x" * 128, "", "ünï"]) | TEXTS
RESOURCE_NAMES = st.sampled_from(["Shop", "web app", "Web App", "x" * 100, "x" * 101, "---",
                                  "", "ünï"])
VARIABLE_KEYS = st.sampled_from(["API_KEY", "MODE", "A" * 128, "EDGE_X", "1BAD", "", "a\x00"])
# A public IP literal: the SSRF guard then needs no name resolution.
HOOK_URL = "https://93.184.216.34/hook"
LOCATIONS = st.sampled_from([
    {"city": "Montreal", "country": "Canada", "continent": "North America",
     "latitude": 45.5, "longitude": -73.6},
    {"city": "Tokyo", "country": "Japan", "continent": "Asia", "latitude": 35.7,
     "longitude": 139.7},
    {"latitude": 90, "longitude": 180}, {"latitude": 91}, {},
])
SSH_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


class _Fixed:
    """Stands for st.DataObject where one rule calls another with its choices made: each
    draw answers the next value given."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any) -> Any:
        return self.values.pop(0)


def pick(data: Any, items: list[T]) -> T | None:
    """One of `items` (None when empty). It always draws one integer, whatever the list's
    length: a list whose length varies between runs (placement ties break on random node ids)
    must not change what hypothesis draws, or it reports the machine as flaky."""
    if isinstance(data, _Fixed):
        found: T = data.draw(None)
        return found
    index = data.draw(st.integers(min_value=0, max_value=2**16))
    return items[index % len(items)] if items else None


def edge(payload: Any, type_: type[T]) -> T | None:
    """What the HTTP edge makes of a payload: the decoded command, or None when refused."""
    try:
        decoded = msgspec.convert(payload, type_)
        check_values(decoded)
    except (msgspec.ValidationError, BodyError):
        return None
    return decoded


def value_ok(value: Any) -> bool:
    try:
        check_values(value)
    except BodyError:
        return False
    return True


def attempt(action: Callable[[], T]) -> T | None:
    """Runs a command; a rule it breaks is an answer (4xx), not a failure of the machine."""
    try:
        return action()
    except (DomainError, NotFoundError, ConflictError):
        return None


class TotalityMachine(RuleBasedStateMachine):
    """Subclasses set `database_url()`; everything else is shared."""

    def database_url(self) -> str:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock()
        self.svc: Services = build_services(
            make_settings(self.database_url(), default_cluster_name="main"), self.clock)
        self.svc.start()
        self.keys: list[str] = []
        self.nodes: list[uuid.UUID] = []
        self.commands: list[uuid.UUID] = []
        self.executions: list[uuid.UUID] = []
        self.updates: list[uuid.UUID] = []
        self.usernames: list[tuple[uuid.UUID, str]] = []
        self.ssh_keys: list[uuid.UUID] = []
        self.aliases: list[uuid.UUID] = []
        self.webhooks: list[uuid.UUID] = []
        self.deployments: list[tuple[str, uuid.UUID | None]] = []
        self.projects: list[uuid.UUID] = []
        self.environments: list[uuid.UUID] = []
        self.resources: list[tuple[uuid.UUID, str]] = []  # (id, slug)
        self.attempts: list[uuid.UUID] = []

    # --- clusters and enrollment keys -----------------------------------------------------
    @rule(name=NAMES, limit=st.none() | INTS)
    def create_cluster(self, name: str, limit: int | None) -> None:
        from application.clusters import CreateCluster

        cmd = edge({"name": name, "node_limit": limit}, CreateCluster)
        if cmd is not None:
            attempt(lambda: self.svc.clusters.create(cmd))

    @rule(name=NAMES, limit=st.none() | INTS)
    def update_cluster(self, name: str, limit: int | None) -> None:
        from application.clusters import UpdateCluster

        cmd = edge({"node_limit": limit}, UpdateCluster)
        if cmd is not None:
            attempt(lambda: self.svc.clusters.update(name, cmd))

    @rule(name=NAMES)
    def delete_cluster(self, name: str) -> None:
        attempt(lambda: self.svc.clusters.delete(name))

    @rule(cluster=NAMES | st.just("main"), uses=st.none() | INTS, name=st.none() | TEXTS)
    def issue_key(self, cluster: str, uses: int | None, name: str | None) -> None:
        from application.enrollment_keys import IssueEnrollmentKey

        cmd = edge({"uses_remaining": uses, "name": name}, IssueEnrollmentKey)
        if cmd is None:
            return
        key_id = attempt(lambda: self.svc.enrollment_keys.issue(cluster, cmd))
        if key_id is not None:
            row = self.svc.view.get("enrollment_keys", key_id)
            assert row is not None
            self.keys.append(row["key"])

    @precondition(lambda self: self.keys)
    @rule(data=st.data(), uses=st.none() | INTS, name=st.none() | TEXTS)
    def update_key(self, data: st.DataObject, uses: int | None, name: str | None) -> None:
        from application.enrollment_keys import UpdateEnrollmentKey

        key = data.draw(st.sampled_from(self.keys))
        rows = self.svc.view.select("enrollment_keys", {"key": key}, 1)
        cmd = edge({"uses_remaining": uses, "name": name}, UpdateEnrollmentKey)
        if rows and cmd is not None:
            attempt(lambda: self.svc.enrollment_keys.update(rows[0]["id"], cmd))

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def delete_key(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys))
        rows = self.svc.view.select("enrollment_keys", {"key": key}, 1)
        if rows:
            attempt(lambda: self.svc.enrollment_keys.delete(rows[0]["id"]))

    # --- nodes ------------------------------------------------------------------------------
    @precondition(lambda self: self.keys)
    @rule(data=st.data(), version=st.none() | TEXTS, port=INTS, persistent=st.booleans())
    def enroll(self, data: st.DataObject, version: str | None, port: int,
               persistent: bool) -> None:
        from application.agent_protocol import EnrollNode

        key = data.draw(st.sampled_from(self.keys))
        payload: dict[str, Any] = {"enrollment_key": key, "version": version,
                                   "ports": {"ssh_port": port}}
        if persistent:
            payload |= {"id_type": "persistent",
                        "node_id": data.draw(st.sampled_from(self.nodes or [uuid.uuid4()]))}
        cmd = edge(payload, EnrollNode)
        if cmd is not None:
            enrolled = attempt(lambda: self.svc.nodes.enroll(cmd))
            if enrolled is not None:
                self.nodes.append(enrolled.node_id)

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), version=st.none() | TEXTS, port=INTS)
    def reregister(self, data: st.DataObject, version: str | None, port: int) -> None:
        from application.agent_protocol import ReregisterNode

        node = data.draw(st.sampled_from(self.nodes))
        cmd = edge({"version": version, "ports": {"http_port": port}}, ReregisterNode)
        if cmd is not None:
            attempt(lambda: self.svc.nodes.reregister(node, cmd))

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), status=st.sampled_from(list(NodeStatus)))
    def node_status(self, data: st.DataObject, status: NodeStatus) -> None:
        node = data.draw(st.sampled_from(self.nodes))
        if data.draw(st.booleans()):
            attempt(lambda: self.svc.nodes.heartbeat(node, status))
        else:
            attempt(lambda: self.svc.nodes.set_status(node, status, "machine"))

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), cluster=NAMES | st.just("main"))
    def change_cluster(self, data: st.DataObject, cluster: str) -> None:
        from application.nodes import ChangeCluster

        node = data.draw(st.sampled_from(self.nodes))
        cmd = edge({"cluster_name": cluster}, ChangeCluster)
        if cmd is not None:
            attempt(lambda: self.svc.nodes.change_cluster(node, cmd))

    @precondition(lambda self: self.nodes)
    @rule(data=st.data())
    def delete_node(self, data: st.DataObject) -> None:
        attempt(lambda: self.svc.nodes.delete(data.draw(st.sampled_from(self.nodes))))

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), name=TEXTS | NAMES)
    def create_alias(self, data: st.DataObject, name: str) -> None:
        from application.aliases import CreateAlias

        cmd = edge({"name": name}, CreateAlias)
        if cmd is not None:
            node = data.draw(st.sampled_from(self.nodes))
            alias = attempt(lambda: self.svc.aliases.create(node, cmd))
            if alias is not None:
                self.aliases.append(alias)

    @precondition(lambda self: self.aliases)
    @rule(data=st.data())
    def delete_alias(self, data: st.DataObject) -> None:
        attempt(lambda: self.svc.aliases.delete(data.draw(st.sampled_from(self.aliases))))

    # --- webhooks ---------------------------------------------------------------------------
    @rule(events=st.lists(st.sampled_from(["edge.node.registered", "edge.*", "*", "x" * 256]),
                          min_size=0, max_size=3), header=TEXTS)
    def create_webhook(self, events: list[str], header: str) -> None:
        from application.webhooks import CreateWebhook

        cmd = edge({"url": HOOK_URL, "secret": "s" * 32, "subscribed_events": events,
                    "headers": {"X-Test": header}}, CreateWebhook)
        if cmd is not None:
            hook = attempt(lambda: self.svc.webhooks.create(cmd))
            if hook is not None:
                self.webhooks.append(hook)

    @precondition(lambda self: self.webhooks)
    @rule(data=st.data())
    def delete_webhook(self, data: st.DataObject) -> None:
        attempt(lambda: self.svc.webhooks.delete(data.draw(st.sampled_from(self.webhooks))))

    # --- commands, executions, self-updates ---------------------------------------------------
    @rule(text=TEXTS, timeout=st.none() | INTS, kind=st.sampled_from(["all", "clusters"]))
    def create_command(self, text: str, timeout: int | None, kind: str) -> None:
        from application.commands import CreateCommand

        targeting: dict[str, Any] = {"type": kind}
        if kind == "clusters":
            targeting["cluster_names"] = ["main", "alpha"]
        cmd = edge({"command_text": text, "timeout": timeout, "targeting": targeting},
                   CreateCommand)
        if cmd is None:
            return
        command = attempt(lambda: self.svc.commands.create(cmd))
        if command is not None:
            self.commands.append(command)
            rows = self.svc.view.select("command_executions", {"command_id": command})
            self.executions += [r["id"] for r in rows]

    @precondition(lambda self: self.nodes)
    @rule(data=st.data())
    def take_work(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.nodes))
        attempt(lambda: self.svc.executions.next_work(node, []))

    @precondition(lambda self: self.executions and self.nodes)
    @rule(data=st.data(), code=INTS, output=TEXTS)
    def report_execution(self, data: st.DataObject, code: int, output: str) -> None:
        execution = data.draw(st.sampled_from(self.executions))
        row = self.svc.view.get("command_executions", execution)
        node = row["node_id"] if row and row["node_id"] else data.draw(st.sampled_from(self.nodes))
        if value_ok(code) and value_ok(output):
            attempt(lambda: self.svc.executions.report(node, execution, code, output))

    @precondition(lambda self: self.executions)
    @rule(data=st.data(), delete=st.booleans())
    def end_execution(self, data: st.DataObject, delete: bool) -> None:
        execution = data.draw(st.sampled_from(self.executions))
        if delete:
            attempt(lambda: self.svc.commands.delete_execution(execution))
        else:
            attempt(lambda: self.svc.commands.cancel_execution(execution))

    @precondition(lambda self: self.commands)
    @rule(data=st.data())
    def delete_command(self, data: st.DataObject) -> None:
        attempt(lambda: self.svc.commands.delete(data.draw(st.sampled_from(self.commands))))

    @rule()
    def schedule(self) -> None:
        from entrypoints.workers.scheduler import schedule_once

        attempt(lambda: schedule_once(self.svc))

    @rule()
    def self_update(self) -> None:
        from application.self_updates import CreateSelfUpdateRequest

        cmd = edge({"targeting": {"type": "all"}}, CreateSelfUpdateRequest)
        assert cmd is not None
        request = attempt(lambda: self.svc.self_updates.create(cmd))
        if request is not None:
            self.updates.append(request)
        attempt(self.svc.self_updates.process_next)

    @precondition(lambda self: self.updates)
    @rule(data=st.data())
    def delete_self_update(self, data: st.DataObject) -> None:
        attempt(lambda: self.svc.self_updates.delete(data.draw(st.sampled_from(self.updates))))

    # --- SSH access -------------------------------------------------------------------------
    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), username=st.sampled_from(["deploy", "root", "x" * 32, "Bad", ""]),
          password=st.none() | TEXTS)
    def create_username(self, data: st.DataObject, username: str, password: str | None) -> None:
        from application.ssh_access import CreateSshUsername

        cmd = edge({"username": username, "password": password}, CreateSshUsername)
        if cmd is None:
            return
        node = data.draw(st.sampled_from(self.nodes))
        created = attempt(lambda: self.svc.ssh_access.create_username(node, cmd))
        if created is not None:
            self.usernames.append((created, username))

    @precondition(lambda self: self.usernames)
    @rule(data=st.data(), name=TEXTS)
    def add_ssh_key(self, data: st.DataObject, name: str) -> None:
        from application.ssh_access import CreateSshPublicKey

        username, _ = data.draw(st.sampled_from(self.usernames))
        cmd = edge({"key_name": name, "public_key": SSH_KEY}, CreateSshPublicKey)
        if cmd is not None:
            key = attempt(lambda: self.svc.ssh_access.add_key(username, cmd))
            if key is not None:
                self.ssh_keys.append(key)

    @precondition(lambda self: self.usernames and self.nodes)
    @rule(data=st.data(), password=TEXTS)
    def ssh_login(self, data: st.DataObject, password: str) -> None:
        from application.agent_protocol import CheckSshLogin

        _, name = data.draw(st.sampled_from(self.usernames))
        node = data.draw(st.sampled_from(self.nodes))
        cmd = edge({"username": name, "method": "password", "password": password},
                   CheckSshLogin)
        if cmd is not None:
            attempt(lambda: self.svc.ssh_logins.verify(node, cmd))

    @precondition(lambda self: self.usernames or self.ssh_keys)
    @rule(data=st.data())
    def delete_ssh(self, data: st.DataObject) -> None:
        pick_key = data.draw(st.booleans())
        if self.ssh_keys and pick_key:
            key = data.draw(st.sampled_from(self.ssh_keys))
            attempt(lambda: self.svc.ssh_access.delete_key(key))
        elif self.usernames:
            username, _ = data.draw(st.sampled_from(self.usernames))
            attempt(lambda: self.svc.ssh_access.delete_username(username))

    # --- admins -----------------------------------------------------------------------------
    @rule(action=st.sampled_from(["join", "leave", "forget", "check_in"]))
    def membership(self, action: str) -> None:
        from datetime import timedelta

        admins = self.svc.admins
        run = {"join": admins.join, "leave": admins.leave, "check_in": admins.check_in,
               "forget": lambda: admins.forget_silent(timedelta(seconds=0))}[action]
        attempt(run)
        attempt(admins.recompute)

    # --- applications, hosts, deployments ---------------------------------------------------
    @rule(name=APP_NAMES)
    def create_app(self, name: str) -> None:
        from application.apps import CreateApp

        cmd = edge({"name": name}, CreateApp)
        if cmd is not None:
            attempt(lambda: self.svc.apps.create(cmd))

    @rule(name=APP_NAMES)
    def delete_app(self, name: str) -> None:
        attempt(lambda: self.svc.apps.delete(name))

    @rule(app=APP_NAMES, version=VERSIONS, cpu=INTS, memory=INTS, minutes=INTS, port=INTS,
          env=TEXTS, command=st.none() | TEXTS)
    def add_version(self, app: str, version: str, cpu: int, memory: int,
                    minutes: int, port: int, env: str, command: str | None) -> None:
        from application.apps import CreateAppVersion

        cmd = edge({"name": version, "image": "busybox:latest", "cpu_units": cpu,
                    "memory_mb": memory, "max_duration": minutes, "command": command,
                    "ports": [{"port": port, "name": "game"}],
                    "env": [{"key": "MODE", "value": env, "is_hidden": True}]},
                   CreateAppVersion)
        if cmd is not None:
            attempt(lambda: self.svc.apps.add_version(app, cmd))

    @rule(app=APP_NAMES, version=VERSIONS)
    def remove_version(self, app: str, version: str) -> None:
        attempt(lambda: self.svc.apps.remove_version(app, version))

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), cpu=INTS, memory=INTS, location=LOCATIONS, fleet=st.none() | TEXTS)
    def profile_host(self, data: st.DataObject, cpu: int, memory: int,
                     location: dict[str, Any], fleet: str | None) -> None:
        from application.agent_protocol import AgentHostReport
        from application.hosts import UpdateHost

        node = data.draw(st.sampled_from(self.nodes))
        if data.draw(st.booleans()):
            report = edge({"location": location, "cpu_units": cpu, "memory_mb": memory,
                           "fleet": fleet, "images": ["busybox:latest"]}, AgentHostReport)
            if report is not None:
                attempt(lambda: self.svc.hosts.report(node, report))
        else:
            update = edge({"location": location, "cpu_units": cpu, "memory_mb": memory},
                          UpdateHost)
            if update is not None:
                attempt(lambda: self.svc.hosts.update(node, update))

    @rule(app=APP_NAMES, version=VERSIONS, tags=st.lists(TAGS, max_size=3),
          env=TEXTS, lat=st.sampled_from([45.5, 35.7, -90.0, 90.0]))
    def deploy(self, app: str, version: str, tags: list[str], env: str, lat: float) -> None:
        from application.deployment_inputs import DeploymentCreate

        cmd = edge({"application": app, "version": version, "tags": tags,
                    "users": [{"user_type": "geo_coordinates",
                               "user_data": {"latitude": lat, "longitude": -73.6}}],
                    "environment_variables": [{"key": "K", "value": env, "is_hidden": False}],
                    "webhook_on_ready": {"url": HOOK_URL}}, DeploymentCreate)
        if cmd is not None:
            accepted = attempt(lambda: self.svc.deployments.deploy(cmd))
            if accepted is not None:
                self.deployments.append((accepted.request_id, accepted.node_id))

    @rule(region=st.sampled_from(["north-america", "asia", "mars", ""]), name=TEXTS,
          memory=st.none() | INTS, config=st.none() | st.just({"a": [[[1]]]}))
    def host_app(self, region: str, name: str, memory: int | None,
                 config: dict[str, Any] | None) -> None:
        from application.app_hosting import AppHostingDeploymentCreate

        cmd = edge({"geographic_region": region, "deployment_name": name,
                    "deployment_type": "docker", "docker_image": "busybox:latest",
                    "memory_request_mb": memory, "config": config},
                   AppHostingDeploymentCreate)
        if cmd is not None:
            accepted = attempt(lambda: self.svc.app_hosting.create(cmd, uuid.uuid4()))
            if accepted is not None:
                self.deployments.append((accepted.request_id, accepted.node_id))

    @precondition(lambda self: self.deployments)
    @rule(data=st.data(), state=st.sampled_from(["ready", "error", "terminated"]),
          code=st.none() | INTS, port=INTS, detail=TEXTS)
    def report_deployment(self, data: st.DataObject, state: str, code: int | None,
                          port: int, detail: str) -> None:
        from application.agent_protocol import DeploymentReport

        request_id, node = data.draw(st.sampled_from(self.deployments))
        if node is None:
            return
        report = edge({"state": state, "exit_code": code, "detail": detail,
                       "ports": {"game": {"external": port, "internal": 7777}},
                       "public_ip": "203.0.113.7"}, DeploymentReport)
        if report is not None:
            attempt(lambda: self.svc.deployments.report(node, request_id, report))

    @precondition(lambda self: self.deployments)
    @rule(data=st.data(), action=st.sampled_from(["stop", "tag", "rename", "untag", "lost",
                                                   "bulk", "overdue"]), tag=TAGS, new=TAGS)
    def handle_deployment(self, data: st.DataObject, action: str, tag: str, new: str) -> None:
        request_id, node = data.draw(st.sampled_from(self.deployments))
        deployments = self.svc.deployments
        if not (value_ok(tag) and value_ok(new)):
            return
        run: Callable[[], Any] = {
            "stop": lambda: deployments.stop(request_id),
            "tag": lambda: deployments.add_tag(request_id, tag),
            "rename": lambda: deployments.rename_tag(request_id, tag, new),
            "untag": lambda: deployments.remove_tag(request_id, tag),
            "lost": lambda: deployments.lost(node, [request_id]) if node else None,
            "bulk": lambda: deployments.bulk_stop([request_id]),
            "overdue": lambda: deployments.stop_overdue([request_id]),
        }[action]
        attempt(run)

    # --- Appaloft: projects, environments, resources and their attempts (issue 17) --------
    @rule(name=RESOURCE_NAMES, description=TEXTS)
    def create_project(self, name: str, description: str) -> None:
        from application.projects import CreateProject

        cmd = edge({"name": name, "description": description}, CreateProject)
        if cmd is not None:
            project = attempt(lambda: self.svc.projects.create(cmd))
            if project is not None:
                self.projects.append(project)

    @precondition(lambda self: self.projects)
    @rule(data=st.data(), action=st.sampled_from(["rename", "describe", "archive", "restore",
                                                   "delete"]), text=TEXTS | RESOURCE_NAMES)
    def change_project(self, data: st.DataObject, action: str, text: str) -> None:
        from application.projects import (
            ArchiveProject,
            DeleteProject,
            DescribeProject,
            RenameProject,
        )

        project = pick(data, self.projects)
        if project is None:
            return
        projects = self.svc.projects
        if action == "rename" and (cmd := edge({"name": text}, RenameProject)):
            attempt(lambda: projects.rename(project, cmd))
        elif action == "describe" and (described := edge({"description": text},
                                                         DescribeProject)):
            attempt(lambda: projects.describe(project, described))
        elif action == "archive" and (archived := edge({"reason": text or None},
                                                       ArchiveProject)):
            attempt(lambda: projects.archive(project, archived))
        elif action == "restore":
            attempt(lambda: projects.restore(project))
        elif action == "delete":
            confirm = edge({"confirmation": {"projectId": str(project)}}, DeleteProject)
            assert confirm is not None
            attempt(lambda: projects.delete(project, confirm))

    @precondition(lambda self: self.projects)
    @rule(data=st.data(), name=RESOURCE_NAMES, kind=st.sampled_from(["local", "production",
                                                                     "Bad", "x" * 33]))
    def create_environment(self, data: st.DataObject, name: str, kind: str) -> None:
        from application.environments import CreateEnvironment

        project = pick(data, self.projects)
        if project is None:
            return
        cmd = edge({"projectId": str(project), "name": name, "kind": kind}, CreateEnvironment)
        if cmd is not None:
            environment = attempt(lambda: self.svc.environments.create(cmd))
            if environment is not None:
                self.environments.append(environment)

    @precondition(lambda self: self.projects)
    @rule(data=st.data())
    def delete_project_as_before(self, data: st.DataObject) -> None:
        """A log of a release before projects took their environments with them: the delete
        leaves them, a write to one and a create land after it."""
        from application.projects import ArchiveProject
        from tests.legacy import (
            create_environment_after,
            delete_project_leaving_environments,
            write_left_environment,
        )

        project = pick(data, self.projects)
        if project is None:
            return
        left = self.svc.resource_reads.environment_ids(project)
        attempt(lambda: self.svc.projects.archive(project, ArchiveProject()))
        if attempt(lambda: delete_project_leaving_environments(self.svc, project)) is None:
            return
        if left:
            attempt(lambda: write_left_environment(self.svc, left[0]))
        create_environment_after(self.svc, project)

    @precondition(lambda self: self.environments)
    @rule(data=st.data(), action=st.sampled_from(["rename", "lock", "unlock", "archive",
                                                   "set", "unset", "clone"]),
          text=TEXTS | RESOURCE_NAMES, key=VARIABLE_KEYS, secret=st.booleans(),
          exposure=st.sampled_from(["runtime", "build-time", "other"]))
    def change_environment(self, data: st.DataObject, action: str, text: str,
                           key: str, secret: bool, exposure: str) -> None:
        from application.environments import (
            ArchiveEnvironment,
            CloneEnvironment,
            LockEnvironment,
            RenameEnvironment,
            SetVariable,
            UnsetVariable,
        )

        environment = pick(data, self.environments)
        if environment is None:
            return
        environments = self.svc.environments
        run: Callable[[], Any] | None = None
        if action == "rename" and (renamed := edge({"name": text}, RenameEnvironment)):
            run = lambda: environments.rename(environment, renamed)  # noqa: E731
        elif action == "lock" and (lock := edge({"lockReason": text or None},
                                                LockEnvironment)):
            run = lambda: environments.lock(environment, lock)  # noqa: E731
        elif action == "unlock":
            run = lambda: environments.unlock(environment)  # noqa: E731
        elif action == "archive" and (archived := edge({"archiveReason": text or None},
                                                       ArchiveEnvironment)):
            run = lambda: environments.archive(environment, archived)  # noqa: E731
        elif action == "set" and (variable := edge({"key": key, "value": text,
                                                    "exposure": exposure, "isSecret": secret},
                                                   SetVariable)):
            run = lambda: environments.set_variable(environment, variable)  # noqa: E731
        elif action == "unset" and (unset := edge({"exposure": exposure}, UnsetVariable)):
            run = lambda: environments.unset_variable(environment, key, unset)  # noqa: E731
        elif action == "clone" and (copy := edge({"targetName": text}, CloneEnvironment)):
            cloned = attempt(lambda: environments.clone(environment, copy))
            if cloned is not None:
                self.environments.append(cloned)
        if run is not None:
            attempt(run)

    @precondition(lambda self: self.environments)
    @rule(data=st.data(), name=RESOURCE_NAMES)
    def create_resource(self, data: st.DataObject, name: str) -> None:
        from application.resources import CreateResource

        environment, other = pick(data, self.environments), pick(data, self.projects)
        if environment is None:
            return
        row = self.svc.resource_reads.environments.get(environment)
        project = row.project_id if row else other
        cmd = edge({"projectId": str(project), "environmentId": str(environment),
                    "name": name}, CreateResource)
        if cmd is not None:
            resource = attempt(lambda: self.svc.resources.create(cmd))
            if resource is not None:
                record = self.svc.resource_reads.resources.get(resource)
                assert record is not None
                self.resources.append((resource, record.slug))

    @precondition(lambda self: self.resources)
    @rule(data=st.data(), action=st.sampled_from(
        ["source", "runtime", "network", "health", "reset", "set", "unset", "secret",
         "rotate", "unsecret", "import", "archive", "delete", "rollback"]),
          text=TEXTS, number=INTS, key=VARIABLE_KEYS, secret=st.booleans())
    def change_resource(self, data: st.DataObject, action: str, text: str,
                        number: int, key: str, secret: bool) -> None:
        from application import resources as r
        from application.environments import SetVariable, UnsetVariable

        chosen = pick(data, self.resources)
        if chosen is None:
            return
        resource, slug = chosen
        svc = self.svc.resources
        image = data.draw(st.sampled_from(["busybox:latest", "localhost/app:1", text]))
        payloads: dict[str, tuple[Any, type[Any], Callable[[Any], Any]]] = {
            "source": ({"source": {"locator": image}}, r.ConfigureSource,
                       lambda c: svc.configure_source(resource, c)),
            "runtime": ({"runtimeProfile": {"command": text or None, "args": [text]}},
                        r.ConfigureRuntimeProfile, lambda c: svc.configure_runtime(resource, c)),
            "network": ({"networkProfile": {"internalPort": number, "protocol": "tcp"}},
                        r.ConfigureNetworkProfile, lambda c: svc.configure_network(resource, c)),
            "health": ({"healthCheck": {"retries": number, "intervalSeconds": 5,
                                        "http": {"path": "/" + text, "port": number}}},
                       r.ConfigureHealthPolicy, lambda c: svc.configure_health(resource, c)),
            "set": ({"key": key, "value": text, "isSecret": secret}, SetVariable,
                    lambda c: svc.set_variable(resource, c)),
            "unset": ({}, UnsetVariable, lambda c: svc.unset_variable(resource, key, c)),
            "secret": ({"key": key, "value": text}, r.CreateSecret,
                       lambda c: svc.create_secret(resource, c)),
            "rotate": ({"value": text}, r.RotateSecret,
                       lambda c: svc.rotate_secret(resource, key, c)),
            "unsecret": ({}, UnsetVariable, lambda c: svc.delete_secret(resource, key, c)),
            "import": ({"content": f"{key}={text}\n{key}_PASSWORD='{text}'\n{text}"},
                       r.ImportVariables, lambda c: svc.import_variables(resource, c)),
            "rollback": ({"rollbackPolicy": {"automatic": secret}}, r.ConfigureRollbackPolicy,
                         lambda c: svc.configure_rollback(resource, c)),
            "delete": ({"confirmation": {"resourceSlug": slug if secret else text}},
                       r.DeleteResource, lambda c: svc.delete(resource, c)),
        }
        if action == "reset":
            attempt(lambda: svc.reset_health(resource))
        elif action == "archive":
            attempt(lambda: svc.archive(resource))
        else:
            payload, type_, run = payloads[action]
            cmd = edge(payload, type_)
            if cmd is not None:
                attempt(lambda: run(cmd))

    @precondition(lambda self: self.resources)
    @rule(data=st.data(), operation=st.sampled_from(["stop", "start", "restart"]),
          observed=st.sampled_from(["running", "stopped", "gone"]))
    def control_runtime(self, data: st.DataObject, operation: str, observed: str) -> None:
        """Runtime stop/start/restart (accepted or blocked) and the agent's word on them."""
        chosen = pick(data, self.resources)
        if chosen is None:
            return
        resource, _ = chosen
        controls = self.svc.runtime_controls
        asked = attempt(lambda: controls.request(resource, operation))
        if asked is not None:
            controls.observe([(resource, asked, observed)])

    @precondition(lambda self: self.resources)
    @rule(data=st.data(), action=st.sampled_from(["create", "redeploy", "retry", "rollback",
                                                   "cancel", "archive"]))
    def deploy_resource(self, data: st.DataObject, action: str) -> None:
        from application.deployment_attempts import (
            ArchiveDeployment,
            CancelDeployment,
            CreateDeployment,
            RollbackDeployment,
        )

        chosen = pick(data, self.resources)
        if chosen is None:
            return
        resource, _ = chosen
        attempts = self.svc.deployment_attempts
        earlier = pick(data, self.attempts) or uuid.uuid4()
        other = pick(data, self.attempts) or uuid.uuid4()
        accepted = None
        if action in ("create", "redeploy"):
            row = self.svc.resource_reads.resources.get(resource)
            if row is None:
                return
            create = edge({"projectId": str(row.project_id),
                           "environmentId": str(row.environment_id),
                           "resourceId": str(resource)}, CreateDeployment)
            assert create is not None
            accepted = attempt(lambda: attempts.create(create) if action == "create"
                               else attempts.redeploy(resource))
        elif action == "retry":
            accepted = attempt(lambda: attempts.retry(earlier))
        elif action == "rollback":
            back = RollbackDeployment(rollback_candidate_deployment_id=other)
            accepted = attempt(lambda: attempts.rollback(earlier, back))
        elif action == "archive":  # terminal or not, archived already or not
            attempt(lambda: attempts.archive(earlier, ArchiveDeployment(confirm=str(earlier))))
        else:
            attempt(lambda: attempts.cancel(earlier, CancelDeployment(confirm=str(earlier))))
        if accepted is not None:
            self.deployments.append((accepted.request_id, accepted.node_id))
            self.attempts.append(deployment_uuid(accepted.request_id))

    @rule(data=st.data(), health=st.booleans())
    def resource_workflow(self, data: st.DataObject, health: bool) -> None:
        """The chain a deployment needs, in one step (the rules above reach it rarely): a
        project, an environment, a resource with an image, a node with room, a deployment."""
        from application.hosts import UpdateHost

        self.create_project(f"Shop {len(self.projects)}", "")
        if not self.projects:
            return
        before = len(self.environments)
        self.create_environment(_Fixed(self.projects[-1]), "production", "production")
        if len(self.environments) == before:
            return
        self.create_resource_in(self.environments[-1], "web")
        if not self.resources:
            return
        resource, _ = self.resources[-1]
        self.change_resource(_Fixed((resource, "web"), "busybox:latest"), "source", "", 0,
                             "API_KEY", False)
        if health:
            self.change_resource(_Fixed((resource, "web"), "busybox:latest"), "health", "", 8080,
                                 "API_KEY", False)
        self.change_resource(_Fixed((resource, "web"), "busybox:latest"), "secret", "s3cret",
                             0, "API_KEY", False)
        if not self.nodes:
            self.issue_key("main", None, None)
            if self.keys:
                self.enroll(_Fixed(self.keys[-1]), None, 22, False)
        node = pick(data, self.nodes)
        if node is not None:
            room = edge({"cpu_units": 4096, "memory_mb": 4096}, UpdateHost)
            assert room is not None
            attempt(lambda: self.svc.hosts.update(node, room))
        self.deploy_resource(_Fixed((resource, "web"), uuid.uuid4(), uuid.uuid4()), "create")
        outcome = data.draw(st.sampled_from(["ready", "error", None]))
        if outcome is not None and self.deployments and self.deployments[-1][1] is not None:
            self.report_deployment(_Fixed(self.deployments[-1]), outcome, None, 8080, "")
        if outcome == "ready" and data.draw(st.booleans()):
            # A redeploy that fails on a resource asking for automatic rollback: the
            # rollback attempt is decided and placed in the failing report's transaction.
            self.change_resource(_Fixed((resource, "web"), "busybox:latest"), "rollback", "",
                                 0, "API_KEY", True)
            self.deploy_resource(_Fixed((resource, "web"), uuid.uuid4(), uuid.uuid4()),
                                 "redeploy")
            if self.deployments and self.deployments[-1][1] is not None:
                self.report_deployment(_Fixed(self.deployments[-1]), "error", None, 8080, "")

    # --- delete and create again under the same name (where a name makes the id) ----------
    @rule(kind=st.sampled_from(["cluster", "app", "node", "resource", "project"]),
          name=NAMES)
    def recreate(self, kind: str, name: str) -> None:
        for _ in range(2):
            if kind == "resource" and self.resources:
                resource, slug = self.resources[-1]
                row = self.svc.resource_reads.resources.get(resource)
                self.change_resource_delete(resource, slug)
                if row is not None:
                    self.create_resource_in(row.environment_id, row.name)
            elif kind == "project" and self.projects:
                self.recreate_project(self.projects[-1])
            elif kind == "cluster":
                self.create_cluster(name, None)
                self.delete_cluster(name)
            elif kind == "app":
                self.create_app("game")
                self.delete_app("game")
            elif self.nodes and self.keys:  # a persistent node enrolls again with its id
                self.reenroll(self.nodes[-1], self.keys[-1])
        if kind == "app":
            self.create_app("game")

    def change_resource_delete(self, resource: uuid.UUID, slug: str) -> None:
        from application.resources import DeleteResource

        confirm = edge({"confirmation": {"resourceSlug": slug}}, DeleteResource)
        if confirm is not None:
            attempt(lambda: self.svc.resources.delete(resource, confirm))

    def create_resource_in(self, environment: uuid.UUID, name: str) -> None:
        from application.resources import CreateResource

        row = self.svc.resource_reads.environments.get(environment)
        if row is None:
            return
        cmd = edge({"projectId": str(row.project_id), "environmentId": str(environment),
                    "name": name}, CreateResource)
        created = attempt(lambda: self.svc.resources.create(cmd)) if cmd else None
        if created is not None:
            record = self.svc.resource_reads.resources.get(created)
            assert record is not None
            self.resources.append((created, record.slug))

    def recreate_project(self, project: uuid.UUID) -> None:
        from application.projects import ArchiveProject, CreateProject, DeleteProject

        row = self.svc.resource_reads.projects.get(project)
        if row is None:
            return
        attempt(lambda: self.svc.projects.archive(project, ArchiveProject()))
        confirm = edge({"confirmation": {"projectId": str(project)}}, DeleteProject)
        assert confirm is not None
        attempt(lambda: self.svc.projects.delete(project, confirm))
        again = attempt(lambda: self.svc.projects.create(CreateProject(name=row.name)))
        if again is not None:
            self.projects.append(again)

    def reenroll(self, node: uuid.UUID, key: str) -> None:
        from application.agent_protocol import EnrollNode

        attempt(lambda: self.svc.nodes.delete(node))
        cmd = edge({"enrollment_key": key, "id_type": "persistent", "node_id": node}, EnrollNode)
        if cmd is not None:
            attempt(lambda: self.svc.nodes.enroll(cmd))

    # --- time -------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1, 60, 3600, 86400 * 40]))
    def later(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # --- what must always hold ----------------------------------------------------------------
    @invariant()
    def projector_never_fails(self) -> None:
        failure = self.svc.projector.failure
        assert failure is None, failure.describe()

    def teardown(self) -> None:
        try:
            self.svc.projector.stop()
            live = snapshot(self.svc)
            for record in FLEET_RECORDS:  # every row reads as its record (types, NULLs)
                Records(self.svc.view, record).page(ListQuery(page_size=100_000, count=False))
            rebuild(self.svc)
            replayed = snapshot(self.svc)
            for table in live:
                assert replayed[table] == live[table], f"replay differs from live in {table}"
        finally:
            self.svc.close()


def snapshot(svc: Services) -> dict[str, list[dict[str, Any]]]:
    """Every row of every owned table, in key order."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in svc.view.tables:
        if table.owned:
            page = svc.view.query(table.name, ListQuery(page_size=100_000, count=False))
            rows = sorted(page.rows, key=lambda r, k=table.key: str(r[k]))  # type: ignore[misc]
            tables[table.name] = rows
    return tables
