"""What running containers wrote (a resource's runtime logs), line by line: not events but
agent reports, kept on the read side and never replayed. Each deployment keeps its last
RETAINED lines in a ring of rows (the row of line n is slot n mod RETAINED), so the table stays
bounded without range deletes; a head row holds each deployment's last sequence, the
timestamp of its last line (lines written before it are not taken again: an agent that restarts
ships its last lines again) and, of each stream's lines stamped so (`place_timestamp`: the
stamp they are of), the place of the last one taken (an agent that says where its batch starts
has those of a batch it sends again, its answer lost, not taken again)."""

from __future__ import annotations

from projections.model import Kind, Table, cols

TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID

RETAINED = 1000  # lines kept per deployment (Appaloft's tailLines maximum)
STREAMS = ("stdout", "stderr")

RUNTIME_LOG_LINES = Table(
    "runtime_log_lines", "id",
    cols(("id", UID), ("request_id", TXT), ("sequence", INT), ("stream", TXT),
         ("timestamp", TIME), ("message", TXT), ("masked", BOOL), ("received_at", TIME)),
    indexes=("request_id, sequence", "received_at"),
    owned=False,
)
RUNTIME_LOG_HEADS = Table(
    "runtime_log_heads", "request_id",
    cols(("request_id", TXT), ("last_sequence", INT), ("last_timestamp", TIME),
         ("updated_at", TIME), ("place_timestamp", TIME), ("last_stdout_place", INT),
         ("last_stderr_place", INT)),
    owned=False,
)
RUNTIME_LOG_TABLES = (RUNTIME_LOG_LINES, RUNTIME_LOG_HEADS)
