"""What every command shares: the exit codes, where passwords come from, progress on
stderr, and the `Context` a handler gets (its arguments, the streams, the workspace path
and a signed-in session)."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..core.domain import paths
from ..core.domain.errors import ValidationError
from ..core.store import workspace
from ..core.sync import signin as signing_in
from ..core.usecases import frame
from .registry import Arg, arg

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


def refuse_in_argv(value: str | None, flag: str, what: str) -> None:
    """Refuse PHI, a reason or a secret given on the command line (issue 13, finding 9):
    argv is in the process list and the shell history. Only `FLAG -` is accepted, and the
    message never repeats the value."""
    if value is not None and value != "-":
        raise UsageError(f"{what} on the command line could be read by other users of this "
                         "computer (the process list) and stays in your shell history, so "
                         f"it is not accepted: give '{flag} -' and pipe it on standard "
                         "input (after any --password-stdin lines), or give "
                         f"'{flag} -' at a terminal to be asked for it.")


def dash_option(flag: str, what: str, help: str, required: bool = False) -> Arg:
    """An option whose value is read from stdin or a prompt, never argv: `FLAG -`."""
    return arg(flag, nargs="?", const="-", metavar="-", required=required,
               help=f"{help}; {what} is read from standard input or asked at the terminal "
                    "(never taken from the command line)")


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


class Context:
    """One run of one command: its parsed arguments and streams, and what it may need."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO,
                 stdin: TextIO) -> None:
        self.args, self.out, self.err, self.stdin = args, out, err, stdin
        self.passwords = Passwords(getattr(args, "password_stdin", False), stdin)

    @property
    def path(self) -> Path:
        given = getattr(self.args, "workspace", None)
        return Path(given).expanduser() if given else paths.default_workspace()

    def read_line(self, what: str, secret: bool) -> str:
        """One line of PHI or a reason: the next line of standard input when it is piped
        (after the password lines), else asked at the terminal, hidden for a secret."""
        if self.stdin.isatty():
            return getpass.getpass(f"{what}: ") if secret else input(f"{what}: ")
        line = self.stdin.readline()
        if not line:
            raise ValidationError(f"Standard input ended before the {what.lower()}: pipe it "
                                  "in as one line (after any --password-stdin lines).")
        return line.rstrip("\r\n")

    def print(self, *parts: object) -> None:
        print(*parts, file=self.out)

    def fail(self, message: str) -> None:
        """One error line on stderr, for a command that then exits 1 itself."""
        print(f"closeplan-admin: error: {message}", file=self.err)

    @contextmanager
    def session(self) -> Iterator[frame.AuthSession]:
        with workspace.open_workspace(self.path) as ws:
            password = self.passwords.ask(f"Password for {self.args.as_email}")
            yield signing_in.sign_in(ws, self.args.as_email, password)

    def progress(self, label: str) -> Reporter:
        return Reporter(label, self.err)
