"""How catalog messages travel: the stream that holds them, their subjects and their headers.

Pure data, so the two sides that must agree on it read the same definition: the NATS adapter
that publishes and consumes (adapters/nats_publisher.py, nats_consumer.py) and the AsyncAPI
document that tells subscribers what to expect (entrypoints/http/openapi/asyncapi.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalog import Message


@dataclass(frozen=True)
class StreamSettings:
    """The stream that holds the edge.* catalog."""

    name: str = "EDGE"
    # Lets several deployments (or test runs) share one NATS: subjects become <prefix>edge.*.
    subject_prefix: str = ""
    # Must outlast the relay's retry horizon (one batch); hours leave room for long outages.
    duplicate_window: float = 2 * 3600
    max_age: float = 7 * 24 * 3600

    @property
    def subjects(self) -> tuple[str, ...]:
        return (f"{self.subject_prefix}edge.>",)

    def subject(self, message: Message) -> str:
        return self.subject_prefix + message.type


def headers_for(message: Message) -> dict[str, str]:
    """Nats-Msg-Id makes JetStream drop a re-sent message; the others let a subscriber order and
    version messages without decoding the body."""
    return {
        "Nats-Msg-Id": str(message.id),
        "Edge-Position": str(message.position),
        "Edge-Schema-Version": str(message.schema_version),
    }
