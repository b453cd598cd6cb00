"""closeplan-admin deals import FILE with a mapping: other CRMs' exports (HubSpot,
Pipedrive) through the same core as the window's import wizard
(`core.usecases.importing`).

`--preset auto|hubspot|pipedrive|closeplan` picks the proposed mapping (auto: the one
remembered for the file's layout, else the preset its header looks like), `--map
"Column=target"` and `--stage "value=STATUS"` change it, `--dry-run` checks every row and
writes nothing. Problems are listed by line, all of them, with exit code 1.
"""

from __future__ import annotations

from ..core.domain import paths
from ..core.usecases.importing import check, layouts, mapping, source
from .context import EXIT_FAIL, EXIT_OK, Context
from .registry import Arg, arg

ARGS: tuple[Arg, ...] = (
    arg("--preset", choices=[layouts.AUTO, *mapping.PRESETS],
        help="the proposed mapping (auto: remembered for this layout, else recognised)"),
    arg("--map", action="append", default=[], metavar="COLUMN=TARGET",
        help="map a column: title, status, value, owner_email, expected_close_date, "
             "probability, note, phi_<field> or ignore (repeatable)"),
    arg("--stage", action="append", default=[], metavar="VALUE=STATUS",
        help="map a stage value to DRAFT, ACTIVE, CLOSED_WON or CLOSED_LOST (repeatable)"),
    arg("--dry-run", action="store_true", help="check every row, list problems by line, "
        "write nothing"),
)


def wanted(ctx: Context) -> bool:
    """Whether the command asked for a mapped import (else the plain canonical one)."""
    a = ctx.args
    return bool(a.preset or a.map or a.stage or a.dry_run)


def run_mapped(ctx: Context) -> int:
    """Check, then (unless --dry-run) import a mapped export."""
    a = ctx.args
    table = source.read(paths.read_user_file(a.file))
    with ctx.session() as s:
        plan = layouts.plan_for(s, table.header, a.preset or layouts.AUTO)
        plan = mapping.with_overrides(plan, table.header, a.map, [])
        values = check.stage_values(table, plan)
        proposed = mapping.propose_stages([v.value for v in values], plan.stages)
        plan = mapping.with_overrides(mapping.Plan(plan.columns, proposed, plan.source),
                                      table.header, [], a.stage)
        _describe(ctx, plan, values)
        result = check.check(s, table, plan, ctx.progress("Checking rows"))
        for note in result.notes:
            ctx.print(f"Note: {note.text()}")
        if not result.ok:
            ctx.fail(f"{a.file.name} has problems; nothing was imported:")
            for problem in result.problems:
                print(f"  {problem.text()}", file=ctx.err)
            if any(v.value not in plan.stages for v in values):
                print('  Map stage values with --stage "VALUE=STATUS" (DRAFT, ACTIVE, '
                      "CLOSED_WON or CLOSED_LOST).", file=ctx.err)
            return EXIT_FAIL
        if a.dry_run:
            ctx.print(f"{result.total:,} deal{'s' if result.total != 1 else ''} ready to "
                      "import (dry run: nothing was written).")
            return EXIT_OK
        n = check.import_checked(s, table, plan, result, ctx.progress("Importing deals"))
    ctx.print(f"Imported {n:,} deal{'s' if n != 1 else ''}.")
    return EXIT_OK


def _describe(ctx: Context, plan: mapping.Plan, values: list[check.StageValue]) -> None:
    origin = ("remembered for this layout" if plan.source == mapping.REMEMBERED else
              f"{mapping.PRESET_NAMES[plan.source]} preset" if plan.source else "as given")
    ctx.print(f"Mapping ({origin}):")
    for column, target in plan.columns.items():
        ctx.print(f"  {column} -> {target}")
    if values:
        ctx.print("Stage values:")
        for v in values:
            status = plan.stages.get(v.value)
            ctx.print(f"  {v.value} -> {status.value if status else '(not mapped)'} "
                      f"({v.count:,} row{'s' if v.count != 1 else ''})")
