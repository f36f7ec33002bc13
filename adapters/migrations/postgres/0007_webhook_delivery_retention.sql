-- Finished deliveries (delivered, or failed for good) by when they finished: what retention
-- (WEBHOOK_DELIVERY_RETENTION_DAYS) deletes, oldest first, a batch at a time, found without
-- reading the whole table. Building it reads the table once, holding off enqueues and
-- settlements meanwhile (1-3 million finished deliveries: 0.3-0.9 s, bench.delivery_retention).
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished_idx ON webhook_deliveries (updated_at) WHERE status <> 'pending';
