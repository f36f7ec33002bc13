"""OpenAPI wording for Ssh.SshUsername, Ssh.SshPublicKey and the agent's login check."""

from __future__ import annotations

from application.agent_protocol import CheckSshLogin
from application.ssh_access import CreateSshPublicKey, CreateSshUsername
from entrypoints.http import ssh
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.openapi.schemas import UUID_S, Schema

USERNAME, KEY = "Ssh.SshUsername", "Ssh.SshPublicKey"
TAGS = [USERNAME, KEY]
_KEYS_RULES = (" Keys must be ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of at least"
               " 2048 bits; the base64 data is decoded and checked. A private key, an RFC 4716"
               " key or a truncated one is a 422 saying so.")
_LOGINS = (" Agents check every login against the admin and cache nothing, so the change"
           " applies from the next login; sessions already open stay open.")
_GET, _POST, _DELETE = "GET", "POST", "DELETE"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_POST, "/api/v1/nodes/{node_id}/ssh_usernames"): Op(
        USERNAME, "Create SSH username", 201, "SshUsername", (400, 404, 409, 422),
        CreateSshUsername,
        description="Create a new SSH username for a specific node, optionally with public"
        " keys and/or password. All or nothing: one bad key refuses the whole request (422"
        " naming `public_keys[i].public_key`). The password is hashed with Argon2id (OWASP:"
        " 19 MiB, 2 iterations, 1 lane) and never returned. 409 when the node already has"
        " this username, or when two inline keys are the same key or share a name."
        + _KEYS_RULES),
    (_GET, "/api/v1/ssh_usernames"): Op(
        USERNAME, "List SSH usernames", 200, "SshUsername", (400,), listing=ssh.USERNAMES,
        description="Returns a paginated list of SSH usernames with their public keys."),
    (_GET, "/api/v1/ssh_usernames/{id}"): Op(
        USERNAME, "Get SSH username", 200, "SshUsername", (400, 404),
        description="Get a specific SSH username by ID"),
    (_DELETE, "/api/v1/ssh_usernames/{id}"): Op(
        USERNAME, "Delete SSH username", 204, None, (400, 404),
        description="Delete an SSH username and all associated public keys." + _LOGINS),
    (_POST, "/api/v1/ssh_usernames/{ssh_username_id}/ssh_public_keys"): Op(
        KEY, "Create SSH public key", 201, "SshPublicKey", (400, 404, 409, 422),
        CreateSshPublicKey,
        description="Create a new SSH public key for a specific SSH username. The key must be"
        " in valid OpenSSH format." + _KEYS_RULES + " 409 when this username already has the"
        " same key (same fingerprint) or a key with the same name."),
    (_GET, "/api/v1/ssh_public_keys"): Op(
        KEY, "List SSH public keys", 200, "SshPublicKey", (400,), listing=ssh.KEYS,
        description="Returns a paginated list of SSH public keys."),
    (_GET, "/api/v1/ssh_public_keys/{id}"): Op(
        KEY, "Get SSH public key", 200, "SshPublicKey", (400, 404),
        description="Get a specific SSH public key by ID"),
    (_DELETE, "/api/v1/ssh_public_keys/{id}"): Op(
        KEY, "Delete SSH public key", 204, None, (400, 404),
        description="Delete a specific SSH public key." + _LOGINS),
    (_POST, "/agent/v1/ssh/verify"): Op(
        AGENT, "Check an SSH login", 200, "AgentSshVerdict", (400, 422), CheckSshLogin,
        security=NODE_TOKEN,
        description="The agent's SSH server asks before letting anyone in: is this public key"
        " or password valid for this username on the calling node? Answered from the read"
        " model, recorded as edge.ssh_username.verified (method, outcome and key fingerprint;"
        " never the password). After SSH_LOGIN_MAX_FAILURES failures for one node and"
        " username within SSH_LOGIN_WINDOW_SECONDS, every attempt is refused as"
        " `rate_limited` until older failures leave the window (counted per admin process)."),
}

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
