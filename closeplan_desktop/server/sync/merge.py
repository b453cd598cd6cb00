"""Per-field merge of a pushed change into the row the server has (SYNC.md, Conflicts).

A field conflicts when it was changed since the mutation's base version by someone else
(another device, by `field_devices`; migration 0006) and the pushed value differs from the row's.
Last writer wins in arrival order, so the caller applies the pushed value and keeps the
overwritten one in `conflicts`. A row that moved on only in other fields merges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from .mutations import Mutation
from .outcome import APPLIED, CONFLICT, MERGED, Context, Verdict

# One column's new value: the column, the SQL expression of its value, its parameters.
Assignment = tuple[str, str, tuple[Any, ...]]


@dataclass(frozen=True)
class Row:
    """The server's row as merge sees it: per logical field, its value (comparable with
    a pushed clean value), the version that last changed it and the device that did."""

    values: Mapping[str, Any]
    versions: Mapping[str, int]
    devices: Mapping[str, str]
    row_version: int

    def changed_by_others(self, field: str, base: int, device: str) -> bool:
        return self.versions.get(field, 0) > base and self.devices.get(field) != device


@dataclass(frozen=True)
class Merge:
    """What a pushed change does to a row: the fields whose value it changes, those of
    them that someone else changed since its base (conflicts), and whether someone else
    changed anything since (then it merges)."""

    changed: dict[str, Any]
    conflicts: list[str]
    moved: bool

    @property
    def verdict(self) -> str:
        return CONFLICT if self.conflicts else MERGED if self.moved else APPLIED


def versions_of(field_versions: Mapping[str, Any],
                groups: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Per logical field, the last version that changed any of its columns (PHI is one
    field: its envelope and key version)."""
    return {name: max(int(field_versions.get(c, 0)) for c in columns)
            for name, columns in groups.items()}


def merge(row: Row, pushed: Mapping[str, Any], base: int, device: str) -> Merge:
    """Compare a mutation's clean fields with `row` (see the module's rule)."""
    changed = {f: v for f, v in pushed.items() if row.values.get(f) != v}
    conflicts = [f for f in changed if row.changed_by_others(f, base, device)]
    moved = any(row.changed_by_others(f, base, device) for f in row.versions)
    return Merge(changed, conflicts, moved)


def write_merge(ctx: Context, table: str, m: Mutation, row: Row, result: Merge,
                assignments: list[Assignment], as_json: Callable[[str, Any], Any]) -> Verdict:
    """Write a merge's changed fields (`assignments`: their columns), note the pushing
    device as their author, keep every value a conflict overwrote, and say the verdict.
    Every row the transaction writes carries its version; nothing is awaited, so a
    pipeline runs on."""
    if result.changed:
        sets = sql.SQL(", ").join(sql.SQL("{} = " + expr).format(sql.Identifier(column))
                                  for column, expr, _ in assignments)
        params = [p for _, _, values in assignments for p in values]
        ctx.conn.execute(
            sql.SQL("UPDATE {} SET {}, updated_at = now(), field_devices = field_devices || "
                    "%s WHERE tenant_id = %s AND id = %s").format(sql.Identifier(table), sets),
            [*params, Jsonb(dict.fromkeys(result.changed, ctx.device_id)), ctx.tenant_id, m.id])
    for name in result.conflicts:
        ctx.record_conflict(table, m.id, name, m.mid, m.base_version,
                            row.versions.get(name, 0), as_json(name, result.changed[name]),
                            as_json(name, row.values[name]))
    version = ctx.version if result.changed else row.row_version
    if result.conflicts:
        return Verdict(m.mid, CONFLICT, "field_conflict",
                       f"Someone else changed {', '.join(result.conflicts)} meanwhile; your "
                       "change was applied and theirs is kept for review.", version)
    return Verdict(m.mid, result.verdict, row_version=version)
