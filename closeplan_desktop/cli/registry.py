"""The commands of closeplan-admin, each declared beside its handler.

A command module declares its group once (`group("deals", help=...)`) and each command
with `@command("deals", "list", help=..., args=[arg("--json", ...)])` over the handler.
`build_parser` turns the registry into the argparse tree; the order of the top level is
given by its caller, so `--help` lists the commands as people look for them.

Every command that signs in gets `--workspace`, `--as` and `--password-stdin` first
(`acting=True`, the default); `passwords` names, for its help, the lines
--password-stdin reads. `common=False` leaves all three to the command's own `args`
(such a command does not sign in).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Context

Handler = Callable[["Context"], int]


@dataclass(frozen=True)
class Arg:
    """One add_argument call: its flags (or name) and options."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """An argument of a command, in add_argument's own terms."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("deals", "list"), or ("init",) at the top level
    help: str
    handler: Handler
    args: tuple[Arg, ...]
    acting: bool  # signs in: has --as and --password-stdin
    passwords: str
    common: bool

    @property
    def name(self) -> str:
        return " ".join(self.path)


GROUPS: dict[str, str] = {}  # group name -> its help
COMMANDS: list[Command] = []


def group(name: str, help: str) -> str:
    """Declare a group of commands (`closeplan-admin NAME ACTION`); returns its name."""
    if GROUPS.get(name, help) != help:
        raise ValueError(f"group {name!r} is declared twice")
    GROUPS[name] = help
    return name


def command(*path: str, help: str, args: Sequence[Arg] = (),
            acting: bool = True, passwords: str = "",
            common: bool = True) -> Callable[[Handler], Handler]:
    """Register the decorated handler as `closeplan-admin PATH...`."""
    if not 1 <= len(path) <= 2 or (path[0] in GROUPS) != (len(path) == 2):
        raise ValueError(f"command {path!r}: one name, or a declared group and a name")

    def register(handler: Handler) -> Handler:
        if any(c.path == path for c in COMMANDS):
            raise ValueError(f"command {' '.join(path)!r} is declared twice")
        COMMANDS.append(Command(path, help, handler, tuple(args), acting and common,
                                passwords, common))
        return handler

    return register


def _common(p: argparse.ArgumentParser, acting: bool, passwords: str) -> None:
    p.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS,
                   help="workspace folder (default: $CLOSEPLAN_HOME or the user data folder)")
    if acting:
        p.add_argument("--as", dest="as_email", metavar="EMAIL", required=True,
                       help="act as this user (asks for their password)")
    if acting or passwords:
        order = passwords or "your password"
        p.add_argument("--password-stdin", action="store_true",
                       help=f"read passwords from stdin, one per line: {order}")


def _add(sub: Any, cmd: Command) -> None:
    p = sub.add_parser(cmd.path[-1], help=cmd.help)
    if cmd.common:
        _common(p, cmd.acting, cmd.passwords)
    for a in cmd.args:
        p.add_argument(*a.flags, **a.options)
    p.set_defaults(func=cmd.handler)


def build_parser(parser: argparse.ArgumentParser, order: Sequence[str]) -> None:
    """Add every registered command to `parser`, top-level names in `order`."""
    top = {c.path[0] for c in COMMANDS}
    if set(order) != top or len(order) != len(top):
        raise ValueError(f"the top-level order {list(order)} must name each of {sorted(top)} "
                         "once")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in order:
        if name not in GROUPS:
            (cmd,) = (c for c in COMMANDS if c.path == (name,))
            _add(sub, cmd)
            continue
        actions = sub.add_parser(name, help=GROUPS[name]).add_subparsers(
            dest="action", metavar="ACTION", required=True)
        for cmd in COMMANDS:
            if cmd.path[0] == name:
                _add(actions, cmd)
