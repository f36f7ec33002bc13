"""utc_within_range: any aware time a client can send becomes a UTC time that sorts the same
against every time the service stores (years 1 to 9999), even one whose UTC instant is past
those years and which astimezone() cannot convert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from domain.shared import utc_within_range

OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
SENT = st.datetimes(timezones=OFFSETS)  # every year from 1 to 9999, any offset
# Stored times are the service's own clock's: never the very first or last instant.
STORED = st.datetimes(min_value=datetime.min + timedelta(microseconds=1),
                      max_value=datetime.max - timedelta(microseconds=1),
                      timezones=st.just(UTC))
EDGES = [datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
         datetime.fromisoformat("9999-12-31T23:59:59-01:00")]


@given(st.one_of(SENT, st.sampled_from(EDGES)), STORED)
def test_order_against_stored_times_is_kept(sent: datetime, stored: datetime) -> None:
    converted = utc_within_range(sent)
    assert converted.tzinfo is UTC
    assert (converted < stored) == (sent < stored)
    assert (converted > stored) == (sent > stored)


@given(SENT)
def test_times_within_range_are_the_same_instant(sent: datetime) -> None:
    try:
        exact = sent.astimezone(UTC)
    except OverflowError:
        return
    assert utc_within_range(sent) == exact


def test_the_edges_become_the_first_and_last_instants() -> None:
    assert [utc_within_range(edge) for edge in EDGES] == [
        datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
