"""What a device pulls of each table: the columns it gets (as JSON that PostgreSQL builds,
so no Python object is made per row), the order tables take within one version, and
which of the tenant's rows the caller may see.

Every change is one JSON object `{"table": name, "row": {...}}`; `row` always has `id`
(phi_keys: `version`) and `row_version`. Never sent: users' password hashes and last
sign-in times, device approval-code hashes, field_versions (push's bookkeeping),
generated columns, and the audit tables (they go up, not down).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..caller import Caller


# How a column becomes JSON text in SQL. Concatenation, because json_build_object looks
# up every argument's type per row and costs about twice as much (measured on deals).
def text(column: str) -> str:
    """A text column, escaped as JSON."""
    return f"to_json({column})::text"


def plain(column: str) -> str:
    """A column whose text is already JSON (numbers, json)."""
    return f"{column}::text"


def quoted(column: str) -> str:
    """A column whose text needs no escaping (enum labels, exact numbers as text)."""
    return f"'\"' || {column}::text || '\"'"


def safe_id(column: str) -> str:
    """An id of deals or users: a CHECK (server migration 0011) keeps its characters to
    letters, digits, '-' and '_', so it is sent without escaping (cheaper per row)."""
    return quoted(column)


def b64(column: str) -> str:
    """A bytea column as one base64 string (encode() breaks lines every 76 characters)."""
    return quoted(f"translate(encode({column}, 'base64'), E'\\n', '')")


# The envelope exactly as pushed, unless it holds raw line breaks (JSON allows them
# between tokens): those would split an NDJSON line, so such an envelope is re-serialised.
_PHI = ("CASE WHEN strpos(phi::text, E'\\n') > 0 OR strpos(phi::text, E'\\r') > 0 "
        "THEN phi::jsonb::text ELSE phi::text END")


def nullable(sql: str) -> str:
    """`sql` of a column that may be NULL: JSON null then."""
    return f"coalesce({sql}, 'null')"


@dataclass(frozen=True)
class Shape:
    """One pulled table: `key` is the SQL of its id (text), `columns` the JSON fields
    (name, SQL) of a row, `admin_only` when only admins' devices get it, `own_device`
    when other callers get only the rows of their own device, `own_user` when every
    caller (admins too) gets only their own user's rows."""

    table: str
    key: str
    columns: tuple[tuple[str, str], ...]
    admin_only: bool = False
    own_device: bool = False
    own_user: bool = False

    @property
    def rank(self) -> int:
        """Its place within one version: referenced tables come first."""
        return TABLE_RANK[self.table]

    def line_sql(self) -> str:
        """SQL of the change's JSON text for a row of this table."""
        parts = [f"'{{\"table\":\"{self.table}\",\"row\":{{'"]
        for i, (name, sql) in enumerate(self.columns):
            parts.append(f"'{',' if i else ''}\"{name}\":'")
            parts.append(sql)
        parts.append("'}}'")
        return "(" + " || ".join(parts) + ")"

    def tenant_filter(self) -> str:
        """The explicit tenant condition (besides the policy: Citus routes by it)."""
        column = "id" if self.table == "tenants" else "tenant_id"
        return f"{column} = %(tenant)s"

    def scope_sql(self, caller: Caller) -> str | None:
        """The caller's condition on this table (None: the caller gets none of it).
        Uses the parameters %(tenant)s, %(user)s and %(device)s (see `scope_params`)."""
        if self.admin_only and not caller.is_admin:
            return None
        cond = self.tenant_filter()
        if self.table == "key_grants":
            cond += (" AND ((grantee_kind = 'DEVICE' AND grantee_id = %(device)s)"
                     " OR (grantee_kind = 'USER' AND grantee_id = %(user)s))")
        elif self.own_device and not caller.is_admin:
            cond += " AND device_id = %(device)s"
        elif self.own_user:
            cond += " AND user_id = %(user)s"
        return cond


