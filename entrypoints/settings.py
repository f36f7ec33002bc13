"""Settings from environment variables; a bad value stops start-up with one clear line."""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

DEFAULT_DATABASE_URL = "sqlite:///./edge-data/edge.sqlite3"
CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")
ADMIN_ID = re.compile(r"^[a-z0-9]{12}\Z")
# A domain under which each deployment gets `<request_id>.<domain>` (12 + 1 characters).
DNS_NAME = re.compile(r"^(?=.{1,240}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                      r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
MAX_START_DEADLINE = 7 * 86400  # beyond that, a start is not late but lost (and inf overflows)
# Longer durations mean "never" to an operator, but the sweeps subtract them from now and
# 1e12 seconds (or inf) reach before year 1: every worker pass failed on OverflowError.
MAX_DAYS = 3650
# The main pool's ceiling: commands share transactions (group commit) and the interpreter, not
# the database, bounds throughput, so a few connections serve 64 clients (README, Performance).
DATABASE_POOL_SIZE = 8
N = TypeVar("N", int, float)
NATS_NAME_FORBIDS = frozenset(">*. /\\\t\r\n")  # as nats.go's validateStreamName
NATS_SUBJECT_FORBIDS = frozenset(">* \t\r\n")
TRUE, FALSE = {"1", "true", "yes", "on", "y"}, {"0", "false", "no", "off", "n", ""}


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


# Each setting is declared once, in Settings: its default and how from_env reads it from the
# environment (kept in the field's metadata under this key).
_READ = "read_from_env"
Env = Mapping[str, str]


def _setting(default: object, read: Callable[[Env], object]) -> Any:
    return field(default=default, metadata={_READ: read})


def _text(key: str, default: str, *, blank_is_unset: bool = False,
          clean: Callable[[str], str] | None = None) -> Any:
    def read(env: Env) -> str:
        value = env.get(key, default)
        value = (value or default) if blank_is_unset else value
        return clean(value) if clean else value

    return _setting(default, read)


def _flag(key: str, default: bool) -> Any:
    return _setting(default, lambda env: _bool(env, key, default))


def _whole(key: str, default: int, low: int, high: int) -> Any:
    return _setting(default, lambda env: _int(env, key, default, low, high))


def _seconds(key: str, default: float, zero: bool = False) -> Any:
    return _setting(default, lambda env: _float(env, key, default, "seconds", zero))


def _days(key: str, default: float) -> Any:
    """A number of days, or 0 (off)."""
    return _setting(default, lambda env: _float(env, key, default, "days", zero=True))


@dataclass(frozen=True)
class Settings:
    """Every knob of the admin service, with its documented default."""

    database_url: str = _text("DATABASE_URL", DEFAULT_DATABASE_URL, blank_is_unset=True)
    nats_url: str = _text("NATS_URL", "")
    nats_stream: str = _text("NATS_STREAM", "EDGE", blank_is_unset=True)
    nats_subject_prefix: str = _text("NATS_SUBJECT_PREFIX", "")
    run_relay: bool = _flag("RUN_RELAY", True)
    run_webhook_worker: bool = _flag("RUN_WEBHOOK_WORKER", True)
    webhook_allow_private_ips: bool = _flag("WEBHOOK_ALLOW_PRIVATE_IPS", False)
    webhook_max_attempts: int = _whole("WEBHOOK_MAX_ATTEMPTS", 3, 1, 100)
    webhook_timeout: float = _seconds("WEBHOOK_TIMEOUT_SECONDS", 10.0)
    webhook_delivery_retention_days: float = _days("WEBHOOK_DELIVERY_RETENTION_DAYS", 7.0)
    encryption_key: str = _text("ENCRYPTION_KEY", "")
    api_key: str = _text("API_KEY", "")  # with MASTER_KEY unset too: one is generated
    master_key: str = _text("MASTER_KEY", "")
    generated_api_key: bool = False
    default_cluster_name: str = _text("DEFAULT_CLUSTER_NAME", "")
    public_enrollment_key_enabled: bool = _flag("PUBLIC_ENROLLMENT_KEY_ENABLED", False)
    host: str = _text("HOST", "127.0.0.1")
    port: int = _whole("PORT", 8080, 0, 65535)
    public_url: str = _text("PUBLIC_URL", "")
    # An idle client connection is kept this long. Longer than edge-agent keeps its own
    # (entrypoints/agent/runner.ADMIN_KEEPALIVE_SECONDS), so the agent closes first: it never
    # sends on a connection the admin is closing, and it never reconnects between reports.
    http_keep_alive: int = _whole("HTTP_KEEP_ALIVE_SECONDS", 75, 1, 86400)
    heartbeat_interval: float = _seconds("HEARTBEAT_INTERVAL_SECONDS", 10.0)
    node_unhealthy_after: float = _seconds("NODE_UNHEALTHY_AFTER_SECONDS", 30.0)
    node_unreachable_after: float = _seconds("NODE_UNREACHABLE_AFTER_SECONDS", 90.0)
    execution_unreachable_grace: float = _seconds("EXECUTION_UNREACHABLE_GRACE_SECONDS", 900.0)
    execution_retention_days: float = _days("EXECUTION_RETENTION_DAYS", 30.0)
    telemetry_retention_days: float = _days("DEPLOYMENT_TELEMETRY_RETENTION_DAYS", 7.0)
    scheduler_interval: float = _seconds("SCHEDULER_INTERVAL_SECONDS", 1.0)
    # The filling in of the message ids of events saved before this release (in the
    # background): positions per transaction, and a pause after each (0: none).
    message_id_fill_chunk: int = _whole("MESSAGE_ID_FILL_CHUNK", 20_000, 1, 1_000_000)
    message_id_fill_pause: float = _seconds("MESSAGE_ID_FILL_PAUSE_SECONDS", 0.0, zero=True)
    # Unset: poll_recheck() picks by store (None here).
    agent_poll_recheck: float | None = _setting(
        None, lambda env: _float(env, "AGENT_POLL_RECHECK_SECONDS", 0.0) or None)
    ssh_login_max_failures: int = _whole("SSH_LOGIN_MAX_FAILURES", 10, 1, 1_000_000)
    ssh_login_window: float = _seconds("SSH_LOGIN_WINDOW_SECONDS", 300.0)
    max_page_size: int = _whole("MAX_PAGE_SIZE", 100, 1, 10_000)
    max_body_bytes: int = _whole("MAX_BODY_BYTES", 1_048_576, 1024, 1 << 30)
    run_projections: bool = _flag("RUN_PROJECTIONS", True)
    write_group_commit: bool = _flag("WRITE_GROUP_COMMIT", True)
    write_project_in_commit: bool = _flag("WRITE_PROJECT_IN_COMMIT", True)
    admin_id: str = _text("ADMIN_ID", "")
    admin_cluster_name: str = _text("ADMIN_CLUSTER_NAME", "admin-cluster-main",
                                    blank_is_unset=True)
    admin_max_peers: int = _whole("ADMIN_MAX_PEERS", 100_000, 1, 1_000_000)
    admin_checkin_interval: float = _seconds("ADMIN_CHECKIN_SECONDS", 5.0)
    admin_offline_after: float = _seconds("ADMIN_OFFLINE_AFTER_SECONDS", 15.0)
    admin_forget_after: float = _seconds("ADMIN_FORGET_AFTER_SECONDS", 3600.0)
    log_format: str = _text("LOG_FORMAT", "json", blank_is_unset=True, clean=str.lower)
    access_log: bool = _flag("ACCESS_LOG", True)  # one line per request, at info
    placement_snapshot: float = _seconds("PLACEMENT_SNAPSHOT_SECONDS", 0.5, zero=True)
    deployment_start_deadline: float = _seconds("DEPLOYMENT_START_DEADLINE_SECONDS", 600.0)
    deployment_domain: str = _text("DEPLOYMENT_DOMAIN", "",
                                   clean=lambda v: v.strip().strip(".").lower())
    database_pool_size: int = _whole("DATABASE_POOL_SIZE", DATABASE_POOL_SIZE, 1, 1000)
    # libpq's own variable; our connections add their pool: `edge-admin:store`.
    database_app_name: str = _text("PGAPPNAME", "edge-admin", blank_is_unset=True)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        e = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            f.name: f.metadata[_READ](e) for f in fields(cls) if _READ in f.metadata}
        if not values["api_key"] and not values["master_key"]:
            values.update(api_key=secrets.token_urlsafe(24), generated_api_key=True)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        database_kind(self.database_url)  # raises on a DATABASE_URL we cannot use
        if self.encryption_key and not self.encryption_keys():
            raise SettingsError("ENCRYPTION_KEY holds no key: expected keys separated by "
                                "commas, newest first")
        name = self.default_cluster_name
        if name and (len(name) > 24 or not CLUSTER_NAME.match(name) or name == "default"):
            raise SettingsError(
                f"DEFAULT_CLUSTER_NAME={name!r}: must be a cluster name (lowercase letters, digits"
                " and hyphens, at most 24 characters) and not the reserved word 'default'"
            )
        if self.nats_url and urlparse(self.nats_url).scheme not in ("nats", "tls", "ws", "wss"):
            raise SettingsError(f"NATS_URL={self.nats_url!r}: expected nats://host:port")
        if not 0 < self.node_unhealthy_after < self.node_unreachable_after:
            raise SettingsError(
                "NODE_UNHEALTHY_AFTER_SECONDS must be positive and below "
                "NODE_UNREACHABLE_AFTER_SECONDS"
            )
        if not 0 < self.deployment_start_deadline <= MAX_START_DEADLINE:
            raise SettingsError(f"DEPLOYMENT_START_DEADLINE_SECONDS="
                                f"{self.deployment_start_deadline:g}: must be greater than 0 "
                                f"and at most {MAX_START_DEADLINE} (a week)")
        if self.deployment_domain and not DNS_NAME.match(self.deployment_domain):
            raise SettingsError(f"DEPLOYMENT_DOMAIN={self.deployment_domain!r}: expected a DNS"
                                " name (e.g. deployments.example.com)")

        self._validate_admin()
        self._validate_names()

    def _validate_names(self) -> None:
        """What NATS and the agents will read: refused there, it stalled the relay and the
        webhook intake for good, or every enrollment key."""
        if not self.nats_stream or any(c in NATS_NAME_FORBIDS for c in self.nats_stream):
            raise SettingsError(f"NATS_STREAM={self.nats_stream!r}: a stream name has no "
                                "spaces, '.', '*', '>', '/' or '\\'")
        tokens = f"{self.nats_subject_prefix}edge.x".split(".")
        if any(not t or any(c in NATS_SUBJECT_FORBIDS for c in t) for t in tokens):
            raise SettingsError(f"NATS_SUBJECT_PREFIX={self.nats_subject_prefix!r}: subjects "
                                "are dot-separated words without spaces, '*' or '>' (e.g. "
                                "tenant1.)")
        if self.public_url:
            parts = urlparse(self.public_url)
            try:
                port_ok = parts.port is None or parts.port > 0
            except ValueError:
                port_ok = False
            if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
                raise SettingsError(f"PUBLIC_URL={self.public_url!r}: expected the URL agents "
                                    "reach this admin at, http(s)://host[:port]")

    def _validate_admin(self) -> None:
        if self.admin_id and not ADMIN_ID.match(self.admin_id):
            raise SettingsError(f"ADMIN_ID={self.admin_id!r}: expected 12 lowercase letters "
                                "or digits")
        if not CLUSTER_NAME.match(self.admin_cluster_name) or len(self.admin_cluster_name) > 63:
            raise SettingsError(f"ADMIN_CLUSTER_NAME={self.admin_cluster_name!r}: expected a "
                                "DNS label (lowercase letters, digits and hyphens)")
        if not 0 < self.admin_checkin_interval < self.admin_offline_after:
            raise SettingsError("ADMIN_CHECKIN_SECONDS must be positive and below "
                                "ADMIN_OFFLINE_AFTER_SECONDS")
        if self.admin_forget_after < self.admin_offline_after:
            raise SettingsError("ADMIN_FORGET_AFTER_SECONDS must not be below "
                                "ADMIN_OFFLINE_AFTER_SECONDS")
        if self.log_format not in ("json", "text"):
            raise SettingsError(f"LOG_FORMAT={self.log_format!r}: expected json or text")

    @property
    def effective_admin_id(self) -> str:
        """ADMIN_ID, or one derived from this machine's name and port: stable across restarts,
        distinct for two admins on one machine."""
        if self.admin_id:
            return self.admin_id
        digest = hashlib.sha256(f"{socket.gethostname()}:{self.port}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % 36] for b in digest[:12])

    @property
    def advertised_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def encryption_keys(self) -> tuple[str, ...]:
        """ENCRYPTION_KEY as a key ring, newest (the sealing key) first."""
        return tuple(k.strip() for k in self.encryption_key.split(",") if k.strip())

    def poll_recheck(self) -> float:
        """Seconds between a waiting long poll's own looks for work: AGENT_POLL_RECHECK_SECONDS,
        else 30 on PostgreSQL, where other admin processes ring the poll when they record work
        for its node (the look only catches a ring lost while a listener reconnects), and 5
        elsewhere, where nothing crosses processes."""
        if self.agent_poll_recheck is not None:
            return self.agent_poll_recheck
        return 30.0 if database_kind(self.database_url) == "postgres" else 5.0

    def postgres_conninfo(self) -> str:
        return _conninfo(self.database_url)

    def postgres_schema(self) -> str:
        """DATABASE_URL's `?schema=` (ours, not libpq's): where our tables live; "" for the
        role's search_path."""
        return parse_qs(urlparse(self.database_url).query).get("schema", [""])[0]

    def read_pool_size(self) -> int:
        """The part of DATABASE_POOL_SIZE that read-model reads on the event loop may hold
        (adapters/pg_async_reads.py); the store's threaded pool keeps the rest, so the two
        together stay within DATABASE_POOL_SIZE. Half: on a busy machine a read waits for
        its PostgreSQL backend to get a core, and a quarter (2 of 8) then capped GETs at 64
        clients; threads reading the read model showed no trend from 4 to 24 connections.
        0 (DATABASE_POOL_SIZE=1): reads go through the threaded pool, as before."""
        return self.database_pool_size // 2

    def postgres_application_name(self, pool: str) -> str:
        """What pg_stat_activity shows for one of our pools: `edge-admin:store`."""
        return f"{self.database_app_name}:{pool}"[:63]

    def api_keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.api_key, self.master_key) if k)

    def named_api_keys(self) -> dict[str, str]:
        """The keys by the setting that holds them (the name tells callers apart)."""
        return {n: k for n, k in (("API_KEY", self.api_key), ("MASTER_KEY", self.master_key))
                if k}

    def sqlite_path(self) -> str:
        """The file an `sqlite://` DATABASE_URL names (`sqlite:///./x.db` is relative)."""
        path = unquote(urlparse(self.database_url).path)
        return path[1:] if path.startswith("/./") else path

    def persistence_env(self, name: str) -> dict[str, str]:
        """The eventsourcing environment for DATABASE_URL, prefixed for one recorder `name`."""
        kind = database_kind(self.database_url)
        if kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        url = urlparse(self.database_url)
        if kind == "sqlite":
            path = self.sqlite_path()
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                    "SQLITE_LOCK_TIMEOUT": "30", "CREATE_TABLE": "y"}
        return {
            # eventsourcing's factory, naming its connections (POSTGRES_APPLICATION_NAME).
            "PERSISTENCE_MODULE": "adapters.pg_datastore:NamedPostgresFactory",
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            # One connection kept; more opened under load up to DATABASE_POOL_SIZE less the
            # read pool's part (eventsourcing opens POOL_SIZE at once, allows MAX_OVERFLOW more).
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": str(self.database_pool_size - self.read_pool_size() - 1),
            "POSTGRES_APPLICATION_NAME": self.postgres_application_name("store"),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_SCHEMA": self.postgres_schema(),
            "CREATE_TABLE": "y",
            # The stock recorder hangs on saves above ~4 MB (adapters/pg_recorder.py).
            "APPLICATION_RECORDER_TOPIC": "adapters.pg_recorder:CopyApplicationRecorder",
        }


