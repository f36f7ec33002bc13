"""Webhook signatures: our headers verify with the Standard Webhooks reference library and with
nothing but hmac; tampering, other secrets and stale timestamps are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook as ReferenceWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from domain.signing import (
    SignatureError,
    edge_signature,
    receiver_secret,
    standard_signature,
    verify_edge,
    verify_standard,
)

SECRET = b"a-webhook-secret-of-at-least-32-chars!"
BODY = b'{"id":"8c1d","type":"edge.node.registered","data":{"x":1}}'
MSG_ID = "5d0d3c8e-2a7c-5f0e-9c1b-3f5a1e2d4c6b"


def headers(msg_id: str, ts: int, body: bytes, secret: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": standard_signature(msg_id, ts, body, secret)}


def test_reference_library_accepts_our_standard_headers() -> None:
    now = int(time.time())
    payload = ReferenceWebhook(receiver_secret(SECRET)).verify(BODY, headers(MSG_ID, now, BODY,
                                                                             SECRET))
    assert payload == {"id": "8c1d", "type": "edge.node.registered", "data": {"x": 1}}


def test_our_signature_equals_the_reference_signature() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    reference = ReferenceWebhook(receiver_secret(SECRET)).sign(MSG_ID, moment, BODY.decode())
    assert standard_signature(MSG_ID, int(moment.timestamp()), BODY, SECRET) == reference


@given(body=st.binary(max_size=300).map(lambda b: base64.b64encode(b)),
       secret=st.binary(min_size=1, max_size=64), msg_id=st.uuids().map(str))
def test_reference_agrees_for_any_body_and_secret(body: bytes, secret: bytes, msg_id: str) -> None:
    now = int(time.time())
    ReferenceWebhook(receiver_secret(secret)).verify(
        body, headers(msg_id, now, body, secret), json_parse=False
    )
    assert verify_standard(headers(msg_id, now, body, secret), body, secret, now) == msg_id


def test_reference_library_refuses_tampering_and_other_secrets() -> None:
    now = int(time.time())
    sent = headers(MSG_ID, now, BODY, SECRET)
    with pytest.raises(WebhookVerificationError):
        ReferenceWebhook(receiver_secret(SECRET)).verify(BODY.replace(b"1", b"2"), sent)
    with pytest.raises(WebhookVerificationError):
        ReferenceWebhook(receiver_secret(b"x" * 32)).verify(BODY, sent)
    with pytest.raises(WebhookVerificationError):  # the id is signed too
        ReferenceWebhook(receiver_secret(SECRET)).verify(BODY, {**sent, "webhook-id": "other"})


def test_edge_signature_is_plain_hmac_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1767268800." + BODY, hashlib.sha256).hexdigest()
    assert edge_signature(1767268800, BODY, SECRET) == f"t=1767268800,v1={expected}"


def test_verify_edge_round_trip_and_refusals() -> None:
    header = edge_signature(1000, BODY, SECRET)
    assert verify_edge(header, BODY, SECRET, now=1000 + 299) == 1000
    for bad_header, body, secret, now in [
        (header, BODY + b" ", SECRET, 1000),
        (header, BODY, b"another secret of thirty-two bytes", 1000),
        (header, BODY, SECRET, 1000 + 301),  # replayed later than the tolerance
        (header, BODY, SECRET, 1000 - 301),  # from the future
        (header.replace("t=1000", "t=1001"), BODY, SECRET, 1000),
        ("v1=" + header.split("v1=")[1], BODY, SECRET, 1000),
        ("t=abc,v1=00", BODY, SECRET, 1000),
        ("t=1000,v1=\u00e9", BODY, SECRET, 1000),
    ]:
        with pytest.raises(SignatureError):
            verify_edge(bad_header, body, secret, now)


def test_verify_standard_refusals() -> None:
    sent = headers(MSG_ID, 5000, BODY, SECRET)
    assert verify_standard({k.upper(): v for k, v in sent.items()}, BODY, SECRET, 5000) == MSG_ID
    rotated = {**sent, "webhook-signature": "v1,AAAA " + sent["webhook-signature"]}
    assert verify_standard(rotated, BODY, SECRET, 5000) == MSG_ID
    for bad, now in [
        ({**sent, "webhook-signature": "v2," + sent["webhook-signature"][3:]}, 5000),
        ({**sent, "webhook-signature": "v1,not base64!"}, 5000),
        ({k: v for k, v in sent.items() if k != "webhook-timestamp"}, 5000),
        (sent, 5000 + 301),
        ({**sent, "webhook-timestamp": "-5"}, 5000),
    ]:
        with pytest.raises(SignatureError):
            verify_standard(bad, BODY, SECRET, now)


def test_receiver_secret_is_whsec_base64() -> None:
    assert receiver_secret(b"\x00\xff") == "whsec_AP8="
