"""A NATS outage is one log line per change (unreachable, connected again), not a traceback per
reconnect attempt: the publisher's connection through the whole outage and its end."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from adapters.nats_publisher import JetStreamPublisher
from domain.event_stream import StreamSettings

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("nats-server") is None, reason="needs nats-server")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_outage_is_one_line_and_its_end_another(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    port = _free_port()
    publisher = JetStreamPublisher(f"nats://127.0.0.1:{port}",
                                   StreamSettings(name=f"T_OUTAGE_{port}",
                                                  subject_prefix=f"t{port}."))

    async def scenario() -> None:
        starting = asyncio.create_task(publisher.start())
        await asyncio.sleep(3.5)  # about three failed attempts
        server = subprocess.Popen(["nats-server", "-p", str(port), "-js", "-sd", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.wait_for(starting, 30)
            assert publisher.connected
        finally:
            await publisher.close()
            server.terminate()
            server.wait(10)

    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert time.monotonic() - started > 3
    ours = [(r.levelname, r.getMessage()) for r in caplog.records
            if "NATS" in r.getMessage() or r.name.startswith("nats")]
    assert [level for level, _ in ours] == ["WARNING", "INFO"], ours
    assert "unreachable" in ours[0][1] and "connected to NATS" in ours[1][1]
    assert not any(r.exc_info for r in caplog.records)
