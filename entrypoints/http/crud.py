"""The create / list / show / update / delete skeleton the Edge Admin resources share.

A route module describes its resource once (the typed reads of its table, how records
render, its list parameters) and asks for the endpoints it has; what differs (a path parameter
that names the parent, a gate such as degraded mode) stays in the route module. Each endpoint
carries the route module's name and a plain function name, from which the OpenAPI document
makes operation ids (`commands_create`, ...); the route module lists their routes, each with
the Op that documents it (entrypoints/http/routing.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.write_path import rows_of_last_write
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import ListSpec, parse_list_query
from entrypoints.http.responses import no_content, ok, paginated
from projections.records import Record, Records

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R", bound=Record)
S = TypeVar("S")
Endpoint = Callable[[Request], Awaitable[Response]]
# Records to response shapes, several at a time (a shape may need one more read for the batch).
Render = Callable[[Services, list[R]], list[Any]]


class Each(Generic[R]):
    """A Render for shapes made from their record alone: it reads nothing more, so it may run
    on the event loop after an awaited read."""

    def __init__(self, render: Callable[[R], Any]) -> None:
        self.render = render

    def __call__(self, svc: Services, records: list[R]) -> list[Any]:
        return [self.render(r) for r in records]


def each(render: Callable[[R], Any]) -> Render[R]:
    """A Render for shapes made from their record alone."""
    return Each(render)


@dataclass(frozen=True)
class Resource(Generic[R]):
    module: str  # the route module's __name__
    reads: Callable[[Services], Records[R]]  # e.g. lambda svc: svc.fleet_reads.nodes
    render: Render[R]
    spec: ListSpec | Callable[[Request], ListSpec] | None = None

    def load(self, svc: Services, key: Any) -> Any | None:
        found = self.reads(svc).get(key)
        return self.render(svc, [found])[0] if found is not None else None

    def load_written(self, svc: Services, key: Any) -> Any | None:
        """`load` of what this request's write just made or changed: from the rows its commit
        left where they tell (no read back: a third of a command's CPU), else read."""
        reads = self.reads(svc)
        record = _written(reads, key)
        if record is None:
            return self.load(svc, key)
        return self.render(svc, [record])[0]

    def index(self, name: str = "index") -> Endpoint:
        async def index(request: Request) -> Response:
            spec = self.spec(request) if callable(self.spec) else self.spec
            assert spec is not None, f"{self.module}: a listed resource needs its ListSpec"
            query = parse_list_query(request, spec)
            svc = services(request)
            if isinstance(self.render, Each):  # shapes from the records alone: render here
                found = await self.reads(svc).page_async(query)
                return paginated(request, self.render(svc, found.records), found, query)

            # Rendering reads more: the page and its shapes in one worker thread.
            def fetch() -> tuple[Any, list[Any]]:
                page = self.reads(svc).page(query)
                return page, self.render(svc, page.records)

            page, data = await run_in_threadpool(fetch)
            return paginated(request, data, page, query)

        return self.named(index, name)

    async def load_async(self, svc: Services, key: Any) -> Any | None:
        """`load` awaited on the event loop: a shape from its record alone is rendered there
        (the read on the loop where the view reads there), else read and rendered in one
        worker thread."""
        if isinstance(self.render, Each):
            record = await self.reads(svc).get_async(key)
            return self.render.render(record) if record is not None else None
        return await run_in_threadpool(self.load, svc, key)

    async def load_written_async(self, svc: Services, key: Any) -> Any | None:
        """`load_written` on the event loop."""
        if not isinstance(self.render, Each):
            return await self.load_async(svc, key)
        record = _written(self.reads(svc), key)
        if record is None:
            return await self.load_async(svc, key)
        return self.render.render(record)

    def show(self, name: str = "show") -> Endpoint:
        async def show(request: Request) -> Response:
            found = await self.load_async(services(request), path_uuid(request))
            return ok(request, found) if found else not_found(request)

        return self.named(show, name)

    def create(self, body: type[T], action: Callable[[Services, Request, T], UUID],
               name: str = "create") -> Endpoint:
        """POST: the service's answer is the new object's key; 201 with its shape."""

        async def create(request: Request) -> Response:
            cmd = await read_body(request, body)
            svc = services(request)

            def decide_and_load() -> Any:  # one thread hand-off per write, not two
                return self.load_written(svc, action(svc, request, cmd))

            return ok(request, await run_in_threadpool(decide_and_load), 201)

        return self.named(create, name)

    def create_async(self, body: type[T],
                     action: Callable[[Services, Request, T], Awaitable[UUID]],
                     name: str = "create") -> Endpoint:
        """`create` for a service that decides on the event loop: no thread waits for the
        write, and the answer is read without one where the reads allow."""

        async def create(request: Request) -> Response:
            cmd = await read_body(request, body)
            svc = services(request)
            key = await action(svc, request, cmd)
            return ok(request, await self.load_written_async(svc, key), 201)

        return self.named(create, name)

    def update(self, body: type[T], action: Callable[[Services, UUID, T], Any],
               name: str = "update") -> Endpoint:
        """PATCH /{id}: 200 with the changed object's shape."""

        async def update(request: Request) -> Response:
            key = path_uuid(request)
            cmd = await read_body(request, body)
            svc = services(request)

            def decide_and_load() -> Any:
                action(svc, key, cmd)
                return self.load_written(svc, key)

            return ok(request, await run_in_threadpool(decide_and_load))

        return self.named(update, name)

    def delete(self, action: Callable[[Services, UUID], Any], name: str = "delete") -> Endpoint:
        async def delete(request: Request) -> Response:
            await run_in_threadpool(action, services(request), path_uuid(request))
            return no_content()

        return self.named(delete, name)

    def named(self, endpoint: Endpoint, name: str | None = None) -> Endpoint:
        return named(endpoint, self.module, name or endpoint.__name__)


def _written(reads: Records[R], key: Any) -> R | None:
    """The record as this request's last write left it, where its commit tells (no read)."""
    return written_as(reads.table, key, reads.of_row)


def written_as(table: str, key: Any, convert: Callable[[dict[str, Any]], S | None]) -> S | None:
    """A row of `table` as this request's last write left it, converted, where its commit
    tells; None: read it instead."""
    row = rows_of_last_write().row(table, key)
    try:
        return None if row is None else convert(row)
    except msgspec.ValidationError:  # a handler's value the database stores as another type
        log.warning("%s row %s from the commit is not what it reads as; read instead", table,
                    key, exc_info=True)
        return None


def named(endpoint: Endpoint, module: str, name: str) -> Endpoint:
    """The endpoint under its route module's name and its own: the operation id's parts."""
    endpoint.__module__ = module
    endpoint.__name__ = endpoint.__qualname__ = name
    return endpoint
