"""Deal owner, expected close date and probability (issue 15), with the indexes of
"my deals", the close-date list and the forecast, and weighted totals in deal_stats.

- ``owner_id``: who the deal belongs to now (``created_by_id`` stays who created it).
  Existing deals get their creator. SQLite cannot add a NOT NULL column that references
  another table without rebuilding ``deals`` (its rowids are the search index's), so
  the column is NOT NULL with an empty default and core always writes a user's id; the
  server keeps the composite foreign key.
- ``expected_close_date``: ISO ``YYYY-MM-DD`` text, nullable.
- ``probability``: 0..100, nullable (NULL: the status default, `core.domain.probability`).
- Indexes on live rows, each ending in id (0003): owner with updated_at ("my deals",
  newest first); owner with id, covering status, value and probability (sort by owner,
  and the forecast of one owner without reading the table); the close date as
  ``ifnull(expected_close_date, '')`` so that deals without a date sort first and a
  page's key is never NULL, covering the same columns and the owner (close-date
  filters and sorts, "closing this month", overdue).
- ``deal_stats.weighted``: per tenant, status and live/deleted, the sum of value (cents)
  times the effective probability (percent), kept by the same triggers as count and
  total, so that the tenant's weighted forecast reads four rows.

Revision ID: 0009_owner
Revises: 0008_activities
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0009_owner"
down_revision = "0008_activities"
branch_labels = None
depends_on = None

LIVE = "WHERE deleted_at IS NULL"
# The status defaults of this revision (core.domain.probability.DEFAULTS; a test checks
# they agree): frozen here, as a migration is.
DEFAULTS = {"DRAFT": 10, "ACTIVE": 50, "CLOSED_WON": 100, "CLOSED_LOST": 0}


def effective_sql(status: str, probability: str) -> str:
    """The effective probability of a row in SQL (the stored one, else the default)."""
    whens = " ".join(f"WHEN '{st}' THEN {pct}" for st, pct in DEFAULTS.items())
    return f"coalesce({probability}, (CASE {status} {whens} ELSE 0 END))"


CLOSE_KEY = "ifnull(expected_close_date, '')"
INDEXES = {
    "deals_live_owner_idx": "tenant_id, owner_id, updated_at, id",
    "deals_live_owner_id_idx": "tenant_id, owner_id, id, status, value, probability",
    "deals_live_close_idx": (f"tenant_id, {CLOSE_KEY}, id, status, value, probability, "
                             "owner_id"),
}


def weighted_sql(row: str) -> str:
    """Value (cents) times effective probability (percent) of trigger row `row`."""
    return f"{row}.value * {effective_sql(f'{row}.status', f'{row}.probability')}"


def stats_triggers() -> list[str]:
    """deal_stats' triggers (0003's) keeping `weighted` too."""
    # Constant SQL built from this module's names only (no input).
    add = ("INSERT INTO deal_stats (tenant_id, status, deleted, count, total, weighted) "  # noqa: S608
           f"VALUES (new.tenant_id, new.status, new.deleted_at IS NOT NULL, 1, new.value, "
           f"{weighted_sql('new')}) ON CONFLICT (tenant_id, status, deleted) DO UPDATE SET "
           f"count = count + 1, total = total + excluded.total, "
           f"weighted = weighted + excluded.weighted;")
    remove = ("UPDATE deal_stats SET count = count - 1, total = total - old.value, "  # noqa: S608
              f"weighted = weighted - {weighted_sql('old')} WHERE tenant_id = old.tenant_id "
              f"AND status = old.status AND deleted = (old.deleted_at IS NOT NULL);")
    return [
        "DROP TRIGGER deal_stats_ai", "DROP TRIGGER deal_stats_ad", "DROP TRIGGER deal_stats_au",
        f"CREATE TRIGGER deal_stats_ai AFTER INSERT ON deals BEGIN {add} END",
        f"CREATE TRIGGER deal_stats_ad AFTER DELETE ON deals BEGIN {remove} END",
        "CREATE TRIGGER deal_stats_au AFTER UPDATE OF tenant_id, status, value, deleted_at, "
        f"probability ON deals BEGIN {remove} {add} END",
    ]


def upgrade() -> None:
    op.execute("ALTER TABLE deals ADD COLUMN owner_id VARCHAR(25) NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE deals ADD COLUMN expected_close_date VARCHAR(10)")
    op.execute("ALTER TABLE deals ADD COLUMN probability INTEGER CONSTRAINT "
               "deals_probability_range_check CHECK (probability BETWEEN 0 AND 100)")
    op.execute("UPDATE deals SET owner_id = created_by_id")
    op.execute("ALTER TABLE deal_stats ADD COLUMN weighted INTEGER NOT NULL DEFAULT 0")
    # Every existing deal has the status default: weighted = total x default percent.
    op.execute(f"UPDATE deal_stats SET weighted = total * {effective_sql('status', 'NULL')}")  # noqa: S608
    for statement in stats_triggers():
        op.execute(statement)
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON deals ({columns}) {LIVE}")


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
