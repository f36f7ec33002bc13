"""Properties of the `*`-only glob language that list filters (glob, iglob) share."""

from __future__ import annotations

import fnmatch
import string

from hypothesis import given
from hypothesis import strategies as st

from projections.query import Cond, ascii_lower, glob_match, matches

# Characters that are special somewhere (LIKE, GLOB, fnmatch, regex) plus a little non-ASCII.
CHARS = [*"aAbBzZ09 -._%[]?\\^$*", "é", "É", "ß", "\u212a", "😀"]
STARLESS = st.text(alphabet=st.sampled_from([c for c in CHARS if c != "*"]), max_size=8)
TEXT = st.text(alphabet=st.sampled_from(CHARS), max_size=10)
# fnmatch gives ?, [ and ] a meaning of their own; everything else must agree with it.
ASCII_SWAP = str.maketrans(string.ascii_letters, string.ascii_letters.swapcase())
FNMATCH_SAFE = st.text(alphabet=st.sampled_from([c for c in CHARS if c not in "?[]"]), max_size=8)


@given(STARLESS, TEXT)
def test_without_a_star_glob_is_equality(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == (pattern == text)
    assert glob_match(pattern, pattern)


@given(st.integers(1, 4), TEXT)
def test_stars_alone_match_everything(stars: int, text: str) -> None:
    assert glob_match("*" * stars, text)


@given(STARLESS, TEXT)
def test_prefix_star_is_startswith(prefix: str, text: str) -> None:
    assert glob_match(prefix + "*", text) == text.startswith(prefix)


@given(STARLESS, TEXT)
def test_star_suffix_is_endswith(suffix: str, text: str) -> None:
    assert glob_match("*" + suffix, text) == text.endswith(suffix)


@given(STARLESS, TEXT)
def test_star_mid_star_is_containment(middle: str, text: str) -> None:
    assert glob_match("*" + middle + "*", text) == (middle in text)


@given(STARLESS, STARLESS, TEXT)
def test_prefix_star_suffix_needs_room_for_both(prefix: str, suffix: str, text: str) -> None:
    expected = (
        len(text) >= len(prefix) + len(suffix) and text.startswith(prefix) and text.endswith(suffix)
    )
    assert glob_match(prefix + "*" + suffix, text) == expected


@given(FNMATCH_SAFE, st.text(alphabet=st.sampled_from(CHARS), max_size=10))
def test_agrees_with_fnmatchcase_without_question_marks_or_brackets(
    pattern: str, text: str
) -> None:
    assert glob_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


@given(st.lists(STARLESS, min_size=1, max_size=4), st.data())
def test_every_star_may_stand_for_any_run(pieces: list[str], data: st.DataObject) -> None:
    """Completeness: filling each `*` with any text (stars included) gives a match."""
    pattern = "*".join(pieces)
    fills = [data.draw(TEXT) for _ in pieces[1:]]
    text = pieces[0] + "".join(f + p for f, p in zip(fills, pieces[1:], strict=True))
    assert glob_match(pattern, text)


@given(TEXT)
def test_a_pattern_matches_itself(pattern: str) -> None:
    assert glob_match(pattern, pattern)


@given(TEXT, TEXT)
def test_iglob_folds_ascii_case_only(pattern: str, text: str) -> None:
    got = matches({"c": text}, Cond("c", "iglob", pattern))
    assert got == glob_match(ascii_lower(pattern), ascii_lower(text))
    assert got == matches({"c": text.translate(ASCII_SWAP)}, Cond("c", "iglob", pattern))


def test_iglob_does_not_fold_non_ascii() -> None:
    assert not matches({"c": "é"}, Cond("c", "iglob", "É"))
    assert not matches({"c": "k"}, Cond("c", "iglob", "\u212a"))  # KELVIN SIGN lowers to k
    assert matches({"c": "ABC"}, Cond("c", "iglob", "a*c"))
    assert not matches({"c": "ABC"}, Cond("c", "glob", "a*c"))


@given(TEXT)
def test_glob_and_iglob_never_match_null(pattern: str) -> None:
    assert not matches({"c": None}, Cond("c", "glob", pattern))
    assert not matches({}, Cond("c", "iglob", pattern))
