"""closeplan-admin connect | sync | devices ...: this laptop and the organisation's server.

`connect` is the first online sign-in (the password is asked, never taken from argv):
it creates the workspace, enrols this device, shows the approval code, waits for an
admin's approval and loads the organisation's data. On an existing standalone workspace
it creates the organisation on the server from it (`core.sync.adopt`), with a setup
code from the server's operator (read like a password, never from argv). `sync` runs
one round (push, then pull). `devices` lists, approves and revokes devices; the server
allows it to admins. These commands act with this device's own server session (kept in
the keyring), so they do not sign in to the workspace, except `devices approve`: its
grants need the PHI keys, which only a signed-in user unlocks.
"""

from __future__ import annotations

import argparse

from ..core.domain.errors import SyncError
from ..core.store import workspace
from ..core.store.layout import META_FILE
from ..core.store.workspace import Workspace
from ..core.sync import adopt, devices, engine
from ..core.sync import connect as connecting
from .context import EXIT_FAIL, EXIT_OK, Context, dash_option, refuse_in_argv
from .output import table
from .registry import arg, command, group

WORKSPACE = arg("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                help="workspace folder (default: $CLOSEPLAN_HOME or the user data folder)")


@command("connect", help="connect this laptop to your organisation's server (first online "
         "sign-in: enrol, wait for approval, load the data); in a connected workspace, "
         "sign in online again; in a standalone workspace, create the organisation on the "
         "server from it (an admin, with the operator's setup code)", common=False, args=[
             arg("url", help="the server's address, https://... (http only to this machine)"),
             arg("--email", required=True, help="your email at the organisation"),
             WORKSPACE,
             arg("--password-stdin", action="store_true",
                 help="read your password from stdin (one line)"),
             arg("--name", help="this device's name in the admins' list (default: the "
                 "computer's name)"),
             arg("--wait", type=float, default=connecting.WAIT_SECONDS, metavar="SECONDS",
                 help="how long to wait for an admin's approval (default 600; 0: do not "
                 "wait, finish later with 'closeplan-admin sync')")])
def connect(ctx: Context) -> int:
    a = ctx.args
    again = (ctx.path / META_FILE).exists()
    if again and _standalone(ctx):
        return _adopt(ctx)
    password = ctx.passwords.ask(f"Password for {a.email}")
    if again:  # a connected workspace signs in online again (its session had ended)
        ws, transport, enrolment = connecting.sign_in_again(ctx.path, a.url, a.email,
                                                            password)
    else:
        ws, transport, enrolment = connecting.start(ctx.path, a.url, a.email, password,
                                                    name=a.name)
    with ws, transport:
        if enrolment.first_device:
            ctx.print("This is the organisation's first device: approved.")
        elif enrolment.status == engine.CONNECTED:
            ctx.print("Signed in to the server again.")
        else:
            ctx.print(f"Approval code: {enrolment.approval_code}")
            ctx.print("Ask an admin to approve this device with that code "
                      f"(closeplan-admin devices approve {enrolment.approval_code}).")
            if not connecting.wait_for_approval(transport, ws.device_id,
                                                timeout=max(0.0, a.wait)):
                ctx.fail("This device is not approved yet. Once an admin has approved it, "
                         "run 'closeplan-admin sync' to finish connecting.")
                return EXIT_FAIL
        conn = connecting.finish(ws, transport, progress=ctx.progress("Loading"))
        ctx.print(f"Connected to {conn.url}: {_count(ws, 'deals')} deals, "
                  f"{_count(ws, 'users')} users.")
    return EXIT_OK


def _standalone(ctx: Context) -> bool:
    with workspace.open_workspace(ctx.path) as ws:
        return engine.connection(ws) is None


def _adopt(ctx: Context) -> int:
    """A standalone workspace: the organisation is created on the server from it."""
    a = ctx.args
    password = ctx.passwords.ask(f"Password for {a.email}")
    code = ctx.read_line("Setup code from the server's operator", secret=True)
    ws, transport, done = adopt.connect_workspace(ctx.path, a.url, a.email, password, code,
                                                  name=a.name,
                                                  progress=ctx.progress("Uploading"))
    with ws, transport:
        verb = "Created" if done.created else "Finished creating"
        ctx.print(f"{verb} the organisation on {transport.url} from this workspace: "
                  f"{done.deals} deals and {done.audit_rows} audit rows uploaded; this "
                  "laptop is its first device.")
        if done.users_to_reset:
            ctx.print("These users cannot sign in online until an admin resets their "
                      "password (closeplan-admin users reset-password EMAIL, then sync): "
                      + ", ".join(done.users_to_reset))
    return EXIT_OK


def _count(ws: Workspace, table_name: str) -> int:
    with ws.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT count(*) FROM {table_name}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


@command("sync", help="sync with the server once: push this laptop's changes, pull the "
         "others'", common=False, args=[WORKSPACE])
def sync(ctx: Context) -> int:
    with workspace.open_workspace(ctx.path) as ws:
        conn = engine.connection(ws)
        if conn is not None and conn.status == engine.AWAITING:
            with engine.open_transport(ws, conn) as transport:
                connecting.finish(ws, transport, progress=ctx.progress("Loading"))
            ctx.print("This device is approved and connected.")
        result = engine.sync_once(ws)
        ctx.print(f"Pushed {result.pushed}, pulled {result.pulled}; "
                  f"conflicts {result.conflicts}, rejections {result.rejections}.")
        if result.audit_rows is None:
            ctx.print("Audit rows wait for a signed-in sync (the device key that signs "
                      "them opens only with a password): sync from the app.")
        elif result.audit_rows:
            ctx.print(f"Uploaded {result.audit_rows} audit rows.")
        for code, message in _new_rejections(ws, result.rejections):
            ctx.print(f"  refused ({code}): {message}")
        pending = engine.pending_count(ws)
        if pending:
            ctx.print(f"{pending} changes still wait to be pushed.")
    return EXIT_OK


def _new_rejections(ws: Workspace, count: int) -> list[tuple[str, str]]:
    if not count:
        return []
    with ws.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT code, message FROM sync_rejections ORDER BY created_at DESC, mutation_id "
            "DESC LIMIT ?", (count,)).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


