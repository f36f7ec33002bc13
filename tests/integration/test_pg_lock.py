"""A process's advisory locks share one connection (its LockSession): taken and given up one by
one, exclusive between sessions, all lost together if the connection goes, and retried."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from adapters.pg_lock import AdvisoryLock, LockSession
from entrypoints.bootstrap import build_lock
from tests.conftest import PG_BASE, make_settings

pytestmark = pytest.mark.integration
CHECK = 0.3  # seconds a session that answered counts as alive, in these tests


def backends(app_name: str) -> list[int]:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (app_name,)).fetchall()
    return [pid for (pid,) in rows]


@pytest.fixture
def sessions(pg_url: str) -> Iterator[tuple[LockSession, LockSession]]:
    one, two = (LockSession(PG_BASE, f"t{uuid.uuid4().hex[:10]}:locks", check_every=CHECK)
                for _ in range(2))
    yield one, two
    one.close()
    two.close()


def test_one_connection_holds_every_lock_of_a_process(
    sessions: tuple[LockSession, LockSession]
) -> None:
    one, two = sessions
    names = [f"{role}:{uuid.uuid4()}" for role in ("projector", "relay", "scheduler", "admin")]
    mine = [one.lock(name) for name in names]
    assert all(lock.held() for lock in mine)
    assert all(lock.held() for lock in mine)  # asking again neither stacks nor reconnects
    assert len(backends(one.application_name)) == 1
    theirs = [two.lock(name) for name in names]
    assert not any(lock.held() for lock in theirs)

    mine[0].release()
    assert theirs[0].held() and not mine[0].held()
    assert len(backends(one.application_name)) == 1  # three locks still held on it
    for lock in mine[1:]:
        lock.release()
    assert backends(one.application_name) == []  # the last release closes the session
    assert all(lock.held() for lock in theirs)


def test_a_lost_connection_loses_every_lock_and_they_are_taken_again(
    sessions: tuple[LockSession, LockSession]
) -> None:
    one, two = sessions
    names = [f"projector:{uuid.uuid4()}", f"relay:{uuid.uuid4()}"]
    mine = [one.lock(name) for name in names]
    assert all(lock.held() for lock in mine)
    [pid] = backends(one.application_name)
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # Within check_every of its last answer the session is not asked again; then it is.
    assert mine[0].held()
    time.sleep(CHECK + 0.05)
    assert not mine[0].held()  # the failed check drops the session: both locks went with it
    assert all(two.lock(name).held() for name in names)
    two.close()
    assert all(lock.held() for lock in mine)  # retried on a new connection


def test_two_spellings_of_one_database_take_one_lock(pg_url: str) -> None:
    # The lock was named by DATABASE_URL's text: a process on "localhost" and one on
    # "127.0.0.1" (or with one more parameter) both led: both relays published every event.
    spelled = pg_url.replace("127.0.0.1", "localhost") + "&connect_timeout=9"
    assert spelled != pg_url
    first, second = (build_lock(make_settings(url), "relay") for url in (pg_url, spelled))
    assert isinstance(first, AdvisoryLock) and isinstance(second, AdvisoryLock)
    try:
        assert first.held()
        assert not second.held()
        first.release()
        assert second.held() and not first.held()
    finally:
        first.release()
        second.release()
        for lock in (first, second):
            lock.session.close()


def test_a_process_of_an_earlier_release_still_excludes_this_one(pg_url: str) -> None:
    # Earlier releases named the lock "relay:<DATABASE_URL>": during an upgrade both kinds run.
    earlier = LockSession(PG_BASE, f"t{uuid.uuid4().hex[:10]}:locks", check_every=CHECK)
    old = earlier.lock(f"relay:{pg_url}")
    lock = build_lock(make_settings(pg_url), "relay")
    assert isinstance(lock, AdvisoryLock)
    try:
        assert old.held()
        assert not lock.held()
        assert not lock.held()  # asked again: still refused, and nothing left half-taken
        old.release()
        assert lock.held()
        assert not old.held()
    finally:
        lock.release()
        earlier.close()
        lock.session.close()
