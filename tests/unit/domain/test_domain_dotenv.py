"""Pasted .env content (domain/dotenv.py) and its import into a resource's variables: the
grammar, the last line of a key winning, which values are sealed, and an import that replaces
an entry of the other kind."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dotenv import MAX_CONTENT, DotenvLine, Duplicate, looks_secret, parse_dotenv
from domain.resource import Resource
from domain.shared import InvalidValueError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_lines_comments_export_and_quotes() -> None:
    content = "\n".join([
        "# a comment", "", "export MODE=prod", "NAME = 'a # b' ", 'GREETING="hi\\n\\"you\\""',
        "PORT=8080 # inline", "EMPTY=", "MODE=staging",
    ])
    lines, duplicates = parse_dotenv(content)
    assert lines == [DotenvLine("NAME", "a # b", 4), DotenvLine("GREETING", 'hi\n"you"', 5),
                     DotenvLine("PORT", "8080", 6), DotenvLine("EMPTY", "", 7),
                     DotenvLine("MODE", "staging", 8)]
    assert duplicates == [Duplicate("MODE", 3, 8)]


@pytest.mark.parametrize(("content", "words"), [
    ("JUST_A_KEY", "line 1: expected KEY=value"),
    ("OK=1\n1BAD=x", "line 2: key must match"),
    ("A='open", "line 1: unterminated"),
    ('A="x" trailing', "line 1: unterminated"),
    ("A=" + "x" * MAX_CONTENT, "at most"),
])
def test_a_bad_line_is_refused_naming_it(content: str, words: str) -> None:
    with pytest.raises(InvalidValueError, match=words) as refused:
        parse_dotenv(content)
    assert refused.value.field == "content"


@pytest.mark.parametrize(("key", "value", "secret"), [
    ("DB_PASSWORD", "x", True), ("GITHUB_TOKEN", "x", True), ("API_KEY", "x", True),
    ("SECRET_KEY_BASE", "x", True), ("AWS_ACCESS_KEY", "x", True), ("KEY", "x", True),
    ("DATABASE_URL", "postgres://app:pw@db/app", True), ("MODE", "prod", False),
    ("KEYBOARD_LAYOUT", "us", False), ("HOME_URL", "https://example.com/a", False),
])
def test_which_values_are_sealed(key: str, value: str, secret: bool) -> None:
    assert looks_secret(key, value) is secret


@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_the_content_field(content: str) -> None:
    try:
        lines, _ = parse_dotenv(content)
    except InvalidValueError as refused:
        assert refused.field == "content"
        return
    assert len({line.key for line in lines}) == len(lines)


def test_an_import_replaces_the_other_kind_and_is_all_or_nothing() -> None:
    resource = Resource.create(uuid4(), uuid4(), uuid4(), "web", AT)
    resource.set_variable("TOKEN", "runtime", "plain", None, AT)
    resource.set_variable("MODE", "runtime", "prod", None, AT)
    actions = resource.import_variables(
        [("TOKEN", None, "sealed-token"), ("MODE", "prod", None), ("NEW", "1", None)],
        "runtime", AT)
    assert actions == ["updated", "unchanged", "created"]
    assert resource.variable("TOKEN", "runtime")["is_secret"]
    # A refused entry refuses the import; the write path discards the whole decision (it
    # decides on a copy), which tests/e2e/test_http_appaloft_shapes.py shows through HTTP.
    with pytest.raises(InvalidValueError):
        resource.import_variables([("OTHER", "1", None), ("BAD", "\0", None)], "runtime", AT)
