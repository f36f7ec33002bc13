"""The event-sourced floor: the ceiling's stack plus eventsourcing's own Application and
PostgreSQL recorder, doing the least an event-sourced write can do.

`POST /rows` creates one aggregate whose one event holds the JSON body, saves it durably with
eventsourcing 9.5.6 as it comes (its JSON transcoder, its recorder: `LOCK TABLE … IN EXCLUSIVE
MODE` so notification ids commit in order, then the insert), and answers 201 from the decided
state: no read model, no read back, no validation. Two ways to save:

- `--batch` (bench.suite's "es floor"): one writer thread saves whatever queued while it saved
  the last batch, in one `Application.save(*aggregates)`: the least a group commit can be;
- one save per request in Starlette's thread pool (bench.suite's "es per request"): every
  request takes the table lock for its own commit.

bench.suite runs it in the same run as the ceiling (bench/ceiling.py) and our service. The
ceiling says what a plain durable insert costs on this machine; this says what event sourcing
itself adds to it on the same stack (the table lock, the event's encoding, the hand-off to the
writer); what stands between this floor and our figures is ours: decoding and checking the
request, resolving targets, deciding, the read model in the commit, the answer.

Run alone: .venv/bin/python -m bench.es_floor --port 8098 --schema S [--batch]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import uvicorn
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

POOL_SIZE = 16  # as the ceiling's pool


class Row(Aggregate):
    """One POST: created with its body, never changed."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class Rows(Application[UUID]):
    """Names the event table: rows_events in the given schema."""


Pending = tuple[Row, "asyncio.Future[None]"]


class Writer:
    """Saves what queued while the last save ran, in one transaction, and wakes the loop once
    a batch. The queue's None ends the thread."""

    def __init__(self, app: Rows, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.loop = app, loop
        self.queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="es-floor-writer", daemon=True)
        self.thread.start()

    def submit(self, row: Row) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self.loop.create_future()
        self.queue.put((row, future))
        return future

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(10)

    def _run(self) -> None:
        while (first := self.queue.get()) is not None:
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while (more := self.queue.get_nowait()) is not None:
                    batch.append(more)
                self.queue.put(None)  # the end came with the batch: keep it for the loop
            error: Exception | None = None
            try:
                self.app.save(*(row for row, _ in batch))
            except Exception as exc:  # noqa: BLE001 - every waiter of the batch is told
                error = exc
            self.loop.call_soon_threadsafe(_settle, batch, error)


def _settle(batch: list[Pending], error: Exception | None) -> None:
    for _, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def create_app(env: dict[str, str], batch: bool) -> Starlette:
    app = Rows(env=env)
    writer: list[Writer] = []

    async def insert(request: Request) -> Response:
        body = json.loads(await request.body())
        row = Row(body)
        if writer:
            await writer[0].submit(row)
        else:
            await run_in_threadpool(app.save, row)
        return JSONResponse({"data": {"id": str(row.id), "body": body}}, status_code=201)

    async def fetch(request: Request) -> Response:
        """Only so a harness can tell it answers: the floor measures writes."""
        try:
            UUID(request.path_params["id"])
        except ValueError:
            return JSONResponse({"error": "bad id"}, status_code=400)
        return JSONResponse({"error": "not found"}, status_code=404)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if batch:
            writer.append(Writer(app, asyncio.get_running_loop()))
        yield
        if writer:
            writer[0].close()
        app.close()

    return Starlette(routes=[Route("/rows", insert, methods=["POST"]),
                             Route("/rows/{id}", fetch, methods=["GET"])], lifespan=lifespan)


def postgres_env(schema: str) -> dict[str, str]:
    """eventsourcing's settings for the local `test` database, one schema of it."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "test",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--schema", required=True, help="an existing schema of `test`")
    parser.add_argument("--batch", action="store_true",
                        help="one writer thread saves what queued in one transaction")
    args = parser.parse_args()
    uvicorn.run(create_app(postgres_env(args.schema), args.batch), host=args.host,
                port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
