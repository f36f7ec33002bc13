"""What the Resources context reads: projects, environments, resources, their variables and
the attempts of their deployments as records, and the questions Appaloft's views ask of them
(lists with its filters and `limit`, counts, an attempt's timeline, rollback candidates, and
the container logs its agent last sent)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from domain.deployment_attempt import HEALTHY, AttemptStatus, advance
from domain.resource_profiles import configuration_blockers
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.records import Reads, Record, Records
from projections.resource_tables import (
    TIMELINE,
    AttemptRecord,
    EnvironmentRecord,
    ProjectRecord,
    ResourceRecord,
    VariableRecord,
)
from projections.runtime_controls import RuntimeControlRecord

R = TypeVar("R", bound=Record)
OLDEST_FIRST = (Order("inserted_at"), Order("id"))
NEWEST_FIRST = (Order("created_at", descending=True), Order("id", descending=True))
MAX_CANDIDATES = 50  # as many as a Resource remembers (domain/resource_attempts.py: MAX_GOOD)


@dataclass(frozen=True)
class TimelineEntry:
    """One lifecycle event of an attempt: its sequence in the Deployment's stream (from 1) and
    the attempt status right after it."""

    sequence: int
    event_type: str  # the Deployment event's name: Requested, Placed, Ready...
    status: AttemptStatus
    at: datetime


def timeline(attempt: AttemptRecord) -> list[TimelineEntry]:
    """The attempt's events in order, each with the status `advance` gives after it."""
    found = []
    for name, prefix in TIMELINE.items():
        seq, at = getattr(attempt, f"{prefix}_seq"), getattr(attempt, f"{prefix}_at")
        if seq is not None and at is not None:
            found.append((seq, name, at))
    entries, status = [], AttemptStatus.CREATED
    for seq, name, at in sorted(found):
        status = advance(status, name, attempt.is_rollback)
        entries.append(TimelineEntry(seq, name, status, at))
    return entries


def log_count(attempt: AttemptRecord, checked: bool) -> int:
    """How many lines its log (GET /deployments/{id}/logs) has, from the counts kept as they
    were stored: a line per lifecycle event, and one more for a ready report when no progress
    line told its start and a health check passed (`checked`: its snapshot has one); the
    agent's progress lines; the lines shown of its container's output (a crash's, if any)."""
    told = bool(attempt.progress_lines)
    extra = 1 if attempt.ready_seq is not None and checked and not told else 0
    shown = attempt.crash_lines if attempt.crash_lines is not None else attempt.log_lines
    return len(timeline(attempt)) + extra + (attempt.progress_lines or 0) + (shown or 0)


PROGRESS_PAGE = 100  # more than the admin keeps of one deployment
BLOCKERS_LISTED = 1000  # resources named as keeping their project from being deleted


@dataclass(frozen=True)
class ContainerLogs:
    """The log tail the agent last sent for an attempt's container (the telemetry route), and
    the logs of its crash or failed health check if it had one."""

    logs: str
    crash_logs: str | None
    exit_code: int | None
    at: datetime


@dataclass(frozen=True)
class ProgressLine:
    """A step the agent reported while it started an attempt's container (its pull, its
    start, a health probe), at the admin's clock when it came in; `sequence` numbers the
    attempt's lines in the order they were recorded."""

    sequence: int
    at: datetime
    phase: str
    level: str
    message: str


def _filters(**equal: Any) -> tuple[Filter, ...]:
    return tuple(Cond(column, "eq", value) for column, value in equal.items()
                 if value is not None)