def scope_params(caller: Caller) -> dict[str, str]:
    """The parameters `Shape.scope_sql` uses."""
    return {"tenant": caller.tenant_id, "user": caller.user_id,
            "device": caller.device_id or ""}


_ROW_VERSION = ("row_version", plain("row_version"))


def _cols(*names: str, **how: str) -> tuple[tuple[str, str], ...]:
    """Columns by name: text (escaped) unless `how` gives the SQL; a name ending in '?'
    may be NULL. The id comes first, row_version last."""
    out = []
    for name in names:
        column = name.rstrip("?")
        sql = how.get(column, text(column))
        out.append((column, nullable(sql) if name.endswith("?") else sql))
    return (*out, _ROW_VERSION)


SHAPES: tuple[Shape, ...] = (
    Shape("tenants", "id", _cols("id", "name", "domain?", "created_at", "updated_at")),
    Shape("users", "id", _cols(
        "id", "email", "first_name", "last_name", "role", "created_at", "updated_at",
        "deactivated_at?", id=safe_id("id"), role=quoted("role"))),
    Shape("phi_keys", "version::text", _cols(
        "version", "state", "created_at", "retired_at?",
        version=plain("version"), state=quoted("state"))),
    Shape("devices", "id", _cols(
        "id", "user_id", "name", "status", "sign_public_key?", "kem_public_key?",
        "approved_by_id?", "created_at", "approved_at?", "revoked_at?", "last_seen_at?",
        status=quoted("status"), sign_public_key=b64("sign_public_key"),
        kem_public_key=b64("kem_public_key")), admin_only=True),
    Shape("key_grants", "id", _cols(
        "id", "key_version", "grantee_kind", "grantee_id", "wrapped", "granted_by_id?",
        "created_at", "revoked_at?", key_version=plain("key_version"),
        grantee_kind=quoted("grantee_kind"), wrapped=b64("wrapped"))),
    Shape("deals", "id", _cols(
        "id", "title", "status", "value", "phi?", "phi_key_version?", "created_by_id",
        "created_at", "updated_at", "deleted_at?", "owner_id", "expected_close_date?",
        "probability?", id=safe_id("id"),
        created_by_id=safe_id("created_by_id"), status=quoted("status"),
        value=quoted("value"), phi=_PHI, phi_key_version=plain("phi_key_version"),
        owner_id=safe_id("owner_id"), expected_close_date=quoted("expected_close_date"),
        probability=plain("probability"))),
    Shape("conflicts", "id", _cols(
        "id", "table_name", "row_id", "field", "base_version?", "server_version",
        "kept_value?", "losing_value?", "device_id?", "mutation_id?", "created_at",
        "resolved_at?", "resolved_by_id?", base_version=plain("base_version"),
        server_version=plain("server_version"), kept_value=plain("kept_value"),
        losing_value=plain("losing_value"), mutation_id=plain("mutation_id")),
        own_device=True),
    Shape("rejections", "id", _cols(
        "id", "device_id", "mutation_id", "table_name", "row_id?", "op", "code", "message",
        "fields?", "created_at", "acknowledged_at?", mutation_id=plain("mutation_id"),
        fields=plain("fields")), own_device=True),
    Shape("deal_activities", "id", _cols(
        "id", "deal_id", "kind", "body", "due_at?", "done_at?", "created_by_id", "created_at",
        "updated_at", "deleted_at?")),
    Shape("deal_history", "id", _cols(
        "id", "deal_id", "op", "changes", "user_id?", "created_at", changes=plain("changes"))),
    Shape("saved_views", "id", _cols(
        "id", "user_id", "name", "query", "is_default", "created_at", "updated_at",
        "deleted_at?", is_default=plain("is_default")), own_user=True),
)
TABLE_RANK = {name: i for i, name in enumerate(
    ("tenants", "users", "phi_keys", "devices", "key_grants", "deals", "conflicts",
     "rejections", "deal_activities", "deal_history", "saved_views"))}
BY_NAME = {s.table: s for s in SHAPES}
BY_RANK = {s.rank: s.table for s in SHAPES}
