"""Configuration variables, shared by environments and resources: their rules, the mixin that
sets and unsets them (and the one that adds a resource's commands on secrets), and the
precedence that merges the layers into what a deployment gets.

A variable is keyed by (key, exposure), as Appaloft keys them. A secret's value arrives here
already sealed by the application (SecretBox) and is kept only sealed: events are forever, and a
secret written into one in clear could never be scrubbed. The mixins hold the rules, and the
events (their fields and how they apply) are declared here once, but each aggregate names them as
its own nested classes (`class VariableSet(VariableWasSet)`): eventsourcing stores an event under
the class that declares it (`domain.environment:Environment.VariableSet`), so that is where the
topic stays (tests/unit/domain/test_event_topics.py pins it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.domain import Aggregate

from domain.app import check_env_key
from domain.shared import GoneError, InvalidValueError, StateConflictError

EXPOSURES = ("build-time", "runtime")
PLAIN, SECRET = "plain-config", "secret"
MAX_VALUE = 4096
MAX_SEALED = 16384
MAX_VARIABLES = 256
# Lowest first: a later layer's entry replaces an earlier one with the same (key, exposure).
PRECEDENCE = ("defaults", "environment", "resource")
ImportAction = Literal["created", "updated", "unchanged"]
Change = Literal["added", "removed", "changed", "unchanged"]
MASK = "****"


class VariableNotFoundError(GoneError):
    """No variable (or secret) with this key and exposure."""


class TooManyVariablesError(StateConflictError):
    """The scope already holds MAX_VARIABLES entries."""


class VariableKindError(StateConflictError):
    """A secret cannot silently become plain (or the reverse): unset it first."""


class SecretExistsError(StateConflictError):
    """Creating a secret that exists: rotate it instead."""


def entry_id(key: str, exposure: str) -> str:
    """The map key of an entry (a string: aggregate state must stay JSON for snapshots)."""
    return f"{exposure}:{key}"


def check_key(key: str) -> None:
    check_env_key(key, "key")


def check_exposure(exposure: str) -> None:
    if exposure not in EXPOSURES:
        raise InvalidValueError(f"must be one of {', '.join(EXPOSURES)}", "exposure")


def check_value(value: str) -> None:
    if len(value) > MAX_VALUE or "\0" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidValueError(f"at most {MAX_VALUE} characters, no NUL", "value")


def check_sealed(sealed: str) -> None:
    if not 1 <= len(sealed) <= MAX_SEALED:
        raise InvalidValueError("sealed value of an unexpected size", "value")


class VariableWasSet(Aggregate.Event):
    """A plain value or a sealed secret set under (key, exposure); what a Configurable
    aggregate's own `VariableSet` records and applies."""

    key: str
    exposure: str
    kind: str
    value: str | None
    sealed: str | None
    at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.variables[entry_id(self.key, self.exposure)] = variable_entry(
            self.key, self.exposure, self.kind, self.value, self.sealed, self.at)


class VariableWasUnset(Aggregate.Event):
    """The entry under (key, exposure) removed; a Configurable aggregate's own `VariableUnset`."""

    key: str
    exposure: str
    at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.variables.pop(entry_id(self.key, self.exposure), None)


class Configurable:
    """Mixed into an aggregate whose `variables` are empty when created, and which declares
    `class VariableSet(VariableWasSet)` and `class VariableUnset(VariableWasUnset)`."""

    if TYPE_CHECKING:  # provided by the aggregate; declared here for the type checker only
        variables: dict[str, dict[str, Any]]
        VariableSet: type[VariableWasSet]
        VariableUnset: type[VariableWasUnset]

        def check_mutable(self) -> None: ...

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def set_variable(
        self, key: str, exposure: str, value: str | None, sealed: str | None, at: datetime,
    ) -> None:
        """A plain value (`value`) or a secret (`sealed`, the value already sealed)."""
        self.check_mutable()
        check_key(key)
        check_exposure(exposure)
        if (value is None) == (sealed is None):
            raise InvalidValueError("either a plain value or a sealed one", "value")
        if value is not None:
            check_value(value)
        if sealed is not None:
            check_sealed(sealed)
        found = self.variables.get(entry_id(key, exposure))
        if found is None and len(self.variables) >= MAX_VARIABLES:
            raise TooManyVariablesError(f"at most {MAX_VARIABLES} variables", "key")
        kind = PLAIN if sealed is None else SECRET
        if found is not None and found["kind"] != kind:
            raise VariableKindError(
                f"{exposure} variable {key} is {'a secret' if found['is_secret'] else 'plain'};"
                " unset it before setting it as the other kind", "key")
        if found is not None and (found["value"], found["sealed"], found["kind"]) == (
                value, sealed, kind):
            return
        self.trigger_event(self.VariableSet, key=key, exposure=exposure, kind=kind, value=value,
                           sealed=sealed, at=at)

    def import_variables(self, entries: Sequence[tuple[str, str | None, str | None]],
                         exposure: str, at: datetime) -> list[ImportAction]:
        """Each (key, value, sealed) set under `exposure`, as set_variable would, except that an
        entry of the other kind is replaced (an import sets what it names); one action per
        entry: created, updated or unchanged. A refused entry refuses the whole import (the
        decision is discarded)."""
        self.check_mutable()
        actions: list[ImportAction] = []
        for key, value, sealed in entries:
            found = self.variables.get(entry_id(key, exposure))
            if found is not None and found["is_secret"] != (sealed is not None):
                self.unset_variable(key, exposure, at)
            self.set_variable(key, exposure, value, sealed, at)
            after = self.variables.get(entry_id(key, exposure))
            actions.append("created" if found is None else
                           "unchanged" if after is found else "updated")
        return actions

    def unset_variable(self, key: str, exposure: str, at: datetime) -> None:
        self.check_mutable()
        check_exposure(exposure)
        self.variable(key, exposure)
        self.trigger_event(self.VariableUnset, key=key, exposure=exposure, at=at)

    def variable(self, key: str, exposure: str) -> dict[str, Any]:
        found = self.variables.get(entry_id(key, exposure))
        if found is None:
            raise VariableNotFoundError(f"no {exposure} variable {key}", "key")
        return found



