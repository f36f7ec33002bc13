"""Webhook signatures: the Standard Webhooks scheme and the X-Edge-Signature header.

Both are HMAC-SHA256 with the webhook's secret (the bytes of the string the client sent at
create time) over the exact body bytes, bound to a timestamp so receivers can refuse replays:

- Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 mac>` over
  `<webhook-id>.<webhook-timestamp>.<body>`. Libraries take the secret as `whsec_<base64 secret>`
  (`receiver_secret`); the webhook-id stays the same on every attempt of one delivery.
- `X-Edge-Signature: t=<timestamp>,v1=<hex mac>` over `<timestamp>.<body>`, checkable with
  nothing but an HMAC function and the secret as the client stored it.

Pure: callers pass the current time, so verification is deterministic in tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from domain.shared import DomainError, ascii_digits

TOLERANCE_SECONDS = 300  # what the Standard Webhooks libraries accept by default
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


class SignatureError(DomainError):
    """A webhook request does not carry a valid, fresh signature."""


def _mac(secret: bytes, material: bytes) -> bytes:
    return hmac.new(secret, material, hashlib.sha256).digest()


def receiver_secret(secret: bytes) -> str:
    """The secret as Standard Webhooks libraries want it configured."""
    return SECRET_PREFIX + base64.b64encode(secret).decode()


def standard_signature(msg_id: str, timestamp: int, body: bytes, secret: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC of `{id}.{timestamp}.{body}`."""
    mac = _mac(secret, f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(mac).decode()


def edge_signature(timestamp: int, body: bytes, secret: bytes) -> str:
    """The `X-Edge-Signature` value: `t=<timestamp>,v1=<hex HMAC of "{timestamp}.{body}">`."""
    return f"t={timestamp},v1={_mac(secret, f'{timestamp}.'.encode() + body).hex()}"


def _fresh(raw: str, now: int, tolerance: int) -> int:
    if not ascii_digits(raw) or len(raw) > 12:
        raise SignatureError("timestamp is not a number of seconds")
    timestamp = int(raw)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp is outside the tolerance window")
    return timestamp


def verify_standard(
    headers: Mapping[str, str], body: bytes, secret: bytes, now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Checks the Standard Webhooks headers; returns the webhook-id (the idempotency key)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    raw_timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and raw_timestamp and signatures):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    timestamp = _fresh(raw_timestamp, now, tolerance)
    expected = _mac(secret, f"{msg_id}.{timestamp}.".encode() + body)
    # The header may list several space-separated signatures (secret rotation).
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(expected, given):
            return msg_id
    raise SignatureError("no matching v1 signature")


def verify_edge(
    header: str, body: bytes, secret: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """Checks an `X-Edge-Signature` value; returns its timestamp."""
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, value)
    if "t" not in parts or "v1" not in parts:
        raise SignatureError("X-Edge-Signature must look like t=<seconds>,v1=<hex>")
    timestamp = _fresh(parts["t"], now, tolerance)
    expected = _mac(secret, f"{timestamp}.".encode() + body).hex()
    if not hmac.compare_digest(expected.encode(), parts["v1"].lower().encode()):
        raise SignatureError("signature does not match")
    return timestamp
