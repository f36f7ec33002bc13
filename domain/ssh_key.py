"""OpenSSH public keys: parsed and checked here, so a key the agent could never match is refused
at the API instead of silently never working.

Only the wire format is checked (RFC 4253 / 5656 / 8709 shapes and sizes); whether an ECDSA point
lies on its curve is left to the SSH server that later verifies a signature with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from domain.shared import InvalidValueError

ALGORITHMS = (
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
)
# The seed's pattern for SshPublicKeyCreateRequest.public_key.
PUBLIC_KEY_PATTERN = (
    r"^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\s+([A-Za-z0-9+/]+=*)\s*(.*)$"
)
_LINE = re.compile(PUBLIC_KEY_PATTERN, re.DOTALL)
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
MAX_KEY_TEXT = 16384
# Uncompressed point sizes (0x04 || X || Y) per curve.
_EC_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
FIELD = "public_key"


@dataclass(frozen=True)
class SshKey:
    """A checked public key: `text` is the normalised one-line form that is stored and shown."""

    algorithm: str
    text: str
    fingerprint: str
    bits: int


def _fail(message: str) -> InvalidValueError:
    return InvalidValueError(message, FIELD)


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (`ssh-keygen -l`): unpadded base64 of the blob's digest."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class _Reader:
    """Reads the length-prefixed strings and mpints of the SSH wire format."""

    def __init__(self, blob: bytes) -> None:
        self.blob, self.pos = blob, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.blob):
            raise _fail("is not a valid OpenSSH public key (truncated key data)")
        size = int.from_bytes(self.blob[self.pos : self.pos + 4], "big")
        start, self.pos = self.pos + 4, self.pos + 4 + size
        if self.pos > len(self.blob):
            raise _fail("is not a valid OpenSSH public key (truncated key data)")
        return self.blob[start : self.pos]

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def end(self) -> None:
        if self.pos != len(self.blob):
            raise _fail("is not a valid OpenSSH public key (unexpected trailing key data)")


def _check_private(text: str) -> None:
    if "PRIVATE KEY" in text:
        raise _fail("is a private key; send the public key (the .pub file), and keep the "
                    "private key secret")
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY"):
        raise _fail("must be in OpenSSH format (algorithm base64data [comment]), not RFC 4716; "
                    "convert it with ssh-keygen -i -f KEY")


def _bits(algorithm: str, reader: _Reader) -> int:
    if algorithm == "ssh-ed25519":
        if len(reader.string()) != 32:
            raise _fail("is not a valid ssh-ed25519 key (the key must be 32 bytes)")
        return 256
    if algorithm.startswith("ecdsa-sha2-"):
        curve = algorithm.removeprefix("ecdsa-sha2-")
        if reader.string() != curve.encode():
            raise _fail(f"is not a valid {algorithm} key (wrong curve name in the key data)")
        point = reader.string()
        if len(point) != _EC_POINT[curve] or point[0] != 4:
            raise _fail(f"is not a valid {algorithm} key (malformed curve point)")
        return int(curve.removeprefix("nistp"))
    exponent, modulus = reader.mpint(), reader.mpint()
    if exponent < 3 or exponent % 2 == 0 or modulus <= 0:
        raise _fail("is not a valid ssh-rsa key (bad exponent or modulus)")
    bits = modulus.bit_length()
    if bits < MIN_RSA_BITS:
        raise _fail(f"is an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required")
    if bits > MAX_RSA_BITS:
        raise _fail(f"is an RSA key of {bits} bits; at most {MAX_RSA_BITS} are accepted")
    return bits


def parse_public_key(raw: str) -> SshKey:
    """Checks one OpenSSH public key line; raises InvalidValueError on `public_key`."""
    text = raw.strip()
    _check_private(text)
    if len(text) > MAX_KEY_TEXT:
        raise _fail(f"should be at most {MAX_KEY_TEXT} character(s)")
    if "\n" in text or "\r" in text:
        raise _fail("must be a single line (one key per request)")
    found = _LINE.match(text)
    if found is None:
        raise _fail("must be an OpenSSH public key: algorithm base64data [comment], with "
                    f"algorithm one of {', '.join(ALGORITHMS)}")
    algorithm, data, comment = found.group(1), found.group(2), found.group(3).strip()
    try:
        blob = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise _fail("is not a valid OpenSSH public key (bad base64 data)") from None
    reader = _Reader(blob)
    declared = reader.string()
    if declared != algorithm.encode():
        raise _fail(f"says {algorithm} but its key data is of type "
                    f"{declared.decode('ascii', 'replace')!r}")
    bits = _bits(algorithm, reader)
    reader.end()
    normalised = base64.b64encode(blob).decode()
    line = f"{algorithm} {normalised}" + (f" {comment}" if comment else "")
    return SshKey(algorithm, line, fingerprint(blob), bits)


def key_fingerprint(raw: str) -> str:
    """Fingerprint of any OpenSSH public key line, supported algorithm or not (login checks)."""
    parts = raw.split()
    if len(parts) < 2:
        raise _fail("must be an OpenSSH public key: algorithm base64data [comment]")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII at all
        raise _fail("is not a valid OpenSSH public key (bad base64 data)") from None
    if _Reader(blob).string() != parts[0].encode():
        raise _fail("names another algorithm than its key data")
    return fingerprint(blob)
