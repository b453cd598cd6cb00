"""The one error type of the server's services: what went wrong, for whom, and what to do.

Services (plain functions over a database connection) raise `ApiError`; the HTTP layer
turns it into a response with `status` and the JSON body `{"error": {"code", "message",
...detail}}`. Messages are written for the person who will read them and never contain
PHI, passwords, tokens or keys.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the server refuses: `status` is the HTTP status (4xx for the caller's
    mistake), `code` a stable machine-readable word, `message` one clear sentence that
    says what is wrong and what to do, `detail` extra JSON-safe fields."""

    def __init__(self, status: int, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON body of the response."""
        return {"error": {"code": self.code, "message": self.message, **self.detail}}


def bad_request(code: str, message: str, **detail: Any) -> ApiError:
    return ApiError(400, code, message, **detail)


def forbidden(code: str, message: str, **detail: Any) -> ApiError:
    return ApiError(403, code, message, **detail)


def not_found(code: str, message: str, **detail: Any) -> ApiError:
    return ApiError(404, code, message, **detail)


def conflict(code: str, message: str, **detail: Any) -> ApiError:
    return ApiError(409, code, message, **detail)
