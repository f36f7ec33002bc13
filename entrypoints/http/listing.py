"""Generic list machinery: filters, sorting and pagination from query parameters.

Every list endpoint declares its parameters with the helpers below; unknown parameters,
malformed values and unsortable fields are 400 bad_request with a detail per parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request

from domain.catalog import EVENT_TYPES
from domain.shared import ascii_digits, parse_moment
from entrypoints.http.errors import ApiError
from projections.query import AnyOf, Cond, Filter, ListQuery, Order

Parser = Callable[[str], Any]
Builder = Callable[[Any], tuple[Filter, ...]]


@dataclass(frozen=True)
class Param:
    name: str
    parse: Parser
    build: Builder


@dataclass(frozen=True)
class ListSpec:
    """What one list endpoint accepts, and how the OpenAPI document words its filters."""

    params: tuple[Param, ...]
    sortable: tuple[str, ...]
    default_order: tuple[Order, ...] = (Order("inserted_at"),)
    # Parameter name -> its description; one left out gets a standard wording from
    # entrypoints/http/openapi/document.py.
    docs: Mapping[str, str] = field(default_factory=dict)
    by_name: dict[str, Param] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})
        if stray := set(self.docs) - set(self.by_name):  # wording no parameter would show
            raise LookupError(f"describes no parameter of this list: {sorted(stray)}")


# --- value parsers (raise ValueError with the message shown to the client) -------------------
def to_int(raw: str) -> int:
    """A decimal integer in ASCII digits, with an optional sign: int() alone also reads
    "1_000", " 5" and other scripts' digits ("١٢" as 12)."""
    digits = raw[1:] if raw[:1] in ("-", "+") else raw
    if not ascii_digits(digits):
        raise ValueError("must be an integer")
    return int(raw)


def parse_int(raw: str) -> int:
    value = to_int(raw)
    if not -(2**63) <= value < 2**63:  # stored integers are signed 64-bit
        raise ValueError("is out of range")
    return value


def parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError("must be true or false")


def parse_uuid(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ValueError("is not a valid UUID") from None


def parse_text(raw: str) -> str:
    if not raw:
        raise ValueError("can't be blank")
    if len(raw) > 1024:
        raise ValueError("should be at most 1024 character(s)")
    return raw


def one_of(*allowed: str) -> Parser:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of: {', '.join(allowed)}")
        return raw

    return parse


# --- parameter builders -----------------------------------------------------------------------
def exact(name: str, parse: Parser, column: str | None = None) -> Param:
    return Param(name, parse, lambda v: (Cond(column or name, "eq", v),))


def text(name: str, column: str | None = None) -> Param:
    """Exact match, or a `*` wildcard pattern (case-sensitive)."""
    col = column or name
    return Param(name, parse_text, lambda v: (Cond(col, "glob" if "*" in v else "eq", v),))


def itext(name: str, column: str | None = None) -> Param:
    """Case-insensitive substring, or a `*` wildcard pattern."""
    col = column or name
    return Param(name, parse_text, lambda v: (Cond(col, "iglob", v if "*" in v else f"*{v}*"),))


def boolean(name: str, column: str | None = None) -> Param:
    return exact(name, parse_bool, column)


def presence(name: str, column: str) -> Param:
    """has_x=true: x is set; false: x is null."""
    return Param(name, parse_bool, lambda v: (Cond(column, "notnull" if v else "null"),))


def int_range(column: str, with_exact: bool = False) -> tuple[Param, ...]:
    params = (
        Param(f"{column}__gte", parse_int, lambda v: (Cond(column, "ge", v),)),
        Param(f"{column}__lte", parse_int, lambda v: (Cond(column, "le", v),)),
    )
    return ((exact(column, parse_int),) if with_exact else ()) + params


def time_range(column: str) -> tuple[Param, ...]:
    def start(raw: str) -> datetime:
        return parse_moment(raw, end_of_day=False)

    def end(raw: str) -> datetime:
        return parse_moment(raw, end_of_day=True)

    return (
        Param(f"{column}__gte", start, lambda v: (Cond(column, "ge", v),)),
        Param(f"{column}__lte", end, lambda v: (Cond(column, "le", v),)),
    )


STANDARD = (*time_range("inserted_at"), *time_range("updated_at"))
RESERVED = ("page", "page_size", "order_by", "order_directions")
# Pages stop here: the offset page * page_size always fits a bigint, and no client pages
# through a million pages.
MAX_PAGE = 1_000_000


# --- the whole query --------------------------------------------------------------------------
def parse_list_query(request: Request, spec: ListSpec) -> ListQuery:
    params = request.query_params
    errors: dict[str, list[str]] = {}
    filters: list[Filter] = []
    for name in params:
        if name in RESERVED:
            continue
        param = spec.by_name.get(name)
        if param is None:
            errors[name] = ["is not a supported filter"]
            continue
        try:
            filters.extend(param.build(param.parse(params[name])))
        except ValueError as exc:
            errors[name] = [str(exc)]
    max_size: int = request.app.state.settings.max_page_size
    page = _bounded(params.get("page"), 1, 1, MAX_PAGE, "page", errors)
    size = _bounded(params.get("page_size"), 20, 1, max_size, "page_size", errors)
    order = _order(params.get("order_by"), params.get("order_directions"), spec, errors)
    if errors:
        raise ApiError(400, errors)
    return ListQuery(tuple(filters), order or spec.default_order, page, size)


def _bounded(  # noqa: PLR0913 - one call per pagination parameter, all plain values
    raw: str | None, default: int, low: int, high: int, name: str, errors: dict[str, list[str]]
) -> int:
    if raw is None:
        return default
    try:
        value = to_int(raw)
    except ValueError:
        errors[name] = ["must be an integer"]
        return default
    if not low <= value <= high:
        errors[name] = [f"must be between {low} and {high}"]
    return value


def _order(
    by: str | None, directions: str | None, spec: ListSpec, errors: dict[str, list[str]]
) -> tuple[Order, ...]:
    fields = _csv(by)
    dirs = _csv(directions)
    if len(dirs) > len(fields):
        errors["order_directions"] = ["has more entries than order_by"]
        return ()
    bad = [f for f in fields if f not in spec.sortable]
    if bad:
        sortable = ", ".join(spec.sortable)
        errors["order_by"] = [f"cannot sort by {', '.join(bad)}; sortable: {sortable}"]
    wrong = [d for d in dirs if d.lower() not in ("asc", "desc")]
    if wrong:
        errors["order_directions"] = ["each entry must be asc or desc"]
    if bad or wrong:
        return ()
    padded = [*dirs, *["asc"] * (len(fields) - len(dirs))]
    return tuple(Order(f, d.lower() == "desc") for f, d in zip(fields, padded, strict=True))


def _csv(raw: str | None) -> Sequence[str]:
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


def now_filter(column: str, past: bool, now: datetime) -> Filter:
    """expired_at < now (past) or expired_at is null/≥ now."""
    if past:
        return Cond(column, "lt", now)
    return AnyOf((Cond(column, "null"), Cond(column, "ge", now)))


def parse_event_type(raw: str) -> str:
    if raw not in EVENT_TYPES:
        raise ValueError("is not a known event type; see GET /api/v1/event_types")
    return raw
