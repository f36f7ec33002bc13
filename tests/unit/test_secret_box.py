"""The key ring for secrets at rest: the newest key seals, every key opens, values sealed by the
previous release (v1, no key id) still open, anything altered is refused, and sealing no longer
depends on API_KEY/MASTER_KEY (adapters/secret_box.py, bootstrap.build_box)."""

from __future__ import annotations

import base64
import hashlib
import os
import threading

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.pg_secret_key import database_key
from adapters.secret_box import AesGcmBox, derive_key, key_file, key_id
from application.ports import UnsealError
from entrypoints.bootstrap import build_box
from entrypoints.settings import Settings, SettingsError

A, B = base64.b64encode(b"a" * 32).decode(), "passphrase for key b"


def previous_release_seal(material: str, plaintext: bytes) -> str:
    """What the release before key rings stored: 'v1:' + base64(nonce || ciphertext), with the
    key derived from ENCRYPTION_KEY, else MASTER_KEY, else API_KEY, as a passphrase (written
    out here, not imported, so a change to derive_key cannot hide a break)."""
    key = hashlib.sha256(b"edge-admin/secret-box/v1:" + material.encode()).digest()
    nonce = os.urandom(12)
    return "v1:" + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, None)).decode()


def box(url: str = "memory://", **env: str) -> AesGcmBox:
    return build_box(Settings.from_env({"DATABASE_URL": url, **env}))


def test_the_newest_key_seals_and_names_itself() -> None:
    ring = AesGcmBox(derive_key(B), [derive_key(A)])
    sealed = ring.seal(b"hook secret")
    assert sealed.startswith(f"v2:{key_id(derive_key(B))}:")
    assert AesGcmBox(derive_key(B)).open(sealed) == b"hook secret"
    with pytest.raises(UnsealError) as refused:
        AesGcmBox(derive_key(A)).open(sealed)
    assert refused.value.key_id == key_id(derive_key(B))
    assert key_id(derive_key(B)) in str(refused.value)


def test_every_key_of_the_ring_opens() -> None:
    by_a, by_b = AesGcmBox(derive_key(A)).seal(b"one"), AesGcmBox(derive_key(B)).seal(b"two")
    ring = AesGcmBox(derive_key(B), [derive_key(A)])
    assert (ring.open(by_a), ring.open(by_b)) == (b"one", b"two")
    assert ring.key_ids == (key_id(derive_key(B)), key_id(derive_key(A)))


def test_values_of_the_previous_release_open_with_any_key_of_the_ring() -> None:
    old = previous_release_seal("old-api-key", b"whsec")
    assert AesGcmBox(derive_key(A), [derive_key("old-api-key")]).open(old) == b"whsec"
    with pytest.raises(UnsealError, match="earlier release"):
        AesGcmBox(derive_key(A), [derive_key(B)]).open(old)


