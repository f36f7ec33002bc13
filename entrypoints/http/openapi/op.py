"""The operation record each documented route carries (entrypoints/http/routing.py), and the
tags and security values the route modules share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from entrypoints.http.listing import ListSpec

Security = list[dict[str, list[str]]]
CLUSTER, KEY, NODE, ALIAS, AGENT = (
    "Nodes.Cluster", "Nodes.EnrollmentKey", "Nodes.Node", "Nodes.Alias", "Agent")
EVENT_TYPE, WEBHOOK, EVENT = "Events.Type", "Events.Webhook", "Events.Event"
AGENT_TAG = ("Called by the edge agent: enrollment with a key, then calls authenticated by the"
             " node's api_token. Not part of the Edge Admin 0.2.0 document.")
PUBLIC: Security = []
NODE_TOKEN: Security = [{"nodeToken": []}]


@dataclass(frozen=True)
class Op:
    """What the routes cannot tell about one operation: its wording, outcomes and input types."""

    tag: str
    summary: str
    status: int
    data: str | None  # the success body is {data: <data>Response, meta}; None for 204
    errors: tuple[int, ...]  # 401 is added unless the operation is public
    body: type[msgspec.Struct] | None = None
    listing: ListSpec | None = None
    list_meta: Mapping[str, Any] | None = None  # a list's own members of `meta`, by schema
    description: str = ""
    security: Security | None = None  # None: the document-wide apiKey
    also: tuple[int, ...] = ()  # further success statuses with the same body
    flat: bool = False  # the body is <data>Response itself, not wrapped in {data, meta}
    query: type[msgspec.Struct] | None = None  # a query string decoded into this Struct
    stream: bool = False  # the body is a text/event-stream (data is None)
    fastapi_errors: bool = False  # 413 and 422 are FastAPI's {detail} bodies (Mengi's route)
