"""Cluster-level administration, run as a superuser: the two roles and the databases.

- `closeplan_owner` (NOLOGIN) owns the schema, every table and function, and runs the
  migrations (a superuser session that has done SET ROLE to it).
- `closeplan_app` is what the API logs in as: not the owner, not a member of it, not
  superuser, no BYPASSRLS, so row-level security always applies to it.

Roles belong to the cluster, not to a database: every database of the cluster shares them.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

OWNER_ROLE = "closeplan_owner"
APP_ROLE = "closeplan_app"

# Built from the constants above, never from input.
_ROLES = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN;
    END IF;
END
$$;
ALTER ROLE {OWNER_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT;
"""  # noqa: S608


def ensure_roles(admin_dsn: str, app_password: str | None = None) -> None:
    """Create the owner and app roles when missing and (re)state their attributes; set
    the app role's password when one is given (a Unix-socket trust setup needs none)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(_ROLES)
        if app_password is not None:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(app_password)))


def create_database(admin_dsn: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE `name` owned by the owner role, copied from `template` if given
    (a template takes no connections while it is copied)."""
    query = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                        sql.Identifier(OWNER_ROLE))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(query)


def drop_database(admin_dsn: str, name: str) -> None:
    """DROP DATABASE `name`, ending its sessions."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
