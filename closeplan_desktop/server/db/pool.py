"""The API's connections: one psycopg 3 pool for the app role, one transaction per unit
of work, the tenant (and user) context set transaction-locally at its start.

This is how the seed's "connection pooling per tenant" is met: any pooled connection
serves any tenant, because the context lives only as long as the transaction that set
it (set_config(..., true)); the next transaction on that connection starts with none, so
it sees nothing until it sets its own. That is also what PgBouncer's transaction mode
needs, hence no server-side prepared statements by default (prepare_threshold=None).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

Connection = psycopg.Connection[TupleRow]


class Database:
    """The pool of the API's database role (never the owner, never a superuser)."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 prepare_threshold: int | None = None, timeout: float = 30.0) -> None:
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            dsn, min_size=min_size, max_size=max_size, timeout=timeout, open=True,
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold},
            name="closeplan")

    @contextmanager
    def transaction(self, tenant_id: str | None,
                    user_id: str | None = None) -> Iterator[Connection]:
        """A connection inside one transaction whose tenant and user context are set
        (None: no tenant, which sees no tenant row). Commits when the block ends,
        rolls back when it raises; the context ends with the transaction either way."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT set_tenant_context(%s), set_user_context(%s)",
                         (tenant_id or "", user_id or ""))
            yield conn

    def tenant_for_email(self, email: str) -> str | None:
        """Sign-in's first step: the tenant an email belongs to (the directory's narrow
        SECURITY DEFINER function; the caller then sets that tenant's context)."""
        with self.transaction(None) as conn:
            row = conn.execute("SELECT tenant_for_email(%s)", (email,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
