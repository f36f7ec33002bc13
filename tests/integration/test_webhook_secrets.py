"""Webhook secrets across restarts, with a real receiver that verifies signatures: a new API_KEY
leaves webhooks working (the sealing key no longer derives from it), and a key missing from
ENCRYPTION_KEY is loud: logged once, /readyz 503 naming it, counted in /metrics, and the
delivery fails with the reason."""

from __future__ import annotations

import base64
import logging
from typing import Any
from uuid import UUID

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.secret_box import derive_key, key_id
from application.deliveries import FAILED, SUCCEEDED, DeliveryRecord
from application.webhooks import CreateWebhook
from entrypoints.app import create_app
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from tests.contract import checking_client
from tests.integration.webhook_harness import (
    SECRET,
    Background,
    Receiver,
    eventually,
    loops_closed,
    receiver,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["loops_closed", "receiver"]  # fixtures, used by name
A, B = base64.b64encode(b"A" * 32).decode(), base64.b64encode(b"B" * 32).decode()


def settings(url: str, **env: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, **env}, webhook_allow_private_ips=True,
                             webhook_timeout=2.0)


def create_webhook(url: str, target: str, **env: str) -> UUID:
    """Creates the webhook in one run of the services, then stops them (the restart)."""
    services = build_services(settings(url, **env))
    services.start()
    try:
        return services.webhooks.create(CreateWebhook(
            url=target, secret=SECRET, subscribed_events=["edge.node.registered"],
            headers={"Authorization": "Bearer extra"}))
    finally:
        services.close()


def final(services: Services, webhook: UUID) -> DeliveryRecord:
    assert services.deliveries is not None
    queue = services.deliveries

    def done() -> bool:
        return any(r.status in (SUCCEEDED, FAILED) for r in queue.page(webhook)[0])

    eventually(done, 30, f"a final delivery for {webhook}")
    (record,) = queue.page(webhook)[0]
    return record


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_new_api_key_leaves_webhooks_working(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest, receiver: Receiver
) -> None:
    """No ENCRYPTION_KEY: the sealing key is kept with the data, not derived from API_KEY."""
    url = (f"sqlite:///{tmp_path}/edge.sqlite3" if kind == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    webhook = create_webhook(url, receiver.url("/hook"), API_KEY="first-api-key-0123")
    services = build_services(settings(url, API_KEY="second-api-key-4567"))
    services.start()
    try:
        assert services.unsealing.summary() is None  # the start-up check found nothing
        write_registrations(services, 1)
        with Background(services):
            record = final(services, webhook)
    finally:
        services.close()
    assert (record.status, record.last_error) == (SUCCEEDED, None)
    (got,) = receiver.at("/hook")
    assert got.standard_ok and got.edge_ok  # signed with the secret given at creation
    assert got.headers["Authorization"] == "Bearer extra"


def test_a_key_missing_from_encryption_key_is_loud(
    tmp_path: Any, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/edge.sqlite3"
    api = {"API_KEY": "api-key-0123456789"}
    webhook = create_webhook(url, receiver.url("/hook"), ENCRYPTION_KEY=A, **api)
    app = create_app(settings(url, ENCRYPTION_KEY=B, **api))  # A was dropped: a mistake
    auth = {"Authorization": f"Bearer {api['API_KEY']}"}
    missing = key_id(derive_key(A))
    with caplog.at_level(logging.ERROR), checking_client(app) as client:
        services: Services = app.state.services
        ready = client.get("/readyz")  # the start-up check found it already
        assert ready.status_code == 503
        check = ready.json()["checks"]["secrets"]
        assert check.startswith("error: 1 sealed value cannot be unsealed: ")
        assert "ENCRYPTION_KEY" in check and missing not in check  # the log names it

        write_registrations(services, 2)  # the app's relay and worker deliver
        eventually(lambda: services.deliveries is not None and services.deliveries.counts(
            webhook).get("failed") == 2, 30, "two failed deliveries")
        assert services.deliveries is not None
        records, _ = services.deliveries.page(webhook)
        for record in records:
            assert record.attempts == 0  # nothing was sent: it could not be signed
            assert (record.last_error or "").startswith(
                f"webhook secret cannot be unsealed: sealed with key {missing}")

        families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
        assert families["edge_admin_secrets_unsealable"].samples[0].value == 1
        failures = families["edge_admin_secret_unseal_failures"]
        assert failures.type == "counter" and failures.samples[0].value == 3  # start + 2 sends

        assert client.delete(f"/api/v1/webhooks/{webhook}", headers=auth).status_code == 204
        services.unsealing.RECHECK_EVERY = 0  # no waiting for the next recheck
        again = client.get("/readyz")
        assert again.status_code == 200 and again.json()["checks"]["secrets"] == "ok"
    logged = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR and str(webhook) in r.getMessage()]
    assert len(logged) == 1, logged  # once per object, not per attempt
    assert missing in logged[0] and "ENCRYPTION_KEY" in logged[0]
    assert receiver.at("/hook") == []
