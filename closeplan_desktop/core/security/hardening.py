"""Process hardening for a process that will hold PHI and keys in memory."""

from __future__ import annotations

import logging
import re
import sys

_applied = False


def apply() -> None:
    """Turn core dumps off for this process (no PHI or keys in a crash file)."""
    global _applied
    if _applied:
        return
    if sys.platform != "win32":
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError):  # pragma: no cover - some sandboxes refuse
            pass
    _applied = True


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