DEVICES = group("devices", help="this organisation's devices: list, approve, revoke (admins)")


@command(DEVICES, "list", help="list the organisation's devices (yours, for a user)",
         common=False, args=[WORKSPACE, arg("--status", choices=["PENDING", "ACTIVE",
                                                                   "REVOKED"])])
def list_devices(ctx: Context) -> int:
    with workspace.open_workspace(ctx.path) as ws, engine.open_transport(ws) as transport:
        found = devices.list_devices(transport, ctx.args.status)
        me = ws.device_id
    ctx.print(table([[d.id + (" (this one)" if d.id == me else ""), d.name, d.status,
                      d.user_id, d.created_at[:19]] for d in found],
                    ["DEVICE", "NAME", "STATUS", "USER", "ENROLLED"]))
    return EXIT_OK


# Signs in (--as): the approval grants the new device the PHI keys, which only a
# signed-in user unlocks here.
@command(DEVICES, "approve", help="approve a waiting device with the code its screen shows "
         "(signs in: the approval grants it the PHI keys)", args=[
             arg("code", help="the 6-digit code the new device shows"),
             arg("--device", metavar="ID", help="the device (needed when several wait)")])
def approve(ctx: Context) -> int:
    with ctx.session() as session, engine.open_transport(session.ws) as transport:
        done = devices.approve(session.ws, transport, ctx.args.code, ctx.args.device)
    ctx.print(f"Approved {done.name} ({done.id}).")
    return EXIT_OK


@command(DEVICES, "revoke", help="revoke a device: its sessions and keys end, and it wipes "
         "its data at its next contact", common=False, args=[
             arg("device_id", metavar="ID"), WORKSPACE,
             dash_option("--reason", "the reason", "why (kept in the audit)")])
def revoke(ctx: Context) -> int:
    refuse_in_argv(ctx.args.reason, "--reason", "A reason")
    reason = ctx.read_line("Reason", secret=False) if ctx.args.reason == "-" else None
    with workspace.open_workspace(ctx.path) as ws, engine.open_transport(ws) as transport:
        if ctx.args.device_id == ws.device_id:
            raise SyncError("This is the device you are using; revoke it from another one.")
        devices.revoke(transport, ctx.args.device_id, reason)
    ctx.print(f"Revoked {ctx.args.device_id}.")
    return EXIT_OK
