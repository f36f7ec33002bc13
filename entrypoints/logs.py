"""Log set-up for `edge-admin serve`: one JSON object per line (or plain text), each carrying the
id of the request it was written for, so a client's x-request-id finds every line it caused."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from entrypoints.agent.logs import JsonFormatter as AgentJsonFormatter

# Set by the HTTP middleware for the length of a request; worker threads inherit it.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(AgentJsonFormatter):
    """The agent's line, plus request_id inside a request."""

    def fields(self, record: logging.LogRecord) -> dict[str, object]:
        rid = request_id.get()
        return {} if rid is None else {"request_id": rid}


class TextFormatter(logging.Formatter):
    """The plain format, with the request id appended inside a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        return f"{line} request_id={rid}" if rid is not None else line


ACCESS = "edge_admin.access"  # the middleware's one line per request


def configure(fmt: str, level: str = "info", access: bool = True) -> None:
    """Replaces the root handlers; uvicorn logs propagate here when run with log_config=None.
    `access` False (ACCESS_LOG=false) silences the per-request lines whatever the level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger(ACCESS).setLevel(logging.NOTSET if access else logging.WARNING)