class ResourceReads(Reads):
    projects: Records[ProjectRecord]
    environments: Records[EnvironmentRecord]
    resources: Records[ResourceRecord]
    variables: Records[VariableRecord]
    attempts: Records[AttemptRecord]
    runtime_controls: Records[RuntimeControlRecord]

    @staticmethod
    def _list(records: Records[R], filters: tuple[Filter, ...], limit: int,
              order: tuple[Order, ...] = OLDEST_FIRST) -> list[R]:
        return records.page(ListQuery(filters, order, page_size=limit, count=False)).records

    @staticmethod
    def _count(records: Records[R], filters: tuple[Filter, ...]) -> int:
        return records.page(ListQuery(filters, page_size=1)).total

    # --- projects, environments, resources ------------------------------------------------
    def project_list(self, limit: int) -> list[ProjectRecord]:
        return self._list(self.projects, (), limit)

    def project_count(self) -> int:
        return self._count(self.projects, ())

    def environment_list(self, project_id: UUID | None, limit: int) -> list[EnvironmentRecord]:
        return self._list(self.environments, _filters(project_id=project_id), limit)

    def environment_count(self, project_id: UUID | None) -> int:
        return self._count(self.environments, _filters(project_id=project_id))

    def resource_list(self, project_id: UUID | None, environment_id: UUID | None,
                      limit: int) -> list[ResourceRecord]:
        where = _filters(project_id=project_id, environment_id=environment_id)
        return self._list(self.resources, where, limit)

    def resource_ids(self, project_id: UUID) -> list[UUID]:
        """The project's resources not deleted, oldest first: the first BLOCKERS_LISTED (any
        one keeps the project from being deleted)."""
        return [r.id for r in self._list(self.resources, _filters(project_id=project_id),
                                         BLOCKERS_LISTED)]

    def environment_ids(self, project_id: UUID) -> list[UUID]:
        """Every environment of the project (archived and locked ones too): all of them are
        deleted with it."""
        return [e.id for e in self.environments.every(Cond("project_id", "eq", project_id))]

    def resource_count(self, project_id: UUID | None, environment_id: UUID | None) -> int:
        return self._count(self.resources,
                           _filters(project_id=project_id, environment_id=environment_id))

    def variables_of(self, owner_id: UUID) -> list[VariableRecord]:
        """An environment's or a resource's own entries, by exposure then key."""
        found = self.variables.select({"owner_id": owner_id}, 10_000)
        return sorted(found, key=lambda v: (v.exposure, v.key))

    def latest_runtime_control(self, resource_id: UUID) -> RuntimeControlRecord | None:
        found = self._list(self.runtime_controls, (Cond("resource_id", "eq", resource_id),), 1,
                           (Order("started_at", descending=True), Order("id", descending=True)))
        return found[0] if found else None

    # --- attempts -------------------------------------------------------------------------
    def attempt_list(self, project_id: UUID | None, resource_id: UUID | None,
                     statuses: tuple[str, ...], limit: int,
                     include_archived: bool = False) -> list[AttemptRecord]:
        where = self._attempt_filters(project_id, resource_id, statuses, include_archived)
        return self._list(self.attempts, where, limit, NEWEST_FIRST)

    def attempt_count(self, project_id: UUID | None, resource_id: UUID | None,
                      statuses: tuple[str, ...], include_archived: bool = False) -> int:
        return self._count(self.attempts, self._attempt_filters(project_id, resource_id,
                                                                statuses, include_archived))

    @staticmethod
    def _attempt_filters(project_id: UUID | None, resource_id: UUID | None,
                         statuses: tuple[str, ...],
                         include_archived: bool) -> tuple[Filter, ...]:
        """Archived attempts only when asked for (Appaloft's includeArchived)."""
        where = _filters(project_id=project_id, resource_id=resource_id)
        if not include_archived:
            where += (Cond("archived_at", "null"),)
        if statuses:
            where += (AnyOf(tuple(Cond("status", "eq", s) for s in statuses)),)
        return where

    def rollback_candidates(self, resource_id: UUID, excluding: UUID | None,
                            limit: int = MAX_CANDIDATES) -> list[AttemptRecord]:
        """The resource's healthy attempts, newest first (what a rollback can return to)."""
        healthy = AnyOf(tuple(Cond("status", "eq", s.value) for s in sorted(HEALTHY)))
        found = self._list(self.attempts, (Cond("resource_id", "eq", resource_id), healthy),
                           limit + 1, NEWEST_FIRST)
        return [a for a in found if a.id != excluding][:limit]

    def container_logs(self, request_id: str) -> ContainerLogs | None:
        row = self.view.get("deployment_logs", request_id)
        if row is None:
            return None
        # an upsert without a crash leaves these columns unset (absent in the memory view)
        return ContainerLogs(logs=row.get("logs") or "", crash_logs=row.get("crash_logs"),
                             exit_code=row.get("exit_code"), at=row["updated_at"])

    def progress(self, request_id: str, after: int = 0) -> list[ProgressLine]:
        """What the agent said while it started the attempt, in the order the lines were
        recorded (at most application/container_telemetry.py MAX_PROGRESS lines); those
        after the line numbered `after`."""
        # unnumbered: an earlier release's admin stored it; numbered with the next line
        where = [Cond("request_id", "eq", request_id), Cond("sequence", "notnull")]
        if after:
            where.append(Cond("sequence", "gt", after))
        query = ListQuery(tuple(where), (Order("sequence"),), page_size=PROGRESS_PAGE,
                          count=False)
        return [ProgressLine(sequence=r["sequence"], at=r["at"], phase=r["phase"],
                             level=r["level"], message=r["message"])
                for r in self.view.query("deployment_progress", query).rows]

    def progress_marks(self, request_ids: Sequence[str]) -> dict[str, int]:
        """The last line's number of each deployment that has progress lines, in one read: a
        line more moves it (its followers read those after the last they saw)."""
        if not request_ids:
            return {}
        ids = tuple(dict.fromkeys(request_ids))
        query = ListQuery((AnyOf(tuple(Cond("request_id", "eq", r) for r in ids)),),
                          page_size=PROGRESS_PAGE * len(ids),
                          columns=("request_id", "sequence"), count=False)
        marks: dict[str, int] = {}
        for row in self.view.query("deployment_progress", query).rows:
            marks[row["request_id"]] = max(marks.get(row["request_id"], 0), row["sequence"] or 0)
        return marks

    def attempts_on_server(self, server_id: UUID, limit: int) -> list[AttemptRecord]:
        return self._list(self.attempts, (Cond("server_id", "eq", server_id),), limit,
                          NEWEST_FIRST)

    def attempt_count_on_server(self, server_id: UUID) -> int:
        return self._count(self.attempts, (Cond("server_id", "eq", server_id),))

    # --- what a deployment of a resource needs -------------------------------------------
    def plan_reasons(self, resource: ResourceRecord) -> list[str]:
        """Why the resource cannot be deployed now (empty: it can): the rules of its project,
        environment and own configuration, as the aggregates check them, read."""
        reasons = []
        project = self.projects.get(resource.project_id)
        if project is not None and project.lifecycle_status == "archived":
            reasons.append("project-archived")
        environment = self.environments.get(resource.environment_id)
        if environment is not None and environment.lifecycle_status != "active":
            reasons.append(f"environment-{environment.lifecycle_status}")
        reasons += configuration_blockers(resource.lifecycle_status == "archived",
                                          resource.image, json.loads(resource.health),
                                          resource.internal_port)
        if resource.active_deployment_id is not None:
            reasons.append("attempt-not-terminal")
        return reasons
