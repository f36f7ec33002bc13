"""AES-256-GCM sealing for secrets at rest, over a key ring so keys can be rotated.

The newest key seals; every key of the ring opens. A value names the key that sealed it
('v2:<key id>:...'), so opening tries that key alone and a missing key is reported by its id.
Values sealed before key ids ('v1:...') are opened by trying every key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import UnsealError

V1, V2 = "v1:", "v2:"
NONCE, TAG = 12, 16


def derive_key(material: str) -> bytes:
    """A 32-byte key from configured material: base64 of 32 bytes, or any passphrase."""
    try:
        raw = base64.b64decode(material, validate=True)
    except ValueError:
        raw = b""
    if len(raw) == 32:
        return raw
    return hashlib.sha256(b"edge-admin/secret-box/v1:" + material.encode()).digest()


def key_id(key: bytes) -> str:
    """What a sealed value names its key by: 32 bits of a hash, enough to pick among a few."""
    return hashlib.sha256(key).hexdigest()[:8]


def new_key_material() -> str:
    """A random key in the form ENCRYPTION_KEY takes (base64 of 32 bytes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def key_file(path: str, create: bool = True) -> bytes | None:
    """The SQLite default: a random key kept beside the database, created once (unless
    `create` is False: then None when there is none)."""
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return derive_key(handle.read().decode().strip())
    if not create:
        return None
    # Written aside, then linked into place: a process starting at the same moment finds either
    # no file or a whole one, and the first link wins.
    spare = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_material() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(spare, path)
    finally:
        os.unlink(spare)
    return key_file(path, create=False)


class AesGcmBox:
    """seal() -> 'v2:<key id>:' + base64(nonce || ciphertext+tag) with the sealing key;
    open() takes that form or the older 'v1:' + base64(...), and refuses anything altered.
    `unseal_only` keys open what they sealed before (older keys, the previous release's)."""

    def __init__(self, key: bytes, unseal_only: Iterable[bytes] = ()) -> None:
        self._ring: list[tuple[str, AESGCM]] = []
        seen: set[bytes] = set()
        for each in (key, *unseal_only):
            if each not in seen:
                seen.add(each)
                self._ring.append((key_id(each), AESGCM(each)))
        self.sealing_key_id = self._ring[0][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ring's key ids, the sealing one first (never the keys)."""
        return tuple(kid for kid, _ in self._ring)

    def seal(self, plaintext: bytes) -> str:
        kid, aead = self._ring[0]
        nonce = secrets.token_bytes(NONCE)
        sealed = nonce + aead.encrypt(nonce, plaintext, None)
        return f"{V2}{kid}:{base64.b64encode(sealed).decode()}"

    def open(self, sealed: str) -> bytes:
        if sealed.startswith(V2):
            kid, _, body = sealed[len(V2):].partition(":")
            keys = [aead for each, aead in self._ring if each == kid]
            if not keys:
                raise UnsealError(f"sealed with key {kid}, which is not among this process's "
                                  "keys", kid)
            opened = _first_open(keys, _raw(body))
            if opened is None:
                raise UnsealError(f"does not open with key {kid}: altered or corrupt", kid)
            return opened
        if sealed.startswith(V1):
            opened = _first_open([aead for _, aead in self._ring], _raw(sealed[len(V1):]))
            if opened is None:
                raise UnsealError("sealed by an earlier release with a key not among this "
                                  "process's keys (that release derived it from its "
                                  "ENCRYPTION_KEY, else MASTER_KEY, else API_KEY)")
            return opened
        raise UnsealError("not a sealed value")


def _raw(body: str) -> bytes:
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise UnsealError("not a sealed value") from None
    if len(raw) < NONCE + TAG:
        raise UnsealError("not a sealed value")
    return raw


def _first_open(keys: list[AESGCM], raw: bytes) -> bytes | None:
    for aead in keys:
        try:
            return aead.decrypt(raw[:NONCE], raw[NONCE:], None)
        except InvalidTag:
            continue
    return None
