"""The one event-sourced application whose notification log every reader tails."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification, Recording

from application.ports import NO_ROWS, CommittedRows
from domain.claims import AddressPool, NameClaim
from domain.cluster import Cluster
from domain.enrollment_key import EnrollmentKey
from domain.host import Host
from domain.node import Node


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's project_aggregate without its per-event `isinstance` check against a
    runtime-checkable Protocol: 14 µs an event, far more than applying it, and paid on every
    aggregate load and snapshot (a cluster replays up to 100 events since its last one)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class EdgeStore(Application[UUID]):
    """Holds every aggregate so one transaction can span several and readers see one order."""

    name = "edge"
    # Hot aggregates collect many events (a cluster gets one per member change).
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Cluster: 100,
        AddressPool: 100,
        NameClaim: 100,
        Node: 200,
        EnrollmentKey: 100,
        Host: 100,  # two events per deployment it ever ran
    }
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = dict.fromkeys(
        snapshotting_intervals, project)

    def save(self, *objs: Any, notices: Sequence[str] = (), **kwargs: Any
             ) -> list[Recording[UUID]]:
        """Application.save, collecting our aggregates' events directly.

        The base class tells aggregates from events with runtime Protocol checks, about 40 µs
        per object: half a second for a command to 10,000 nodes (10,001 aggregates).

        notices: payloads the commit sends to other processes' listeners (with the event
        store's own notice), where `notifies_in_commit`; delivered only if it commits.
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            else:
                processing.collect_events(obj)
        processing.saved_kwargs.update(kwargs)
        if getattr(self.recorder, "in_commit", None) is not None:
            # The recorder applies their read-model changes in the same transaction
            # (adapters.pg_recorder, WRITE_PROJECT_IN_COMMIT).
            processing.saved_kwargs["events_to_project"] = processing.events
        if notices:
            processing.saved_kwargs["notices"] = notices
        recordings = self._record(processing)
        self._forget_ended(processing.aggregates.values())
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # deprecated hook, still called by the base class
        return recordings

    def _forget_ended(self, aggregates: Iterable[Any]) -> None:
        """Drops from the aggregate cache (AGGREGATE_CACHE_MAXSIZE, kept for hot aggregates)
        those this save deleted or ended: a finished or pruned execution, a deployment ended,
        a deleted node are seldom loaded again. Kept, they filled the cache in a long-running
        admin (one per execution and per deployment), and a pruned execution held its output."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            if getattr(aggregate, "deleted", False) or getattr(aggregate, "ended", False):
                with contextlib.suppress(KeyError):
                    cache.get(aggregate.id, evict=True)

    def committed_rows(self, position: int) -> CommittedRows:
        """The read-model rows this thread's last save left, where that save (its last event
        at `position`) applied them in its own commit (application.ports.CommittedRows)."""
        in_commit = getattr(self.recorder, "in_commit", None)
        return NO_ROWS if in_commit is None else in_commit.rows(position)

    def notifies_in_commit(self) -> bool:
        """Whether a save can carry notices, sent as it commits together with its read-model
        changes (PostgreSQL, WRITE_PROJECT_IN_COMMIT: adapters.pg_recorder)."""
        return getattr(self.recorder, "in_commit", None) is not None

    def get_many(self, aggregate_ids: Collection[UUID]) -> dict[UUID, Aggregate]:
        """The current state of several aggregates (absent ones left out), in one query where
        the recorder can (PostgreSQL), else one get each; from the latest snapshot on, as the
        repository does."""
        select = getattr(self.recorder, "select_events_of", None)
        found: dict[UUID, Aggregate] = {}
        if select is None:
            for aggregate_id in aggregate_ids:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id,
                                                              projector_func=project)
                except AggregateNotFoundError:
                    pass
            return found
        snapshots = self.snapshots.recorder if self.snapshots is not None else None
        for aggregate_id, stored in select(list(aggregate_ids), snapshots).items():
            aggregate = project(None, map(self.mapper.to_domain_event, stored))
            if aggregate is not None:
                found[aggregate_id] = aggregate
        return found

    def page_after(self, start: int, limit: int, topics: Sequence[str]
                   ) -> tuple[Sequence[Notification], int]:
        """Up to `limit` notifications of `topics` after `start`, and the head of the log as
        of that read: one query where the recorder can (PostgreSQL), else the head then the
        page."""
        select = getattr(self.recorder, "select_page_and_head", None)
        if select is not None:
            page: tuple[Sequence[Notification], int] = select(start, limit, topics)
            return page
        head = self.recorder.max_notification_id() or 0
        return self.recorder.select_notifications(
            start=start, limit=limit, topics=topics, inclusive_of_start=False), head
