"""Names checked against a whole-string pattern refuse a trailing newline.

Python's `$` also matches before a final newline, so `^[a-z]+$` took "abc\\n": a cluster named
"nl\\n" was created with the VPN domain "cluster-nl\\n.nm.internal", an SSH username "bob\\n"
and an environment variable "A\\n" were stored. Whole-string patterns end in `\\Z`; the scan
below keeps a `$` from coming back, and the rules are tried one by one."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.admin import check_profile
from domain.alias import check_alias_name
from domain.app import App, check_env_key, check_version
from domain.cluster import check_cluster_name
from domain.environment import check_kind
from domain.resource_profiles import check_image
from domain.shared import BAD_DNS_LABEL, InvalidValueError, shown
from domain.ssh_access import check_username
from domain.ssh_key import PUBLIC_KEY_PATTERN
from domain.variables import check_key
from domain.webhook import check_headers

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("domain", "application", "projections", "adapters", "entrypoints")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _version(name: str = "v1", env_key: str = "KEY") -> dict[str, object]:
    return {"name": name, "image": "busybox", "ports": [],
            "env": [{"key": env_key, "value": "x", "is_hidden": False}]}


RULES: dict[str, tuple[Callable[[str], object], str]] = {
    "cluster name": (check_cluster_name, "edge-1"),
    "alias name": (check_alias_name, "game-1"),
    "app name": (lambda name: App.create(name, AT), "my-game"),
    "version name": (lambda name: check_version(_version(name=name)), "1.0.3"),
    "version env key": (lambda key: check_version(_version(env_key=key)), "PORT"),
    "variable key": (check_key, "DATABASE_URL"),
    "env key": (lambda key: check_env_key(key, "key"), "DATABASE_URL"),
    "ssh username": (check_username, "deploy"),
    "environment kind": (check_kind, "staging"),
    "image": (check_image, "busybox:1.36"),
    "admin id": (lambda admin_id: check_profile(admin_id, "edge", 10), "abcdef123456"),
    "admin cluster": (lambda name: check_profile("abcdef123456", name, 10), "edge"),
    "webhook header": (lambda name: check_headers({name: "v"}), "X-Team"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_name_passes_and_with_a_newline_does_not(rule: str) -> None:
    check, good = RULES[rule]
    check(good)
    with pytest.raises(InvalidValueError):
        check(good + "\n")


def test_platform_variables_stay_the_platform_s() -> None:
    with pytest.raises(InvalidValueError, match=r"no ARBITRIUM_ prefix"):
        check_env_key("ARBITRIUM_REQUEST_ID", "key")


def test_messages_show_the_pattern_as_json_schema_reads_it() -> None:
    assert BAD_DNS_LABEL == "Invalid format. Expected ~r/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/"
    with pytest.raises(InvalidValueError) as refused:
        check_username("Bob")
    assert "\\Z" not in str(refused.value) and str(refused.value).endswith("$/")
    assert shown(r"^a(?=.{1,3}\Z)b\Z") == "^a(?=.{1,3}$)b$"


# JSON Schema written for the documents is ECMA-262, where $ is the end; the seed's public key
# pattern ends in (.*)$ under DOTALL, which takes any rest, newlines included.
NOT_PYTHON_RULES = ("entrypoints/http/openapi/",)
SEED_PATTERNS = {PUBLIC_KEY_PATTERN}


def test_no_whole_string_pattern_in_the_code_ends_in_a_dollar() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name.startswith(NOT_PYTHON_RULES):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                    continue
                text = node.value
                if (text.startswith("^") and text not in SEED_PATTERNS
                        and re.search(r"(?<!\\)\$\)?$", text)):
                    offenders.append(f"{name}:{node.lineno}: {text}")
    assert offenders == []
