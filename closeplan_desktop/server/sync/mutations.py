"""The shape of a push request: bounded pydantic models, checked before anything is read
or written, so that a hostile body (wrong types, huge strings, unknown tables, ops or
fields, too many mutations) is refused whole with a clear 422 and writes nothing.

Only the shape is checked here: which fields each (table, op) takes, their JSON types and
sizes. The values' rules (titles, emails, money, PHI envelopes, permissions) are checked
per mutation by push, whose refusals are `rejected` verdicts that still advance the
device's queue.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator
from pydantic import ValidationError as ShapeError

from ..errors import ApiError

# The version of this protocol's shapes; a desktop speaking another one must update.
SCHEMA_VERSION = 1
MAX_MUTATIONS = 500
MAX_FIELDS = 8
# The PHI envelope of 64 KiB of PHI (validation.MAX_PHI_BYTES) in base64, with room.
MAX_ENVELOPE = 100_000
# Any other text; the domain rules hold them far shorter (titles 200, emails 254).
MAX_TEXT = 1000
MAX_ID = 64
MAX_MID = 2**62

Table = Literal["deals", "users", "tenants", "deal_activities", "saved_views"]
Op = Literal["create", "update", "delete", "restore", "deactivate", "reactivate",
             "set_password"]
Text = Annotated[str, StringConstraints(strict=True, max_length=MAX_ENVELOPE)]
# The only whole numbers a field takes are key versions (PostgreSQL integer).
Whole = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)]
FieldValue = Text | Whole | None

# Per field, the JSON types it takes ("text", "int"; "null" when it may be cleared).
FieldTypes = dict[str, tuple[str, ...]]
_DEAL: FieldTypes = {"title": ("text",), "status": ("text",), "value": ("text",),
         "phi": ("text", "null"), "phi_key_version": ("int", "null"),
         "owner_id": ("text",), "expected_close_date": ("text", "null"),
         "probability": ("int", "null")}
_USER: FieldTypes = {"email": ("text",), "first_name": ("text",), "last_name": ("text",),
         "role": ("text",)}
_PASSWORD: FieldTypes = {"password": ("text",)}
_TENANT: FieldTypes = {"name": ("text",), "domain": ("text", "null")}
# A deal's activity (issue 15): times as ISO 8601 text.
_ACTIVITY: FieldTypes = {"kind": ("text",), "body": ("text",), "due_at": ("text", "null"),
                         "done_at": ("text", "null")}
# A user's saved view (issue 15): the filter as JSON text, the default mark as 0 or 1.
_VIEW: FieldTypes = {"name": ("text",), "query": ("text",), "is_default": ("int",)}
# (table, op) -> (the fields it may carry, the fields it must carry). An update must
# carry at least one field.
SHAPES: dict[tuple[str, str], tuple[FieldTypes, frozenset[str]]] = {
    ("deals", "create"): (_DEAL, frozenset({"title", "status", "value"})),
    ("deals", "update"): (_DEAL, frozenset()),
    ("deals", "delete"): ({}, frozenset()),
    ("deals", "restore"): ({}, frozenset()),
    ("users", "create"): ({**_USER, **_PASSWORD},
                          frozenset({"email", "first_name", "last_name", "password"})),
    ("users", "update"): (_USER, frozenset()),
    ("users", "deactivate"): ({}, frozenset()),
    ("users", "reactivate"): ({}, frozenset()),
    ("users", "set_password"): (_PASSWORD, frozenset({"password"})),
    ("tenants", "update"): (_TENANT, frozenset()),
    ("deal_activities", "create"): ({"deal_id": ("text",), **_ACTIVITY},
                                    frozenset({"deal_id", "kind", "body"})),
    ("deal_activities", "update"): (_ACTIVITY, frozenset()),
    ("deal_activities", "delete"): ({}, frozenset()),
    ("saved_views", "create"): ({"user_id": ("text",), **_VIEW},
                                frozenset({"user_id", "name", "query"})),
    ("saved_views", "update"): (_VIEW, frozenset()),
    ("saved_views", "delete"): ({}, frozenset()),
}


def _storable(value: str) -> bool:
    """Text PostgreSQL can store: no NUL character, no unpaired surrogate (the JSON of a
    body may carry both; no field of ClosePlan's ever holds one)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return "int" if isinstance(value, int) else "text"


class Mutation(BaseModel):
    """One change the device made offline: `mid` its place in the device's queue (1, 2,
    3...), `base_version` the row version it started from, `fields` only what changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mid: StrictInt = Field(ge=1, le=MAX_MID)
    table: Table
    op: Op
    id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_ID)]
    base_version: StrictInt | None = Field(default=None, ge=0, le=MAX_MID)
    fields: dict[Annotated[str, StringConstraints(max_length=MAX_ID)], FieldValue] = Field(
        default_factory=dict, max_length=MAX_FIELDS)

    @model_validator(mode="after")
    def _fits_its_op(self) -> Mutation:
        shape = SHAPES.get((self.table, self.op))
        if shape is None:
            ops = sorted(op for table, op in SHAPES if table == self.table)
            raise ValueError(f"a {self.table} mutation's op must be one of {', '.join(ops)}")
        allowed, required = shape
        unknown = sorted(set(self.fields) - set(allowed))
        if unknown:
            names = ", ".join(name[:40] for name in unknown[:5])
            raise ValueError(f"{self.table} {self.op} takes no field {names} (it takes: "
                             f"{', '.join(allowed) or 'no fields'})")
        missing = sorted(required - set(self.fields))
        if missing:
            raise ValueError(f"{self.table} {self.op} needs the fields {', '.join(missing)}")
        if allowed and not required and not self.fields:
            raise ValueError(f"{self.table} {self.op} needs at least one field")
        if not _storable(self.id):
            raise ValueError("id contains a NUL character or invalid Unicode")
        for name, value in self.fields.items():
            if isinstance(value, str) and not _storable(value):
                raise ValueError(f"field {name} contains a NUL character or invalid Unicode")
            if _json_type(value) not in allowed[name]:
                kinds = " or ".join(allowed[name])
                raise ValueError(f"field {name} must be {kinds}")
            if isinstance(value, str) and name != "phi" and len(value) > MAX_TEXT:
                raise ValueError(f"field {name} is too long: at most {MAX_TEXT} characters")
        if ("phi" in self.fields) != ("phi_key_version" in self.fields):
            raise ValueError("phi and phi_key_version go together (one field: the envelope "
                             "and the key version it was sealed with)")
        if self.op != "create" and self.base_version is None:
            raise ValueError(f"{self.table} {self.op} needs base_version (the row version "
                             "the change started from)")
        return self


class PushRequest(BaseModel):
    """A device's queued mutations, oldest first, their mids consecutive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: Annotated[str, StringConstraints(strict=True, max_length=MAX_ID)] | None = None
    schema_version: StrictInt
    mutations: list[Mutation] = Field(max_length=MAX_MUTATIONS)

    @model_validator(mode="after")
    def _consecutive(self) -> PushRequest:
        for before, after in zip(self.mutations, self.mutations[1:], strict=False):
            if after.mid != before.mid + 1:
                raise ValueError("mutation ids must be consecutive and in order (mid "
                                 f"{after.mid} follows {before.mid})")
        return self


def describe(exc: ShapeError, limit: int = 3) -> str:
    """The first problems of a refused body as one sentence: where and what, never the
    value (it may be PHI or a password hash)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def invalid_body(exc: ShapeError) -> ApiError:
    """The 422 of a body that is not a push request."""
    return ApiError(422, "invalid_request",
                    f"The push request is malformed: {describe(exc)}. Nothing was applied; "
                    "update the app if this persists.")


def parse_request(body: Any) -> PushRequest:
    """A push request from decoded JSON; an ApiError (422) when it does not fit."""
    try:
        return PushRequest.model_validate(body)
    except ShapeError as exc:
        raise invalid_body(exc) from None
