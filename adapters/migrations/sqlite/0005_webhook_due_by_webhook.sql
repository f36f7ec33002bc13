-- One webhook's due deliveries in order: a slow webhook's share of a worker's slots, and (on
-- PostgreSQL) claims that leave slow webhooks out find each other webhook's first due ones by
-- one probe instead of walking past a slow webhook's backlog.
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_due_idx ON webhook_deliveries (webhook_id, next_attempt_at, position) WHERE status = 'pending';
