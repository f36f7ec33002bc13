-- Progress lines numbered per deployment in the order they are committed (a stream followed
-- them by the admin's clock, and missed a line stamped by an admin whose clock is behind).
-- Lines kept from before are numbered by their time.
ALTER TABLE rm_deployment_progress ADD COLUMN IF NOT EXISTS sequence bigint;
UPDATE rm_deployment_progress SET sequence = (SELECT count(*) FROM rm_deployment_progress AS q WHERE q.request_id = rm_deployment_progress.request_id AND (q.at < rm_deployment_progress.at OR (q.at = rm_deployment_progress.at AND q.id <= rm_deployment_progress.id))) WHERE sequence IS NULL;
DROP INDEX IF EXISTS rm_deployment_progress_request_id_at_idx;
CREATE INDEX IF NOT EXISTS rm_deployment_progress_request_id_sequence_idx ON rm_deployment_progress (request_id, sequence);
