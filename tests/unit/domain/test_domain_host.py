"""A host's profile edits: `changed_profile` is the decision Host.update takes (an event exactly
when the profile changes), so the agent's unchanged report can be recognised from the read
model without loading the aggregate (application/hosts.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.host import Host, Profile, changed_profile
from domain.shared import InvalidValueError

AT = datetime(2026, 12, 3, tzinfo=UTC)
places = st.fixed_dictionaries({}, optional={
    "city": st.sampled_from(["paris", "lyon"]),
    "latitude": st.sampled_from([1.5, 48.86]), "longitude": st.sampled_from([2.35, -3.0])})
changes = st.fixed_dictionaries({}, optional={
    "location": places, "cpu_units": st.sampled_from([0, 1024, 2048]),
    "memory_mb": st.sampled_from([0, 512]), "fleet": st.sampled_from([None, "north", "Bad!"])})


@given(places, st.sampled_from([0, 1024]), st.sampled_from([None, "north"]), changes)
def test_update_records_an_event_exactly_when_the_profile_changes(
        location: dict[str, Any], cpu: int, fleet: str | None, edit: dict[str, Any]) -> None:
    try:
        host = Host.profile(uuid.uuid4(), location, cpu, 512, fleet, AT)
    except InvalidValueError:
        return  # latitude without longitude: no such host
    host.collect_events()
    before = host.current_profile()
    try:
        after = changed_profile(before, edit)
    except InvalidValueError:
        with pytest.raises(InvalidValueError):
            host.update(edit, AT)
        return
    host.update(edit, AT)
    assert bool(host.collect_events()) == (after != before)
    assert host.current_profile() == after


def test_an_edit_naming_the_same_values_changes_nothing() -> None:
    now = Profile({"city": "paris", "latitude": 48.86, "longitude": 2.35}, 1024, 512, "north")
    assert changed_profile(now, {"location": {"city": "paris"}, "cpu_units": 1024}) == now
    assert changed_profile(now, {"fleet": None}) != now
