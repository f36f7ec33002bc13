-- Of each stream's lines stamped as a deployment's last runtime log line, the place of the last
-- one taken, and the stamp they are of (an admin of the release before, still running, moves
-- the head on without them): a batch an agent sends again (its answer lost) is recognised by
-- them. Heads kept from before have none: the lines of their last second are taken as before.
ALTER TABLE rm_runtime_log_heads ADD COLUMN IF NOT EXISTS place_timestamp timestamptz;
ALTER TABLE rm_runtime_log_heads ADD COLUMN IF NOT EXISTS last_stdout_place bigint;
ALTER TABLE rm_runtime_log_heads ADD COLUMN IF NOT EXISTS last_stderr_place bigint;
