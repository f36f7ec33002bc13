"""Retention of webhook deliveries. A delivery and its attempts stay in the queue's tables after
it is sent or fails for good, for GET /api/v1/webhooks/{id}/deliveries; at a few hundred events
a second to a few webhooks that is millions of rows a day, so the scheduler deletes those
finished longer ago than WEBHOOK_DELIVERY_RETENTION_DAYS, a batch per call. Pending deliveries
are never touched, however old: they are still owed."""

from __future__ import annotations

from datetime import timedelta

from application.ports import Clock, DeliveryHistory

# Deliveries per transaction: a batch holds its rows' locks (and on SQLite the database's write
# lock, which commands and delivery claims wait for) only while it deletes this many with their
# attempts: 7-14 ms on PostgreSQL and 23-24 ms on SQLite (medians beside deliveries, p99
# 22-60 ms; a batch of 1,000 took 30 and 55 ms; bench.delivery_retention).
BATCH = 500


class DeliveryRetention:
    """Application service for the age of finished webhook deliveries."""

    def __init__(self, history: DeliveryHistory, clock: Clock) -> None:
        self.history = history
        self.clock = clock

    def prune(self, days: float) -> int:
        """Deletes up to BATCH deliveries finished more than `days` ago, with their attempts;
        returns how many deliveries went."""
        return self.history.delete_finished_before(self.clock.now() - timedelta(days=days),
                                                   BATCH)
