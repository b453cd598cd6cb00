"""closeplan-admin user ...: the tenant's users (admins)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.domain import paths
from ..core.domain.errors import ValidationError
from ..core.store import workspace
from ..core.usecases import auth, frame, users
from .context import EXIT_OK, Context
from .output import table, when
from .registry import arg, command, group

ROLES = ["USER", "ADMIN"]
USER = group("user", help="manage users (admins); change your own password (passwd)")


def _user_id(s: frame.AuthSession, email: str) -> str:
    return users.find_user_id(s, email)


@command(USER, "add", help="add a user",
         passwords="your password, then the new user's password", args=[
             arg("email"),
             arg("--first-name", required=True),
             arg("--last-name", required=True),
             arg("--role", default="USER", choices=ROLES)])
def add(ctx: Context) -> int:
    a = ctx.args
    with ctx.session() as s:
        password = ctx.passwords.ask(f"New password for {a.email}", confirm=True)
        info = users.add_user(s, a.email, a.first_name, a.last_name, a.role, password)
    ctx.print(f"Added {info.email} ({info.role.value}).")
    return EXIT_OK


@command(USER, "list", help="list the tenant's users")
def list_users(ctx: Context) -> int:
    with ctx.session() as s:
        rows = users.list_users(s)
    ctx.print(table([[u.email, u.full_name, u.role.value,
                      ("active" if u.active else "deactivated")
                      + (", locked out" if u.locked else ""), when(u.last_login_at)]
                     for u in rows], ["EMAIL", "NAME", "ROLE", "STATUS", "LAST SIGN-IN"]))
    return EXIT_OK


@command(USER, "set-role", help="change a user's role",
         args=[arg("email"), arg("role", choices=ROLES)])
def set_role(ctx: Context) -> int:
    with ctx.session() as s:
        info = users.set_role(s, _user_id(s, ctx.args.email), ctx.args.role)
    ctx.print(f"{info.email} is now {info.role.value}.")
    return EXIT_OK


def _on_user(ctx: Context, change: Callable[[frame.AuthSession, str], users.UserInfo],
             done: str) -> int:
    """Sign in, apply `change` to the user named by email, and say `done` about them."""
    with ctx.session() as s:
        info = change(s, _user_id(s, ctx.args.email))
    ctx.print(f"{info.email} {done}.")
    return EXIT_OK


@command(USER, "deactivate", help="deactivate a user", args=[arg("email")])
def deactivate(ctx: Context) -> int:
    return _on_user(ctx, users.deactivate, "is deactivated")


@command(USER, "reactivate", help="reactivate a user", args=[arg("email")])
def reactivate(ctx: Context) -> int:
    return _on_user(ctx, users.reactivate, "is active again")


@command(USER, "unlock", help="lift a user's sign-in lockout (logged)", args=[arg("email")])
def unlock(ctx: Context) -> int:
    return _on_user(ctx, users.unlock, "can sign in again")


@command(USER, "reset-password", help="set a new password for a user",
         passwords="your password, then the user's new password", args=[arg("email")])
def reset_password(ctx: Context) -> int:
    with ctx.session() as s:
        uid = _user_id(s, ctx.args.email)
        password = ctx.passwords.ask(f"New password for {ctx.args.email}", confirm=True)
        info = users.reset_password(s, uid, password)
    ctx.print(f"The password of {info.email} was reset.")
    return EXIT_OK


@command(USER, "passwd", help="change your own password (any user; asks the current "
         "password, then the new one twice)",
         passwords="your current password, then the new password")
def passwd(ctx: Context) -> int:
    # Signs in itself: the current password proves the user and is checked again by core.
    with workspace.open_workspace(ctx.path) as ws:
        current = ctx.passwords.ask(f"Current password for {ctx.args.as_email}")
        s = auth.sign_in(ws, ctx.args.as_email, current)
        new = ctx.passwords.ask("New password", confirm=True)
        users.change_password(s, current, new)
    ctx.print(f"The password of {s.email} was changed.")
    return EXIT_OK


@command(USER, "import", help="import users exported from the ClosePlan server "
         "(JSON lines with bcrypt hashes)", args=[arg("file", type=Path)])
def import_users(ctx: Context) -> int:
    data = paths.read_user_file(ctx.args.file, 64 * 1024 * 1024)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{ctx.args.file} is not UTF-8 text.") from None
    with ctx.session() as s:
        n = users.import_users(s, text.splitlines())
    ctx.print(f"Imported {n} user{'s' if n != 1 else ''}.")
    return EXIT_OK
