"""The SQLCipher database: engine, connections and transactions.

Every connection is opened with the raw 256-bit key (``PRAGMA key = "x'...'"``: no
passphrase KDF at each start), temporary tables kept in memory so that nothing leaves
the encrypted file, and foreign keys on. Writes take the database lock at BEGIN
(``BEGIN IMMEDIATE``) so that the audit chain's sequence can never be taken twice.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from ..domain.errors import StorageError
from . import search


def raw_connect(path: Path, key: bytes) -> sqlcipher.Connection:
    """A DB-API connection to the encrypted file, keyed and configured."""
    conn = sqlcipher.connect(str(path), check_same_thread=False, isolation_level=None,
                             timeout=30)
    # SQLCipher logs a failed key check to stderr; ClosePlan reports it in its own words.
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    configure(conn)
    return conn


# Pages SQLCipher keeps decrypted per engine connection (KiB, negative as SQLite wants):
# a warm list or search reads its index pages from here instead of decrypting them again.
CACHE_KIB = 32768
# For bulk writes (imports): each index a row enters sits on its own pages, and at a
# million deals the random ones (title, value) no longer fit CACHE_KIB.
BULK_CACHE_KIB = 262144


def configure(conn: sqlcipher.Connection) -> None:
    """The settings of every connection, after its key."""
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function(search.MATCH_FUNCTION, 2, search.title_match, deterministic=True)


def key_opens(path: Path, key: bytes) -> bool:
    """True when `key` decrypts the file at `path`."""
    conn = raw_connect(path, key)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlcipher.DatabaseError:
        return False
    finally:
        conn.close()


def make_engine(path: Path, key: bytes) -> Engine:
    """A SQLAlchemy engine over the encrypted file."""
    return engine_over(functools.partial(raw_connect, path, key))


# The function each engine opens its connections with (picklable when it is a partial of a
# module function, as make_engine's is): worker processes open their own from it.
_connectors: weakref.WeakKeyDictionary[Engine, Callable[[], sqlcipher.Connection]] = \
    weakref.WeakKeyDictionary()


def connector(engine: Engine) -> Callable[[], sqlcipher.Connection] | None:
    """The function that opens (keyed, configured) connections for `engine`."""
    return _connectors.get(engine)


def engine_over(connect: Callable[[], sqlcipher.Connection]) -> Engine:
    """The engine core uses, over connections that `connect` opens and configures
    (`make_engine` keys them; the benchmark's unencrypted baseline does not)."""

    def creator() -> sqlcipher.Connection:
        conn = connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    # hide_parameters: bound values (titles, envelopes, emails) never reach an exception
    # text or a log line.
    # pool_use_lifo: the connection used last is handed out next, so its page cache (each
    # connection decrypts into its own) is the warm one.
    engine = create_engine("sqlite://", creator=creator, module=sqlcipher,
                           poolclass=QueuePool, pool_size=4, max_overflow=4,
                           pool_use_lifo=True, hide_parameters=True)

    _connectors[engine] = connect

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@contextmanager
def bulk_cache(conn: Any) -> Iterator[None]:
    """A larger page cache on `conn` (a SQLAlchemy connection) while a bulk write runs."""
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = -{CACHE_KIB}")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A transaction that holds the write lock from its start; commits on success."""
    with translate_storage_errors(), Session(
        engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
    ) as session, session.begin():
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with translate_storage_errors(), Session(engine, expire_on_commit=False) as session, \
            session.begin():
        yield session


@contextmanager
def translate_storage_errors() -> Iterator[None]:
    """Turn disk-full and read-only failures into a clear message; the write is rolled back."""
    try:
        yield
    except (OperationalError, DatabaseError) as exc:
        text = str(getattr(exc, "orig", exc)).lower()
        if "full" in text:
            raise StorageError("The disk is full, so the change was not saved (nothing was "
                               "lost). Free some space and try again.") from None
        if "readonly" in text or "read-only" in text:
            raise StorageError("The workspace is on read-only storage, so the change was not "
                               "saved. Move it to writable storage to make changes.") from None
        if "disk i/o" in text:
            raise StorageError("The disk reported an I/O error, so the change was not saved. "
                               "Check the disk and try again.") from None
        raise
