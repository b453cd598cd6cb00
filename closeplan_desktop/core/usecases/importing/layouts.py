"""Mappings remembered per file layout: the next export with the same set of header names
opens with the mapping the last import of that layout used.

Stored in the workspace's `workspace_meta` table, one row per layout (key
"import_layout:" and the layout's hash; value: JSON of the column and stage mappings).
Why there: it is this workspace's own preference, not tenant data, so it needs no sync, no
outbox and no new table or migration; a workspace holds one tenant. It is not PHI: it
holds header names, target names and the stage column's values, never a cell of a PHI
column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ...domain.enums import DealStatus
from ...domain.errors import ValidationError
from ...store.key_vault import _meta, _set_meta  # the one reader and writer of meta rows
from ..frame import AuthSession, actor, run
from .mapping import (
    CLOSEPLAN,
    PRESETS,
    REMEMBERED,
    TARGETS,
    Plan,
    detect,
    layout_key,
    propose,
    target_of,
)

META_PREFIX = "import_layout:"


def _key(header: Iterable[str]) -> str:
    return META_PREFIX + layout_key(header)


def recall(session: AuthSession, header: tuple[str, ...]) -> Plan | None:
    """The plan remembered for this file layout, or None."""
    with run(session, write=False) as s:
        actor(s, session)
        text = _meta(s, _key(header))
    if text is None:
        return None
    try:
        saved = json.loads(text)
        by_name = {k.casefold(): v for k, v in saved["columns"].items()}
        columns = {h: target_of(by_name.get(h.casefold(), "ignore")) for h in header}
        stages = {k: DealStatus(v) for k, v in saved["stages"].items()}
    except (ValueError, ValidationError, KeyError, TypeError, AttributeError):
        return None  # written by another version: propose afresh
    return Plan(columns, stages, REMEMBERED)


def remember(session: AuthSession, header: tuple[str, ...], plan: Plan) -> None:
    """Keep `plan` for this file layout (after an import that used it)."""
    columns = {c: t for c, t in plan.columns.items() if t in TARGETS or t.startswith("phi_")}
    text = json.dumps({"columns": columns,
                       "stages": {k: v.value for k, v in plan.stages.items()}},
                      ensure_ascii=False, sort_keys=True)
    with run(session) as s:
        actor(s, session)
        _set_meta(s, _key(header), text)


AUTO = "auto"


def plan_for(session: AuthSession, header: tuple[str, ...], preset: str = AUTO) -> Plan:
    """The plan a file opens with. `auto`: the one remembered for its layout, else the
    preset its header looks like, else ClosePlan's own columns (unknown ones ignored).
    A named preset: that preset's columns, with the stages remembered for the layout."""
    remembered = recall(session, header)
    if preset == AUTO:
        if remembered is not None:
            return remembered
        return propose(header, detect(header) or CLOSEPLAN)
    if preset not in PRESETS:
        raise ValidationError(f"Unknown preset '{preset[:30]}'; use auto, "
                              f"{', '.join(PRESETS)}.")
    plan = propose(header, preset)
    if remembered is not None:
        plan.stages = dict(remembered.stages)
    return plan
