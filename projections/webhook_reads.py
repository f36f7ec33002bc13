"""What the Events context reads of its webhook subscriptions, as records."""

from __future__ import annotations

from projections.records import Records
from projections.view import TableView
from projections.webhook_tables import WebhookRecord


class WebhookReads:
    def __init__(self, view: TableView) -> None:
        self.webhooks = Records(view, WebhookRecord)
