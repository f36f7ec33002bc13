"""Webhook subscriptions read from the webhooks read model (cached per projection position)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from application.ports import SecretBox, Subscription
from projections.query import AnyOf, Cond, ListQuery
from projections.targets import all_rows
from projections.view import TableView
from projections.webhook_tables import split_events


class ViewWebhookDirectory:
    """Reloads the (small) webhooks table only when the read model has moved on."""

    def __init__(self, view: TableView, application_name: str) -> None:
        self.view = view
        self.application_name = application_name
        self._lock = threading.Lock()
        self._seen_position: int | None = -1
        self._cached: list[Subscription] = []

    def subscriptions(self) -> list[Subscription]:
        position = self.view.max_tracking_id(self.application_name)
        with self._lock:
            if position != self._seen_position:
                self._cached = [
                    Subscription(row["id"], frozenset(split_events(row["subscribed_events"])),
                                 row["created_position"])
                    for row in all_rows(self.view, "webhooks", [], 1000, ())
                ]
                self._seen_position = position
            return list(self._cached)

    def deployment_hooks(self, request_ids: Iterable[str]) -> set[tuple[str, str]]:
        wanted = tuple(Cond("request_id", "eq", r) for r in request_ids)
        if not wanted:
            return set()
        query = ListQuery((AnyOf(wanted),), page_size=10_000)
        return {(r["request_id"], r["kind"])
                for r in self.view.query("deployment_hooks", query).rows}


def open_webhook(box: SecretBox, row: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The webhook's secret and extra headers, unsealed for one delivery."""
    secret = box.open(row["sealed_secret"])
    headers = json.loads(box.open(row["sealed_headers"])) if row["sealed_headers"] else {}
    return secret, headers


def webhook_row(view: TableView, webhook_id: UUID) -> dict[str, Any] | None:
    return view.get("webhooks", webhook_id)
