"""What a running server needs to know: where its database is, where its keys are, how
long tokens live. Built by `closeplan-server` from its options, or by tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ACCESS_TOKEN_MINUTES = 15
REFRESH_TOKEN_DAYS = 30
# Requests larger than this are refused before they are read (push batches are bounded
# well below it).
MAX_BODY_BYTES = 8 * 1024 * 1024


class ConfigError(ValueError):
    """A setting the server cannot start with; the message says which and what to do."""


@dataclass(frozen=True)
class ServerConfig:
    """A server's settings. `dsn` logs in as the app role (closeplan_app): never the
    owner, never a superuser, so row-level security always applies."""

    dsn: str
    escrow_key_file: Path | None = None
    signing_key_file: Path | None = None
    pool_min: int = 2
    pool_max: int = 16
    access_minutes: int = ACCESS_TOKEN_MINUTES
    refresh_days: int = REFRESH_TOKEN_DAYS
    max_body_bytes: int = MAX_BODY_BYTES
    # The hash of the one-time code that lets the first admin create the first tenant
    # (`closeplan-server dev` prints the code; None: no such code, use create-tenant).
    setup_code_hash: bytes | None = None

    def __post_init__(self) -> None:
        if not self.dsn.strip():
            raise ConfigError("No database given: pass --dsn with a connection string for "
                              "the closeplan_app role.")
        if not 1 <= self.pool_min <= self.pool_max <= 200:
            raise ConfigError("The pool size must satisfy 1 <= min <= max <= 200.")
        if not 1 <= self.access_minutes <= 24 * 60:
            raise ConfigError("Access tokens must live between 1 minute and 1 day.")
        if not 1 <= self.refresh_days <= 365:
            raise ConfigError("Refresh tokens must live between 1 and 365 days.")
