"""Alembic environment: runs on the connection the workspace hands it (never a URL)."""

from __future__ import annotations

from alembic import context

from closeplan_desktop.core.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=True, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
