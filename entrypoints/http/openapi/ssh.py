"""OpenAPI wording for Ssh.SshUsername, Ssh.SshPublicKey and the agent's login check."""

from __future__ import annotations

from entrypoints.http.openapi.schemas import UUID_S, Schema

USERNAME, KEY = "Ssh.SshUsername", "Ssh.SshPublicKey"
TAGS = [USERNAME, KEY]
_GET, _POST, _DELETE = "GET", "POST", "DELETE"

_WILD = "(exact match or wildcard: {})"
QUERY_DOCS: dict[str, dict[str, str]] = {
    "/api/v1/ssh_usernames": {
        "cluster_name": "Filter by cluster name via node's cluster " + _WILD.format(
            "prod, east*, etc."),
        "has_password": "Filter by whether username has password configured",
        "node_id": "Filter by node ID",
        "username": "Filter by username " + _WILD.format("root, admin*, etc."),
    },
    "/api/v1/ssh_public_keys": {
        "cluster_name": "Filter by cluster name via node's cluster " + _WILD.format(
            "prod, east*, etc."),
        "fingerprint": "Filter by SHA256 fingerprint (exact, as `ssh-keygen -l` prints it)",
        "key_name": "Filter by key name " + _WILD.format("my-key, prod*, etc."),
        "node_id": "Filter by node ID",
        "public_key": "Filter by public key content (useful for searching email comments:"
        " *@example.com)",
        "ssh_username_id": "Filter by SSH username ID",
        "username": "Filter by SSH username " + _WILD.format("deploy, admin*, etc."),
    },
}
ID_DOCS = {USERNAME: "SSH username ID", KEY: "SSH public key ID"}
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "ssh_username_id": (UUID_S, "SSH username ID"),
}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateSshUsername": ("SshUsernameCreateRequest", {
        "username": "SSH username for node access (3-32 characters, must start with letter or"
        " underscore, lowercase letters/digits/hyphens/underscores only)",
        "password": "Optional password for username/password SSH authentication (12-128"
        " characters if provided, will be hashed with Argon2id)",
        "public_keys": "Public keys created together with the username (same rules as"
        " POST /ssh_usernames/{id}/ssh_public_keys)",
    }),
    "CreateSshPublicKey": ("SshPublicKeyCreateRequest", {
        "key_name": "Human-readable name for the SSH key (unique per username)",
        "public_key": "SSH public key in OpenSSH format (algorithm base64data [comment])."
        " Supported algorithms: ssh-ed25519 (recommended), ecdsa-sha2-nistp256,"
        " ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa (at least 2048 bits)",
    }),
    "CheckSshLogin": ("AgentSshVerifyRequest", {
        "username": "The username the SSH client asked for",
        "method": "publickey or password",
        "public_key": "The offered key, one OpenSSH line (method publickey)",
        "password": "The offered password (method password); never stored or logged",
    }),
}
