"""EnrollmentKey: blob format, issue/update/use/delete rules, and use counting."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enrollment_key import (
    EnrollmentKey,
    KeyGoneError,
    KeyRefusedError,
    decode_blob,
    encode_blob,
)
from domain.shared import InvalidValueError

AT = datetime(2026, 1, 1, tzinfo=UTC)
SERVER = "https://admin.example.com"


def new_key(
    uses: int | None = 1, expired_at: datetime | None = None, token: str = ""
) -> EnrollmentKey:
    return EnrollmentKey.issue(
        token or uuid4().hex, SERVER, uuid4(), "prod", None, uses, expired_at, AT
    )


def replayed(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_documented_example_blob_decodes() -> None:
    # The spec's example blob decodes to {"server": ..., "key": "abc123"}.
    raw = base64.b64encode(b'{"server":"https://netmaker.example.com","key":"abc123"}').decode()
    assert decode_blob(raw) == ("https://netmaker.example.com", "abc123")


@given(server=st.text(), token=st.text(min_size=1))
def test_blob_round_trips(server: str, token: str) -> None:
    assert decode_blob(encode_blob(server, token)) == (server, token)


@given(st.text() | st.binary().map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_decoding_garbage_only_ever_raises_invalid_value(blob: str) -> None:
    try:
        server, token = decode_blob(blob)
    except InvalidValueError as exc:
        assert exc.field == "enrollment_key"
    else:
        assert isinstance(server, str) and token


@pytest.mark.parametrize(
    "doc",
    [b'{"server":"s"}', b'{"server":1,"key":"k"}', b'{"server":"s","key":""}', b"[1]", b'"x"'],
)
def test_blobs_missing_parts_are_refused(doc: bytes) -> None:
    with pytest.raises(InvalidValueError):
        decode_blob(base64.urlsafe_b64encode(doc).decode())


def test_issue_derives_id_from_token_and_embeds_server() -> None:
    key = new_key(token="secret-token")
    assert key.id == EnrollmentKey.id_for("secret-token")
    assert decode_blob(key.key) == (SERVER, "secret-token")
    assert key.last_used_at is None and not key.deleted


@pytest.mark.parametrize("uses", [0, -3])
def test_issue_refuses_fewer_than_one_use(uses: int) -> None:
    with pytest.raises(InvalidValueError):
        new_key(uses=uses)


def test_issue_refuses_expiry_not_in_the_future() -> None:
    with pytest.raises(InvalidValueError):
        new_key(expired_at=AT)


def test_expiry_without_offset_is_taken_as_utc() -> None:
    naive = datetime(2026, 6, 1, 12, 0)
    key = new_key(expired_at=naive)
    assert key.expired_at == naive.replace(tzinfo=UTC)
    key.update({"expired_at": datetime(2026, 7, 1)}, AT)
    assert key.expired_at == datetime(2026, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize("moment", [datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
                                    datetime.fromisoformat("9999-12-31T23:59:59-01:00")])
def test_an_expiry_whose_utc_time_is_out_of_range_is_refused_on_its_field(
        moment: datetime) -> None:
    with pytest.raises(InvalidValueError, match="out of range") as refused:
        new_key(expired_at=moment)
    assert refused.value.field == "expired_at"
    key = new_key()
    with pytest.raises(InvalidValueError, match="out of range"):
        key.update({"expired_at": moment}, AT)


def test_use_decrements_and_refuses_when_spent() -> None:
    key = new_key(uses=2)
    key.use(uuid4(), AT)
    key.use(uuid4(), AT + timedelta(seconds=1))
    assert key.uses_remaining == 0
    assert key.last_used_at == AT + timedelta(seconds=1)
    with pytest.raises(KeyRefusedError):
        key.use(uuid4(), AT)


def test_unlimited_key_never_runs_out() -> None:
    key = new_key(uses=None)
    for _ in range(50):
        key.use(uuid4(), AT)
    assert key.uses_remaining is None


def test_expired_key_is_refused_from_its_expiry_instant() -> None:
    expiry = AT + timedelta(hours=1)
    key = new_key(uses=None, expired_at=expiry)
    key.use(uuid4(), expiry - timedelta(microseconds=1))
    with pytest.raises(KeyRefusedError):
        key.use(uuid4(), expiry)


def test_update_revives_a_spent_and_expired_key() -> None:
    key = new_key(uses=1, expired_at=AT + timedelta(minutes=1))
    key.use(uuid4(), AT)
    later = AT + timedelta(hours=1)
    key.update({"uses_remaining": 2, "expired_at": None, "name": "rollout"}, later)
    key.use(uuid4(), later)
    assert (key.uses_remaining, key.expired_at, key.name) == (1, None, "rollout")


@pytest.mark.parametrize(
    "changes",
    [
        {"uses_remaining": 0},
        {"expired_at": AT - timedelta(days=1)},
        {"key": "x"},
        {"cluster_id": 1},
    ],
)
def test_update_refuses_bad_values_and_unknown_fields(changes: dict[str, Any]) -> None:
    key = new_key()
    with pytest.raises(InvalidValueError):
        key.update(changes, AT)


def test_update_with_null_clears_nullable_fields() -> None:
    key = EnrollmentKey.issue("t", SERVER, uuid4(), "prod", "label", 3, None, AT)
    key.update({"name": None, "uses_remaining": None}, AT)
    assert key.name is None and key.uses_remaining is None


def test_deleted_key_refuses_everything() -> None:
    key = new_key()
    key.delete(AT)
    with pytest.raises(KeyGoneError):
        key.use(uuid4(), AT)
    with pytest.raises(KeyGoneError):
        key.update({"name": "x"}, AT)
    with pytest.raises(KeyGoneError):
        key.delete(AT)


@settings(deadline=None)
@given(uses=st.integers(1, 10), attempts=st.integers(0, 25))
def test_exactly_min_of_uses_and_attempts_succeed(uses: int, attempts: int) -> None:
    key = new_key(uses=uses)
    history: list[Any] = list(key.collect_events())
    succeeded = 0
    for _ in range(attempts):
        try:
            key.use(uuid4(), AT)
            succeeded += 1
        except KeyRefusedError:
            pass
        assert key.uses_remaining is not None and key.uses_remaining >= 0
    history += key.collect_events()
    assert succeeded == min(uses, attempts)
    assert key.uses_remaining == uses - succeeded
    assert vars(replayed(history)) == vars(key)
