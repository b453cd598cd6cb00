"""closeplan-admin deals edit | reassign | forecast (issue 15): change a deal's fields,
hand it to another user, and the weighted forecast with what closes this month and
quarter. The owner options of `deals add` and `deals list` are read here too."""

from __future__ import annotations

from ..core.domain import deal_words
from ..core.domain.probability import DEFAULTS
from ..core.usecases import deal_list, deals, forecast, users
from .context import EXIT_OK, Context, UsageError
from .deal_fields import FIELD_ARGS, LIST_ARGS, field_changes, owner_id
from .deals import DEALS, STATUSES
from .output import money, table
from .registry import arg, command


@command(DEALS, "edit", help="change a deal's title, status, value, owner, close date or "
         "probability (the owner or an admin)", args=[
             arg("id"), arg("--title"), arg("--status", choices=STATUSES),
             arg("--value", help="amount, such as 125000.00"), *FIELD_ARGS])
def edit(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        changes = field_changes(s, a)
        changes.update({k: getattr(a, k) for k in ("title", "status", "value")
                        if getattr(a, k) is not None})
        if not changes:
            raise UsageError("nothing to change: give --title, --status, --value, --owner, "
                             "--close-date or --probability")
        d = deals.update_deal(s, a.id, **changes)
    ctx.print(f"Updated {d.id}.")
    return EXIT_OK


@command(DEALS, "reassign", help="hand a deal to another user (the owner or an admin; "
         "logged)", args=[arg("id"), arg("email", help="the new owner's email")])
def reassign(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        d = deals.reassign_deal(s, a.id, users.find_user_id(s, a.email))
    ctx.print(f"{d.id} now belongs to {d.owner_name}.")
    return EXIT_OK


@command(DEALS, "forecast", help="weighted forecast of open deals, and what closes this "
         "month and quarter", args=LIST_ARGS[:2])
def show_forecast(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        if a.mine and a.owner:
            raise UsageError("give --mine or --owner, not both")
        who = s.user_id if a.mine else owner_id(s, a.owner)
        f = forecast.forecast(s, deal_list.DealQuery(owner_id=who))
    rows = [["Open deals", f"{f.open.count:,}", money(f.open.total), money(f.open.weighted)],
            [f"Closing in {f.month:%B %Y}", f"{f.this_month.count:,}",
             money(f.this_month.total), money(f.this_month.weighted)],
            [f"Closing in Q{(f.quarter.month - 1) // 3 + 1} {f.quarter.year}",
             f"{f.this_quarter.count:,}", money(f.this_quarter.total),
             money(f.this_quarter.weighted)]]
    ctx.print(table(rows, ["", "DEALS", "VALUE", "WEIGHTED"]))
    defaults = ", ".join(f"{deal_words.status_word(st)} {pct}%" for st, pct in DEFAULTS.items())
    ctx.print(f"Weighted: value x probability (a deal without one takes its status default: "
              f"{defaults}).")
    return EXIT_OK
