"""Webhook subscriptions read from the webhooks read model (cached per projection position)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable

from application.ports import SecretBox, Subscription
from projections.query import AnyOf, Cond, ListQuery
from projections.view import TableView
from projections.webhook_reads import WebhookReads
from projections.webhook_tables import WebhookRecord, split_events


class ViewWebhookDirectory:
    """Reloads the (small) webhooks table only when the read model has moved on."""

    def __init__(self, view: TableView, reads: WebhookReads,
                 position: Callable[[], int]) -> None:
        """`position`: the last position the read model holds, as this process knows it (the
        projector's, in memory where this process runs it; it never runs ahead of the
        database, and a fan-out first waits for it to reach its messages)."""
        self.view, self.reads = view, reads
        self.position = position
        self._lock = threading.Lock()
        self._seen_position: int | None = -1
        self._cached: list[Subscription] = []

    def subscriptions(self) -> list[Subscription]:
        position = self.position()
        with self._lock:
            if position != self._seen_position:
                self._cached = [
                    Subscription(w.id, frozenset(split_events(w.subscribed_events)),
                                 w.created_position)
                    for w in self.reads.all()
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


def open_webhook(box: SecretBox, webhook: WebhookRecord) -> tuple[bytes, dict[str, str]]:
    """The webhook's secret and extra headers, unsealed for one delivery."""
    secret = box.open(webhook.sealed_secret)
    headers = json.loads(box.open(webhook.sealed_headers)) if webhook.sealed_headers else {}
    return secret, headers
