"""The one event-sourced application whose notification log every reader tails."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application

from domain.claims import AddressPool, NameClaim
from domain.cluster import Cluster
from domain.enrollment_key import EnrollmentKey
from domain.node import Node


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
    }
