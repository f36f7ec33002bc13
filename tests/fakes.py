"""Test doubles for ports (never for our own code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


class WholeSecondEngine:
    """What aiodocker's container.log answers from podman 4.3: `<stamp> <message>` lines,
    stamped to the whole second, from `since` (seconds, inclusive) or the last `tail`."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, int, str]] = []  # stream, second, message

    def write(self, stream: str, second: int, message: str) -> None:
        self.lines.append((stream, second, message))

    async def log(self, *, timestamps: bool, stdout: bool, stderr: bool,
                  since: int | None = None, tail: int | None = None) -> list[str]:
        assert timestamps
        wanted = {"stdout"} if stdout else set()
        wanted |= {"stderr"} if stderr else set()
        picked = [(s, sec, m) for s, sec, m in self.lines
                  if s in wanted and (since is None or sec >= since)]
        if tail is not None:
            picked = picked[-tail:]
        return [f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%SZ} {m}\n"
                for _, sec, m in picked]
