"""closeplan-admin audit ...: verify the hash chains and export the logs (admins)."""

from __future__ import annotations

from pathlib import Path

from ..core.usecases import audit
from .context import EXIT_FAIL, EXIT_OK, Context
from .output import parse_time
from .registry import arg, command, group

AUDIT = group("audit", help="verify and export the audit (admins)")


@command(AUDIT, "verify", help="verify the logs' hash chains")
def verify(ctx: Context) -> int:
    with ctx.session() as s:
        report = audit.verify(s, ctx.progress("Verifying"))
    if report.ok:
        receipts = (f"; {report.receipts_checked:,} server receipts verified"
                    if report.receipts_checked else "")
        ctx.print(f"Audit chain intact: {report.rows_checked:,} rows verified{receipts}.")
        return EXIT_OK
    ctx.fail(f"audit chain broken at {report.problem}")
    return EXIT_FAIL


@command(AUDIT, "export", help="export access logs and security events", args=[
    arg("--format", required=True, choices=list(audit.EXPORT_FORMATS)),
    arg("--output", "-o", required=True, type=Path, help="file to write"),
    arg("--since", help="from this date or time (ISO 8601, UTC)"),
    arg("--until", help="before this date or time (ISO 8601, UTC)")])
def export(ctx: Context) -> int:
    a = ctx.args
    f = audit.AuditFilter(since=parse_time(a.since, "since"),
                          until=parse_time(a.until, "until"))
    with ctx.session() as s:
        n = audit.export(s, a.output, a.format, f, ctx.progress("Exporting"))
    ctx.print(f"Exported {n:,} audit records to {a.output} ({a.format}).")
    return EXIT_OK
