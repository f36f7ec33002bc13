"""Environment: lock refuses every mutation but unlock, archive is for good, variables keyed by
(key, exposure) with secrets only sealed, and the precedence that merges the layers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.environment import (
    Environment,
    EnvironmentArchivedError,
    EnvironmentLockedError,
)
from domain.shared import GoneError, InvalidValueError
from domain.variables import (
    MAX_VARIABLES,
    TooManyVariablesError,
    VariableKindError,
    VariableNotFoundError,
    compare,
    effective,
    entry_id,
    masked,
    variable_entry,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_environment() -> Environment:
    return Environment.create(uuid4(), uuid4(), "staging", "staging", AT)


MUTATIONS: dict[str, Callable[[Environment], None]] = {
    "rename": lambda e: e.rename("other", AT),
    "archive": lambda e: e.archive(None, AT),
    "set": lambda e: e.set_variable("A", "runtime", "1", None, AT),
    "unset": lambda e: e.unset_variable("A", "runtime", AT),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_locked_environment_refuses_every_mutation_until_unlocked(mutation: str) -> None:
    environment = new_environment()
    environment.set_variable("A", "runtime", "0", None, AT)
    environment.lock("release freeze", AT)
    environment.lock("another", AT)
    assert (environment.lifecycle_status, environment.lock_reason) == ("locked",
                                                                       "release freeze")
    with pytest.raises(EnvironmentLockedError, match="release freeze"):
        MUTATIONS[mutation](environment)
    environment.unlock(AT)
    MUTATIONS[mutation](environment)


def test_archived_is_for_good_and_still_readable() -> None:
    environment = new_environment()
    environment.set_variable("A", "runtime", "0", None, AT)
    environment.archive("replaced", AT)
    assert environment.lifecycle_status == "archived"
    assert environment.variable("A", "runtime")["value"] == "0"
    changes: list[Callable[[Environment], None]] = [
        *MUTATIONS.values(), lambda e: e.lock(None, AT), lambda e: e.unlock(AT)]
    for change in changes:
        with pytest.raises(EnvironmentArchivedError):
            change(environment)


@pytest.mark.parametrize(("key", "exposure", "field"), [
    ("1A", "runtime", "key"), ("A-B", "runtime", "key"), ("ARBITRIUM_X", "runtime", "key"),
    ("A" * 129, "runtime", "key"), ("A", "build", "exposure"),
])
def test_bad_keys_and_exposures_are_refused(key: str, exposure: str, field: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        new_environment().set_variable(key, exposure, "v", None, AT)
    assert err.value.field == field


def test_variables_are_keyed_by_key_and_exposure_and_secrets_stay_sealed() -> None:
    environment = new_environment()
    environment.set_variable("A", "runtime", "run", None, AT)
    environment.set_variable("A", "build-time", "build", None, AT)
    environment.set_variable("TOKEN", "runtime", None, "key1:sealed", AT)
    environment.set_variable("A", "runtime", "run", None, AT)  # the same value: no event
    assert environment.variable("A", "build-time")["value"] == "build"
    token = environment.variable("TOKEN", "runtime")
    assert (token["value"], token["sealed"], token["kind"]) == (None, "key1:sealed", "secret")
    assert masked(token)["value"] == "****" and "sealed" not in masked(token)
    with pytest.raises(VariableKindError):
        environment.set_variable("TOKEN", "runtime", "plain now", None, AT)
    with pytest.raises(InvalidValueError):
        environment.set_variable("B", "runtime", "v", "sealed", AT)
    with pytest.raises(InvalidValueError):
        environment.set_variable("B", "runtime", "a\x00b", None, AT)
    environment.unset_variable("A", "build-time", AT)
    with pytest.raises(VariableNotFoundError) as err:
        environment.unset_variable("A", "build-time", AT)
    assert isinstance(err.value, GoneError)
    events = environment.collect_events()
    assert [type(e).__name__ for e in events][1:] == ["VariableSet"] * 3 + ["VariableUnset"]
    assert all(getattr(e, "value", None) != "sealed" for e in events)
    rebuilt: Any = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert rebuilt.variables == environment.variables


def test_the_number_of_variables_is_bounded() -> None:
    environment = new_environment()
    for i in range(MAX_VARIABLES):
        environment.set_variable(f"K{i}", "runtime", "v", None, AT)
    environment.set_variable("K0", "runtime", "changed", None, AT)  # replacing stays allowed
    with pytest.raises(TooManyVariablesError):
        environment.set_variable("ONE_MORE", "runtime", "v", None, AT)


def test_precedence_the_resource_layer_wins_per_key_and_exposure() -> None:
    def entry(value: str, exposure: str = "runtime") -> dict[str, Any]:
        return {"key": "A", "exposure": exposure, "value": value, "is_secret": False}

    merged = effective({
        "resource": {"runtime:A": entry("resource")},
        "environment": {"runtime:A": entry("environment"),
                        "build-time:A": entry("env-build", "build-time")},
        "defaults": {"runtime:A": entry("default")},
    })
    assert [(k, v["value"], v["scope"]) for k, v in merged.items()] == [
        ("build-time:A", "env-build", "environment"), ("runtime:A", "resource", "resource")]
    with pytest.raises(ValueError, match="unknown precedence"):
        effective({"organization": {}})


@pytest.mark.parametrize("reason", ["", " padded", "two\nlines", "x" * 501])
@pytest.mark.parametrize("change", ["lock", "archive"])
def test_a_bad_reason_is_refused_and_records_nothing(change: str, reason: str) -> None:
    environment = new_environment()
    with pytest.raises(InvalidValueError) as err:
        getattr(environment, change)(reason, AT)
    assert err.value.field == "reason"
    assert (environment.lifecycle_status, environment.version) == ("active", 1)


# "\u200b" alone was taken as an environment's name (projects and resources refused it only
# because its slug came out empty); NEL (U+0085, a C1 control) was taken as part of any label.
# Hangul fillers, the blank braille pattern and variation selectors are letters, symbols and
# marks by category, yet show nothing (U+3164 is the usual "invisible name"); U+2028 and U+2029
# break the line they sit in.
@pytest.mark.parametrize("name", ["\u200b", "\u200b\u200c\ufeff", "\u2060", "a\x85b", "\x9b",
                                  "\u3164", "\u115f\u1160\uffa0", "\u2800", "\ufe0f",
                                  "\u034f\u200b", "\U000e0101", "a\u2028b", "a\u2029b"])
def test_a_name_with_nothing_to_see_or_a_c1_control_is_refused(name: str) -> None:
    with pytest.raises(InvalidValueError):
        Environment.create(uuid4(), uuid4(), name, "staging", AT)
    environment = new_environment()
    with pytest.raises(InvalidValueError):
        environment.rename(name, AT)
    assert environment.name == "staging"


@pytest.mark.parametrize("name", ["a\u200bb", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
                                  "\u00e9t\u00e9", "\u05e9\u05dc\u05d5\u05dd",
                                  "\u2764\ufe0f", "\ud55c\uae00"])
def test_invisible_characters_beside_visible_ones_are_kept(name: str) -> None:
    assert Environment.create(uuid4(), uuid4(), name, "staging", AT).name == name


def test_a_clone_has_the_same_project_kind_and_variables_and_only_an_active_one_is_cloned(
) -> None:
    source = Environment.create(uuid4(), uuid4(), "production", "production", AT)
    source.set_variable("MODE", "runtime", "prod", None, AT)
    source.set_variable("DB_PASSWORD", "runtime", None, "sealed-bytes", AT)
    copy = source.clone(uuid4(), "staging", AT)
    assert (copy.project_id, copy.kind, copy.name) == (source.project_id, "production",
                                                       "staging")
    assert {k: (v["value"], v["sealed"]) for k, v in copy.variables.items()} == {
        "runtime:MODE": ("prod", None), "runtime:DB_PASSWORD": (None, "sealed-bytes")}
    source.lock("freeze", AT)
    with pytest.raises(EnvironmentLockedError):
        source.clone(uuid4(), "other", AT)
    source.unlock(AT)
    source.archive(None, AT)
    with pytest.raises(EnvironmentArchivedError):
        source.clone(uuid4(), "other", AT)


_ENTRY = st.builds(
    lambda key, exposure, value, secret: variable_entry(
        key, exposure, "secret" if secret else "plain-config", None if secret else value,
        value if secret else None, AT),
    st.sampled_from(["A", "B", "C"]), st.sampled_from(["runtime", "build-time"]),
    st.sampled_from(["1", "2"]), st.booleans())
_SIDE = st.lists(_ENTRY, max_size=6).map(
    lambda entries: {entry_id(e["key"], e["exposure"]): e for e in entries})


def _same(sealed: str, other: str) -> bool:  # the test's "sealing" keeps the value as is
    return sealed == other


@given(_SIDE, _SIDE)
def test_compare_is_each_entry_of_either_side_and_reads_the_same_both_ways(
        left: dict[str, dict[str, Any]], right: dict[str, dict[str, Any]]) -> None:
    forth, back = compare(left, right, _same), compare(right, left, _same)
    assert len(forth) == len(left.keys() | right.keys())
    swapped = {"added": "removed", "removed": "added"}
    assert [swapped.get(c, c) for *_, c in forth] == [c for *_, c in back]
    for before, after, change in forth:
        assert (change == "added") == (before is None)
        assert (change == "removed") == (after is None)
        if change == "unchanged":
            assert before is not None and after is not None
            assert masked(before)["value"] == masked(after)["value"]
    assert {c for *_, c in compare(left, left, _same)} <= {"unchanged"}


def test_compare_leaves_secrets_to_the_caller_and_a_secret_never_equals_a_plain_value(
        ) -> None:
    plain = {"runtime:K": variable_entry("K", "runtime", "plain-config", "v", None, AT)}
    secret = {"runtime:K": variable_entry("K", "runtime", "secret", None, "sealed-v", AT)}
    asked: list[tuple[str, str]] = []

    def same(sealed: str, other: str) -> bool:
        asked.append((sealed, other))
        return True

    assert [c for *_, c in compare(plain, secret, same)] == ["changed"]
    assert [c for *_, c in compare(secret, secret, same)] == ["unchanged"]
    assert asked == [("sealed-v", "sealed-v")]
