"""Read-model rows to the seed's response shapes (derived names are computed, not stored)."""

from __future__ import annotations

import json
from typing import Any

from domain.node import DEFAULT_PORTS
from domain.shared import (
    alias_vpn_hostname,
    network_name,
    node_mdns_hostname,
    node_name,
    node_vpn_hostname,
    vpn_domain,
)


def node_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "id_type": row["id_type"],
        "status": row["status"],
        "vpn_hostname": node_vpn_hostname(row["id"], row["cluster_name"]),
    }


def cluster(row: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "network_name": network_name(row["name"]),
        "vpn_domain": vpn_domain(row["name"]),
        "ipv4_range": row["ipv4_range"],
        "node_count": row["node_count"],
        "node_limit": row["node_limit"],
        "nodes": [node_summary(n) for n in nodes],
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }


def enrollment_key(row: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "cluster_name", "key", "name", "uses_remaining", "expired_at", "last_used_at",
              "inserted_at", "updated_at")
    return {f: row[f] for f in fields}


def node(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "id_type": row["id_type"],
        "node_name": node_name(row["id"]),
        "mdns_hostname": node_mdns_hostname(row["id"]),
        "vpn_hostname": node_vpn_hostname(row["id"], row["cluster_name"]),
        "cluster_name": row["cluster_name"],
        "status": row["status"],
        "version": row["version"],
        "self_update_enabled": row["self_update_enabled"],
        "api_token": row["api_token"],
        "proxy_password": row["proxy_password"],
        "netmaker_host_id": row["netmaker_host_id"],
        **{port: row[port] for port in DEFAULT_PORTS},
        "last_seen_at": row["last_seen_at"],
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }


def alias(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "node_id": row["node_id"],
        "cluster_name": row["cluster_name"],
        "vpn_hostname": alias_vpn_hostname(row["name"], row["cluster_name"]),
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }


def command(row: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "command_text", "timeout", "expired_at", "inserted_at", "updated_at")
    return {**{f: row[f] for f in fields}, "targeting": json.loads(row["targeting"])}


EXECUTION_FIELDS = (
    "id", "command_id", "node_id", "cluster_name", "command_text", "timeout", "expired_at",
    "status", "target_all", "sent_at", "completed_at", "cancelled_at", "exit_code", "output",
    "inserted_at", "updated_at",
)


def command_execution(row: dict[str, Any]) -> dict[str, Any]:
    return {f: row[f] for f in EXECUTION_FIELDS}


def self_update_request(row: dict[str, Any]) -> dict[str, Any]:
    done = row["status"] == "completed"
    summary = {k: row[k] for k in ("total", "triggered", "failed")} if done else None
    return {"id": row["id"], "status": row["status"], "summary": summary,
            "targeting": json.loads(row["targeting"]), "inserted_at": row["inserted_at"],
            "updated_at": row["updated_at"]}


def ssh_public_key(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ssh_username_id": row["ssh_username_id"],
        "key_name": row["key_name"],
        "public_key": row["public_key"],
        # Not in the seed: lets operators match `ssh-keygen -l` output and audit events.
        "fingerprint": row["fingerprint"],
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }


def ssh_username(row: dict[str, Any], keys: list[dict[str, Any]]) -> dict[str, Any]:
    """password_hash stays inside: only whether there is one is shown."""
    return {
        "id": row["id"],
        "node_id": row["node_id"],
        "username": row["username"],
        "has_password": row["has_password"],
        "public_keys": keys,
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }
