"""`edge-agent`: enroll this machine with the edge admin, heartbeat, and run its commands.

    edge-agent [--admin-url URL] [--state-dir DIR] [--id-type persistent|random]
               [--agent-version V] [--version-file F] [--self-update] [--update-command CMD]
               [--output-limit N] [--machine-id ID] [--log-level LEVEL] [--log-format json|text]
    edge-agent --version

Environment: ENROLLMENT_KEY (key blob from the admin; needed to enroll), ADMIN_URL (when there
is no --admin-url; without either, the admin URL the key blob names), LOG_FORMAT (json, the
default, or text; as for edge-admin), EDGE_AGENT_MACHINE_ID (same as --machine-id: stands in
for /etc/machine-id, for tests or several agents on one machine), EDGE_AGENT_VERSION_FILE
(same as --version-file), EDGE_AGENT_UPDATE_COMMAND (same as --update-command), XDG_STATE_HOME
(default state directory).
EDGE_AGENT_HANDOFF is set by the agent itself when it re-executes for a self-update.
Exit status: 0 after SIGTERM/SIGINT, 2 for bad settings, 1 when the node has to enroll again
but ENROLLMENT_KEY is not set (or SSH cannot be served), 3 when the admin refuses the
ENROLLMENT_KEY for good (unknown key, or not a key blob).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import msgspec

from application.agent_protocol import key_blob_server
from entrypoints.agent.executor import DEFAULT_OUTPUT_LIMIT
from entrypoints.agent.former_nodes import FormerNodes
from entrypoints.agent.health import HealthLimits
from entrypoints.agent.hosting_cli import HostingSettingsError, add_hosting_args, hosting_config
from entrypoints.agent.identity import (
    MACHINE_ID_ENV,
    Identity,
    IdentityError,
    IdentityStore,
    StateDiskFull,
    default_state_dir,
    persistent_identity,
    random_identity,
    read_machine_id,
)
from entrypoints.agent.logs import JsonFormatter
from entrypoints.agent.runner import Agent, AgentConfig
from entrypoints.agent.session import AgentFatal, Keeper
from entrypoints.agent.work import HANDOFF_ENV

log = logging.getLogger("edge_agent")
MAX_VERSION_LENGTH = 64  # the admin's limit; a longer one would be refused on every enroll
DEFAULT_SSH_PORT = 42222  # the admin's default ssh_port for a node
MAX_PORT = 65535


class SettingsError(Exception):
    """A missing or bad setting; reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"edge-agent: {message}\n")


def _package_version() -> str:
    try:
        return metadata.version("edge-control-plane")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-agent", description="Enroll this machine with the edge admin "
                     "and keep it heartbeating. ENROLLMENT_KEY comes from the environment.")
    parser.add_argument("--admin-url", help="the admin's base URL (default: $ADMIN_URL)")
    parser.add_argument("--state-dir", type=Path, help="where a persistent identity is kept, "
                        "or a random one's node ids and their journals, if it is given or the "
                        "agent runs containers (default: $XDG_STATE_HOME/edge-agent or "
                        "~/.local/state/edge-agent)")
    parser.add_argument("--id-type", choices=("persistent", "random"), default="persistent")
    parser.add_argument("--version", action="version", version=f"edge-agent {_package_version()}")
    parser.add_argument("--agent-version", default=_package_version(), metavar="V",
                        help="agent version reported to the admin (default: %(default)s)")
    parser.add_argument("--version-file", type=Path, metavar="F",
                        help="read the version from this file at start (overrides "
                        "--agent-version; default: $EDGE_AGENT_VERSION_FILE)")
    parser.add_argument("--self-update", action="store_true", help="report self-update enabled")
    parser.add_argument("--update-command", metavar="CMD",
                        help="shell command run on a self-update request before the agent "
                        "re-executes itself (default: $EDGE_AGENT_UPDATE_COMMAND; none: just "
                        "re-execute)")
    parser.add_argument("--output-limit", type=int, default=DEFAULT_OUTPUT_LIMIT, metavar="N",
                        help="characters of command output reported, head and tail kept "
                        "(1024 to %(default)s, the most the admin stores; default: %(default)s)")
    parser.add_argument("--ssh-port", type=int, default=DEFAULT_SSH_PORT, metavar="P",
                        help="serve SSH on this port, logins checked by the admin (0: no SSH "
                        "server; default: %(default)s)")
    parser.add_argument("--ssh-host", default="0.0.0.0", metavar="H",  # noqa: S104
                        help="address the SSH server listens on (default: %(default)s)")
    parser.add_argument("--metrics-interval", type=float, default=15.0, metavar="S",
                        help="seconds between host and agent metrics reports (0: none; "
                        "default: %(default)s)")
    parser.add_argument("--machine-id", help=f"use instead of /etc/machine-id "
                        f"(default: ${MACHINE_ID_ENV})")
    parser.add_argument("--min-free-disk-percent", type=float, default=5.0, metavar="P",
                        help="report unhealthy below this much free space on / (default: 5)")
    parser.add_argument("--max-load-per-core", type=float, default=3.0, metavar="L",
                        help="report unhealthy above this 1-minute load per CPU (default: 3)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log-format", choices=("json", "text"),
                        help="one JSON object per line, as edge-admin writes (default: "
                        "$LOG_FORMAT, else json)")
    add_hosting_args(parser)
    return parser


