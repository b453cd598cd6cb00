"""closeplan-admin deals views ... and deals export: the signed-in user's saved views
(issue 15) and the CSV export of a view or of filters (no PHI unless asked, and then
logged per deal)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ..core.domain.enums import DealStatus
from ..core.usecases import deal_export, deal_list, views
from ..core.usecases.deal_list import DealQuery
from ..core.usecases.frame import AuthSession
from .context import EXIT_OK, Context, UsageError, dash_option, refuse_in_argv
from .deals import DEALS, STATUSES
from .output import table
from .registry import arg, command

VERBS = ("list", "save", "update", "rename", "delete", "default")
FILTERS = [
    arg("--status", choices=STATUSES),
    arg("--search", default="", help="full-text search over titles"),
    arg("--sort", default="updated_at", choices=list(deal_list.SORT_COLUMNS)),
    arg("--asc", action="store_true", help="ascending (default: descending)"),
    arg("--deleted", action="store_true", help="deleted deals instead"),
    arg("--mine", action="store_true", help="only the deals you own"),
    arg("--owner", metavar="USER_ID", help="only the deals this user owns"),
    arg("--close-from", metavar="YYYY-MM-DD", help="expected close on or after this day"),
    arg("--close-to", metavar="YYYY-MM-DD", help="expected close on or before this day"),
    arg("--overdue", action="store_true", help="only open deals past their close date")]


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} must be a day as YYYY-MM-DD") from None


def query_of(ctx: Context, session: AuthSession) -> DealQuery:
    """The filters given on the command line, as a list query."""
    a = ctx.args
    if a.mine and a.owner:
        raise UsageError("give --mine or --owner, not both")
    return DealQuery(status=DealStatus(a.status) if a.status else None, search=a.search,
                     sort=a.sort, descending=not a.asc, deleted=a.deleted,
                     owner_id=session.user_id if a.mine else a.owner,
                     close_from=_day(a.close_from, "--close-from"),
                     close_to=_day(a.close_to, "--close-to"), overdue=a.overdue)


def _filtered(ctx: Context) -> bool:
    a = ctx.args
    return bool(a.status or a.search or a.deleted or a.mine or a.owner or a.close_from
                or a.close_to or a.overdue)


def _describe(q: DealQuery) -> str:
    parts = [f"status {q.status.value}"] if q.status else []
    if q.search:
        parts.append(f"search '{q.search}'")
    if q.deleted:
        parts.append("deleted")
    if q.owner_id:
        parts.append(f"owner {q.owner_id}")
    if q.close_from or q.close_to:
        parts.append(f"closing {q.close_from or '…'} to {q.close_to or '…'}")
    if q.overdue:
        parts.append("overdue")
    parts.append(f"by {q.sort} {'descending' if q.descending else 'ascending'}")
    return ", ".join(parts)


@command(DEALS, "views", help="your saved views: list, save, update, rename, delete, default",
         args=[arg("verb", choices=VERBS), arg("name", nargs="?"),
               arg("new_name", nargs="?", help="for rename: the new name"), *FILTERS])
def views_command(ctx: Context) -> int:
    a = ctx.args
    if a.verb != "list" and not a.name:
        raise UsageError(f"'deals views {a.verb}' needs the view's name")
    if a.verb == "rename" and not a.new_name:
        raise UsageError("'deals views rename' needs the old and the new name")
    with ctx.session() as s:
        if a.verb == "list":
            rows = views.list_views(s)
            ctx.print(table([[v.name, "built-in" if v.builtin else "",
                              "default" if v.is_default else "", _describe(v.query)]
                             for v in rows], ["VIEW", "", "", "FILTER"]))
            for v in rows:
                for note in v.notes:
                    ctx.print(f"Note on '{v.name}': {note}")
            return EXIT_OK
        if a.verb == "save":
            v = views.save_view(s, a.name, query_of(ctx, s))
        elif a.verb == "update":
            v = views.update_view(s, a.name, query_of(ctx, s))
        elif a.verb == "rename":
            v = views.rename_view(s, a.name, a.new_name)
        elif a.verb == "default":
            v = views.set_default(s, a.name)
        else:
            views.delete_view(s, a.name)
            ctx.print(f"Deleted the view '{a.name}'.")
            return EXIT_OK
    ctx.print(f"{v.name}: {_describe(v.query)}{' (default)' if v.is_default else ''}")
    return EXIT_OK


@command(DEALS, "export", help="export a view or filtered deals as CSV (PHI only when "
         "asked, and then logged per deal)", args=[
    arg("--view", help="a saved or built-in view's name (instead of filters)"),
    *FILTERS,
    arg("--out", required=True, type=Path, help="the CSV file to write"),
    arg("--with-phi", action="store_true", help="add the PHI of the deals you may reveal "
        "without break-glass (the file is NOT encrypted)"),
    dash_option("--reason", "the reason", "why the file needs PHI (required with "
                "--with-phi; logged with each deal)"),
    arg("--bom", action="store_true", help="start with a UTF-8 BOM (for Excel)")])
def export(ctx: Context) -> int:
    a = ctx.args
    refuse_in_argv(a.reason, "--reason", "A reason")
    if a.reason and not a.with_phi:
        raise UsageError("--reason goes with --with-phi")
    if a.view and _filtered(ctx):
        raise UsageError("give --view or filters, not both")
    with ctx.session() as s:
        query = views.get_view(s, a.view).query if a.view else query_of(ctx, s)
        reason = None
        if a.with_phi:
            ctx.err.write("The file will hold PHI unencrypted on disk: keep it safe.\n")
            reason = ctx.read_line("Reason for exporting PHI", secret=False) if a.reason \
                else None
        result = deal_export.export_deals(s, query, a.out, with_phi=a.with_phi,
                                          reason=reason, excel_bom=a.bom,
                                          progress=ctx.progress("Exporting deals"))
    ctx.print(result.summary())
    return EXIT_OK
