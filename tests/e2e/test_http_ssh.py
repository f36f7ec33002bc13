"""Ssh.SshUsername and Ssh.SshPublicKey endpoints (E38-E45) and the agent's login check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    add_node,
    create_cluster,
    data,
    enroll,
    error,
    issue_key,
    listed,
    names,
    running,
)

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
USERNAME_FIELDS = {"id", "node_id", "username", "has_password", "public_keys", "inserted_at",
                   "updated_at"}
KEY_FIELDS = {"id", "ssh_username_id", "key_name", "public_key", "fingerprint", "inserted_at",
              "updated_at"}


def new_key(algorithm: str = "ssh-ed25519", comment: str = "me@example.com",
            **kw: Any) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key(algorithm, comment=comment, **kw)
    return key


def line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode().strip()


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running() as c:
        yield c


def agent_node(client: TestClient, cluster: str = "main") -> tuple[str, str]:
    """A node enrolled like an agent would: (node_id, api_token)."""
    enrolled = enroll(client, issue_key(client, cluster)["key"])
    return str(enrolled["node_id"]), str(enrolled["api_token"])


def create_username(client: TestClient, node_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/nodes/{node_id}/ssh_usernames", headers=AUTH, json=body)


def add_key(client: TestClient, username_id: str, key_name: str, public_key: str) -> Any:
    return client.post(f"/api/v1/ssh_usernames/{username_id}/ssh_public_keys", headers=AUTH,
                       json={"key_name": key_name, "public_key": public_key})


def verify(client: TestClient, token: str, username: str, **body: Any) -> dict[str, Any]:
    found: dict[str, Any] = data(client.post(
        "/agent/v1/ssh/verify", headers={"authorization": f"Bearer {token}"},
        json={"username": username, **body}))
    return found


def test_username_with_password_and_keys_on_every_store(any_url: str) -> None:
    with running(any_url) as client:
        node_id = add_node(client)
        laptop, ci = new_key(), new_key("ecdsa-sha2-nistp256", comment="ci")
        created = data(create_username(
            client, node_id, username="deploy", password=PASSWORD,
            public_keys=[{"key_name": "laptop", "public_key": line(laptop)},
                         {"key_name": "ci", "public_key": line(ci)}]), 201)
        assert set(created) == USERNAME_FIELDS
        assert created["node_id"] == node_id and created["has_password"] is True
        # Created together, so ordered by name.
        assert [k["key_name"] for k in created["public_keys"]] == ["ci", "laptop"]
        first = created["public_keys"][1]
        assert set(first) == KEY_FIELDS and first["ssh_username_id"] == created["id"]
        assert first["public_key"] == line(laptop)
        assert first["fingerprint"] == laptop.get_fingerprint("sha256")
        shown = client.get(f"/api/v1/ssh_usernames/{created['id']}", headers=AUTH)
        assert data(shown) == created
        assert PASSWORD not in shown.text and "argon2" not in shown.text
        assert listed(client, "/api/v1/ssh_usernames") == [created]
        key = data(client.get(f"/api/v1/ssh_public_keys/{first['id']}", headers=AUTH))
        assert key == first


def test_password_is_optional_and_never_returned(client: TestClient) -> None:
    node_id = add_node(client)
    created = data(create_username(client, node_id, username="_svc"), 201)
    assert created["has_password"] is False and created["public_keys"] == []
    assert "password" not in created


@pytest.mark.parametrize(("body", "field"), [
    ({"username": "ab"}, "username"),
    ({"username": "x" * 33}, "username"),
    ({"username": "Deploy"}, "username"),
    ({"username": "1abc"}, "username"),
    ({"username": "de ploy"}, "username"),
    ({}, "username"),
    ({"username": "deploy", "password": "short"}, "password"),
    ({"username": "deploy", "password": "x" * 129}, "password"),
    ({"username": "deploy", "public_keys": [{"key_name": "a"}]}, "public_keys[0].public_key"),
    ({"username": "deploy", "colour": "red"}, "colour"),
])
def test_bad_username_bodies_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    node_id = add_node(client)
    error(create_username(client, node_id, **body), 422, "validation_failed", {field})


def test_inline_keys_are_all_or_nothing(client: TestClient) -> None:
    node_id = add_node(client)
    good = {"key_name": "good", "public_key": line(new_key())}
    bad = {"key_name": "bad", "public_key": "ssh-ed25519 AAAAnotakey"}
    details = error(create_username(client, node_id, username="deploy", public_keys=[good, bad]),
                    422, "validation_failed", {"public_keys[1].public_key"})
    assert "base64" in details["public_keys[1].public_key"][0]
    assert listed(client, "/api/v1/ssh_usernames") == []
    assert listed(client, "/api/v1/ssh_public_keys") == []
    twice = create_username(client, node_id, username="deploy", public_keys=[good, good])
    error(twice, 409, "conflict")
    assert listed(client, "/api/v1/ssh_usernames") == []


def test_every_supported_algorithm_is_accepted_with_its_fingerprint(client: TestClient) -> None:
    node_id = add_node(client)
    owner = data(create_username(client, node_id, username="deploy"), 201)["id"]
    keys = [new_key(), new_key("ecdsa-sha2-nistp256"), new_key("ecdsa-sha2-nistp384"),
            new_key("ecdsa-sha2-nistp521"), new_key("ssh-rsa", key_size=2048)]
    for index, key in enumerate(keys):
        created = data(add_key(client, owner, f"k{index}", line(key)), 201)
        assert created["fingerprint"] == key.get_fingerprint("sha256")
    shown = data(client.get(f"/api/v1/ssh_usernames/{owner}", headers=AUTH))
    assert len(shown["public_keys"]) == len(keys)


def test_bad_keys_are_refused_with_a_clear_reason(client: TestClient) -> None:
    node_id = add_node(client)
    owner = data(create_username(client, node_id, username="deploy"), 201)["id"]
    private = new_key().export_private_key("openssh").decode()
    rsa_1024 = line(new_key("ssh-rsa", key_size=1024))
    ed = line(new_key()).split()
    cases = {
        private: "private key",
        rsa_1024: "1024 bits",
        f"ssh-dss {ed[1]}": "must be an OpenSSH public key",
        f"ssh-rsa {ed[1]}": "key data is of type 'ssh-ed25519'",
        f"ssh-ed25519 {ed[1][:-8]}": "",
        "": "",
        f"{line(new_key())}\n{line(new_key())}": "single line",
    }
    for text, reason in cases.items():
        details = error(add_key(client, owner, "k", text), 422, "validation_failed",
                        {"public_key"})
        assert reason in details["public_key"][0], (text, details)
    error(add_key(client, owner, "", line(new_key())), 422, "validation_failed", {"key_name"})
    error(add_key(client, owner, "x" * 256, line(new_key())), 422, "validation_failed",
          {"key_name"})
    assert listed(client, "/api/v1/ssh_public_keys") == []


def test_conflicts_are_per_node_and_per_username(client: TestClient) -> None:
    one, two = add_node(client), add_node(client)
    owner = data(create_username(client, one, username="deploy"), 201)["id"]
    details = error(create_username(client, one, username="deploy"), 409, "conflict")
    assert details == {"username": ["ssh username deploy already exists on this node"]}
    other = data(create_username(client, two, username="deploy"), 201)["id"]
    key = line(new_key())
    data(add_key(client, owner, "laptop", key), 201)
    error(add_key(client, owner, "laptop-again", key), 409, "conflict", {"public_key"})
    error(add_key(client, owner, "laptop", line(new_key())), 409, "conflict", {"key_name"})
    data(add_key(client, other, "laptop", key), 201)  # another username may hold the same key


def test_missing_parents_and_bad_ids(client: TestClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    error(create_username(client, missing, username="deploy"), 404, "not_found")
    error(add_key(client, missing, "k", line(new_key())), 404, "not_found")
    for path in ("ssh_usernames", "ssh_public_keys"):
        error(client.get(f"/api/v1/{path}/{missing}", headers=AUTH), 404, "not_found")
        error(client.delete(f"/api/v1/{path}/{missing}", headers=AUTH), 404, "not_found")
        error(client.get(f"/api/v1/{path}/nope", headers=AUTH), 400, "bad_request", {"id"})


def test_list_filters(client: TestClient) -> None:
    create_cluster(client, "prod-east")
    east, main = add_node(client, "prod-east"), add_node(client)
    deploy = data(create_username(client, east, username="deploy", password=PASSWORD,
                                  public_keys=[{"key_name": "laptop",
                                                "public_key": line(new_key())}]), 201)
    data(create_username(client, main, username="admin"), 201)
    ci = data(add_key(client, deploy["id"], "ci-runner", line(new_key(comment="ci@corp.io"))),
              201)

    def usernames(**params: Any) -> list[str]:
        return sorted(names(listed(client, "/api/v1/ssh_usernames", **params), "username"))

    def keys(**params: Any) -> list[str]:
        return sorted(names(listed(client, "/api/v1/ssh_public_keys", **params), "key_name"))

    assert usernames(cluster_name="prod-east") == ["deploy"]
    assert usernames(cluster_name="prod*") == ["deploy"]
    assert usernames(has_password="true") == ["deploy"]
    assert usernames(has_password="false") == ["admin"]
    assert usernames(node_id=main) == ["admin"]
    assert usernames(username="adm*") == ["admin"]
    assert keys(public_key="*@example.com") == ["laptop"]
    assert keys(key_name="ci-*") == ["ci-runner"]
    assert keys(fingerprint=ci["fingerprint"]) == ["ci-runner"]
    assert keys(ssh_username_id=deploy["id"], username="deploy") == ["ci-runner", "laptop"]
    assert keys(cluster_name="main") == []
    # cluster_name follows the node when it moves.
    data(client.patch(f"/api/v1/nodes/{east}/change_cluster", headers=AUTH,
                      json={"cluster_name": "main"}))
    assert usernames(cluster_name="main") == ["admin", "deploy"]
    assert keys(cluster_name="main") == ["ci-runner", "laptop"]
    error(client.get("/api/v1/ssh_usernames", headers=AUTH, params={"has_password": "maybe"}),
          400, "bad_request", {"has_password"})


def test_deletes_cascade_from_node_to_usernames_to_keys(client: TestClient) -> None:
    node_id = add_node(client)
    body = {"username": "deploy", "public_keys": [{"key_name": "a",
                                                   "public_key": line(new_key())}]}
    first = data(create_username(client, node_id, **body), 201)
    assert client.delete(f"/api/v1/ssh_usernames/{first['id']}", headers=AUTH).status_code == 204
    assert listed(client, "/api/v1/ssh_public_keys") == []
    again = data(create_username(client, node_id, **body), 201)  # the name is free again
    key_id = again["public_keys"][0]["id"]
    assert client.delete(f"/api/v1/ssh_public_keys/{key_id}", headers=AUTH).status_code == 204
    assert data(client.get(f"/api/v1/ssh_usernames/{again['id']}",
                           headers=AUTH))["public_keys"] == []
    data(add_key(client, again["id"], "b", line(new_key())), 201)
    assert client.delete(f"/api/v1/nodes/{node_id}", headers=AUTH).status_code == 204
    assert listed(client, "/api/v1/ssh_usernames") == []
    assert listed(client, "/api/v1/ssh_public_keys") == []


def test_login_checks_answer_from_what_the_api_shows(client: TestClient) -> None:
    node_id, token = agent_node(client)
    key, stranger = new_key(), new_key()
    owner = data(create_username(client, node_id, username="deploy", password=PASSWORD,
                                 public_keys=[{"key_name": "k", "public_key": line(key)}]), 201)
    by_key = verify(client, token, "deploy", method="publickey", public_key=line(key))
    assert by_key == {"allowed": True, "reason": None, "ssh_username_id": owner["id"]}
    assert verify(client, token, "deploy", method="password", password=PASSWORD)["allowed"]
    refused = {
        "unknown_key": verify(client, token, "deploy", method="publickey",
                              public_key=line(stranger)),
        "wrong_password": verify(client, token, "deploy", method="password", password="nope"),
        "unknown_username": verify(client, token, "root", method="password", password=PASSWORD),
    }
    for reason, verdict in refused.items():
        assert verdict["allowed"] is False and verdict["reason"] == reason
    data(create_username(client, node_id, username="keyonly"), 201)
    assert verify(client, token, "keyonly", method="password",
                  password=PASSWORD)["reason"] == "no_password"
    # Revoking the key stops it at the next check; deleting the username stops the password.
    key_id = owner["public_keys"][0]["id"]
    client.delete(f"/api/v1/ssh_public_keys/{key_id}", headers=AUTH)
    assert verify(client, token, "deploy", method="publickey",
                  public_key=line(key))["reason"] == "unknown_key"
    client.delete(f"/api/v1/ssh_usernames/{owner['id']}", headers=AUTH)
    assert verify(client, token, "deploy", method="password",
                  password=PASSWORD)["reason"] == "unknown_username"


def test_usernames_of_another_node_do_not_log_in(client: TestClient) -> None:
    node_id, _ = agent_node(client)
    _, other_token = agent_node(client)
    data(create_username(client, node_id, username="deploy", password=PASSWORD), 201)
    verdict = verify(client, other_token, "deploy", method="password", password=PASSWORD)
    assert verdict["reason"] == "unknown_username"


def test_login_checks_are_audited_without_secrets(client: TestClient) -> None:
    node_id, token = agent_node(client)
    key = new_key()
    data(create_username(client, node_id, username="deploy", password=PASSWORD,
                         public_keys=[{"key_name": "k", "public_key": line(key)}]), 201)
    verify(client, token, "deploy", method="password", password=PASSWORD)
    verify(client, token, "deploy", method="publickey", public_key=line(key))
    verify(client, token, "ghost", method="password", password="guess-guess-guess")
    response = client.get("/api/v1/events", headers=AUTH,
                          params={"type": "edge.ssh_username.verified"})
    rows = response.json()["data"]
    assert [(r["data"]["username"], r["data"]["method"], r["data"]["outcome"]) for r in rows] == [
        ("deploy", "password", "accepted"), ("deploy", "publickey", "accepted"),
        ("ghost", "password", "unknown_username")]
    assert rows[1]["data"]["fingerprint"] == key.get_fingerprint("sha256")
    assert all(r["data"]["node_id"] == node_id for r in rows)
    assert PASSWORD not in response.text and "guess-guess" not in response.text


def test_repeated_failures_are_rate_limited_per_node_and_username() -> None:
    with running(ssh_login_max_failures=3) as client:
        node_id, token = agent_node(client)
        data(create_username(client, node_id, username="deploy", password=PASSWORD), 201)
        data(create_username(client, node_id, username="other", password=PASSWORD), 201)
        for _ in range(3):
            assert verify(client, token, "deploy", method="password",
                          password="wrong")["reason"] == "wrong_password"
        limited = verify(client, token, "deploy", method="password", password=PASSWORD)
        assert limited == {"allowed": False, "reason": "rate_limited",
                           "ssh_username_id": limited["ssh_username_id"]}
        assert verify(client, token, "other", method="password", password=PASSWORD)["allowed"]


def test_verify_needs_a_node_token_and_a_well_formed_body(client: TestClient) -> None:
    _, token = agent_node(client)
    bearer = {"authorization": f"Bearer {token}"}
    url = "/agent/v1/ssh/verify"
    error(client.post(url, json={"username": "x", "method": "password", "password": "p"}),
          401, "unauthorized")
    error(client.post(url, headers=bearer, json={"username": "x", "method": "telepathy"}), 422,
          "validation_failed", {"method"})
    error(client.post(url, headers=bearer, json={"username": "x", "method": "publickey"}), 422,
          "validation_failed", {"public_key"})
    error(client.post(url, headers=bearer, json={"username": "x", "method": "password"}), 422,
          "validation_failed", {"password"})
    error(client.post(url, headers=bearer, json={"username": "x", "method": "publickey",
                                                 "public_key": "ssh-ed25519 !!!"}),
          422, "validation_failed", {"public_key"})
