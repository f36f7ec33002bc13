"""Pasted .env content, as Appaloft's variables import takes it: the lines it sets, the keys
set twice (the last line wins), and which values are secrets.

The seed shows the import's body and answer, not its grammar; ours is the common one:
`KEY=value` per line, blank lines and `#` comments skipped, an optional `export ` prefix,
values optionally in single quotes (taken as written) or double quotes (`\\n`, `\\"` and `\\\\`
read as escapes), and an unquoted value ending at ` #`. A line that is none of these is refused
with its number: nothing of the content is imported then.

Which lines are secrets the seed does not say either (its answer has `isSecret` per entry). A
value imported as plain is shown by every read, so we err towards sealing: a key naming a
password, secret, token, private or access key or credential, and a value holding a URL's
password, are secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.app import check_env_key
from domain.shared import InvalidValueError

MAX_CONTENT = 262_144  # characters: 256 variables of up to 4096 characters, with their keys
_SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|(?:^|_)(?:API|ACCESS)"
                         r"_?KEY$|(?:^|_)KEY$")
_URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class DotenvLine:
    key: str
    value: str
    line: int  # 1-based


@dataclass(frozen=True)
class Duplicate:
    key: str
    first_line: int
    last_line: int


def looks_secret(key: str, value: str) -> bool:
    return bool(_SECRET_KEY.search(key.upper()) or _URL_PASSWORD.search(value))


def parse_dotenv(content: str) -> tuple[list[DotenvLine], list[Duplicate]]:
    """The lines to set (the last of each key, in the order of their last line) and the keys
    that were set more than once."""
    if len(content) > MAX_CONTENT:
        raise InvalidValueError(f"at most {MAX_CONTENT} characters", "content")
    last: dict[str, DotenvLine] = {}
    first: dict[str, int] = {}
    for number, raw in enumerate(content.splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parsed = _line(text, number)
        first.setdefault(parsed.key, number)
        last.pop(parsed.key, None)  # re-inserted: ordered by its last line
        last[parsed.key] = parsed
    duplicates = [Duplicate(key, first[key], entry.line) for key, entry in last.items()
                  if first[key] != entry.line]
    return list(last.values()), sorted(duplicates, key=lambda d: d.first_line)


def _line(text: str, number: int) -> DotenvLine:
    if text.startswith("export "):
        text = text[len("export "):].lstrip()
    key, sign, rest = text.partition("=")
    key = key.strip()
    if not sign:
        raise InvalidValueError(f"line {number}: expected KEY=value", "content")
    try:
        check_env_key(key, "content")
    except InvalidValueError as exc:
        raise InvalidValueError(f"line {number}: key {exc.message}", "content") from None
    return DotenvLine(key, _value(rest.strip(), number), number)


def _value(text: str, number: int) -> str:
    if text[:1] in ("'", '"'):
        quote = text[0]
        end = _closing(text, quote)
        if end < 0 or text[end + 1:].strip()[:1] not in ("", "#"):
            raise InvalidValueError(f"line {number}: unterminated {quote}quoted value",
                                    "content")
        inner = text[1:end]
        return inner if quote == "'" else re.sub(
            r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner)
    return text.split(" #", 1)[0].rstrip()


def _closing(text: str, quote: str) -> int:
    """The index of the quote closing text[0], -1 if none (a double quote can be escaped)."""
    index = 1
    while index < len(text):
        if quote == '"' and text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return -1