@pytest.mark.parametrize("alter", ["body", "key id", "version", "truncated", "not base64"])
def test_altered_values_are_refused(alter: str) -> None:
    ring = AesGcmBox(derive_key(A))
    sealed = ring.seal(b"secret")
    prefix, kid, body = sealed.split(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    altered = {
        "body": f"{prefix}:{kid}:{base64.b64encode(bytes(raw)).decode()}",
        "key id": f"{prefix}:{'0' * 8}:{body}",
        "version": f"v9:{kid}:{body}",
        "truncated": f"{prefix}:{kid}:{base64.b64encode(raw[:20]).decode()}",
        "not base64": f"{prefix}:{kid}:{body[:-4]}!!!!",
    }[alter]
    with pytest.raises(UnsealError):
        ring.open(altered)
    assert ring.open(sealed) == b"secret"


def test_rotation_a_then_b_a_then_b() -> None:
    """The documented procedure: A; then B,A (B seals, A still opens); then B alone, where
    what A sealed fails loudly, naming A's key id."""
    by_a = box(ENCRYPTION_KEY=A).seal(b"sealed under A")
    rotated = box(ENCRYPTION_KEY=f"{B}, {A}")
    by_b = rotated.seal(b"sealed under B")
    assert by_b.startswith(f"v2:{key_id(derive_key(B))}:")
    assert rotated.open(by_a) == b"sealed under A"
    only_b = box(ENCRYPTION_KEY=B)
    assert only_b.open(by_b) == b"sealed under B"
    with pytest.raises(UnsealError) as refused:
        only_b.open(by_a)
    assert refused.value.key_id == key_id(derive_key(A))


def test_sealing_does_not_depend_on_the_api_keys(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/edge.sqlite3"
    sealed = box(url, API_KEY="k1", MASTER_KEY="m1").seal(b"whsec")
    assert box(url, API_KEY="k2").open(sealed) == b"whsec"


def test_the_previous_api_key_listed_as_a_passphrase_opens_what_it_sealed() -> None:
    """The previous release sealed with a key derived from MASTER_KEY, else API_KEY. While
    those are unchanged they still open; after a change, listing the old key in
    ENCRYPTION_KEY (after the new sealing key) does."""
    old_api, old_master = previous_release_seal("k1", b"a"), previous_release_seal("m1", b"m")
    unchanged = box(API_KEY="k1", MASTER_KEY="m1")
    assert (unchanged.open(old_api), unchanged.open(old_master)) == (b"a", b"m")
    changed = box(API_KEY="k2")
    with pytest.raises(UnsealError):
        changed.open(old_api)
    listed = box(API_KEY="k2", ENCRYPTION_KEY=f"{A},k1,m1")
    assert (listed.open(old_api), listed.open(old_master)) == (b"a", b"m")
    assert listed.sealing_key_id == key_id(derive_key(A))


def test_a_generated_api_key_is_not_a_key_of_the_ring() -> None:
    settings = Settings.from_env({"DATABASE_URL": "memory://"})
    assert settings.generated_api_key
    ring = build_box(settings)
    assert key_id(derive_key(settings.api_key)) not in ring.key_ids


def test_an_encryption_key_of_the_previous_release_with_commas_still_opens() -> None:
    old = previous_release_seal("one, two", b"whsec")
    assert box(ENCRYPTION_KEY="one, two").open(old) == b"whsec"


def test_an_encryption_key_without_a_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY"):
        Settings.from_env({"DATABASE_URL": "memory://", "ENCRYPTION_KEY": " , "})


def test_the_stored_default_key_still_opens_once_encryption_key_is_set(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/edge.sqlite3"
    sealed = box(url).seal(b"before ENCRYPTION_KEY")
    configured = box(url, ENCRYPTION_KEY=A)
    assert configured.open(sealed) == b"before ENCRYPTION_KEY"
    assert configured.sealing_key_id == key_id(derive_key(A))
    assert configured.seal(b"x").startswith(f"v2:{key_id(derive_key(A))}:")


def test_postgres_keeps_one_key_even_when_processes_start_at_once(pg_url: str) -> None:
    conninfo, schema = pg_url.split("?schema=")
    assert database_key(conninfo, schema, create=False) is None
    keys: list[bytes | None] = []
    start = threading.Barrier(4)

    def first_start() -> None:
        start.wait()
        keys.append(database_key(conninfo, schema))

    threads = [threading.Thread(target=first_start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 4 and len(set(keys)) == 1 and keys[0] is not None
    assert database_key(conninfo, schema, create=False) == keys[0]


def test_postgres_default_key_survives_an_api_key_change(pg_url: str) -> None:
    sealed = box(pg_url, API_KEY="k1").seal(b"whsec")
    assert box(pg_url, API_KEY="k2").open(sealed) == b"whsec"
    assert box(pg_url, API_KEY="k2", ENCRYPTION_KEY=A).open(sealed) == b"whsec"


def test_processes_starting_at_once_on_sqlite_share_one_key_file(tmp_path: object) -> None:
    path = f"{tmp_path}/edge.sqlite3.key"
    keys: list[bytes | None] = []
    start = threading.Barrier(16)

    def first_start() -> None:
        start.wait()
        keys.append(key_file(path))

    threads = [threading.Thread(target=first_start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 16 and len(set(keys)) == 1 and keys[0] is not None
    assert os.listdir(f"{tmp_path}") == ["edge.sqlite3.key"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
