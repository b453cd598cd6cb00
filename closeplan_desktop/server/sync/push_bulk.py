"""A push of deal mutations in a few statements (issue 11, Speed): one SELECT of the rows
the batch touches, the verdicts decided in memory in arrival order, then one INSERT of
the new deals, one UPDATE of the changed ones and one INSERT of their access-log rows.
Those statements stamp their rows themselves (`row_version`, `field_versions`, as the
stamp trigger would), so the per-row trigger skips them (server migration 0011).

The verdict rules are push_deals' own (clean_fields, owned, merge): each mutation sees
the row as the mutations before it in the batch left it, exactly as one statement per
mutation would. Refusals, conflicts and denied-access events are written as they
arise; the access-log rows are held back and written in their order at the end.

What the bulk path cannot decide it gives back (`Fallback`), and the push runs again
one statement per mutation (push.py): a batch with users or tenant changes, or a field
changed and then changed back to its value before the batch (the version stamp compares
the row before and after, so it would not see that change). A statement the database
refuses (an existing id, a PHI envelope of another deal) aborts the push as before, and
it runs again with a savepoint per mutation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from ...core.domain.enums import AccessAction
from ...core.domain.ids import is_id
from . import push_deals
from .merge import Row, merge
from .mutations import Mutation
from .outcome import APPLIED, CONFLICT, MERGED, Context, Rejected, Verdict

# The deal ops this path decides; any other table or op sends the push back.
OPS = frozenset({"create", "update", "delete", "restore"})
# The columns whose versions field_versions keeps (0004's TRACKED deals).
COLUMNS = tuple(c for group in push_deals.GROUPS.values() for c in group)


class Fallback(Exception):
    """The bulk path cannot decide this push: run it one statement per mutation."""


@dataclass
class _Deal:
    """A deal as the batch leaves it: its row, whether the batch creates it, and the
    logical fields the batch changed."""

    row: Row
    created: bool
    before: Row | None = None
    changed: set[str] = field(default_factory=set)


def handles(mutations: list[Mutation]) -> bool:
    """Whether every mutation is one this path decides (deals only)."""
    return all(m.table == "deals" and m.op in OPS for m in mutations)


def _load(ctx: Context, mutations: list[Mutation]) -> dict[str, _Deal]:
    """The existing deals the batch names, locked, in one statement."""
    ids = sorted({m.id for m in mutations if m.op != "create" and is_id(m.id)})
    if not ids:
        return {}
    rows = ctx.conn.execute(push_deals.SELECT_ROWS, (ctx.tenant_id, ids)).fetchall()
    out = {}
    for found in rows:
        row = push_deals.row_of(found[1:])
        out[str(found[0])] = _Deal(row, created=False, before=row)
    return out


def _apply(ctx: Context, deal: _Deal, changed: dict[str, Any]) -> None:
    """Note `changed` on the in-memory row, as the stamp and field_devices would."""
    if not changed:
        return
    row = deal.row
    deal.row = replace(row, values={**row.values, **changed},
                       versions={**row.versions, **dict.fromkeys(changed, ctx.version)},
                       devices={**row.devices, **dict.fromkeys(changed, ctx.device_id)},
                       row_version=ctx.version)
    deal.changed.update(changed)


def _create(ctx: Context, deals: dict[str, _Deal], m: Mutation) -> Verdict:
    if not is_id(m.id):
        raise Rejected("invalid_id", "A new deal's id must be an id made by the app.")
    if m.id in deals:
        # An id this batch already holds: let the database answer it (push's path).
        raise Fallback
    clean = push_deals.clean_fields(ctx, m.fields)
    values = {"title": clean["title"], "status": clean["status"], "value": clean["value"],
              "phi": clean.get("phi", (None, None)), "created_by_id": ctx.user_id,
              "deleted_at": False, "owner_id": clean.get("owner_id", ctx.user_id),
              "expected_close_date": clean.get("expected_close_date"),
              "probability": clean.get("probability")}
    groups = dict.fromkeys(push_deals.GROUPS, ctx.version)
    deals[m.id] = _Deal(Row(values, groups, dict.fromkeys(groups, ctx.device_id), ctx.version),
                        created=True)
    ctx.log_access(m.id, AccessAction.DEAL_CREATE)
    return Verdict(m.mid, APPLIED, row_version=ctx.version)


def _owned(ctx: Context, deals: dict[str, _Deal], m: Mutation, action: AccessAction) -> _Deal:
    deal = deals.get(m.id)
    push_deals.owned(ctx, m.id, None if deal is None else deal.row, action)
    assert deal is not None
    return deal


def _verdict(ctx: Context, m: Mutation, deal: _Deal, before: Row, changed: dict[str, Any],
             conflicts: list[str], moved: bool) -> Verdict:
    """As merge.write_merge says it, its conflicts recorded."""
    for name in conflicts:
        ctx.record_conflict("deals", m.id, name, m.mid, m.base_version,
                            before.versions.get(name, 0),
                            push_deals.as_json(name, changed[name]),
                            push_deals.as_json(name, before.values[name]))
    _apply(ctx, deal, changed)
    version = ctx.version if changed else before.row_version
    if conflicts:
        return Verdict(m.mid, CONFLICT, "field_conflict",
                       f"Someone else changed {', '.join(conflicts)} meanwhile; your change "
                       "was applied and theirs is kept for review.", version)
    return Verdict(m.mid, MERGED if moved else APPLIED, row_version=version)


def _update(ctx: Context, deals: dict[str, _Deal], m: Mutation) -> Verdict:
    deal = _owned(ctx, deals, m, AccessAction.DEAL_UPDATE)
    row = deal.row
    clean = push_deals.clean_fields(ctx, m.fields, row.values["owner_id"])
    base = m.base_version or 0
    if row.values["deleted_at"]:
        if not row.changed_by_others("deleted_at", base, ctx.device_id):
            raise Rejected("deal_deleted", "This deal is deleted; restore it before editing.")
        for name, value in clean.items():
            ctx.record_conflict("deals", m.id, name, m.mid, m.base_version,
                                row.versions["deleted_at"],
                                push_deals.as_json(name, row.values[name]),
                                push_deals.as_json(name, value))
        return Verdict(m.mid, CONFLICT, "deal_deleted",
                       "The deal was deleted while you edited it; your edit was not applied "
                       "and is kept for review.", row.row_version)
    result = merge(row, clean, base, ctx.device_id)
    verdict = _verdict(ctx, m, deal, row, result.changed, result.conflicts, result.moved)
    ctx.log_access(m.id, AccessAction.DEAL_UPDATE)
    return verdict


def _set_deleted(ctx: Context, deals: dict[str, _Deal], m: Mutation, deleted: bool,
                 action: AccessAction) -> Verdict:
    deal = _owned(ctx, deals, m, action)
    row = deal.row
    result = merge(row, {"deleted_at": deleted}, m.base_version or 0, ctx.device_id)
    verdict = _verdict(ctx, m, deal, row, result.changed, result.conflicts, result.moved)
    if result.changed:
        ctx.log_access(m.id, action)
    return verdict


def decide(ctx: Context, deals: dict[str, _Deal], m: Mutation) -> Verdict:
    """One mutation's verdict against the batch's in-memory rows (Rejected when
    refused, Fallback when this path cannot tell)."""
    if m.op == "create":
        return _create(ctx, deals, m)
    if m.op == "update":
        return _update(ctx, deals, m)
    if m.op == "delete":
        return _set_deleted(ctx, deals, m, True, AccessAction.DEAL_DELETE)
    return _set_deleted(ctx, deals, m, False, AccessAction.DEAL_UPDATE)


def _insert(ctx: Context, new: list[tuple[str, _Deal]]) -> None:
    cols: list[list[Any]] = [[] for _ in range(11)]
    for deal_id, deal in new:
        v = deal.row.values
        for col, value in zip(cols, (deal_id, v["title"], v["status"], Decimal(v["value"]),
                                     v["phi"][0], v["phi"][1], v["deleted_at"],
                                     Jsonb(deal.row.devices), v["owner_id"],
                                     v["expected_close_date"], v["probability"]), strict=True):
            col.append(value)
    # Stamped here, as the trigger would (0011): every tracked column at this version.
    ctx.conn.execute(
        "INSERT INTO deals (tenant_id, id, title, status, value, phi, phi_key_version, "
        "created_by_id, deleted_at, field_devices, owner_id, expected_close_date, "
        "probability, row_version, field_versions) SELECT %s, i, "
        "t, s::deal_status, v, p::json, k, %s, CASE WHEN d THEN now() END, f, ow, cd, pr, "
        "%s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::numeric[], %s::text[], "
        "%s::integer[], %s::boolean[], %s::jsonb[], %s::text[], %s::date[], %s::smallint[]) "
        "WITH ORDINALITY AS n(i, t, s, v, p, k, d, f, ow, cd, pr, o) ORDER BY o",
        (ctx.tenant_id, ctx.user_id, ctx.version, Jsonb(dict.fromkeys(COLUMNS, ctx.version)),
         *cols))


def _update_rows(ctx: Context, changed: list[tuple[str, _Deal]]) -> None:
    cols: list[list[Any]] = [[] for _ in range(12)]
    for deal_id, deal in changed:
        v = deal.row.values
        touched = {name: ctx.device_id for name in deal.changed}
        for col, value in zip(cols, (deal_id, v["title"], v["status"], Decimal(v["value"]),
                                     "phi" in deal.changed, v["phi"][0], v["phi"][1],
                                     v["deleted_at"], Jsonb(touched), v["owner_id"],
                                     v["expected_close_date"], v["probability"]), strict=True):
            col.append(value)
    # Stamped here, as the trigger would (0011): each column the statement changes, as
    # the trigger compares it, at this version.
    ctx.conn.execute(
        "UPDATE deals AS d SET title = u.t, status = u.s::deal_status, value = u.v, "
        "phi = CASE WHEN u.pc THEN u.p::json ELSE d.phi END, "
        "phi_key_version = CASE WHEN u.pc THEN u.k ELSE d.phi_key_version END, "
        "deleted_at = CASE WHEN u.dl THEN coalesce(d.deleted_at, now()) END, "
        "owner_id = u.ow, expected_close_date = u.cd, probability = u.pr, "
        "updated_at = now(), field_devices = d.field_devices || u.f, row_version = %(r)s, "
        "field_versions = d.field_versions || jsonb_strip_nulls(jsonb_build_object("
        "'title', CASE WHEN u.t IS DISTINCT FROM d.title THEN %(r)s END, "
        "'status', CASE WHEN u.s::deal_status IS DISTINCT FROM d.status THEN %(r)s END, "
        "'value', CASE WHEN u.v::numeric(16, 2) IS DISTINCT FROM d.value THEN %(r)s END, "
        "'phi', CASE WHEN u.pc AND u.p IS DISTINCT FROM d.phi::text THEN %(r)s END, "
        "'phi_key_version', CASE WHEN u.pc AND u.k IS DISTINCT FROM d.phi_key_version "
        "THEN %(r)s END, "
        "'deleted_at', CASE WHEN u.dl <> (d.deleted_at IS NOT NULL) THEN %(r)s END, "
        "'owner_id', CASE WHEN u.ow IS DISTINCT FROM d.owner_id THEN %(r)s END, "
        "'expected_close_date', CASE WHEN u.cd IS DISTINCT FROM d.expected_close_date "
        "THEN %(r)s END, "
        "'probability', CASE WHEN u.pr IS DISTINCT FROM d.probability THEN %(r)s END)) "
        "FROM unnest(%(i)s::text[], %(t)s::text[], %(s)s::text[], %(v)s::numeric[], "
        "%(pc)s::boolean[], %(p)s::text[], %(k)s::integer[], %(dl)s::boolean[], "
        "%(f)s::jsonb[], %(ow)s::text[], %(cd)s::date[], %(pr)s::smallint[]) "
        "AS u(i, t, s, v, pc, p, k, dl, f, ow, cd, pr) "
        "WHERE d.tenant_id = %(tenant)s AND d.id = u.i",
        {"r": ctx.version, "tenant": ctx.tenant_id,
         **dict(zip(("i", "t", "s", "v", "pc", "p", "k", "dl", "f", "ow", "cd", "pr"), cols,
                    strict=True))})


def write(ctx: Context, deals: dict[str, _Deal]) -> None:
    """The batch's rows in one INSERT and one UPDATE, then its access-log rows."""
    new = [(i, d) for i, d in deals.items() if d.created]
    changed = [(i, d) for i, d in deals.items() if not d.created and d.changed]
    for _, deal in changed:
        assert deal.before is not None
        if any(deal.row.values[f] == deal.before.values[f] for f in deal.changed):
            raise Fallback  # changed and changed back: the stamp would not see it
    if new:
        _insert(ctx, new)
    if changed:
        _update_rows(ctx, changed)
    ctx.flush_logs()


def start(ctx: Context, mutations: list[Mutation]) -> dict[str, _Deal]:
    """Hold back the access-log rows and load the rows the batch names."""
    ctx.pending_logs = []
    return _load(ctx, mutations)
