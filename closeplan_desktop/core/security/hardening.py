"""Process hardening for a process that will hold PHI and keys in memory."""

from __future__ import annotations

import logging
import os
import re
import sys

_applied = False
PR_SET_DUMPABLE = 4  # prctl(2)


def apply() -> None:
    """Harden this process before it holds PHI or keys: no core dumps (no PHI or keys in
    a crash file), not dumpable on Linux (no ptrace attach or /proc/PID/mem reads by
    other processes of the same user), and a umask of 0077 (every file it makes is the
    user's alone)."""
    global _applied
    os.umask(0o077)  # every call: something may have loosened it since
    if _applied:
        return
    if sys.platform != "win32":
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError):  # pragma: no cover - some sandboxes refuse
            pass
    if sys.platform.startswith("linux"):
        _not_dumpable()
    _applied = True


def _not_dumpable() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: nothing to clear
        pass


def is_dumpable() -> bool | None:
    """Whether the process is dumpable (Linux; None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE


# Values that look like secrets or PHI: hex keys, bcrypt hashes, PHI envelopes, emails.
_REDACT = [
    re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}"),
    re.compile(r"x'[0-9a-fA-F]{16,}'"),
    re.compile(r"\b[0-9a-fA-F]{64}\b"),
    re.compile(r'\{"v":\d+,"k":\d+,"n":"[^"]*","c":"[^"]*"\}'),
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
]


def redact(text: str) -> str:
    """`text` with anything shaped like a key, hash, PHI envelope or email replaced."""
    for pattern in _REDACT:
        text = pattern.sub("[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that formats each record and redacts secret-shaped values.

    Core never logs PHI on purpose; this is the net under that rule, for messages that
    carry library exception texts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # Tracebacks can hold bound SQL parameters: keep only the exception's type.
            exc_type = record.exc_info[0]
            record.exc_info = None
            record.msg = f"{record.msg} [{exc_type.__name__ if exc_type else 'error'}]"
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of `logger` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
