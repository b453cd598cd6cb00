"""How every refusal looks on the wire: `{"error": {"code", "message", ...}}`, one shape
for the services' ApiError, FastAPI's validation errors, unknown routes and the rest.

Validation errors name the field and the problem but never echo the value sent (it may
be a password or PHI). Anything unexpected is a 500 whose body says nothing of the cause
and whose log line names only the exception type.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from ..errors import ApiError

log = logging.getLogger("closeplan.server")

_HTTP_WORDS = {404: ("not_found", "There is no such endpoint: check the URL and the API "
                     "version (/v1/...)."),
               405: ("method_not_allowed", "This endpoint does not take that method."),
               401: ("unauthorized", "Sign in first: send 'Authorization: Bearer <token>'.")}


def _field(loc: tuple[object, ...] | list[object]) -> str:
    return ".".join(str(part) for part in loc)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429 and "retry_after" in exc.detail:
        headers = {"Retry-After": str(exc.detail["retry_after"])}
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": _field(e.get("loc", ())), "problem": str(e.get("msg", "invalid"))}
                for e in exc.errors()[:20]]
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    message = (f"The request is not valid: {first['field']}: {first['problem']}"
               + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") + ".")
    return JSONResponse({"error": {"code": "invalid_request", "message": message,
                                   "fields": problems}}, status_code=422)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:
        code, message = "too_large", str(exc.detail)
    else:
        code, message = _HTTP_WORDS.get(exc.status_code, ("http_error", str(exc.detail)))
    return JSONResponse({"error": {"code": code, "message": message}},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse({"error": {"code": "unavailable", "message": "The database is not "
                                   "reachable right now; try again in a moment."}},
                        status_code=503, headers={"Retry-After": "5"})


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    sqlstate = getattr(exc, "sqlstate", None)
    log.error("unexpected %s%s", type(exc).__name__, f" (SQLSTATE {sqlstate})" if sqlstate else "")
    return JSONResponse({"error": {"code": "internal", "message": "The server could not "
                                   "complete the request. Nothing was changed; the error "
                                   "has been logged."}}, status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(psycopg.OperationalError, _unavailable)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
