"""The local mirror of ClosePlan's schema (the seed's names) and the desktop's additions.

Table and column names follow the seed verbatim (snake_case); every addition is listed
in docs/architecture.md's schema section with its reason. Times are stored as fixed-width UTC
ISO text, so they sort as text and come back timezone-aware; money is stored as whole
cents in a 64-bit integer, so it round-trips exactly and sums exactly.

This module is long because it is the whole local schema in one place, one class per
table, as the migrations and `compare_metadata` check it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ..domain.clock import as_utc, iso, utcnow
from ..domain.enums import (
    AccessAction,
    AccessType,
    ActivityKind,
    DealStatus,
    PhiKeyState,
    UserRole,
)
from ..domain.ids import new_id


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes stored as fixed-width ISO 8601 text (sorts correctly)."""

    impl = String(27)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else iso(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


class Cents(TypeDecorator[Decimal]):
    """A Decimal amount with two places stored as an integer number of cents."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_exact())

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else cents_to_decimal(value)


class IsoDate(TypeDecorator[date]):
    """A calendar day stored as ISO ``YYYY-MM-DD`` text (sorts as text)."""

    impl = String(10)
    cache_ok = True

    def process_bind_param(self, value: date | str | None, dialect: Dialect) -> str | None:
        return value if value is None or isinstance(value, str) else value.isoformat()

    def process_result_value(self, value: str | None, dialect: Dialect) -> date | None:
        return None if not value else date.fromisoformat(value)


def cents_to_decimal(cents: int) -> Decimal:
    """Whole cents to an exact two-place Decimal."""
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


NAMING = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16,
                validate_strings=True)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("users_email_idx", "email"), Index("users_tenant_id_idx", "tenant_id"))

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(Text, unique=True)
    first_name: Mapped[str] = mapped_column(Text)
    last_name: Mapped[str] = mapped_column(Text)
    password: Mapped[str] = mapped_column(Text)  # bcrypt hash, never the password
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"), default=UserRole.USER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        Index("deals_tenant_id_idx", "tenant_id"),
        Index("deals_created_by_id_idx", "created_by_id"),
        CheckConstraint("value >= 0", name="value_nonnegative"),
        # Sorting and filtering run in SQL over the live rows of one tenant; every list
        # is ordered by a column then by id, so each sort index ends in id (0003).
        Index("deals_live_updated_idx", "tenant_id", "updated_at", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_status_idx", "tenant_id", "status", "updated_at", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_status_id_idx", "tenant_id", "status", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_title_idx", "tenant_id", "title", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_value_idx", "tenant_id", "value", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_created_idx", "tenant_id", "created_at", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_deleted_idx", "tenant_id", "deleted_at",
              sqlite_where=text("deleted_at IS NOT NULL")),
        Index("deals_phi_key_version_idx", "tenant_id", "phi_key_version",
              sqlite_where=text("phi_key_version IS NOT NULL")),
        # Owner, close date and forecast (0009_owner): "my deals" newest first; by owner,
        # covering what one owner's forecast sums; by close date (NULL as '' so a page's
        # key is never NULL), covering the same and the owner.
        Index("deals_live_owner_idx", "tenant_id", "owner_id", "updated_at", "id",
              sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_owner_id_idx", "tenant_id", "owner_id", "id", "status", "value",
              "probability", sqlite_where=text("deleted_at IS NULL")),
        Index("deals_live_close_idx", "tenant_id", text("ifnull(expected_close_date, '')"),
              "id", "status", "value", "probability", "owner_id",
              sqlite_where=text("deleted_at IS NULL")),
        # A board column (one status) by close date (0011_board_close).
        Index("deals_live_status_close_idx", "tenant_id", "status",
              text("ifnull(expected_close_date, '')"), "id",
              sqlite_where=text("deleted_at IS NULL")),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
    )

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[DealStatus] = mapped_column(_enum(DealStatus, "deal_status"))
    value: Mapped[Decimal] = mapped_column(Cents)
    phi: Mapped[str | None] = mapped_column(Text)  # AES-GCM envelope (JSON), never plaintext
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    created_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phi_key_version: Mapped[int | None] = mapped_column(Integer)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Issue 15 (0009_owner). owner_id is a user of the tenant; SQLite could not add it
    # with a foreign key without rebuilding the table, so core checks it (the server has
    # the composite key).
    owner_id: Mapped[str] = mapped_column(String(25), server_default=text("''"))
    expected_close_date: Mapped[date | None] = mapped_column(IsoDate)
    probability: Mapped[int | None] = mapped_column(Integer)


class DealStat(Base):
    """Count and total value (cents) of a tenant's deals per status, live or deleted.

    Kept in step by triggers on ``deals`` (migration 0003), in the transaction of each
    change, so that the pipeline and list counts need not scan a million rows. A total
    that overflowed 64 bits reads back as a float: core then sums exactly from the deals.
    """

    __tablename__ = "deal_stats"

    tenant_id: Mapped[str] = mapped_column(String(25), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    deleted: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    # Sum of value (cents) x effective probability (percent), 0009_owner.
    weighted: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class DealForecastStat(Base):
    """deal_stats' count, total and weighted value per owner and close month ('YYYY-MM',
    '' for none), kept by the same triggers (0009_owner): the forecast of a month, a
    quarter or one owner reads a few rows."""

    __tablename__ = "deal_forecast_stats"

    tenant_id: Mapped[str] = mapped_column(String(25), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(25), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    deleted: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    weighted: Mapped[int] = mapped_column(Integer)


class DealActivity(Base):
    """A non-PHI note or step on a deal (issue 15, 0008): a note, call, meeting, email,
    task (with a due day and a done time) or next step. Soft-deleted, synced (a create
    appends; an edit is last writer wins per field)."""

    __tablename__ = "deal_activities"
    __table_args__ = (
        Index("deal_activities_deal_idx", "deal_id", "created_at"),
        # "Tasks due": open tasks of one author by due day.
        Index("deal_activities_due_idx", "tenant_id", "created_by_id", "due_at",
              sqlite_where=text("due_at IS NOT NULL AND done_at IS NULL "
                                "AND deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.id"))
    kind: Mapped[ActivityKind] = mapped_column(_enum(ActivityKind, "activity_kind"))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class DealHistory(Base):
    """One change to a deal (issue 15, 0008): its op and, per changed field, the old and
    new values (JSON), PHI only as "changed". Append-only. A local change writes its row
    with the change (`access_log_id`: its audit row; `outbox_id`: the change sync pushes);
    once the server answered that change, the server's own row (pulled) replaces it."""

    __tablename__ = "deal_history"
    __table_args__ = (
        Index("deal_history_deal_idx", "deal_id", "created_at"),
        Index("deal_history_outbox_idx", "outbox_id", sqlite_where=text("outbox_id IS NOT NULL")),
        Index("deal_history_access_log_idx", "access_log_id",
              sqlite_where=text("access_log_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    deal_id: Mapped[str] = mapped_column(String(25))
    op: Mapped[str] = mapped_column(String(16))
    changes: Mapped[str] = mapped_column(Text, default="[]")
    user_id: Mapped[str | None] = mapped_column(String(25))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_log_id: Mapped[str | None] = mapped_column(String(25))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class SavedView(Base):
    """A user's saved deal-list filter (issue 15, 0009): a name and a DealQuery as JSON
    (`core/usecases/views.py`). Only its owner sees it; soft-deleted; synced."""

    __tablename__ = "saved_views"
    __table_args__ = (Index("saved_views_user_idx", "tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class AccessLog(Base):
    __tablename__ = "access_logs"
    __table_args__ = (
        Index("access_logs_user_id_idx", "user_id"),
        Index("access_logs_deal_id_idx", "deal_id"),
        Index("access_logs_timestamp_idx", "timestamp"),
        Index("access_logs_device_seq_key", "device_id", "seq", unique=True),
        Index("access_logs_tenant_ts_idx", "tenant_id", "timestamp"),
    )

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.id"))
    action: Mapped[AccessAction] = mapped_column(_enum(AccessAction, "access_action"))
    access_type: Mapped[AccessType] = mapped_column(_enum(AccessType, "access_type"))
    resource_type: Mapped[str] = mapped_column(Text)
    success: Mapped[bool] = mapped_column(Boolean)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    device_id: Mapped[str] = mapped_column(String(25))
    seq: Mapped[int] = mapped_column(Integer)
    chain_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class SecurityEvent(Base):
    __tablename__ = "security_events"
    __table_args__ = (
        Index("security_events_tenant_ts_idx", "tenant_id", "timestamp"),
        Index("security_events_user_id_idx", "user_id"),
        Index("security_events_device_seq_key", "device_id", "seq", unique=True),
    )

    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_id: Mapped[str] = mapped_column(String(25))
    seq: Mapped[int] = mapped_column(Integer)
    chain_hash: Mapped[str] = mapped_column(String(64))
    row_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class PhiKey(Base):
    __tablename__ = "phi_keys"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[PhiKeyState] = mapped_column(_enum(PhiKeyState, "phi_key_state"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeySlot(Base):
    """A user's key slot on this device (`core.security.slots`): their X25519 private key
    sealed under the keyring secret and their password; the public half in the clear."""

    __tablename__ = "key_slots"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    kdf: Mapped[str] = mapped_column(Text)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyGrant(Base):
    """A key wrapped (HPKE) for one user's slot: a PHI key version (`phi:<tenant>:v<n>`)
    or the device's private keys (`device`)."""

    __tablename__ = "key_grants"

    user_id: Mapped[str] = mapped_column(ForeignKey("key_slots.user_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)


class Outbox(Base):
    """Every local change, in the transaction of the change, for sync to push later."""

    __tablename__ = "outbox"
    # A change drops the PHI envelopes of its entity's earlier rows (0004).
    # Push reads the unacknowledged rows in order and finds a replay by its mid (0005).
    __table_args__ = (
        Index("outbox_entity_idx", "entity", "entity_id"),
        Index("outbox_mid_key", "mid", unique=True, sqlite_where=text("mid IS NOT NULL")),
        Index("outbox_pending_idx", "id", sqlite_where=text("acked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(25))
    op: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What push sends beside the row (0005): the server version the change started
    # from, the fields it changed (JSON list; null: all), the device's mutation id (given
    # when first sent, kept for a replay) and the server's answer.
    base_version: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[str | None] = mapped_column(Text)
    mid: Mapped[int | None] = mapped_column(Integer)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict: Mapped[str | None] = mapped_column(String(16))


class SyncConnection(Base):
    """The server this workspace syncs with (one row; none while standalone)."""

    __tablename__ = "sync_connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    url: Mapped[str] = mapped_column(Text)
    tenant_id: Mapped[str] = mapped_column(String(25))
    user_id: Mapped[str] = mapped_column(String(25))
    device_id: Mapped[str] = mapped_column(String(25))
    server_key_id: Mapped[str | None] = mapped_column(Text)
    server_key: Mapped[str | None] = mapped_column(Text)  # pinned Ed25519 public, base64
    status: Mapped[str] = mapped_column(String(24))
    pull_cursor: Mapped[str | None] = mapped_column(Text)
    bootstrap_cursor: Mapped[str | None] = mapped_column(Text)
    bootstrapped: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint: Mapped[int] = mapped_column(Integer, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncConflict(Base):
    """A field both this device and another changed: the server kept one value."""

    __tablename__ = "sync_conflicts"

    id: Mapped[str] = mapped_column(String(25), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    base_version: Mapped[int | None] = mapped_column(Integer)
    server_version: Mapped[int] = mapped_column(Integer)
    kept_value: Mapped[str | None] = mapped_column(Text)  # JSON; PHI stays an envelope
    losing_value: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(25))
    mutation_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(Integer, default=0)


class SyncRejection(Base):
    """A change the server refused for good (a code and a message for the user)."""

    __tablename__ = "sync_rejections"

    id: Mapped[str] = mapped_column(String(25), primary_key=True)
    device_id: Mapped[str | None] = mapped_column(String(25))
    mutation_id: Mapped[int] = mapped_column(Integer)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[str | None] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    fields: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_version: Mapped[int] = mapped_column(Integer, default=0)


class LoginThrottle(Base):
    """Failed sign-ins per email (known or not, so that both answer alike)."""

    __tablename__ = "login_throttle"

    email: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditHead(Base):
    """The last row of each hash chain, MAC'd, so a cut-off tail is noticed."""

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    head_mac: Mapped[str] = mapped_column(String(64))


class Meta(Base):
    """Facts about this local database: device id, key-rotation progress."""

    __tablename__ = "workspace_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AuditReceipt(Base):
    """The server's signed receipt of one uploaded batch of this device's audit rows
    (core.store.receipts): what `audit verify` checks against the pinned server key and
    the local rows it covers."""

    __tablename__ = "audit_receipts"

    device_id: Mapped[str] = mapped_column(String(25), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    first_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    tenant_id: Mapped[str] = mapped_column(String(25))
    last_chain_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[str] = mapped_column(String(27))  # the server's, as it signed it
    server_key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)  # base64, as the server sent it


class AuditUpload(Base):
    """Where the upload of one chain stands: the next seq to send, and the batch in
    flight (sent, its receipt not yet stored), which is sent again exactly as it was."""

    __tablename__ = "audit_upload"

    device_id: Mapped[str] = mapped_column(String(25), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_seq: Mapped[int] = mapped_column(Integer)
    pending_last: Mapped[int | None] = mapped_column(Integer)
