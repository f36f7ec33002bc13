"""The checks every request body passes (entrypoints/http/inputs.check_values): a decoded Struct
is judged as its JSON form would be, naming the offending field by its wire name."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.inputs import BodyError, check_values


class Inner(msgspec.Struct, rename="camel"):
    display_name: str
    port_number: int = 0


class Outer(msgspec.Struct, rename="camel"):
    project_id: str
    inner_items: list[Inner] = []
    free_form: dict[str, Any] = {}


def verdict(value: Any) -> tuple[str, str] | None:
    try:
        check_values(value)
    except BodyError as exc:
        return exc.field, exc.message
    return None


def test_a_bad_value_in_a_nested_struct_is_named_by_its_wire_path() -> None:
    body = Outer("p", [Inner("ok"), Inner("a\x00b")])
    assert verdict(body) == ("innerItems[1].displayName", "must not contain NUL characters")
    body = Outer("p", [Inner("ok", port_number=2**63)])
    assert verdict(body) == ("innerItems[0].portNumber",
                             "must be between -9223372036854775808 and 9223372036854775807")


texts = st.text(alphabet=st.sampled_from(["a", "\x00", "\ud800", "é"]), max_size=3)
ints = st.integers(min_value=-(2**64), max_value=2**64)
inners = st.builds(Inner, texts, ints)
json_values = st.recursive(st.none() | ints | texts,
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=8)


@given(st.builds(Outer, texts, st.lists(inners, max_size=3),
                 st.dictionaries(texts, json_values, max_size=3)))
def test_a_struct_is_judged_as_its_json_form(body: Outer) -> None:
    as_json = msgspec.to_builtins(body)
    # The two walks may meet different bad values first, so only pass or fail is compared.
    assert (verdict(body) is None) == (verdict(as_json) is None)


def test_a_clean_body_passes() -> None:
    check_values(Outer("p", [Inner("x", 2**63 - 1)], {"k": [1, {"n": None}]}))


@pytest.mark.parametrize("lists", [30, 31])
def test_nesting_is_bounded_inside_structs(lists: int) -> None:
    """The struct is level 0 and its free_form field level 1, so a text inside 30 lists under
    a key sits at level 32, the most a body may nest (MAX_DEPTH)."""
    nested: Any = "x"
    for _ in range(lists):
        nested = [nested]
    failed = verdict(Outer("p", free_form={"k": nested}))
    assert (failed is None) == (lists <= 30)
