"""The ceiling our service is measured against: the same stack doing one plain durable insert.

uvicorn (httptools, uvloop: picked up as for `edge-admin serve`) + starlette + an async psycopg
pool of 16. `POST /rows` inserts the JSON body as one row in its own transaction and answers 201
with the row's id; `GET /rows/{id}` reads one row back. No event sourcing, no projections, no
validation beyond JSON: what one request costs on this machine when it does the least a durable
write can do. bench.suite runs it in the same run as our service and prints each of our figures
as a ratio to this one (a ratio holds on a noisy, shared machine; an absolute figure does not).

Run alone: .venv/bin/python -m bench.ceiling --port 8099 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import uvicorn
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

POOL_SIZE = 16
TABLE = "ceiling_rows"


def create_app(database_url: str) -> Starlette:
    pool = AsyncConnectionPool(database_url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False)

    async def insert(request: Request) -> Response:
        body = json.loads(await request.body())
        row_id = uuid4()
        async with pool.connection() as conn:  # commits on exit: one durable transaction
            await conn.execute(f"INSERT INTO {TABLE} (id, body) VALUES (%s, %s)",
                               (row_id, Jsonb(body)))
        return JSONResponse({"data": {"id": str(row_id), "body": body}}, status_code=201)

    async def fetch(request: Request) -> Response:
        try:
            row_id = UUID(request.path_params["id"])
        except ValueError:
            return JSONResponse({"error": "bad id"}, status_code=400)
        async with pool.connection() as conn:
            cursor = await conn.execute(f"SELECT id, body FROM {TABLE} WHERE id = %s",
                                        (row_id,))
            row = await cursor.fetchone()
        if row is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({"data": {"id": str(row[0]), "body": row[1]}})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True)
        async with pool.connection() as conn:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY,"
                               " body jsonb NOT NULL)")
        yield
        await pool.close()

    return Starlette(routes=[Route("/rows", insert, methods=["POST"]),
                             Route("/rows/{id}", fetch, methods=["GET"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.database_url), host=args.host, port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
