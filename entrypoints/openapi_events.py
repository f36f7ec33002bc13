"""OpenAPI wording and schemas of the Events.* tags (event types, webhooks, deliveries, events)."""

from __future__ import annotations

from domain.catalog import EVENT_TYPES
from entrypoints.openapi_schemas import STR, TIME, UUID_S, Schema, doc, obj

TYPE_ENUM: Schema = {"type": "string", "enum": list(EVENT_TYPES)}

RESOURCES: dict[str, Schema] = {
    "EventTypesResponse": doc({"type": "array", "items": TYPE_ENUM},
                              "Full catalog of event types, in catalog order"),
    "WebhookResponse": obj(
        "A webhook subscription (secret and headers are write-only and never returned)",
        id=doc(UUID_S, "Webhook ID"),
        url=doc(STR, "Destination URL — receives a POST per matching event"),
        subscribed_events=doc({"type": "array", "items": TYPE_ENUM},
                              "Explicit list of event types this webhook fires on"),
        inserted_at=doc(TIME, "When it was created"),
        updated_at=doc(TIME, "When it was last updated"),
    ),
}

QUERY_DOCS: dict[str, dict[str, str]] = {
    "/api/v1/webhooks": {
        "event_type": "Returns webhooks whose subscribed_events list contains this event type."
        " Pass a literal event type, e.g. edge.node.registered.",
        "url": "Filter by URL (exact match or wildcard: `https://hooks.*`, `*/edge`, `*hook*`)",
    },
}

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
