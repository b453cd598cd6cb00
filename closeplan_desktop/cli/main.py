"""closeplan-admin: the command line for admins, IT and scripts, over the same core.

Exit codes: 0 success; 1 a failure the user can fix (one line on stderr says what and
how); 2 a usage error. Passwords never come from arguments: they are asked at the
terminal, or read from standard input with --password-stdin, one line per password in
the order each command's help gives.

Each command is declared beside its handler, in one module per group (see registry);
importing those modules registers them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import __version__
from ..core.domain.errors import ClosePlanError
from ..core.domain.progress import Cancelled
from ..core.security import hardening
from ..core.security.policy import load_policy
from ..core.store import processes
from . import (
    activity,
    audit,
    deal_owner,
    deals,
    keys,
    registry,
    settings,
    sync,
    users,
    views,
    workspace,
)
from .context import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Context, UsageError

# The modules whose commands closeplan-admin offers.
COMMAND_MODULES = (workspace, users, deals, deal_owner, activity, views, keys, audit, settings,
                   sync)
# The order of `closeplan-admin --help` (the newest group last, so older usage lines stay).
TOP_LEVEL = ("init", "demo", "user", "deals", "keys", "audit", "doctor", "settings",
             "workspace", "connect", "sync", "devices")


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser, from the registered commands."""
    parser = argparse.ArgumentParser(
        prog="closeplan-admin",
        description="ClosePlan Desktop administration: workspaces, users, deals, keys and "
                    "audit.",
        epilog="Exit codes: 0 success, 1 failure (with the reason), 2 usage error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--workspace", metavar="DIR", help=argparse.SUPPRESS)
    registry.build_parser(parser, TOP_LEVEL)
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    main()
