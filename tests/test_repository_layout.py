"""Repository-level checks: compose wiring, import layers and the design card's top level."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information

from entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("domain", "application", "projections", "adapters", "entrypoints")
TOP_LEVEL = (
    "pyproject.toml", *LAYERS, "tests", "schemas", "docker-compose.yml", "README.md",
    ".ci/run", "bench",
)
# import-linter rejects external subpackages in a forbidden contract, so the part of
# "domain is pure" that is about eventsourcing modules is checked here instead.
DOMAIN_FORBIDDEN = (
    "eventsourcing.application", "eventsourcing.persistence",
    "eventsourcing.postgres", "eventsourcing.sqlite",
)
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}.
COMPOSE_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: str) -> str:
    """Resolve compose variables as if none were set, so URLs can be parsed."""

    def sub(match: re.Match[str]) -> str:
        op = match.group(2) or ""
        if "-" in op:
            return match.group(3)
        return "required" if "?" in op else ""

    return COMPOSE_VAR.sub(sub, value)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    result: dict[str, Any] = compose["services"]
    return result


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # the "KEY=value" list form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: _interpolate(str(value)) for key, value in raw.items()}


def test_compose_has_the_three_services(services: dict[str, Any]) -> None:
    assert {"postgres", "nats", "edge-admin"} <= services.keys()


def test_nats_runs_jetstream(services: dict[str, Any]) -> None:
    command = services["nats"]["command"]
    args = command.split() if isinstance(command, str) else command
    assert "-js" in args or "--jetstream" in args


def test_database_url_points_at_the_postgres_service(services: dict[str, Any]) -> None:
    pg_env = _env(services["postgres"])
    url = urlparse(_env(services["edge-admin"])["DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgres")
    assert url.hostname == "postgres"
    # The image defaults both to "postgres" when they are not set.
    user = pg_env.get("POSTGRES_USER", "postgres")
    assert url.path.lstrip("/") == pg_env.get("POSTGRES_DB", user)
    assert url.username == user


def test_nats_url_points_at_the_nats_service(services: dict[str, Any]) -> None:
    url = urlparse(_env(services["edge-admin"])["NATS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("nats", "nats", 4222)


def test_edge_admin_waits_for_healthy_dependencies(services: dict[str, Any]) -> None:
    depends_on = services["edge-admin"]["depends_on"]
    for name in ("postgres", "nats"):
        assert depends_on[name]["condition"] == "service_healthy"
        # service_healthy on a service without a healthcheck never becomes true.
        assert "healthcheck" in services[name]
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])


def test_edge_admin_publishes_8080(services: dict[str, Any]) -> None:
    published = set()
    for port in services["edge-admin"].get("ports", []):
        if isinstance(port, dict):
            published.add((str(port.get("published")), str(port.get("target"))))
        else:
            parts = str(port).split("/")[0].split(":")
            published.add((parts[-2] if len(parts) > 1 else "", parts[-1]))
    assert ("8080", "8080") in published


def test_the_service_starts_on_its_compose_settings_and_names_a_reachable_url(
        services: dict[str, Any]) -> None:
    env = _env(services["edge-admin"])
    settings = Settings.from_env({**env, "API_KEY": "k"})  # raises on a setting it lacks
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    # The URL key blobs and ARBITRIUM_DELETE_URL name: it was http://0.0.0.0:8080, which no
    # agent on another machine reaches, and PUBLIC_URL could not be passed in without editing
    # the file (nor ENCRYPTION_KEY, which the service asks for at every start).
    assert urlparse(settings.advertised_url).hostname not in ("0.0.0.0", "::")
    for passed in ("PUBLIC_URL", "ENCRYPTION_KEY"):
        assert f"${{{passed}" in str(services["edge-admin"]["environment"][passed])


def test_the_image_build_leaves_a_working_copys_state_out() -> None:
    # Without a .dockerignore, `docker compose up --build` from a working copy sent its .venv
    # (about 450 MB), .git and edge-data (the SQLite store and its key file) to the build.
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "edge-data", "*.egg-info"} <= ignored
    assert not any(line.startswith("!") for line in ignored)
    # What the Dockerfile's `pip install .` needs stays in.
    for needed in ("pyproject.toml", "README.md", *LAYERS):
        assert needed not in ignored


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, f"lint-imports not found next to {sys.executable}; install .[test]"
    # --no-cache: the cache directory would otherwise appear in the repository root.
    result = subprocess.run(
        [lint_imports, "--no-cache", "--no-logo"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_hold_in_the_packages_and_the_tests() -> None:
    """mypy strict (pyproject.toml) over every layer and the tests, as STYLE.md §8 asks."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *LAYERS, "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_imports_no_eventsourcing_infrastructure() -> None:
    offenders = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if any(name == bad or name.startswith(bad + ".") for bad in DOMAIN_FORBIDDEN)
            ]
    assert not offenders, "\n".join(offenders)


def test_the_agent_process_loads_only_the_wire_contract_of_the_admin_side() -> None:
    # lint-imports sees the imports; this also sees what package __init__ modules pull in.
    probe = ("import sys, entrypoints.agent.cli; print(' '.join(sorted(m for m in sys.modules"
             " if m.split('.')[0] in " + repr(LAYERS) + " or m == 'eventsourcing')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    loaded = set(result.stdout.split())
    admin_side = {m for m in loaded if not m.startswith("entrypoints.agent")}
    assert admin_side == {"application", "application.agent_protocol", "entrypoints"}


def test_top_level_matches_the_design_card() -> None:
    missing = [entry for entry in TOP_LEVEL if not (ROOT / entry).exists()]
    assert not missing, f"missing at the repository root: {missing}"
    # Code lives only in the layer packages; a stray package would dodge the import contracts.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= {*LAYERS, "tests", "bench"}, f"unexpected top-level packages: {packages}"
