"""Where a lookup by message id hashes (application/event_log.not_indexed): past the relay's
recorded position, and the range the filling of older events has not reached; never what the
filling did, where every public event is in the index."""

from __future__ import annotations

import pytest

from application.event_log import not_indexed


@pytest.mark.parametrize(("filled", "until", "relayed", "ranges"), [
    (0, 0, 0, [(1, None)]),  # a fresh database: everything is the relay's
    (0, 0, 40, [(41, None)]),  # the filling done (none needed): the relay's lag
    (100, 100, 40, [(101, None)]),  # done: everything up to it is in, whatever the relay says
    (10, 100, 40, [(11, None)]),  # an upgrade: the relay behind the filling's end, one range
    (10, 100, 100, [(11, None)]),  # they meet
    (10, 100, 250, [(251, None), (11, 100)]),  # apart: the newest events first
])
def test_the_ranges_a_lookup_hashes(
    filled: int, until: int, relayed: int, ranges: list[tuple[int, int | None]]
) -> None:
    assert [(w.low, w.high) for w in not_indexed(filled, until, relayed)] == ranges
