"""The JSON log line edge-agent writes, the same one edge-admin writes (entrypoints/logs.py
extends it with the request id), so one log pipeline reads both."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, a record's `fields` extra, exception (if any), and
    whatever the `fields` method adds."""

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        return {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),  # structured extras: extra={"fields": {...}}
            **self.fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
