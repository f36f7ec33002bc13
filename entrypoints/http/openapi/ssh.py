"""OpenAPI wording for Ssh.SshUsername, Ssh.SshPublicKey and the agent's login check."""

from __future__ import annotations

from entrypoints.http.openapi.schemas import UUID_S, Schema

USERNAME, KEY = "Ssh.SshUsername", "Ssh.SshPublicKey"
TAGS = [USERNAME, KEY]
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
