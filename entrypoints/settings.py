"""Settings from environment variables; a bad value stops start-up with one clear line."""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlparse

DEFAULT_DATABASE_URL = "sqlite:///./edge-data/edge.sqlite3"
CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ADMIN_ID = re.compile(r"^[a-z0-9]{12}$")
# A domain under which each deployment gets `<request_id>.<domain>` (12 + 1 characters).
DNS_NAME = re.compile(r"^(?=.{1,240}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                      r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_START_DEADLINE = 7 * 86400  # beyond that, a start is not late but lost (and inf overflows)
# The main pool's ceiling: commands share transactions (group commit) and the interpreter, not
# the database, bounds throughput, so a few connections serve 64 clients (README, Performance).
DATABASE_POOL_SIZE = 8
N = TypeVar("N", int, float)
TRUE, FALSE = {"1", "true", "yes", "on", "y"}, {"0", "false", "no", "off", "n", ""}


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the admin service, with its documented default."""

    database_url: str = DEFAULT_DATABASE_URL
    nats_url: str = ""
    nats_stream: str = "EDGE"
    nats_subject_prefix: str = ""
    run_relay: bool = True
    run_webhook_worker: bool = True
    webhook_allow_private_ips: bool = False
    webhook_max_attempts: int = 3
    webhook_timeout: float = 10.0
    encryption_key: str = ""
    api_key: str = ""
    master_key: str = ""
    generated_api_key: bool = False
    default_cluster_name: str = ""
    public_enrollment_key_enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    heartbeat_interval: float = 10.0
    node_unhealthy_after: float = 30.0
    node_unreachable_after: float = 90.0
    execution_unreachable_grace: float = 900.0
    execution_retention_days: float = 30.0
    telemetry_retention_days: float = 7.0
    scheduler_interval: float = 1.0
    agent_poll_recheck: float = 5.0
    ssh_login_max_failures: int = 10
    ssh_login_window: float = 300.0
    max_page_size: int = 100
    max_body_bytes: int = 1_048_576
    run_projections: bool = True
    write_group_commit: bool = True
    write_project_in_commit: bool = True
    admin_id: str = ""
    admin_cluster_name: str = "admin-cluster-main"
    admin_max_peers: int = 100_000
    admin_checkin_interval: float = 5.0
    admin_offline_after: float = 15.0
    admin_forget_after: float = 3600.0
    log_format: str = "json"
    access_log: bool = True  # one line per request, at info
    placement_snapshot: float = 0.5
    deployment_start_deadline: float = 600.0
    deployment_domain: str = ""
    database_pool_size: int = DATABASE_POOL_SIZE
    database_app_name: str = "edge-admin"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        e = dict(os.environ if env is None else env)
        api_key, master_key = e.get("API_KEY", ""), e.get("MASTER_KEY", "")
        generated = not api_key and not master_key
        if generated:
            api_key = secrets.token_urlsafe(24)
        values: dict[str, object] = {
            "database_url": e.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            "nats_url": e.get("NATS_URL", ""),
            "nats_stream": e.get("NATS_STREAM") or "EDGE",
            "nats_subject_prefix": e.get("NATS_SUBJECT_PREFIX", ""),
            "run_relay": _bool(e, "RUN_RELAY", True),
            "run_webhook_worker": _bool(e, "RUN_WEBHOOK_WORKER", True),
            "webhook_allow_private_ips": _bool(e, "WEBHOOK_ALLOW_PRIVATE_IPS", False),
            "webhook_max_attempts": _int(e, "WEBHOOK_MAX_ATTEMPTS", 3, 1, 100),
            "webhook_timeout": _float(e, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
            "encryption_key": e.get("ENCRYPTION_KEY", ""),
            "api_key": api_key,
            "master_key": master_key,
            "generated_api_key": generated,
            "default_cluster_name": e.get("DEFAULT_CLUSTER_NAME", ""),
            "public_enrollment_key_enabled": _bool(e, "PUBLIC_ENROLLMENT_KEY_ENABLED", False),
            "host": e.get("HOST", "127.0.0.1"),
            "port": _int(e, "PORT", 8080, 0, 65535),
            "public_url": e.get("PUBLIC_URL", ""),
            "heartbeat_interval": _float(e, "HEARTBEAT_INTERVAL_SECONDS", 10.0),
            "node_unhealthy_after": _float(e, "NODE_UNHEALTHY_AFTER_SECONDS", 30.0),
            "node_unreachable_after": _float(e, "NODE_UNREACHABLE_AFTER_SECONDS", 90.0),
            "execution_unreachable_grace": _float(
                e, "EXECUTION_UNREACHABLE_GRACE_SECONDS", 900.0),
            "execution_retention_days": _float(
                e, "EXECUTION_RETENTION_DAYS", 30.0, "days", zero=True),
            "telemetry_retention_days": _float(
                e, "DEPLOYMENT_TELEMETRY_RETENTION_DAYS", 7.0, "days", zero=True),
            "scheduler_interval": _float(e, "SCHEDULER_INTERVAL_SECONDS", 1.0),
            "agent_poll_recheck": _float(e, "AGENT_POLL_RECHECK_SECONDS", 5.0),
            "ssh_login_max_failures": _int(e, "SSH_LOGIN_MAX_FAILURES", 10, 1, 1_000_000),
            "ssh_login_window": _float(e, "SSH_LOGIN_WINDOW_SECONDS", 300.0),
            "max_page_size": _int(e, "MAX_PAGE_SIZE", 100, 1, 10_000),
            "max_body_bytes": _int(e, "MAX_BODY_BYTES", 1_048_576, 1024, 1 << 30),
            "run_projections": _bool(e, "RUN_PROJECTIONS", True),
            "write_group_commit": _bool(e, "WRITE_GROUP_COMMIT", True),
            "write_project_in_commit": _bool(e, "WRITE_PROJECT_IN_COMMIT", True),
            "admin_id": e.get("ADMIN_ID", ""),
            "admin_cluster_name": e.get("ADMIN_CLUSTER_NAME") or "admin-cluster-main",
            "admin_max_peers": _int(e, "ADMIN_MAX_PEERS", 100_000, 1, 1_000_000),
            "admin_checkin_interval": _float(e, "ADMIN_CHECKIN_SECONDS", 5.0),
            "admin_offline_after": _float(e, "ADMIN_OFFLINE_AFTER_SECONDS", 15.0),
            "admin_forget_after": _float(e, "ADMIN_FORGET_AFTER_SECONDS", 3600.0),
            "log_format": (e.get("LOG_FORMAT") or "json").lower(),
            "access_log": _bool(e, "ACCESS_LOG", True),
            "placement_snapshot": _float(e, "PLACEMENT_SNAPSHOT_SECONDS", 0.5, zero=True),
            "deployment_start_deadline": _float(e, "DEPLOYMENT_START_DEADLINE_SECONDS", 600.0),
            "deployment_domain": e.get("DEPLOYMENT_DOMAIN", "").strip().strip(".").lower(),
            "database_pool_size": _int(e, "DATABASE_POOL_SIZE", DATABASE_POOL_SIZE, 1, 1000),
            # libpq's own variable; our connections add their pool: `edge-admin:store`.
            "database_app_name": e.get("PGAPPNAME") or "edge-admin",
        }
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

    def persistence_env(self, name: str) -> dict[str, str]:
        """The eventsourcing environment for DATABASE_URL, prefixed for one recorder `name`."""
        kind = database_kind(self.database_url)
        if kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        url = urlparse(self.database_url)
        if kind == "sqlite":
            path = unquote(url.path)
            path = path[1:] if path.startswith("/./") else path
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
        return "postgres"
    if scheme == "sqlite":
        if not urlparse(url).path.strip("/"):
            raise SettingsError(f"DATABASE_URL={url!r}: expected sqlite:///path/to/file.db")
        return "sqlite"
    if scheme == "memory":
        return "memory"
    raise SettingsError(
        f"DATABASE_URL={url!r}: expected postgresql://user@host:port/db or sqlite:///path"
    )


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
    """A positive number (or zero, where zero means "off")."""
    value = _number(env, key, float, f"a number of {unit}")
    if value is None:
        return default
    if math.isnan(value) or value < 0 or (value == 0 and not zero):
        or_zero = " or 0" if zero else ""
        raise SettingsError(f"{key}={env[key]!r}: must be greater than 0{or_zero}")
    return value