def _conninfo(url: str) -> str:
    """A libpq URL without our own `schema` query parameter."""
    parsed = urlparse(url)
    return parsed._replace(query="").geturl()


def database_kind(url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme in ("postgresql", "postgres"):
        try:
            urlparse(url).port  # noqa: B018 - raises on a port that is no port
        except ValueError:
            raise SettingsError(f"DATABASE_URL={_without_password(url)!r}: the port must be a "
                                "number up to 65535") from None
        return "postgres"
    if scheme == "sqlite":
        if not urlparse(url).path.strip("/"):
            raise SettingsError(f"DATABASE_URL={url!r}: expected sqlite:///path/to/file.db")
        return "sqlite"
    if scheme == "memory":
        return "memory"
    raise SettingsError(f"DATABASE_URL={_without_password(url)!r}: expected "
                        "postgresql://user@host:port/db or sqlite:///path")


def _without_password(url: str) -> str:
    """The URL as an error line may show it: a password is not for logs."""
    head, at, rest = url.rpartition("@")
    if not at or ":" not in head.partition("://")[2]:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.partition(':')[0]}:***@{rest}"


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    if raw.strip().lower() in TRUE:
        return True
    if raw.strip().lower() in FALSE:
        return False
    raise SettingsError(f"{key}={raw!r}: expected true or false")


def _number(env: Mapping[str, str], key: str, parse: Callable[[str], N],
            expected: str) -> N | None:
    """The variable read as a number, or None when it is unset or empty."""
    raw = env.get(key)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r}: expected {expected}") from None


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    value = _number(env, key, int, "an integer")
    if value is None:
        return default
    if not low <= value <= high:
        raise SettingsError(f"{key}={env[key]!r}: expected an integer between {low} and {high}")
    return value


def _float(
    env: Mapping[str, str], key: str, default: float, unit: str = "seconds", zero: bool = False
) -> float:
    """A positive number (or zero, where zero means "off"), at most ten years."""
    value = _number(env, key, float, f"a number of {unit}")
    if value is None:
        return default
    high = MAX_DAYS * (86400 if unit == "seconds" else 1)
    if math.isnan(value) or value < 0 or (value == 0 and not zero) or value > high:
        or_zero = " or 0" if zero else ""
        raise SettingsError(f"{key}={env[key]!r}: must be greater than 0{or_zero} and at most "
                            f"{high} (ten years)")
    return value
