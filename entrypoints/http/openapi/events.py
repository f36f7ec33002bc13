"""OpenAPI wording of the Events.* tags (event types, webhooks, deliveries, events), and the
schema of a stored event, taken from the catalog's message structs."""

from __future__ import annotations

from domain.catalog import EVENT_TYPES
from entrypoints.http.openapi.asyncapi import message_schemas, struct_name
from entrypoints.http.openapi.schemas import INT, Schema, doc, ref

TYPE_ENUM: Schema = {"type": "string", "enum": list(EVENT_TYPES)}
TYPES_CSV: Schema = {"type": "string", "pattern": r"^[a-z_.]+(,[a-z_.]+)*$"}



def event_components() -> dict[str, Schema]:
    """EventResponse is one of the catalog's messages: `Message` (domain/catalog.py) with its type
    and payload pinned, the same structs the AsyncAPI document describes."""
    components = message_schemas(EVENT_TYPES, "#/components/schemas/{name}")
    refs = {kind: ref(f"{struct_name(kind)}Message") for kind in EVENT_TYPES}
    components["EventResponse"] = {
        "description": "A stored catalog event, exactly as NATS subscribers and webhooks"
        " receive it; `type` says which payload `data` holds",
        "anyOf": list(refs.values()),
        "discriminator": {"propertyName": "type",
                          "mapping": {kind: r["$ref"] for kind, r in refs.items()}},
    }
    return components


BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateWebhook": ("WebhookCreateRequest", {
        "url": "Absolute http(s) URL. SSRF-checked at create time and again at delivery time.",
        "secret": "HMAC-SHA256 signing key (32-256 characters). Never returned in responses.",
        "subscribed_events": "Explicit list of event types (1-20, no wildcards); see"
        " GET /api/v1/event_types.",
        "headers": "Extra HTTP headers stamped on every delivery (up to 20; values up to 4096"
        " characters). Write-only; encrypted at rest.",
    }),
}

ID_DOCS = {"Events.Webhook": "Webhook ID"}

WEBHOOK_DESCRIPTION = (
    "Create a webhook subscription. Webhooks are immutable after create — to change any field,"
    " delete and recreate. The URL is checked against the SSRF deny list (loopback, RFC1918,"
    " link-local, cloud metadata) unless WEBHOOK_ALLOW_PRIVATE_IPS=true. secret and headers are"
    " write-only and encrypted at rest. Delivery retry budget: WEBHOOK_MAX_ATTEMPTS (default 3)."
)

EVENTS_DESCRIPTION = (
    "The public catalog messages recorded in the event store, oldest first (order_by=position"
    " with order_directions=desc for newest first). Read from the store, not NATS. Filtering by"
    " occurred_at decodes every event the other filters leave; a query that would decode more"
    " than 100000 is a 400 asking for a narrower position range, type or subject_id. Each page"
    " says in meta.position__lte the newest position it covers: pass that as position__lte"
    " with the next pages, and they hold the same events (and total) however many are written"
    " meanwhile (newest first, without it, each write moves every event one place on)."
)
LIST_META: dict[str, Schema] = {
    "position__lte": doc(INT, "The newest position this page and total_count cover (the log's"
                         " end when read, or position__lte if lower): pass it as position__lte"
                         " to page on without repeats or gaps while events are written"),
}
STREAM_DESCRIPTION = (
    "text/event-stream of catalog messages as they are recorded: `id: <position>`, `event:"
    " <type>`, `data: <message JSON>`. Resumes strictly after the Last-Event-ID header (or"
    " last_event_id; an empty header counts as none); else from from_position (inclusive);"
    " else only new events. Query: type"
    " (repeatable or comma-separated), last_event_id, from_position. A `: heartbeat` comment"
    " line every 15 s while idle. 409 when Last-Event-ID (or last_event_id) is past the log's"
    " end: the events after it are gone (a database restored from an earlier backup), and"
    " waiting for new ones would hide that."
)
