"""A request body larger than the server accepts is refused before it is read (413),
whether it announces its length or streams without one."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

from ..errors import ApiError

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised while FastAPI reads the body; it lets HTTPException through
                    # (anything else would become "error parsing the body", a 400).
                    raise HTTPException(413, self._error().message)
            return message

        await self.app(scope, limited, send)

    def _error(self) -> ApiError:
        return ApiError(413, "too_large", f"The request body is over {self.max_bytes} "
                        "bytes; send smaller batches.")

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(self._error().body()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
