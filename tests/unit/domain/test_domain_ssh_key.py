"""OpenSSH public key parsing: agrees with asyncssh on real keys, refuses the rest clearly."""

from __future__ import annotations

import base64

import asyncssh
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.shared import InvalidValueError
from domain.ssh_key import MIN_RSA_BITS, key_fingerprint, parse_public_key

REAL = [("ssh-ed25519", {}), ("ecdsa-sha2-nistp256", {}), ("ecdsa-sha2-nistp384", {}),
        ("ecdsa-sha2-nistp521", {}), ("ssh-rsa", {"key_size": 2048}),
        ("ssh-rsa", {"key_size": 3072})]


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
    return _string(raw)


def _line(blob: bytes, algorithm: str = "ssh-rsa") -> str:
    return f"{algorithm} {base64.b64encode(blob).decode()}"


@pytest.mark.parametrize(("algorithm", "options"), REAL)
def test_real_keys_parse_with_asyncssh_fingerprints(
    algorithm: str, options: dict[str, int]
) -> None:
    key = asyncssh.generate_private_key(algorithm, comment="ops@example.com", **options)
    text = key.export_public_key("openssh").decode()
    parsed = parse_public_key("  " + text.replace(" ", "   ") + "\n")
    assert parsed.algorithm == algorithm
    assert parsed.fingerprint == key.get_fingerprint("sha256")
    assert parsed.text == text.strip()
    assert key_fingerprint(parsed.text) == parsed.fingerprint
    assert parse_public_key(parsed.text) == parsed, "normalising twice changes nothing"
    assert asyncssh.import_public_key(parsed.text).get_fingerprint("sha256") == parsed.fingerprint


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1024, max_value=4096))
def test_rsa_keys_need_2048_bits(bits: int) -> None:
    modulus = (1 << (bits - 1)) | 1
    blob = _string(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)
    if bits >= MIN_RSA_BITS:
        assert parse_public_key(_line(blob)).bits == bits
    else:
        with pytest.raises(InvalidValueError, match=f"{bits} bits"):
            parse_public_key(_line(blob))


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_text_is_accepted_or_refused_on_public_key(text: str) -> None:
    try:
        parsed = parse_public_key(text)
    except InvalidValueError as exc:
        assert exc.field == "public_key" and exc.message
    else:
        assert parsed.fingerprint.startswith("SHA256:")


@settings(max_examples=200)
@given(st.binary(max_size=200), st.sampled_from(["ssh-ed25519", "ecdsa-sha2-nistp256",
                                                 "ssh-rsa"]))
def test_any_key_data_is_accepted_or_refused_on_public_key(blob: bytes, algorithm: str) -> None:
    for data in (blob, _string(algorithm.encode()) + blob):
        try:
            parse_public_key(_line(data, algorithm))
        except InvalidValueError as exc:
            assert exc.field == "public_key"


def test_mutated_real_keys_are_refused() -> None:
    ed = asyncssh.generate_private_key("ssh-ed25519").public_data
    ec = asyncssh.generate_private_key("ecdsa-sha2-nistp256").public_data
    cases = {
        _line(ed + b"\0", "ssh-ed25519"): "trailing",
        _line(ed[:-1], "ssh-ed25519"): "truncated",
        _line(ec[:-1], "ecdsa-sha2-nistp256"): "truncated",
        _line(ec.replace(b"nistp256", b"nistp384"), "ecdsa-sha2-nistp384"): "malformed curve",
        _line(ec.replace(b"\0\0\0\x08nistp256", b"\0\0\0\x08nistp384"),
              "ecdsa-sha2-nistp256"): "wrong curve name",
        _line(ed, "ssh-rsa"): "key data is of type 'ssh-ed25519'",
        _line(_string(b"ssh-rsa") + _mpint(4) + _mpint(1 << 2048)): "bad exponent",
    }
    for text, reason in cases.items():
        with pytest.raises(InvalidValueError, match=reason):
            parse_public_key(text)


def test_private_and_foreign_formats_are_named() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    for private in (key.export_private_key("openssh"), key.export_private_key("pkcs8-pem")):
        with pytest.raises(InvalidValueError, match="private key"):
            parse_public_key(private.decode())
    with pytest.raises(InvalidValueError, match="RFC 4716"):
        parse_public_key(key.export_public_key("rfc4716").decode())
    with pytest.raises(InvalidValueError, match="ssh-ed25519, ecdsa"):
        parse_public_key("ssh-dss AAAAB3NzaC1kc3MAAACBAP==")


def test_login_fingerprints_accept_any_algorithm_but_not_garbage() -> None:
    dss_like = _line(_string(b"ssh-dss") + b"xyz", "ssh-dss")
    assert key_fingerprint(dss_like).startswith("SHA256:")
    for bad in ("", "ssh-ed25519", "ssh-ed25519 !!!", "ssh-ed25519 AAAé",
                _line(_string(b"ssh-rsa"), "ssh-dss")):
        with pytest.raises(InvalidValueError):
            key_fingerprint(bad)
