"""Pull and bootstrap cursors: opaque to the client (base64url of a small JSON object),
checked on the way back in.

A cursor is bound to the tenant, device and role it was made for: a cursor of another
tenant or device is refused, and one made before the caller's role changed asks for a
new bootstrap (an admin's device sees more tables than a user's). A check digest catches
damage (it is not a signature: a forged cursor can only move the caller within rows the
caller may see anyway, and every field is range-checked).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..caller import Caller
from ..errors import ApiError, bad_request, conflict
from .pull_shapes import TABLE_RANK

FORMAT = 1
MAX_CURSOR_CHARS = 1024
MAX_ID_CHARS = 200
MAX_VERSION = 2**62


@dataclass(frozen=True)
class PullPosition:
    """Everything up to (version, table, key) was sent; `table` None: every change up
    to and including `version`."""

    version: int
    table: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class BootstrapPosition:
    """A bootstrap under way: its checkpoint, the first page's boundary in the desktop's
    default order ((updated_at, id) of the page's last deal; None: every live deal was on
    it), and the last deal id of the rest sent so far (None: none yet)."""

    checkpoint: int
    first_page_end: tuple[datetime, str] | None
    after: str | None


def _bad(message: str) -> ApiError:
    return bad_request("bad_cursor", message + " Start again without a cursor (a bootstrap) "
                       "or use the cursor of the last answer as it was.")


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode(caller: Caller, kind: str, fields: dict[str, Any]) -> str:
    body = {"f": FORMAT, "k": kind, "t": caller.tenant_id, "d": caller.device_id,
            "a": caller.is_admin, **fields}
    body["h"] = _digest(body)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: object, caller: Caller, kind: str) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        raise _bad("The cursor must be a non-empty text.")
    if len(text) > MAX_CURSOR_CHARS:
        raise _bad("The cursor is too long to be one of ours.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad("The cursor is damaged (it is not one the server made).") from None
    if not isinstance(body, dict) or body.get("f") != FORMAT:
        raise _bad("The cursor is damaged or of an older format.")
    check = body.pop("h", None)
    if check != _digest(body):
        raise _bad("The cursor is damaged (its check digest does not match).")
    if body.get("k") != kind:
        other = "bootstrap" if kind == "p" else "pull"
        raise _bad(f"This is a {other} cursor; it resumes a {other} only.")
    if body.get("t") != caller.tenant_id or body.get("d") != caller.device_id:
        raise _bad("The cursor was made for another device.")
    if body.get("a") is not caller.is_admin:
        raise conflict("scope_changed", "Your role changed since this cursor was made, and "
                       "with it what this device receives: bootstrap again (pull without a "
                       "cursor).")
    return body


def _version(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise _bad(f"The cursor's {what} is not a valid version.")
    return value


def _id(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise _bad(f"The cursor's {what} is not a valid id.")
    return value


def encode_pull(caller: Caller, pos: PullPosition) -> str:
    """The cursor of a pull that resumes after `pos`."""
    return _encode(caller, "p", {"v": pos.version, "tb": pos.table, "id": pos.key})


def decode_pull(text: object, caller: Caller) -> PullPosition:
    """The position a pull cursor names, checked (ApiError 400/409 when it is not valid
    for this caller)."""
    body = _decode(text, caller, "p")
    version = _version(body.get("v"), "version")
    table, key = body.get("tb"), body.get("id")
    if table is None and key is None:
        return PullPosition(version)
    if table not in TABLE_RANK:
        raise _bad("The cursor names no table that is pulled.")
    return PullPosition(version, str(table), _id(key, "row id"))


def encode_bootstrap(caller: Caller, pos: BootstrapPosition) -> str:
    """The cursor that resumes a bootstrap at `pos`."""
    end = pos.first_page_end
    return _encode(caller, "b", {
        "c": pos.checkpoint, "after": pos.after,
        "fp": None if end is None else [end[0].isoformat(), end[1]]})


def decode_bootstrap(text: object, caller: Caller) -> BootstrapPosition:
    """The position a bootstrap cursor names, checked like `decode_pull`."""
    body = _decode(text, caller, "b")
    checkpoint = _version(body.get("c"), "checkpoint")
    after = body.get("after")
    after = None if after is None else _id(after, "last deal id")
    fp = body.get("fp")
    end: tuple[datetime, str] | None = None
    if fp is not None:
        if not (isinstance(fp, list) and len(fp) == 2 and isinstance(fp[0], str)):
            raise _bad("The cursor's first page is not valid.")
        try:
            moment = datetime.fromisoformat(fp[0])
        except ValueError:
            raise _bad("The cursor's first page is not valid.") from None
        if moment.tzinfo is None:
            raise _bad("The cursor's first page is not valid.")
        end = (moment, _id(fp[1], "first page"))
    return BootstrapPosition(checkpoint, end, after)
