"""The seed's enums (role, deal status, access action and type), PHI key states, and the
kinds of security event (docs/architecture.md, "Schema"): plain values every layer shares."""

from __future__ import annotations

import enum


class UserRole(enum.StrEnum):
    ADMIN = "ADMIN"
    USER = "USER"


class DealStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    CLOSED_WON = "CLOSED_WON"
    CLOSED_LOST = "CLOSED_LOST"


class ActivityKind(enum.StrEnum):
    """What a deal's activity is (issue 15): non-PHI notes and steps on a deal."""

    NOTE = "NOTE"
    CALL = "CALL"
    MEETING = "MEETING"
    EMAIL = "EMAIL"
    TASK = "TASK"
    NEXT_STEP = "NEXT_STEP"


class AccessAction(enum.StrEnum):
    PHI_ACCESS = "PHI_ACCESS"
    DEAL_CREATE = "DEAL_CREATE"
    DEAL_UPDATE = "DEAL_UPDATE"
    DEAL_DELETE = "DEAL_DELETE"


class AccessType(enum.StrEnum):
    READ = "READ"
    WRITE = "WRITE"


class PhiKeyState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DECRYPT_ONLY = "DECRYPT_ONLY"
    RETIRED = "RETIRED"


class SecurityEventType(enum.StrEnum):
    LOGIN_SUCCESS = "LOGIN_SUCCESS"
    LOGIN_FAILURE = "LOGIN_FAILURE"
    LOCKOUT = "LOCKOUT"
    LOGIN_LOCKED = "LOGIN_LOCKED"
    PASSWORD_REHASHED = "PASSWORD_REHASHED"  # noqa: S105
    USER_CREATED = "USER_CREATED"
    USERS_IMPORTED = "USERS_IMPORTED"
    ROLE_CHANGED = "ROLE_CHANGED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105
    USER_DEACTIVATED = "USER_DEACTIVATED"
    USER_REACTIVATED = "USER_REACTIVATED"
    TENANT_CREATED = "TENANT_CREATED"
    KEY_CREATED = "KEY_CREATED"
    KEY_ROTATED = "KEY_ROTATED"
    KEY_RETIRED = "KEY_RETIRED"
    DB_KEY_ROTATED = "DB_KEY_ROTATED"
    RECOVERY_KIT_EXPORTED = "RECOVERY_KIT_EXPORTED"
    RECOVERY_KIT_IMPORTED = "RECOVERY_KIT_IMPORTED"
    AUDIT_EXPORTED = "AUDIT_EXPORTED"
    AUDIT_VERIFIED = "AUDIT_VERIFIED"
    BREAK_GLASS = "BREAK_GLASS"
    ACCESS_DENIED = "ACCESS_DENIED"
    DEALS_IMPORTED = "DEALS_IMPORTED"
    DEALS_EXPORTED = "DEALS_EXPORTED"
    ROLLBACK_DETECTED = "ROLLBACK_DETECTED"
    USER_UNLOCKED = "USER_UNLOCKED"
    RESTORE_ACCEPTED = "RESTORE_ACCEPTED"
    WORKSPACE_COPIED = "WORKSPACE_COPIED"
    KEY_SLOT_CREATED = "KEY_SLOT_CREATED"
    DEVICE_KEYS_CREATED = "DEVICE_KEYS_CREATED"
    DEVICE_WIPED = "DEVICE_WIPED"
    WIPE_ORDER_REFUSED = "WIPE_ORDER_REFUSED"
    OFFLINE_LEASE_EXPIRED = "OFFLINE_LEASE_EXPIRED"


class ServerEventType(enum.StrEnum):
    """Security events only the server writes (about devices, keys and synced changes): a
    device never uploads these kinds, and the desktop shows them in an admin's tenant-wide
    audit."""

    DEVICE_ENROLLED = "DEVICE_ENROLLED"
    DEVICE_APPROVED = "DEVICE_APPROVED"
    DEVICE_APPROVAL_FAILED = "DEVICE_APPROVAL_FAILED"
    DEVICE_ENROLMENT_LOCKED = "DEVICE_ENROLMENT_LOCKED"
    DEVICE_REVOKED = "DEVICE_REVOKED"
    KEY_GRANTED = "KEY_GRANTED"
    USER_UPDATED = "USER_UPDATED"
    TENANT_UPDATED = "TENANT_UPDATED"
