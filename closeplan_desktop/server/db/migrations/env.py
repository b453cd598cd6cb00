"""Alembic environment of the server's schema: runs on the connection `migrate.upgrade`
hands it (a superuser session that has SET ROLE to the owner role), never on a URL."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
