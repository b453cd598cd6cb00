"""closeplan-admin: the command line for admins, IT and scripts, over the same core.

Exit codes: 0 success; 1 a failure the user can fix (one line on stderr says what and
how); 2 a usage error. Passwords never come from arguments: they are asked at the
terminal, or read from standard input with --password-stdin, one line per password in
the order each command's help gives.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .core.domain import paths
from .core.domain.enums import DealStatus
from .core.domain.errors import ClosePlanError, ValidationError
from .core.domain.progress import Cancelled
from .core.security import hardening
from .core.security.policy import load_policy
from .core.store import processes, workspace
from .core.tools import demo
from .core.usecases import audit, auth, deal_import, deal_list, deals, frame, key_admin, users

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Wrong use of the command line (exit code 2)."""


class Passwords:
    """Where passwords come from: the terminal, or stdin lines with --password-stdin."""

    def __init__(self, from_stdin: bool, stdin: TextIO) -> None:
        self.from_stdin = from_stdin
        self.stdin = stdin

    def ask(self, prompt: str, confirm: bool = False) -> str:
        if self.from_stdin:
            line = self.stdin.readline()
            if not line:
                raise ValidationError(f"Standard input ended before the {prompt.lower()} "
                                      "(--password-stdin reads one line per password).")
            return line.rstrip("\r\n")
        if not self.stdin.isatty():
            raise ValidationError("No terminal to ask for a password: pipe the passwords in "
                                  "with --password-stdin, one per line.")
        first = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != first:
            raise ValidationError("The two entries differ; nothing was changed.")
        return first


