"""closeplan-admin deals ...: list, show, add, import, delete and restore deals (edit,
reassign and forecast: cli/deal_owner.py)."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.domain import deal_words, paths, phi_value
from ..core.domain.enums import DealStatus
from ..core.usecases import deal_import, deal_list, deals
from . import deal_import as mapped_import
from .context import EXIT_OK, Context, UsageError, dash_option, refuse_in_argv
from .deal_fields import FIELD_ARGS, LIST_ARGS, field_changes, list_filters
from .output import clip, money, table, when
from .registry import arg, command, group

DEALS = group("deals", help="work with deals")
STATUSES = [s.value for s in DealStatus]


@command(DEALS, "list", help="list deals (never PHI)", args=[
    arg("--status", choices=STATUSES),
    arg("--search", default="", help="full-text search over titles"),
    arg("--sort", default="updated_at", choices=list(deal_list.SORT_COLUMNS)),
    arg("--asc", action="store_true", help="ascending (default: descending)"),
    arg("--deleted", action="store_true", help="list deleted deals instead"),
    *LIST_ARGS,
    arg("--offset", type=int, default=0),
    arg("--limit", type=int, default=50),
    arg("--json", action="store_true", help="JSON lines instead of a table")])
def list_deals(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        query = deal_list.DealQuery(status=DealStatus(a.status) if a.status else None,
                                    search=a.search, sort=a.sort, descending=not a.asc,
                                    deleted=a.deleted, **list_filters(s, a))
        rows = deal_list.list_deals(s, query, offset=a.offset, limit=a.limit)
        total = deal_list.count_deals(s, query)
    if a.json:
        for d in rows:
            close = d.expected_close_date
            ctx.print(json.dumps({"id": d.id, "title": d.title, "status": d.status.value,
                                  "value": str(d.value), "owner": d.owner_name,
                                  "owner_id": d.owner_id, "created_by": d.created_by_name,
                                  "expected_close_date": close.isoformat() if close else None,
                                  "probability": d.probability,
                                  "effective_probability": d.effective_probability,
                                  "overdue": d.is_overdue(),
                                  "has_phi": d.has_phi, "updated_at": d.updated_at.isoformat()},
                                 ensure_ascii=False))
        return EXIT_OK
    ctx.print(table([[d.id, clip(d.title, 50), d.status.value, money(d.value),
                      d.owner_name,
                      (d.expected_close_date.isoformat() if d.expected_close_date else "-")
                      + (" OVERDUE" if d.is_overdue() else ""),
                      f"{d.effective_probability}%",
                      "yes" if d.has_phi else "", when(d.updated_at)] for d in rows],
                    ["ID", "TITLE", "STATUS", "VALUE", "OWNER", "CLOSE", "PROB", "PHI",
                     "UPDATED"]))
    shown_to = a.offset + len(rows)
    ctx.print(f"{a.offset + 1 if rows else 0}-{shown_to} of {total:,} deals")
    return EXIT_OK


@command(DEALS, "summary", help="pipeline: count and total value per status")
def summary(ctx: Context) -> int:
    with ctx.session() as s:
        rows = deal_list.pipeline(s)
    top = max((r.total for r in rows), default=0) or 1
    lines = [[r.status.value, f"{r.count:,}", money(r.total),
              "#" * max(0, round(30 * r.total / top))] for r in rows]
    lines.append(["TOTAL", f"{sum(r.count for r in rows):,}",
                  money(sum(r.total for r in rows)), ""])
    ctx.print(table(lines, ["STATUS", "DEALS", "VALUE", ""]))
    return EXIT_OK


@command(DEALS, "show", help="show a deal; --phi reveals its PHI (logged)", args=[
    arg("id"),
    arg("--phi", action="store_true", help="reveal PHI (writes an access-log row)"),
    dash_option("--reason", "the reason", "break-glass reason, to reveal another user's "
                "deal")])
def show(ctx: Context) -> int:
    a = ctx.args
    refuse_in_argv(a.reason, "--reason", "A reason")
    with ctx.session() as s:
        d = deals.get_deal(s, a.id)
        reason = ctx.read_line("Break-glass reason", secret=False) if a.reason else None
        phi = deals.reveal_phi(s, a.id, reason) if a.phi else None
    ctx.print(f"ID:       {d.id}")
    ctx.print(f"Title:    {d.title}")
    ctx.print(f"Status:   {d.status.value}")
    ctx.print(f"Value:    {money(d.value)}")
    ctx.print(f"Owner:    {d.owner_name}")
    ctx.print(f"Created by: {d.created_by_name}")
    ctx.print(f"Expected close: {deal_words.day_text(d.expected_close_date)}"
              + (" (overdue)" if d.is_overdue() else ""))
    ctx.print(f"Probability: {d.effective_probability}%"
              + ("" if d.probability is not None else " (status default)"))
    ctx.print(f"Created:  {when(d.created_at)}")
    ctx.print(f"Updated:  {when(d.updated_at)}")
    if d.deleted_at:
        ctx.print(f"Deleted:  {when(d.deleted_at)}")
    if phi is None:
        ctx.print(f"PHI:      {'present (use --phi to reveal; logged)' if d.has_phi else 'none'}")
    elif not phi:
        ctx.print("PHI:      none")
    else:
        ctx.print("PHI (revealed; this access is logged):")
        for key, value in phi.items():
            ctx.print(f"  {key}: {phi_value.as_text(value)}")
    return EXIT_OK


@command(DEALS, "add", help="create a deal", args=[
    arg("--title", required=True),
    arg("--status", required=True, choices=STATUSES),
    arg("--value", required=True, help="amount, such as 125000.00"),
    dash_option("--phi", "the PHI JSON", 'PHI object, such as {"patient_name": "..."}'),
    arg("--phi-stdin", action="store_true", help="the same as '--phi -'"), *FIELD_ARGS])
def add(ctx: Context) -> int:
    a = ctx.args
    refuse_in_argv(a.phi, "--phi", "PHI")
    if a.phi and a.phi_stdin:
        raise UsageError("give '--phi -' or --phi-stdin, not both")
    with ctx.session() as s:
        phi = ctx.read_line("PHI (JSON)", secret=True) if a.phi or a.phi_stdin else None
        d = deals.create_deal(s, a.title, a.status, a.value, phi, **field_changes(s, a))
    ctx.print(d.id)
    return EXIT_OK


@command(DEALS, "import", help="import deals from CSV: title, status, value and optional "
         "owner_email, expected_close_date, probability, phi_<field> columns; or another "
         "CRM's export with --preset/--map/--stage", args=[arg("file", type=Path),
                                                          *mapped_import.ARGS])
def import_deals(ctx: Context) -> int:
    if mapped_import.wanted(ctx):
        return mapped_import.run_mapped(ctx)
    rows = deal_import.parse_import(paths.read_user_file(ctx.args.file))
    with ctx.session() as s:
        n = deal_import.import_deals(s, rows, ctx.progress("Importing deals"))
    ctx.print(f"Imported {n:,} deal{'s' if n != 1 else ''}.")
    return EXIT_OK


@command(DEALS, "delete", help="delete a deal (restorable)", args=[arg("id")])
def delete(ctx: Context) -> int:
    with ctx.session() as s:
        d = deals.delete_deal(s, ctx.args.id)
    ctx.print(f"Deleted {d.id} (restore with: closeplan-admin deals restore {d.id}).")
    return EXIT_OK


@command(DEALS, "restore", help="restore a deleted deal", args=[arg("id")])
def restore(ctx: Context) -> int:
    with ctx.session() as s:
        d = deals.restore_deal(s, ctx.args.id)
    ctx.print(f"Restored {d.id}.")
    return EXIT_OK
