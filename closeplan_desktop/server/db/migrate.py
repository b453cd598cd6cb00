"""Migrating a server database with its own Alembic history (`migrations/`)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from .admin import OWNER_ROLE

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class MigrationError(RuntimeError):
    """The database cannot be migrated as asked; the message says why."""


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(admin_dsn: str, revision: str = "head") -> None:
    """Migrate the database of `admin_dsn` to `revision` in one transaction.

    `admin_dsn` logs in as a superuser: decrypt_phi is written in plpython3u, which only
    a superuser may create. Everything else is created after SET ROLE to the owner role,
    so the owner owns it (0003 hands decrypt_phi to the owner too).
    """
    with psycopg.connect(admin_dsn) as probe:
        row = probe.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user"
                            ).fetchone()
        if not row or not row[0]:
            raise MigrationError("Migrating the ClosePlan schema needs a superuser login "
                                 "(decrypt_phi is written in plpython3u).")
    engine = create_engine("postgresql+psycopg://", poolclass=NullPool,
                           creator=lambda: psycopg.connect(admin_dsn))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
            command.upgrade(_config(conn), revision)
    finally:
        engine.dispose()


def current(admin_dsn: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with psycopg.connect(admin_dsn) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