class Reporter:
    """Progress on stderr: a live line on a terminal, a few lines otherwise."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label, self.stream = label, stream
        self.tty = stream.isatty()
        self.last_quarter = -1

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            pct = int(done * 100 / total) if total else 100
            if self.tty:
                self.stream.write(f"\r{self.label}: {pct:3d}% ({done:,}/{total:,})")
                if done >= total:
                    self.stream.write("\n")
            elif pct // 25 > self.last_quarter:
                self.last_quarter = pct // 25
                self.stream.write(f"{self.label}: {pct}% ({done:,}/{total:,})\n")
        elif self.tty:
            self.stream.write(f"\r{self.label}: {done:,}")
        self.stream.flush()


# ---- argument parsing ----------------------------------------------------------------

def _common(p: argparse.ArgumentParser, acting: bool = True, passwords: str = "") -> None:
    p.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                   help="workspace folder (default: $CLOSEPLAN_HOME or the user data folder)")
    if acting:
        p.add_argument("--as", dest="as_email", metavar="EMAIL", required=True,
                       help="act as this user (asks for their password)")
    if acting or passwords:
        order = passwords or "your password"
        p.add_argument("--password-stdin", action="store_true",
                       help=f"read passwords from stdin, one per line: {order}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="closeplan-admin",
        description="ClosePlan Desktop administration: workspaces, users, deals, keys and "
                    "audit.",
        epilog="Exit codes: 0 success, 1 failure (with the reason), 2 usage error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--workspace", metavar="DIR", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create a workspace with a tenant and its first admin")
    _common(p, acting=False, passwords="the new admin's password")
    p.add_argument("--tenant", required=True, help="organisation name")
    p.add_argument("--domain", help="organisation domain, such as example.org")
    p.add_argument("--email", required=True, help="first admin's email")
    p.add_argument("--first-name", required=True)
    p.add_argument("--last-name", required=True)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="create (or show) the demo workspace and its credentials")
    p.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS)
    p.add_argument("--deals", type=int, default=3000, help="number of deals (default 3000)")
    p.set_defaults(func=cmd_demo)

    user = sub.add_parser("user", help="manage users (admins)").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = user.add_parser("add", help="add a user")
    _common(p, passwords="your password, then the new user's password")
    p.add_argument("email")
    p.add_argument("--first-name", required=True)
    p.add_argument("--last-name", required=True)
    p.add_argument("--role", default="USER", choices=["USER", "ADMIN"])
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("list", help="list the tenant's users")
    _common(p)
    p.set_defaults(func=cmd_user_list)
    p = user.add_parser("set-role", help="change a user's role")
    _common(p)
    p.add_argument("email")
    p.add_argument("role", choices=["USER", "ADMIN"])
    p.set_defaults(func=cmd_user_set_role)
    for name, fn, text in (("deactivate", cmd_user_deactivate, "deactivate a user"),
                           ("reactivate", cmd_user_reactivate, "reactivate a user")):
        p = user.add_parser(name, help=text)
        _common(p)
        p.add_argument("email")
        p.set_defaults(func=fn)
    p = user.add_parser("reset-password", help="set a new password for a user")
    _common(p, passwords="your password, then the user's new password")
    p.add_argument("email")
    p.set_defaults(func=cmd_user_reset_password)
    p = user.add_parser("import", help="import users exported from the ClosePlan server "
                        "(JSON lines with bcrypt hashes)")
    _common(p)
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_user_import)

    dl = sub.add_parser("deals", help="work with deals").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = dl.add_parser("list", help="list deals (never PHI)")
    _common(p)
    p.add_argument("--status", choices=[s.value for s in DealStatus])
    p.add_argument("--search", default="", help="full-text search over titles")
    p.add_argument("--sort", default="updated_at", choices=list(deal_list.SORT_COLUMNS))
    p.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    p.add_argument("--deleted", action="store_true", help="list deleted deals instead")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_deals_list)
    p = dl.add_parser("summary", help="pipeline: count and total value per status")
    _common(p)
    p.set_defaults(func=cmd_deals_summary)
    p = dl.add_parser("show", help="show a deal; --phi reveals its PHI (logged)")
    _common(p)
    p.add_argument("id")
    p.add_argument("--phi", action="store_true", help="reveal PHI (writes an access-log row)")
    p.add_argument("--reason", help="break-glass reason, to reveal another user's deal")
    p.set_defaults(func=cmd_deals_show)
    p = dl.add_parser("add", help="create a deal")
    _common(p)
    p.add_argument("--title", required=True)
    p.add_argument("--status", required=True, choices=[s.value for s in DealStatus])
    p.add_argument("--value", required=True, help="amount, such as 125000.00")
    p.add_argument("--phi", metavar="JSON", help='PHI object, such as {"patient_name": "..."}')
    p.add_argument("--phi-stdin", action="store_true",
                   help="read the PHI JSON from the last line of stdin (keeps it out of the "
                        "shell history)")
    p.set_defaults(func=cmd_deals_add)
    p = dl.add_parser("import", help="import deals from CSV: title,status,value[,phi_<field>...]")
    _common(p)
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_deals_import)
    for name, fn, text in (("delete", cmd_deals_delete, "delete a deal (restorable)"),
                           ("restore", cmd_deals_restore, "restore a deleted deal")):
        p = dl.add_parser(name, help=text)
        _common(p)
        p.add_argument("id")
        p.set_defaults(func=fn)

    ks = sub.add_parser("keys", help="keys and recovery kits (admins)").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = ks.add_parser("status", help="show keys and how many rows use each")
    _common(p)
    p.set_defaults(func=cmd_keys_status)
    p = ks.add_parser("rotate-phi", help="new PHI key; re-encrypt every deal (resumable)")
    _common(p)
    p.set_defaults(func=cmd_keys_rotate_phi)
    p = ks.add_parser("rotate-db", help="re-encrypt the database under a new key")
    _common(p)
    p.set_defaults(func=cmd_keys_rotate_db)
    p = ks.add_parser("export-kit", help="write a recovery kit sealed with a passphrase")
    _common(p, passwords="your password, then the kit passphrase")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_keys_export_kit)
    p = ks.add_parser("import-kit", help="restore this workspace's keys from a recovery kit")
    _common(p, acting=False, passwords="the kit passphrase")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_keys_import_kit)

    au = sub.add_parser("audit", help="verify and export the audit (admins)").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    p = au.add_parser("verify", help="verify the logs' hash chains")
    _common(p)
    p.set_defaults(func=cmd_audit_verify)
    p = au.add_parser("export", help="export access logs and security events")
    _common(p)
    p.add_argument("--format", required=True, choices=list(audit.EXPORT_FORMATS))
    p.add_argument("--output", "-o", required=True, type=Path, help="file to write")
    p.add_argument("--since", help="from this date or time (ISO 8601, UTC)")
    p.add_argument("--until", help="before this date or time (ISO 8601, UTC)")
    p.set_defaults(func=cmd_audit_export)

    p = sub.add_parser("doctor", help="check keyring, keys, database, schema and audit chain")
    p.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_doctor)
    return parser


# ---- plumbing ------------------------------------------------------------------------

class Context:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO):
        self.args, self.out, self.err, self.stdin = args, out, err, stdin
        self.passwords = Passwords(getattr(args, "password_stdin", False), stdin)

    @property
    def path(self) -> Path:
        given = getattr(self.args, "workspace", None)
        return Path(given).expanduser() if given else paths.default_workspace()

    def print(self, *parts: object) -> None:
        print(*parts, file=self.out)

    @contextmanager
    def session(self) -> Iterator[frame.AuthSession]:
        with workspace.open_workspace(self.path) as ws:
            password = self.passwords.ask(f"Password for {self.args.as_email}")
            yield auth.sign_in(ws, self.args.as_email, password)

    def progress(self, label: str) -> Reporter:
        return Reporter(label, self.err)


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Entry point; returns the exit code (the console script exits with it)."""
    processes.enter_if_worker()
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors 2
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if argv is None:
            sys.exit(code)
        return code
    ctx = Context(args, out, err, inp)
    _configure_logging(err)
    try:
        load_policy()  # a broken policy file is reported before anything else
        code = args.func(ctx) or EXIT_OK
    except ClosePlanError as exc:
        print(f"closeplan-admin: error: {exc}", file=err)
        code = EXIT_FAIL
    except UsageError as exc:
        print(f"closeplan-admin: usage error: {exc}", file=err)
        code = EXIT_USAGE
    except (KeyboardInterrupt, Cancelled):
        print("closeplan-admin: cancelled; nothing after the last completed step was saved.",
              file=err)
        code = EXIT_FAIL
    except Exception as exc:  # no traceback: it may carry PHI in bound values
        print(f"closeplan-admin: unexpected error ({type(exc).__name__}); nothing was "
              "changed by the failed step. Run 'closeplan-admin doctor' and report this.",
              file=err)
        code = EXIT_FAIL
    if argv is None:
        sys.exit(code)
    return code


