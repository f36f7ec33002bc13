"""What the Events context reads of its webhook subscriptions, as records."""

from __future__ import annotations

from uuid import UUID

from projections.records import Reads, Records
from projections.webhook_tables import WebhookRecord


class WebhookReads(Reads):
    webhooks: Records[WebhookRecord]

    def all(self) -> list[WebhookRecord]:
        """Every subscription (a small table: deliveries fan out over all of it)."""
        return list(self.webhooks.every())

    def exists(self, webhook_id: UUID) -> bool:
        return self.webhooks.get(webhook_id) is not None
