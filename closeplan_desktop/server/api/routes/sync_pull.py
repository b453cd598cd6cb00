"""Sync, server to device: pull (with long-poll), the checkpoint summary, bootstrap.

- `GET /v1/sync/pull?cursor=&limit=&wait=`: the next page of changes after the cursor;
  with `wait` (seconds, at most 30), an empty answer is held until a commit of the
  tenant, or the wait ends (then it is empty, `up_to_date`).
- `GET /v1/sync/checkpoint`: per-table counts and hashes of what the device should hold.
- `GET /v1/sync/bootstrap?cursor=`: the tenant's current state as NDJSON, first screen
  first, resumable.

All three need a session of an ACTIVE device. The rows are JSON text built by
PostgreSQL, sent as is (no pydantic per row). The process's `Listener` (one LISTEN
connection) is started and stopped by `start`/`stop`, which the app's lifespan calls;
`end_waits_on_shutdown` makes a uvicorn server wake the waiting pulls as soon as it
begins to shut down (uvicorn waits for open requests before the lifespan ends).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ...errors import ApiError
from ...sync import bootstrap, live, pull, pull_cursor
from ..deps import DatabaseDep, DeviceCallerDep

router = APIRouter(prefix="/v1/sync", tags=["sync"])

CursorParam = Annotated[str | None, Query(max_length=pull_cursor.MAX_CURSOR_CHARS,
                                          description="The cursor of the last answer; "
                                          "none to start from the beginning.")]


def start(app: FastAPI, dsn: str) -> None:
    """Start this process's listener (the app's lifespan calls it)."""
    listener = live.Listener(dsn)
    listener.start()
    app.state.listener = listener


def stop(app: FastAPI) -> None:
    """Stop the listener and end every waiting pull."""
    listener = getattr(app.state, "listener", None)
    if listener is not None:
        listener.close()


def end_waits_on_shutdown(server: Any, app: FastAPI) -> None:
    """Make a `uvicorn.Server` end this app's waiting pulls when its shutdown begins
    (they answer at once, empty; the client pulls again, elsewhere if need be)."""
    original = server.shutdown

    async def shutdown(sockets: Any = None) -> None:
        stop(app)
        await original(sockets)

    server.shutdown = shutdown


def _listener(request: Request) -> live.Listener:
    listener = getattr(request.app.state, "listener", None)
    if not isinstance(listener, live.Listener):
        raise ApiError(503, "unavailable", "Waiting pulls are not available on this server "
                       "right now: pull without wait.")
    return listener


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


@router.get("/pull", summary="Changes since a cursor, in commit order")
async def pull_changes(request: Request, db: DatabaseDep, who: DeviceCallerDep,
                       cursor: CursorParam = None,
                       limit: Annotated[int, Query(ge=1, le=pull.MAX_LIMIT)] = pull.DEFAULT_LIMIT,
                       wait: Annotated[float, Query(ge=0, le=live.MAX_WAIT_SECONDS)] = 0,
                       ) -> Response:
    """`{"checkpoint", "up_to_date", "cursor", "counts", "changes": [{"table", "row"}]}`.
    Keep `cursor` for the next call; `up_to_date` means every change up to `checkpoint`
    has been sent."""
    since = 0 if cursor is None else pull_cursor.decode_pull(cursor, who).version

    def look() -> pull.PullPage:
        with pull.snapshot(db, who) as conn:
            return pull.pull(conn, who, cursor, limit)

    if wait <= 0:
        page = await run_in_threadpool(look)
    else:
        page = await live.long_poll(_listener(request), who.tenant_id, since, wait, look)
    return _json(page.to_json())


@router.get("/checkpoint", summary="What this device should hold, to compare")
def checkpoint(db: DatabaseDep, who: DeviceCallerDep) -> dict[str, Any]:
    """`{"checkpoint", "counts": {table: rows}, "hashes": {table: hex}, "hash"}`: each
    hash is the sum, modulo 2**64, of the first 8 bytes (big-endian, signed) of
    MD5('table:id:row_version') over the rows (phi_keys: id = version)."""
    with pull.snapshot(db, who) as conn:
        return pull.checkpoint(conn, who).to_dict()


@router.get("/bootstrap", summary="The tenant's current state, streamed as NDJSON")
def bootstrap_stream(db: DatabaseDep, who: DeviceCallerDep,
                     cursor: CursorParam = None) -> StreamingResponse:
    """One JSON object per line: changes `{"table", "row"}` (first screen first), then
    `{"first_screen": true, "cursor"}`, `{"cursor"}` lines to resume from, and last
    `{"done": true, "checkpoint", "cursor", "counts"}`: pull from that cursor next."""
    stream = bootstrap.open_bootstrap(db, who, cursor)
    return StreamingResponse(iter(stream), media_type="application/x-ndjson",
                             background=BackgroundTask(stream.close))
