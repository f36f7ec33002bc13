"""Identifiers, naming rules, the error base and the field declaration shared by every
aggregate."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import UTC, date, datetime, time
from typing import TypeVar, dataclass_transform
from uuid import UUID, uuid5

# Namespace for name-derived identifiers (uuid5). Changing it would orphan stored aggregates.
EDGE_NAMESPACE = UUID("6f1c2a52-8d0e-4c71-9a0e-2b5d3f7e8a10")


def shown(pattern: str) -> str:
    r"""A whole-string pattern as JSON Schema and error messages show it.

    Whole-string patterns here end in \Z, never $: Python's $ also matches before a final
    newline, so ^[a-z]+$ took "abc\n" (a cluster named "nl\n" got the VPN domain
    "cluster-nl\n.nm.internal"). JSON Schema's patterns are ECMA-262, whose $ is Python's \Z
    and which has no \Z, so documents and messages show $."""
    return pattern.replace(r"\Z", "$")


def ascii_digits(text: str) -> bool:
    """Whether `text` is a number written in 0-9 alone: str.isdigit() alone is true for "²",
    which int() refuses (a 500), and for "١٢", which int() reads as 12."""
    return text.isascii() and text.isdigit()


DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z"
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
BAD_DNS_LABEL = f"Invalid format. Expected ~r/{shown(DNS_LABEL_PATTERN)}/"
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
VPN_SUFFIX = "nm.internal"

C = TypeVar("C", bound=type)


@dataclass_transform(field_specifiers=(dataclasses.field,))
def declared_by_fields(cls: C) -> C:
    """An aggregate declared by its fields instead of an `@event("Created") __init__` that only
    assigns its arguments. eventsourcing already makes an Aggregate subclass with annotations a
    dataclass, and its created event carries the init fields, in order, under the same names
    (`id` is the aggregate's id; `init=False` fields are state with a default). This changes
    nothing at run time: it tells the type checker what the library did.
    """
    return cls


class DomainError(Exception):
    """A business rule refused a command; the message is safe to show to API clients."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidValueError(DomainError):
    """An input value breaks a domain rule (maps to 422 with a per-field detail)."""


class StateConflictError(DomainError):
    """The command is valid but the aggregate's current state forbids it (maps to 409)."""


class BlockedError(StateConflictError):
    """Refused while other things that must go first remain: `blockers` names them (409, with
    their ids as details.blockers)."""

    def __init__(self, message: str, field: str, blockers: list[UUID]) -> None:
        super().__init__(message, field)
        self.blockers = blockers


class GoneError(DomainError):
    """The aggregate was deleted; commands against it behave as if it never existed (404)."""


OUT_OF_UTC_RANGE = "is out of range: its UTC time is before year 1 or after year 9999"


def as_utc(moment: datetime | None, field: str) -> datetime | None:
    """Timestamps are stored in UTC; a timestamp without an offset is taken as UTC. One whose
    UTC instant falls outside years 1 to 9999 (0001-01-01T00:00:00+01:00) is refused on `field`."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidValueError(OUT_OF_UTC_RANGE, field) from None


def utc_within_range(moment: datetime) -> datetime:
    """`moment` in UTC; one whose UTC instant falls before year 1 or after year 9999 (a valid
    0001-01-01T00:00:00+01:00) becomes the first or last instant a datetime holds. A filter
    compares the same way with either: no stored time lies outside those years."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        bound = datetime.min if moment.year == datetime.min.year else datetime.max
        return bound.replace(tzinfo=UTC)


def name_id(kind: str, *parts: str) -> UUID:
    """Deterministic id for a name that must be unique within a scope."""
    return uuid5(EDGE_NAMESPACE, ":".join((kind, *parts)))


def network_name(cluster_name: str) -> str:
    return f"cluster-{cluster_name}"


def vpn_domain(cluster_name: str) -> str:
    return f"{network_name(cluster_name)}.{VPN_SUFFIX}"


def node_name(node_id: UUID | str) -> str:
    return f"node-{node_id}"


def node_vpn_hostname(node_id: UUID | str, cluster_name: str) -> str:
    return f"{node_name(node_id)}.{vpn_domain(cluster_name)}"


def node_mdns_hostname(node_id: UUID | str) -> str:
    return f"{node_name(node_id)}.local"


def alias_vpn_hostname(alias: str, cluster_name: str) -> str:
    return f"node-{alias}.{vpn_domain(cluster_name)}"


def parse_moment(raw: str, end_of_day: bool) -> datetime:
    """ISO 8601 datetime (naive = UTC) or a date: its first or last instant in UTC."""
    if "T" not in raw and ":" not in raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValueError("must be an ISO 8601 date or datetime") from None
        return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or datetime") from None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first UTC instant
        raise ValueError("is out of range") from None


# Characters that show nothing though their category is a letter, a symbol or a mark: the Hangul
# fillers and the blank braille pattern (the usual "invisible name" characters), the combining
# grapheme joiner, Khmer's inherent vowels, and the variation selectors (Unicode's
# Default_Ignorable_Code_Point outside the format controls, which the category check finds).
_BLANK = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))


def check_text(value: str, field: str, max_length: int, *, min_length: int = 1) -> str:
    """A one-line label (a name, a reason): within its length, no control characters (C0 and
    C1) nor line or paragraph separators (U+2028, U+2029), no lone surrogates (they cannot be
    stored as UTF-8), no leading or trailing spaces, and something to see: a label of only
    invisible characters ("\u200b", "\u3164") would show as blank in every list. Format
    characters stay allowed beside visible ones (emoji joiners)."""
    if not min_length <= len(value) <= max_length:
        raise InvalidValueError(f"should be {min_length} to {max_length} character(s)", field)
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value):
        raise InvalidValueError("must be one line of printable text", field)
    if value != value.strip():
        raise InvalidValueError("must not start or end with spaces", field)
    if value and all(c in _BLANK or unicodedata.category(c)[0] in "CZ" for c in value):
        raise InvalidValueError("must hold at least one visible character", field)
    return value


def check_reason(reason: str | None, max_length: int) -> None:
    """The optional reason of a lock or an archive: none, or a one-line label."""
    if reason is not None:
        check_text(reason, "reason", max_length)


def slug_of(name: str, max_length: int = 63) -> str:
    """A DNS-label-like slug of a display name ("My Web App" -> "my-web-app"). Letters are
    folded to ASCII where Unicode says how ("Shöp", and "Shop" with a full-width S, -> "shop";
    they became "sh-p" and "hop"). Only new names: a slug is kept once made."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name)
                     if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:max_length].strip("-")
    if not slug:
        raise InvalidValueError("must contain at least one ASCII letter or digit", "name")
    return slug
