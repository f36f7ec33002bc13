"""Settings from the environment: defaults, and one clear line for each bad value."""

from __future__ import annotations

import pytest

from entrypoints.settings import Settings, SettingsError

BASE = {"DATABASE_URL": "memory://", "API_KEY": "k"}


def test_command_settings_have_documented_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.execution_unreachable_grace == 900.0
    assert settings.execution_retention_days == 30.0
    assert settings.scheduler_interval == 1.0
    assert settings.poll_recheck() == 5.0
    postgres = Settings.from_env({**BASE, "DATABASE_URL": "postgresql://u@h/db"})
    assert postgres.poll_recheck() == 30.0  # other admins ring its polls (LISTEN/NOTIFY)
    chosen = Settings.from_env({**BASE, "DATABASE_URL": "postgresql://u@h/db",
                                "AGENT_POLL_RECHECK_SECONDS": "2.5"})
    assert chosen.poll_recheck() == 2.5


def test_retention_zero_switches_pruning_off() -> None:
    settings = Settings.from_env({**BASE, "EXECUTION_RETENTION_DAYS": "0"})
    assert settings.execution_retention_days == 0


@pytest.mark.parametrize(("key", "raw", "message"), [
    ("EXECUTION_RETENTION_DAYS", "-1", "must be greater than 0 or 0"),
    ("EXECUTION_RETENTION_DAYS", "soon", "expected a number of days"),
    ("EXECUTION_UNREACHABLE_GRACE_SECONDS", "0", "must be greater than 0"),
    ("SCHEDULER_INTERVAL_SECONDS", "nan", "must be greater than 0"),
    ("AGENT_POLL_RECHECK_SECONDS", "x", "expected a number of seconds"),
    ("AGENT_POLL_RECHECK_SECONDS", "0", "must be greater than 0"),
])
def test_bad_values_name_the_setting(key: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, key: raw})
    assert str(caught.value).startswith(f"{key}={raw!r}: ") and message in str(caught.value)


def test_the_deployment_start_deadline_is_bounded() -> None:
    assert Settings.from_env(BASE).deployment_start_deadline == 600.0
    assert Settings.from_env({**BASE, "DEPLOYMENT_START_DEADLINE_SECONDS": "90"}
                             ).deployment_start_deadline == 90.0
    for raw in ("0", "-5", "inf", "604801", "soon"):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({**BASE, "DEPLOYMENT_START_DEADLINE_SECONDS": raw})
        assert str(caught.value).startswith("DEPLOYMENT_START_DEADLINE_SECONDS=")


def test_the_deployment_domain_is_a_dns_name() -> None:
    assert Settings.from_env(BASE).deployment_domain == ""
    assert Settings.from_env({**BASE, "DEPLOYMENT_DOMAIN": " Deployments.Example.COM. "}
                             ).deployment_domain == "deployments.example.com"
    for raw in ("bad domain", "-x.example.com", "a" * 64 + ".com", "1.2.3.4:80", "x" * 250):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({**BASE, "DEPLOYMENT_DOMAIN": raw})
        assert str(caught.value).startswith("DEPLOYMENT_DOMAIN=")


DURATIONS = ["WEBHOOK_TIMEOUT_SECONDS", "HEARTBEAT_INTERVAL_SECONDS",
             "NODE_UNHEALTHY_AFTER_SECONDS", "NODE_UNREACHABLE_AFTER_SECONDS",
             "SCHEDULER_INTERVAL_SECONDS", "EXECUTION_UNREACHABLE_GRACE_SECONDS",
             "EXECUTION_RETENTION_DAYS", "DEPLOYMENT_TELEMETRY_RETENTION_DAYS",
             "WEBHOOK_DELIVERY_RETENTION_DAYS",
             "AGENT_POLL_RECHECK_SECONDS", "SSH_LOGIN_WINDOW_SECONDS", "ADMIN_CHECKIN_SECONDS",
             "ADMIN_OFFLINE_AFTER_SECONDS", "ADMIN_FORGET_AFTER_SECONDS",
             "PLACEMENT_SNAPSHOT_SECONDS", "DEPLOYMENT_START_DEADLINE_SECONDS"]


@pytest.mark.parametrize("key", DURATIONS)
@pytest.mark.parametrize("raw", ["inf", "1e400", "1e12"])
def test_durations_past_ten_years_are_refused(key: str, raw: str) -> None:
    # Accepted, they made every sweep and scheduler pass fail with OverflowError (now minus
    # the duration falls before year 1), and SSH_LOGIN_WINDOW_SECONDS=inf stopped serve with
    # a traceback.
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, key: raw})
    assert str(caught.value).startswith(f"{key}={raw!r}: ")


def test_ten_years_is_still_a_duration() -> None:
    settings = Settings.from_env({**BASE, "EXECUTION_RETENTION_DAYS": "3650",
                                  "ADMIN_FORGET_AFTER_SECONDS": "315360000"})
    assert settings.execution_retention_days == 3650
    assert settings.admin_forget_after == 315360000


@pytest.mark.parametrize(("key", "raw"), [
    ("NATS_STREAM", "bad stream.name"), ("NATS_STREAM", "a.b"), ("NATS_STREAM", "a*"),
    ("NATS_STREAM", "a/b"),
    ("NATS_SUBJECT_PREFIX", "a b."), ("NATS_SUBJECT_PREFIX", "a*."),
    ("NATS_SUBJECT_PREFIX", ".a."), ("NATS_SUBJECT_PREFIX", "a..b."),
    ("PUBLIC_URL", "notaurl"), ("PUBLIC_URL", "ftp://admin.example"), ("PUBLIC_URL", "http://"),
    ("PUBLIC_URL", "http://admin.example:99999"),
])
def test_names_nats_and_agents_cannot_use_are_refused_at_start(key: str, raw: str) -> None:
    # Accepted, a bad stream name or subject prefix left the relay and the webhook intake
    # retrying forever (and a bad stream name failed the shutdown with a traceback); a bad
    # PUBLIC_URL went into every enrollment key, for each agent to refuse.
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, key: raw})
    assert str(caught.value).startswith(f"{key}={raw!r}: ")


def test_usual_stream_names_prefixes_and_public_urls_are_accepted() -> None:
    settings = Settings.from_env({**BASE, "NATS_STREAM": "h2_EDGE-1", "NATS_SUBJECT_PREFIX": "h2.",
                                  "PUBLIC_URL": "https://admin.example.com:8443/edge"})
    assert settings.advertised_url == "https://admin.example.com:8443/edge"
    assert Settings.from_env({**BASE, "NATS_SUBJECT_PREFIX": "tenant"}).nats_subject_prefix


@pytest.mark.parametrize("url", ["postgresql://u@h:notaport/db", "postgresql://u@h:99999/db"])
def test_a_postgres_url_with_a_bad_port_is_a_bad_setting(url: str) -> None:
    # It went to libpq, and stopped the start as if the database were away (exit 1):
    # "cannot connect to PostgreSQL on h:notaport: connection is bad: invalid integer value".
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, "DATABASE_URL": url})
    assert str(caught.value).startswith(f"DATABASE_URL={url!r}: ")


@pytest.mark.parametrize("url", ["postgresql://u:s3cret@h:x/db", "mysql://u:s3cret@h/db"])
def test_a_bad_database_url_is_shown_without_its_password(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, "DATABASE_URL": url})
    assert "s3cret" not in str(caught.value) and "u:***@h" in str(caught.value)
