"""The agent's calls over a kept connection the other side closes as a request goes out (the
admin, or a proxy between with a shorter idle timeout): sent once more on a new connection,
except an enrollment, which a second sending could make a second node of. The other side is a
small HTTP server that answers the first request of each connection and closes the
connection at the second without answering."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import uuid

import httpx
import pytest

from entrypoints.agent.api import AgentApi, Unreachable
from entrypoints.agent.identity import Identity

NODE = uuid.uuid4()
REPLY = {"node_id": str(NODE), "api_token": "t", "status": "healthy",
         "heartbeat_interval_seconds": 10.0}


class ClosingServer:
    """Answers a connection's first request; closes it at the second, unanswered (`reset`:
    with a TCP reset, as a socket closed with unread data does)."""

    def __init__(self, reset: bool) -> None:
        self.connections, self.reset = 0, reset
        self.requests: list[str] = []

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for served in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                self.requests.append(head.split(b" ")[1].decode())
                if served == 1:  # the second: closed without an answer
                    if self.reset:
                        writer.get_extra_info("socket").setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                body = json.dumps({"data": REPLY}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


async def two_calls(second: str, reset: bool = False
                    ) -> tuple[ClosingServer, BaseException | None]:
    server = ClosingServer(reset)
    listening = await asyncio.start_server(server.client, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    failure: BaseException | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            api = AgentApi(client)
            await api.heartbeat("t", "healthy")  # opens the connection, which is then kept
            try:
                if second == "heartbeat":
                    reply = await api.heartbeat("t", "healthy")
                    assert reply.node_id == NODE
                else:
                    await api.enroll("key", Identity(id_type="random", node_id=None),
                                     "1.0.0", False)
            except Unreachable as exc:
                failure = exc
    finally:
        listening.close()
        await listening.wait_closed()
    return server, failure


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_report_is_sent_again_on_a_new_connection(reset: bool) -> None:
    server, failure = asyncio.run(two_calls("heartbeat", reset))
    assert failure is None
    assert server.requests == ["/agent/v1/heartbeat"] * 3
    assert server.connections == 2


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_an_enrollment_is_not_sent_twice(reset: bool) -> None:
    server, failure = asyncio.run(two_calls("enroll", reset))
    assert isinstance(failure, Unreachable)
    assert server.requests == ["/agent/v1/heartbeat", "/agent/v1/enroll"]
    assert server.connections == 1


def test_a_call_whose_second_sending_fails_too_is_unreachable() -> None:
    """A server that never answers: the call is sent twice, then Unreachable."""

    async def run() -> tuple[int, BaseException | None]:
        served = 0

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            try:
                await reader.readuntil(b"\r\n\r\n")
                served += 1
            except asyncio.IncompleteReadError:
                pass
            writer.close()  # never answers

        listening = await asyncio.start_server(client, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=5) as http:
                try:
                    await AgentApi(http).heartbeat("t", "healthy")
                except Unreachable as exc:
                    return served, exc
                return served, None
        finally:
            listening.close()
            await listening.wait_closed()

    served, failure = asyncio.run(run())
    assert isinstance(failure, Unreachable)
    assert served == 2
