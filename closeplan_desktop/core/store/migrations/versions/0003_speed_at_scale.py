"""Speed at a million deals: sort indexes that end in the id tie-breaker, per-status
counters kept by triggers, and a prefix index for search as you type.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

- Every list is ordered by a column and then by ``id``. The sort indexes of 0001/0002 end
  at the column, so ties (an import stamps thousands of rows with one time) were sorted
  in a temporary B-tree; they are rebuilt as (tenant_id, column, id), and sorting by
  status gets its own. Sorting, filtering and paging by key stay bound by an index.
- ``deal_stats`` holds the count and the total value (cents) per tenant, status and
  live/deleted, kept in step by triggers in the transaction of each change. The pipeline
  and the count of an unsearched list read it instead of scanning every deal. SQLite
  turns an integer sum that overflows 64 bits into a REAL: core then sums exactly from
  the deals, as before.
- ``deals_fts`` is rebuilt with a prefix index of 2 characters, so that an early
  keystroke of a search reads one doclist instead of merging every term it starts (the
  1- and 3-character indexes cost more at import than they saved).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = "WHERE deleted_at IS NULL"
INDEXES = {
    "deals_live_updated_idx": "tenant_id, updated_at, id",
    "deals_live_created_idx": "tenant_id, created_at, id",
    "deals_live_title_idx": "tenant_id, title, id",
    "deals_live_value_idx": "tenant_id, value, id",
    "deals_live_status_idx": "tenant_id, status, updated_at, id",
}

STATS = [
    """
    CREATE TABLE deal_stats (
        tenant_id VARCHAR(25) NOT NULL,
        status VARCHAR(16) NOT NULL,
        deleted INTEGER NOT NULL,
        count INTEGER NOT NULL,
        total INTEGER NOT NULL,
        CONSTRAINT deal_stats_pkey PRIMARY KEY (tenant_id, status, deleted)
    )
    """,
    """
    CREATE TRIGGER deal_stats_ai AFTER INSERT ON deals BEGIN
        INSERT INTO deal_stats (tenant_id, status, deleted, count, total)
        VALUES (new.tenant_id, new.status, new.deleted_at IS NOT NULL, 1, new.value)
        ON CONFLICT (tenant_id, status, deleted)
        DO UPDATE SET count = count + 1, total = total + excluded.total;
    END
    """,
    """
    CREATE TRIGGER deal_stats_ad AFTER DELETE ON deals BEGIN
        UPDATE deal_stats SET count = count - 1, total = total - old.value
        WHERE tenant_id = old.tenant_id AND status = old.status
          AND deleted = (old.deleted_at IS NOT NULL);
    END
    """,
    """
    CREATE TRIGGER deal_stats_au AFTER UPDATE OF tenant_id, status, value, deleted_at
    ON deals BEGIN
        UPDATE deal_stats SET count = count - 1, total = total - old.value
        WHERE tenant_id = old.tenant_id AND status = old.status
          AND deleted = (old.deleted_at IS NOT NULL);
        INSERT INTO deal_stats (tenant_id, status, deleted, count, total)
        VALUES (new.tenant_id, new.status, new.deleted_at IS NOT NULL, 1, new.value)
        ON CONFLICT (tenant_id, status, deleted)
        DO UPDATE SET count = count + 1, total = total + excluded.total;
    END
    """,
]

FTS = [
    "DROP TRIGGER deals_fts_ai",
    "DROP TRIGGER deals_fts_ad",
    "DROP TRIGGER deals_fts_au",
    "DROP TABLE deals_fts",
    """
    CREATE VIRTUAL TABLE deals_fts USING fts5(
        title, content='deals', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2', prefix='2')
    """,
    """
    CREATE TRIGGER deals_fts_ai AFTER INSERT ON deals BEGIN
        INSERT INTO deals_fts(rowid, title) VALUES (new.rowid, new.title);
    END
    """,
    """
    CREATE TRIGGER deals_fts_ad AFTER DELETE ON deals BEGIN
        INSERT INTO deals_fts(deals_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    END
    """,
    """
    CREATE TRIGGER deals_fts_au AFTER UPDATE OF title ON deals BEGIN
        INSERT INTO deals_fts(deals_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
        INSERT INTO deals_fts(rowid, title) VALUES (new.rowid, new.title);
    END
    """,
    "INSERT INTO deals_fts(deals_fts) VALUES ('rebuild')",
]


def _fill_stats() -> None:
    """Counters for the deals already there; exact sums, even past 64 bits."""
    bind = op.get_bind()
    groups: dict[tuple[str, str, int], list[int]] = {}
    for tenant, status, deleted, value in bind.execute(text(
            "SELECT tenant_id, status, deleted_at IS NOT NULL, value FROM deals")):
        acc = groups.setdefault((tenant, status, deleted), [0, 0])
        acc[0] += 1
        acc[1] += value
    for (tenant, status, deleted), (count, total) in groups.items():
        # A total past 64 bits is stored as a REAL, as the triggers would: core then
        # sums that status exactly from the deals.
        stored: int | float = total if total < 2**63 else float(total)
        bind.execute(text("INSERT INTO deal_stats (tenant_id, status, deleted, count, total) "
                          "VALUES (:t, :s, :d, :c, :v)"),
                     {"t": tenant, "s": status, "d": deleted, "c": count, "v": stored})


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON deals ({columns}) {LIVE}")
    op.execute(f"CREATE INDEX deals_live_status_id_idx ON deals (tenant_id, status, id) {LIVE}")
    for stmt in STATS:
        op.execute(stmt)
    _fill_stats()
    for stmt in FTS:
        op.execute(stmt)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