def _configure_logging(err: TextIO) -> None:
    """Warnings of libraries go to stderr, through the redacting filter."""
    root = logging.getLogger()
    if not any(getattr(h, "closeplan", False) for h in root.handlers):
        handler = logging.StreamHandler(err)
        handler.closeplan = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("closeplan-admin: %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    hardening.install_log_redaction(root)


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _money(value: Any) -> str:
    return f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"



def _parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--{name} must be an ISO 8601 date or time, such as "
                              "2026-01-31 or 2026-01-31T08:00Z.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---- commands ------------------------------------------------------------------------

def cmd_init(ctx: Context) -> int:
    a = ctx.args
    path = ctx.path
    password = ctx.passwords.ask("New admin password", confirm=True)
    policy = load_policy()
    from .core.domain import validation

    # Check everything before the workspace (and its keys) exist.
    validation.text(a.tenant, "Tenant name", max_len=200)
    validation.domain(a.domain)
    validation.email(a.email)
    validation.person_name(a.first_name, "First name")
    validation.person_name(a.last_name, "Last name")
    validation.password(password, policy.password_min_length)
    with workspace.create(path) as ws:
        users.create_tenant(ws, a.tenant, a.domain, a.email, a.first_name, a.last_name,
                            password)
    ctx.print(f"Created the workspace for {a.tenant} at {path}.")
    ctx.print(f"Sign in as {a.email.strip().lower()}. Export a recovery kit now: "
              "closeplan-admin keys export-kit FILE --as EMAIL")
    return EXIT_OK


def cmd_demo(ctx: Context) -> int:
    given = getattr(ctx.args, "workspace", None)
    if not 1 <= ctx.args.deals <= 1_000_000:
        raise ValidationError("--deals must be between 1 and 1,000,000.")
    info = demo.build(Path(given).expanduser() if given else None, ctx.args.deals,
                      ctx.progress("Creating demo deals"))
    verb = "Created" if info.created else "Found"
    ctx.print(f"{verb} the demo workspace at {info.path} ({info.deals:,} deals).")
    ctx.print("Demo credentials (demo data only):")
    ctx.print(f"  admin:  {info.admin_email}")
    for email, *_ in demo.DEMO_USERS:
        ctx.print(f"  sales:  {email}")
    ctx.print(f"  password for all: {info.password}")
    ctx.print(f"Try: closeplan-admin deals list --workspace {info.path} --as "
              f"{info.admin_email}")
    return EXIT_OK


def _user_id(s: frame.AuthSession, email: str) -> str:
    return users.find_user_id(s, email)


def cmd_user_add(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        password = ctx.passwords.ask(f"New password for {a.email}", confirm=True)
        info = users.add_user(s, a.email, a.first_name, a.last_name, a.role, password)
    ctx.print(f"Added {info.email} ({info.role.value}).")
    return EXIT_OK


def cmd_user_list(ctx: Context) -> int:
    with ctx.session() as s:
        rows = users.list_users(s)
    ctx.print(_table([[u.email, u.full_name, u.role.value,
                       "active" if u.active else "deactivated", _when(u.last_login_at)]
                      for u in rows], ["EMAIL", "NAME", "ROLE", "STATUS", "LAST SIGN-IN"]))
    return EXIT_OK


def cmd_user_set_role(ctx: Context) -> int:
    with ctx.session() as s:
        info = users.set_role(s, _user_id(s, ctx.args.email), ctx.args.role)
    ctx.print(f"{info.email} is now {info.role.value}.")
    return EXIT_OK


def cmd_user_deactivate(ctx: Context) -> int:
    with ctx.session() as s:
        info = users.deactivate(s, _user_id(s, ctx.args.email))
    ctx.print(f"{info.email} is deactivated.")
    return EXIT_OK


def cmd_user_reactivate(ctx: Context) -> int:
    with ctx.session() as s:
        info = users.reactivate(s, _user_id(s, ctx.args.email))
    ctx.print(f"{info.email} is active again.")
    return EXIT_OK


def cmd_user_reset_password(ctx: Context) -> int:
    with ctx.session() as s:
        uid = _user_id(s, ctx.args.email)
        password = ctx.passwords.ask(f"New password for {ctx.args.email}", confirm=True)
        info = users.reset_password(s, uid, password)
    ctx.print(f"The password of {info.email} was reset.")
    return EXIT_OK


def cmd_user_import(ctx: Context) -> int:
    data = paths.read_user_file(ctx.args.file, 64 * 1024 * 1024)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{ctx.args.file} is not UTF-8 text.") from None
    with ctx.session() as s:
        n = users.import_users(s, text.splitlines())
    ctx.print(f"Imported {n} user{'s' if n != 1 else ''}.")
    return EXIT_OK


def cmd_deals_list(ctx: Context) -> int:
    a = ctx.args
    query = deal_list.DealQuery(status=DealStatus(a.status) if a.status else None, search=a.search,
                            sort=a.sort, descending=not a.asc, deleted=a.deleted)
    with ctx.session() as s:
        rows = deal_list.list_deals(s, query, offset=a.offset, limit=a.limit)
        total = deal_list.count_deals(s, query)
    if a.json:
        for d in rows:
            ctx.print(json.dumps({"id": d.id, "title": d.title, "status": d.status.value,
                                  "value": str(d.value), "owner": d.created_by_name,
                                  "has_phi": d.has_phi, "updated_at": d.updated_at.isoformat()},
                                 ensure_ascii=False))
        return EXIT_OK
    ctx.print(_table([[d.id, _clip(d.title, 60), d.status.value, _money(d.value),
                       d.created_by_name,
                       "yes" if d.has_phi else "", _when(d.updated_at)] for d in rows],
                     ["ID", "TITLE", "STATUS", "VALUE", "OWNER", "PHI", "UPDATED"]))
    shown_to = a.offset + len(rows)
    ctx.print(f"{a.offset + 1 if rows else 0}-{shown_to} of {total:,} deals")
    return EXIT_OK


def cmd_deals_summary(ctx: Context) -> int:
    with ctx.session() as s:
        rows = deal_list.pipeline(s)
    top = max((r.total for r in rows), default=0) or 1
    table = [[r.status.value, f"{r.count:,}", _money(r.total),
              "#" * max(0, round(30 * r.total / top))] for r in rows]
    table.append(["TOTAL", f"{sum(r.count for r in rows):,}",
                  _money(sum(r.total for r in rows)), ""])
    ctx.print(_table(table, ["STATUS", "DEALS", "VALUE", ""]))
    return EXIT_OK


def cmd_deals_show(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        d = deals.get_deal(s, a.id)
        phi = deals.reveal_phi(s, a.id, a.reason) if a.phi else None
    ctx.print(f"ID:       {d.id}")
    ctx.print(f"Title:    {d.title}")
    ctx.print(f"Status:   {d.status.value}")
    ctx.print(f"Value:    {_money(d.value)}")
    ctx.print(f"Owner:    {d.created_by_name}")
    ctx.print(f"Created:  {_when(d.created_at)}")
    ctx.print(f"Updated:  {_when(d.updated_at)}")
    if d.deleted_at:
        ctx.print(f"Deleted:  {_when(d.deleted_at)}")
    if phi is None:
        ctx.print(f"PHI:      {'present (use --phi to reveal; logged)' if d.has_phi else 'none'}")
    elif not phi:
        ctx.print("PHI:      none")
    else:
        ctx.print("PHI (revealed; this access is logged):")
        for key, value in phi.items():
            ctx.print(f"  {key}: {value}")
    return EXIT_OK


def cmd_deals_add(ctx: Context) -> int:
    a = ctx.args
    if a.phi and a.phi_stdin:
        raise UsageError("give --phi or --phi-stdin, not both")
    with ctx.session() as s:
        phi = a.phi
        if a.phi_stdin:
            phi = ctx.stdin.readline().rstrip("\r\n")
        d = deals.create_deal(s, a.title, a.status, a.value, phi)
    ctx.print(d.id)
    return EXIT_OK


def cmd_deals_import(ctx: Context) -> int:
    rows = deal_import.parse_import(paths.read_user_file(ctx.args.file))
    with ctx.session() as s:
        n = deal_import.import_deals(s, rows, ctx.progress("Importing deals"))
    ctx.print(f"Imported {n:,} deal{'s' if n != 1 else ''}.")
    return EXIT_OK


def cmd_deals_delete(ctx: Context) -> int:
    with ctx.session() as s:
        d = deals.delete_deal(s, ctx.args.id)
    ctx.print(f"Deleted {d.id} (restore with: closeplan-admin deals restore {d.id}).")
    return EXIT_OK


def cmd_deals_restore(ctx: Context) -> int:
    with ctx.session() as s:
        d = deals.restore_deal(s, ctx.args.id)
    ctx.print(f"Restored {d.id}.")
    return EXIT_OK


def cmd_keys_status(ctx: Context) -> int:
    with ctx.session() as s:
        st = key_admin.status(s)
    ctx.print(f"Keyring backend: {st.backend}")
    ctx.print(f"Database key:    {'present' if st.db_key_present else 'MISSING'}")
    ctx.print(f"Audit key:       {'present' if st.audit_key_present else 'MISSING'}")
    ctx.print(_table([[str(v), state, f"{rows:,}", "present" if ok else "MISSING"]
                      for v, state, rows, ok in st.phi_versions],
                     ["PHI KEY", "STATE", "DEALS", "IN KEYRING"]))
    if st.pending_rows:
        ctx.print(f"{st.pending_rows:,} deals still use an older key: run "
                  "'closeplan-admin keys rotate-phi' to finish.")
    return EXIT_OK


def cmd_keys_rotate_phi(ctx: Context) -> int:
    with ctx.session() as s:
        n = key_admin.rotate_phi(s, ctx.progress("Re-encrypting PHI"))
    ctx.print(f"PHI key rotated; {n:,} deals re-encrypted.")
    return EXIT_OK


def cmd_keys_rotate_db(ctx: Context) -> int:
    with ctx.session() as s:
        key_admin.rotate_db(s)
    ctx.print("Database key rotated. Export a new recovery kit: older kits no longer open "
              "this workspace.")
    return EXIT_OK


def cmd_keys_export_kit(ctx: Context) -> int:
    with ctx.session() as s:
        passphrase = ctx.passwords.ask("Kit passphrase", confirm=True)
        key_admin.export_kit(s, ctx.args.file, passphrase)
    ctx.print(f"Recovery kit written to {ctx.args.file}. Keep it and its passphrase apart, "
              "somewhere safe.")
    return EXIT_OK


def cmd_keys_import_kit(ctx: Context) -> int:
    data = key_admin.read_kit_file(ctx.args.file)
    passphrase = ctx.passwords.ask("Kit passphrase")
    restored = key_admin.import_kit(ctx.path, data, passphrase)
    ctx.print(f"Recovery kit imported: {len(restored)} key(s) restored to this keyring.")
    return EXIT_OK


def cmd_audit_verify(ctx: Context) -> int:
    with ctx.session() as s:
        report = audit.verify(s, ctx.progress("Verifying"))
    if report.ok:
        ctx.print(f"Audit chain intact: {report.rows_checked:,} rows verified.")
        return EXIT_OK
    print(f"closeplan-admin: error: audit chain broken at {report.problem}", file=ctx.err)
    return EXIT_FAIL


def cmd_audit_export(ctx: Context) -> int:
    a = ctx.args
    f = audit.AuditFilter(since=_parse_time(a.since, "since"), until=_parse_time(a.until, "until"))
    with ctx.session() as s:
        n = audit.export(s, a.output, a.format, f, ctx.progress("Exporting"))
    ctx.print(f"Exported {n:,} audit records to {a.output} ({a.format}).")
    return EXIT_OK


def cmd_doctor(ctx: Context) -> int:
    from .core.tools import doctor

    checks = doctor.run(ctx.path)
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        ctx.print(f"[{mark}] {c.name.ljust(width)}  {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        print(f"closeplan-admin: error: {len(failed)} check(s) failed; see above.",
              file=ctx.err)
        return EXIT_FAIL
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    main()
