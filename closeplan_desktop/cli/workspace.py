"""Commands on a whole workspace: init (a new one), demo (the demo one), doctor, and
workspace accept-restore (an administrator accepts a restored copy that opening refuses
as older than the keyring's anchor)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.domain.errors import ValidationError
from ..core.security.policy import load_policy
from ..core.store import workspace
from ..core.tools import demo
from ..core.usecases import restore, users
from .context import EXIT_FAIL, EXIT_OK, Context, dash_option, refuse_in_argv
from .registry import arg, command, group

WORKSPACE = group("workspace", help="actions on the whole workspace (administrators)")


@command("init", help="create a workspace with a tenant and its first admin",
         acting=False, passwords="the new admin's password", args=[
             arg("--tenant", required=True, help="organisation name"),
             arg("--domain", help="organisation domain, such as example.org"),
             arg("--email", required=True, help="first admin's email"),
             arg("--first-name", required=True),
             arg("--last-name", required=True)])
def init(ctx: Context) -> int:
    a = ctx.args
    path = ctx.path
    password = ctx.passwords.ask("New admin password", confirm=True)
    policy = load_policy()
    from ..core.domain import validation

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


@command("demo", help="create (or show) the demo workspace and its credentials",
         common=False, args=[
             arg("--workspace", metavar="DIR", default=argparse.SUPPRESS),
             arg("--deals", type=int, default=3000, help="number of deals (default 3000)")])
def demo_workspace(ctx: Context) -> int:
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
    # A run with a throwaway keyring (packaging/run-demo.sh without a desktop) says
    # itself what to run: this workspace's keys end with that run.
    if not os.environ.get("CLOSEPLAN_EPHEMERAL_KEYRING"):
        ctx.print(f"Try: closeplan-admin deals list --workspace {info.path} --as "
                  f"{info.admin_email}")
    return EXIT_OK


@command("doctor", help="check keyring, keys, database, schema and audit chain",
         common=False, args=[arg("--workspace", metavar="DIR", default=argparse.SUPPRESS)])
def check_workspace(ctx: Context) -> int:
    from ..core.tools import doctor

    checks = doctor.run(ctx.path)
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        ctx.print(f"[{mark}] {c.name.ljust(width)}  {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        ctx.fail(f"{len(failed)} check(s) failed; see above.")
        return EXIT_FAIL
    return EXIT_OK


@command(WORKSPACE, "accept-restore", help="accept a restored copy that opening refuses as "
         "older than this device's record (admin; logged)",
         passwords="your password, then the reason", args=[
             dash_option("--reason", "the reason", "why this older copy is the right one",
                         required=True)])
def accept_restore(ctx: Context) -> int:
    refuse_in_argv(ctx.args.reason, "--reason", "A reason")
    password = ctx.passwords.ask(f"Password for {ctx.args.as_email}")
    reason = ctx.read_line("Reason for accepting this restore", secret=False)
    done = restore.accept_restore(ctx.path, ctx.args.as_email, password, reason)
    ctx.print(f"Accepted the restored copy at {ctx.path}: the audit counter goes from "
              f"{done.from_counter} back to {done.to_counter}, recorded as a "
              "RESTORE_ACCEPTED event. The workspace opens again.")
    return EXIT_OK
