"""AES-256-GCM sealing for secrets at rest (webhook secrets and headers)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1:"


def derive_key(material: str) -> bytes:
    """A 32-byte key from configured material: base64 of 32 bytes, or any passphrase."""
    try:
        raw = base64.b64decode(material, validate=True)
    except ValueError:
        raw = b""
    if len(raw) == 32:
        return raw
    return hashlib.sha256(b"edge-admin/secret-box/v1:" + material.encode()).digest()


def key_file(path: str) -> bytes:
    """The embedded default: a random key created once beside the SQLite database."""
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return derive_key(handle.read().decode().strip())
    material = base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(material + "\n")
    return derive_key(material)


class AesGcmBox:
    """seal() -> 'v1:' + base64(nonce || ciphertext+tag); open() refuses anything tampered."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes) -> str:
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, None)
        return PREFIX + base64.b64encode(sealed).decode()

    def open(self, sealed: str) -> bytes:
        if not sealed.startswith(PREFIX):
            raise ValueError("not a sealed value")
        raw = base64.b64decode(sealed[len(PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            raise ValueError("sealed value does not open with this key") from None