def _admin_url(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    url = (args.admin_url or env.get("ADMIN_URL", "")).strip()
    if not url:
        url = key_blob_server(env.get("ENROLLMENT_KEY", "")) or ""
    if not url and env.get("ENROLLMENT_KEY", "").strip():
        raise SettingsError("the admin URL is not set: ENROLLMENT_KEY is not a key blob (the "
                            "`key` a POST /api/v1/clusters/{name}/enrollment_keys answers, "
                            "which names the admin); pass --admin-url or set ADMIN_URL")
    if not url:
        raise SettingsError("the admin URL is not set: pass --admin-url, set ADMIN_URL, or set "
                            "an ENROLLMENT_KEY whose blob names it")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"the admin URL must be http(s)://host[:port], got {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise SettingsError(f"the admin URL has a bad port: {url!r}") from exc
    return url.rstrip("/")


def _version(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    path = args.version_file or (Path(env["EDGE_AGENT_VERSION_FILE"])
                                 if env.get("EDGE_AGENT_VERSION_FILE") else None)
    if path is None:
        return str(args.agent_version)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the version file {path}: {exc.strerror}") from None


def build_config(args: argparse.Namespace, env: Mapping[str, str]) -> AgentConfig:
    version = _version(args, env)
    if not 1 <= len(version) <= MAX_VERSION_LENGTH:
        raise SettingsError(f"--agent-version must be 1 to {MAX_VERSION_LENGTH} characters")
    if not 0 <= args.min_free_disk_percent <= 100:
        raise SettingsError("--min-free-disk-percent must be between 0 and 100")
    if not args.max_load_per_core > 0:
        raise SettingsError("--max-load-per-core must be above 0")
    if not 1024 <= args.output_limit <= DEFAULT_OUTPUT_LIMIT:
        # The admin stores no more; a larger result could also exceed its MAX_BODY_BYTES.
        raise SettingsError(f"--output-limit must be between 1024 and {DEFAULT_OUTPUT_LIMIT}")
    if not 0 <= args.ssh_port <= MAX_PORT:
        raise SettingsError(f"--ssh-port must be between 0 (no SSH server) and {MAX_PORT}")
    if not (args.metrics_interval == 0 or 1 <= args.metrics_interval <= 3600):
        raise SettingsError("--metrics-interval must be 0 (no reports) or 1 to 3600 seconds")
    state_dir = args.state_dir or default_state_dir(env)
    admin_url = _admin_url(args, env)
    try:
        hosting = hosting_config(args, env, admin_url)
    except (HostingSettingsError, OSError) as exc:
        raise SettingsError(str(exc)) from None
    return AgentConfig(
        admin_url=admin_url,
        id_type=args.id_type,
        enrollment_key=env.get("ENROLLMENT_KEY", "").strip() or None,
        version=version,
        self_update=args.self_update,
        state_dir=state_dir if args.id_type == "persistent" else None,
        # A random agent keeps no identity on disk; its journal is a temporary directory (main)
        # unless it keeps records of its nodes, with their journals (former_nodes.py): it runs
        # containers, or was given a state dir for them.
        journal_dir=state_dir / "executions" if args.id_type == "persistent" else None,
        random_state_dir=state_dir if args.id_type == "random" and (
            hosting or args.state_dir is not None) else None,
        output_limit=args.output_limit,
        update_command=(args.update_command or env.get("EDGE_AGENT_UPDATE_COMMAND", "")).strip()
        or None,
        limits=HealthLimits(args.min_free_disk_percent, args.max_load_per_core),
        ssh_host=args.ssh_host,
        ssh_port=args.ssh_port,
        metrics_interval=args.metrics_interval,
        hosting=hosting,
    )


def load_identity(
    config: AgentConfig, args: argparse.Namespace, env: Mapping[str, str]
) -> tuple[AgentConfig, Identity, Keeper | None]:
    store: Keeper | None = None
    if config.state_dir is None:
        identity = random_identity()
        if config.random_state_dir is not None:
            store = FormerNodes(config.random_state_dir, containers=config.hosting is not None)
            store.prepare()
    else:
        kept = store = IdentityStore(config.state_dir)
        kept.prepare()
        machine_id = read_machine_id(args.machine_id or env.get(MACHINE_ID_ENV))
        identity = persistent_identity(kept, machine_id)
    handed = _handoff(os.environ)
    if handed is not None:  # re-executed for a self-update: same node, same token
        identity = replace(identity, node_id=handed.node_id, api_token=handed.api_token)
        if isinstance(store, FormerNodes):  # still this run's: its lock came across the exec
            store.hold(handed.node_id)
        if config.journal_dir is None and handed.journal_dir and store is None:
            config = replace(config, journal_dir=Path(handed.journal_dir))
    if identity.api_token is None and config.enrollment_key is None:
        raise SettingsError("ENROLLMENT_KEY is not set and there is no stored node token to "
                            "register with")
    return config, identity, store


class _Handoff(msgspec.Struct):
    node_id: uuid.UUID
    api_token: str
    journal_dir: str | None = None


def _handoff(env: MutableMapping[str, str]) -> _Handoff | None:
    """The identity a self-updating agent passed to its successor (removed from the env)."""
    raw = env.pop(HANDOFF_ENV, None)
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=_Handoff)
    except msgspec.DecodeError:
        log.warning("ignoring a malformed %s", HANDOFF_ENV)
        return None


async def _run(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s; stopping", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await agent.run(stop)


def _setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s edge-agent: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if level != "debug":  # httpx logs every request at INFO: one line per heartbeat
        logging.getLogger("httpx").setLevel(logging.WARNING)


def _old_version_flag(argv: Sequence[str]) -> bool:
    """`--version V` set the reported version before `--version` printed it: such a command
    line (a unit file, a self-update re-exec) must fail loudly, not print and exit 0."""
    return any(arg == "--version" and i + 1 < len(argv) and not argv[i + 1].startswith("-")
               for i, arg in enumerate(argv))


def main(argv: Sequence[str] | None = None) -> int:
    if _old_version_flag(sys.argv[1:] if argv is None else argv):
        print("edge-agent: --version prints the version; set the reported version with "
              "--agent-version V", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    fmt = args.log_format or os.environ.get("LOG_FORMAT", "json").strip().lower()
    if fmt not in ("json", "text"):
        print(f"edge-agent: LOG_FORMAT={fmt!r}: expected json or text", file=sys.stderr)
        return 2
    _setup_logging(args.log_level, fmt)
    try:
        config, identity, store = load_identity(build_config(args, os.environ), args, os.environ)
    except StateDiskFull as exc:  # not a bad setting: something broke, as below (README)
        print(f"edge-agent: {exc}", file=sys.stderr)
        return 1
    except (SettingsError, IdentityError) as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return 2
    where = f", state in {config.state_dir}" if config.state_dir else ""
    node = identity.node_id or "assigned at enrollment"
    log.info("edge-agent %s starting: admin %s, %s node %s%s", config.version, config.admin_url,
             config.id_type, node, where)
    scratch = None
    if config.journal_dir is None and config.random_state_dir is None:
        config = replace(config, journal_dir=Path(tempfile.mkdtemp(prefix="edge-agent-")))
    if config.id_type == "random" and config.random_state_dir is None:
        # Its journal (maybe handed over by its pre-update self) goes when it stops.
        scratch = config.journal_dir
    try:
        asyncio.run(_run(Agent(config, identity, store)))
    except AgentFatal as exc:
        log.error("%s", exc)
        return exc.exit_code
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
