"""Two admins on one database take lines of one deployment at once (an agent that sent a batch
again to the other admin after its answer was lost; its progress lines split between them):
each batch's lines get numbers of their own, consecutive, and no line is lost, on PostgreSQL
and SQLite. The append read the deployment's last number, then wrote, holding nothing between:
both batches got the same numbers, and the later overwrote the earlier's lines. A batch that
says where it starts is taken once, whichever admin takes it first."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.node_reports import ViewNodeReports
from application.container_telemetry import MAX_PROGRESS
from entrypoints.bootstrap import Services, build_services
from projections.model import Upsert
from tests.conftest import make_settings
from tests.integration.test_pg_races import shut

pytestmark = pytest.mark.integration
AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
ROUNDS = 20


@pytest.fixture(params=["sqlite", "postgres"])
def admins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Services]]:
    """Two admins' services on one database (each its own connections)."""
    url = (f"sqlite:///{tmp_path}/edge.sqlite3" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    built: list[Services] = []
    try:
        for _ in range(2):
            built.append(build_services(make_settings(url)))
        yield built
    finally:
        for services in built:
            shut(services)


def together(admins: list[Services], work: Callable[[int, Services, int], None]) -> None:
    """work(which, services, round) on one thread per admin, each round started together."""
    barrier = threading.Barrier(len(admins))

    def one(which: int) -> None:
        for round_ in range(ROUNDS):
            barrier.wait(30)  # a thread that failed leaves the other broken here, not stuck
            work(which, admins[which], round_)

    with ThreadPoolExecutor(len(admins)) as pool:
        for done in [pool.submit(one, i) for i in range(len(admins))]:
            done.result(120)

def test_batches_taken_at_once_by_two_admins_get_numbers_of_their_own(
    admins: list[Services],
) -> None:
    request_id = uuid.uuid4().hex[:12]
    per_batch = 5
    answered: dict[tuple[int, int], int] = {}

    def ship(which: int, services: Services, round_: int) -> None:
        # A round's two batches share their stamp: neither is older than the other's last
        # line (which the admin would drop as shipped before).
        stamp = AT + timedelta(seconds=round_)
        lines = [{"stream": "stdout", "timestamp": stamp, "message": f"{which}.{round_}.{i}",
                  "masked": False} for i in range(per_batch)]
        answered[which, round_] = services.runtime_logs.store.append(request_id, lines, AT)

    together(admins, ship)
    total = 2 * ROUNDS * per_batch
    rows = admins[0].runtime_logs.read(request_id, 0, 1000, None)
    assert [r["sequence"] for r in rows] == list(range(1, total + 1))
    numbered = {r["message"]: r["sequence"] for r in rows}
    assert len(numbered) == total
    for (which, round_), last in answered.items():
        assert [numbered[f"{which}.{round_}.{i}"] for i in range(per_batch)] == list(
            range(last - per_batch + 1, last + 1))
    assert admins[1].runtime_logs.heads([request_id]) == {request_id: total}


def test_a_batch_sent_again_to_the_other_admin_at_once_is_taken_once(
    admins: list[Services],
) -> None:
    """Each round the agent's batch reaches both admins at once (sent again to the other, its
    answer lost), saying where it starts (each line's place among its stamp's): whichever
    takes it first, its lines are stored once, numbered in order."""
    request_id = uuid.uuid4().hex[:12]
    per_batch = 5

    def ship(which: int, services: Services, round_: int) -> None:
        stamp = AT + timedelta(seconds=round_)
        lines = [{"stream": "stdout", "timestamp": stamp, "message": f"{round_}.{i}",
                  "masked": False} for i in range(per_batch)]
        services.runtime_logs.store.append(request_id, lines, AT, range(1, per_batch + 1))

    together(admins, ship)
    rows = admins[0].runtime_logs.read(request_id, 0, 1000, None)
    assert [(r["sequence"], r["message"]) for r in rows] == [
        (n * per_batch + i + 1, f"{n}.{i}") for n in range(ROUNDS) for i in range(per_batch)]


def test_progress_lines_taken_at_once_by_two_admins_are_numbered_and_bounded(
    admins: list[Services],
) -> None:
    """Progress lines are numbered as they are committed (what an events stream follows), and
    the bound on them holds: it was counted, then written, holding nothing between."""
    request_id = uuid.uuid4().hex[:12]
    recorded: dict[str, bool] = {}

    def say(which: int, services: Services, round_: int) -> None:
        reports = ViewNodeReports(services.view)
        for i in range(2):
            message = f"{which}.{round_}.{i}"
            recorded[message] = reports.progress({
                "id": uuid.uuid4(), "request_id": request_id, "at": AT, "phase": "start",
                "level": "info", "message": message}, MAX_PROGRESS)

    together(admins, say)
    assert 2 * 2 * ROUNDS > MAX_PROGRESS
    lines = admins[1].resource_reads.progress(request_id)
    assert [p.sequence for p in lines] == list(range(1, MAX_PROGRESS + 1))
    assert sorted(p.message for p in lines) == sorted(m for m, kept in recorded.items() if kept)
    assert admins[0].resource_reads.progress_marks([request_id]) == {request_id: MAX_PROGRESS}


def test_lines_an_earlier_release_stored_unnumbered_are_numbered_with_the_next(
    admins: list[Services],
) -> None:
    """An admin of the release before numbering, still running while this one migrated, stores
    progress lines with no number. The next line of the deployment failed (None + 1), and so
    did every look at the deployment's progress marks (every open stream of the process);
    now the unnumbered lines are numbered, in their order, before it."""
    old, new = admins
    request_id = uuid.uuid4().hex[:12]
    reports = ViewNodeReports(new.view)

    def line(message: str, at: datetime) -> dict[str, object]:
        return {"id": uuid.uuid4(), "request_id": request_id, "at": at, "phase": "pull",
                "level": "info", "message": message}

    assert reports.progress(line("numbered", AT), MAX_PROGRESS)
    old.view.apply_untracked([
        Upsert("deployment_progress", {**line(f"unnumbered {n}", AT + timedelta(seconds=n)),
                                       "sequence": None}) for n in (1, 2)])
    assert new.resource_reads.progress_marks([request_id]) == {request_id: 1}
    assert reports.progress(line("next", AT + timedelta(seconds=3)), MAX_PROGRESS)
    lines = old.resource_reads.progress(request_id)
    assert [(p.sequence, p.message) for p in lines] == [
        (1, "numbered"), (2, "unnumbered 1"), (3, "unnumbered 2"), (4, "next")]
    assert new.resource_reads.progress(request_id, 2)[0].message == "unnumbered 2"
    assert new.resource_reads.progress_marks([request_id]) == {request_id: 4}


def test_places_left_by_an_earlier_release_moving_the_head_on_are_not_trusted(
    admins: list[Services],
) -> None:
    """An admin of the release before places, still running while this one migrated, moves a
    deployment's head to a later stamp and leaves the places of the earlier one: the next
    batch's lines of the later stamp are new, not the ones those places counted."""
    old, new = admins
    request_id = uuid.uuid4().hex[:12]

    def line(message: str, at: datetime) -> dict[str, object]:
        return {"stream": "stdout", "timestamp": at, "message": message, "masked": False}

    assert new.runtime_logs.store.append(
        request_id, [line("a1", AT), line("a2", AT)], AT, [1, 2]) == 2
    later = AT + timedelta(seconds=1)
    old.view.apply_untracked([Upsert("runtime_log_heads", {
        "request_id": request_id, "last_sequence": 3, "last_timestamp": later,
        "updated_at": later})])  # its line "b" itself left out: only the head matters here
    # "c" follows "b" in its second: its place is 2, which the places left counted at AT.
    assert new.runtime_logs.store.append(request_id, [line("c", later)], later, [2]) == 4