class SecretKeeping(Configurable):
    """Configurable, plus the commands Appaloft gives secrets (variables of kind `secret`, sealed):
    create, rotate and delete, each refusing the wrong starting point."""

    def create_secret(self, key: str, exposure: str, sealed: str, at: datetime) -> None:
        self.check_mutable()
        if entry_id(key, exposure) in self.variables:
            raise SecretExistsError(f"{exposure} {key} exists; rotate it instead", "key")
        self.set_variable(key, exposure, None, sealed, at)

    def rotate_secret(self, key: str, exposure: str, sealed: str, at: datetime) -> None:
        self.check_mutable()
        self._secret(key, exposure)
        self.set_variable(key, exposure, None, sealed, at)

    def delete_secret(self, key: str, exposure: str, at: datetime) -> None:
        self.check_mutable()
        self._secret(key, exposure)
        self.unset_variable(key, exposure, at)

    def _secret(self, key: str, exposure: str) -> dict[str, Any]:
        found = self.variable(key, exposure)
        if not found["is_secret"]:
            raise VariableNotFoundError(f"no {exposure} secret {key} (it is a plain variable)",
                                        "key")
        return found

def variable_entry(  # noqa: PLR0913
    key: str, exposure: str, kind: str, value: str | None, sealed: str | None, at: datetime,
) -> dict[str, Any]:
    """An entry as held in aggregate state (a secret has no `value`, only `sealed`)."""
    return {"key": key, "exposure": exposure, "kind": kind, "is_secret": kind == SECRET,
            "value": value, "sealed": sealed, "updated_at": at.isoformat()}


def effective(layers: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The entries that win, by (key, exposure), each naming its `scope`: a layer named later in
    PRECEDENCE replaces an earlier one's entry; unknown layer names are refused."""
    unknown = set(layers) - set(PRECEDENCE)
    if unknown:
        raise ValueError(f"unknown precedence layers: {sorted(unknown)}")
    merged: dict[str, dict[str, Any]] = {}
    for scope in PRECEDENCE:
        for ident, entry in layers.get(scope, {}).items():
            merged[ident] = {**entry, "scope": scope}
    return dict(sorted(merged.items()))


def masked(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as any read shows it: a secret's value is always MASK, its sealed form never."""
    shown = {k: v for k, v in entry.items() if k != "sealed"}
    if entry["is_secret"]:
        shown["value"] = MASK
    return shown


def compare(
    left: dict[str, dict[str, Any]], right: dict[str, dict[str, Any]],
    same_secret: Callable[[str, str], bool],
) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None, Change]]:
    """Two configuration sets (entries by entry_id) entry by entry, by key then exposure: what
    going from `left` to `right` does to each (key, exposure) either holds. Two secrets are the
    same when `same_secret` says their sealed values hold the same value (the caller opens
    them: no secret is opened here); a secret and a plain value always differ."""
    found: list[tuple[dict[str, Any] | None, dict[str, Any] | None, Change]] = []
    for ident in sorted(left.keys() | right.keys(), key=lambda i: i.partition(":")[::-1]):
        before, after = left.get(ident), right.get(ident)
        if before is None or after is None:
            found.append((before, after, "added" if before is None else "removed"))
            continue
        if before["is_secret"] and after["is_secret"]:
            same = same_secret(before["sealed"], after["sealed"])
        else:
            same = (before["is_secret"], before["value"]) == (after["is_secret"], after["value"])
        found.append((before, after, "unchanged" if same else "changed"))
    return found
