"""The audit in words a compliance reviewer reads: actions, event types, changed fields
and event details, instead of the codes the log stores (the codes stay in exports and
tooltips)."""

from __future__ import annotations

from ...core.domain.enums import AccessAction, SecurityEventType, ServerEventType

ACTION_WORDS = {
    AccessAction.PHI_ACCESS: "Viewed PHI",
    AccessAction.DEAL_CREATE: "Created deal",
    AccessAction.DEAL_UPDATE: "Changed deal",
    AccessAction.DEAL_DELETE: "Deleted deal",
}
_E = SecurityEventType
EVENT_WORDS = {
    _E.LOGIN_SUCCESS: "Signed in",
    _E.LOGIN_FAILURE: "Sign-in failed",
    _E.LOCKOUT: "Locked out (too many failures)",
    _E.LOGIN_LOCKED: "Sign-in while locked out",
    _E.PASSWORD_REHASHED: "Password hash upgraded",
    _E.USER_CREATED: "User added",
    _E.USERS_IMPORTED: "Users imported",
    _E.ROLE_CHANGED: "Role changed",
    _E.PASSWORD_CHANGED: "Password changed",
    _E.PASSWORD_RESET: "Password reset by an admin",
    _E.USER_DEACTIVATED: "User deactivated",
    _E.USER_REACTIVATED: "User reactivated",
    _E.TENANT_CREATED: "Organisation created",
    _E.KEY_CREATED: "PHI key created",
    _E.KEY_ROTATED: "PHI key rotated",
    _E.KEY_RETIRED: "PHI key retired",
    _E.DB_KEY_ROTATED: "Database key rotated",
    _E.RECOVERY_KIT_EXPORTED: "Recovery kit exported",
    _E.RECOVERY_KIT_IMPORTED: "Recovery kit imported",
    _E.AUDIT_EXPORTED: "Audit exported",
    _E.AUDIT_VERIFIED: "Audit chain verified",
    _E.BREAK_GLASS: "Break-glass access",
    _E.ACCESS_DENIED: "Access refused",
    _E.DEALS_IMPORTED: "Deals imported",
    _E.DEALS_EXPORTED: "Deals exported",
    _E.ROLLBACK_DETECTED: "Workspace rollback detected",
    _E.USER_UNLOCKED: "Sign-in lockout lifted",
    _E.RESTORE_ACCEPTED: "Restored copy accepted",
    _E.WORKSPACE_COPIED: "Workspace copied to a new device",
    _E.KEY_SLOT_CREATED: "Sign-in key slot created",
    _E.DEVICE_KEYS_CREATED: "Device keys created",
    _E.DEVICE_WIPED: "Laptop wiped (revoked by the server)",
    _E.WIPE_ORDER_REFUSED: "Wipe order refused (not valid)",
    _E.OFFLINE_LEASE_EXPIRED: "Offline too long: sign-in refused",
}
# Kinds only the server writes, seen in an admin's tenant-wide audit.
SERVER_EVENT_WORDS = {
    ServerEventType.DEVICE_ENROLLED: "Laptop asked to join",
    ServerEventType.DEVICE_APPROVED: "Laptop approved",
    ServerEventType.DEVICE_APPROVAL_FAILED: "Laptop approval code wrong",
    ServerEventType.DEVICE_ENROLMENT_LOCKED: "Laptop enrolment stopped (too many wrong codes)",
    ServerEventType.DEVICE_REVOKED: "Laptop revoked",
    ServerEventType.KEY_GRANTED: "PHI key granted to a laptop",
    ServerEventType.USER_UPDATED: "User details changed",
    ServerEventType.TENANT_UPDATED: "Organisation details changed",
}
# A deal change's fields (names only: the log never holds values, PHI least of all).
FIELD_WORDS = {"title": "title", "status": "status", "value": "value"}
# Event detail keys, in words.
DETAIL_WORDS = {"deal": "deal", "user": "user", "owner": "owner", "count": "count",
                "failures": "failed attempts", "rows": "rows checked", "ok": "intact",
                "records": "records", "file": "file", "format": "format", "phi": "PHI",
                "from": "from", "to": "to", "email": "email", "role": "role",
                "name": "name", "action": "action"}


def action_text(action: str, changed: tuple[str, ...] = ()) -> str:
    """An access-log action in words; a deal change says what changed: "Changed title,
    value; PHI changed", "Restored deal"."""
    try:
        words = ACTION_WORDS[AccessAction(action)]
    except ValueError:
        return action
    if action != AccessAction.DEAL_UPDATE or not changed:
        return words
    if "deleted_at" in changed:
        return "Restored deal"
    fields = [FIELD_WORDS.get(f, f) for f in changed if f != "phi"]
    parts = [f"Changed {', '.join(fields)}"] if fields else []
    if "phi" in changed:
        parts.append("PHI changed")
    return "; ".join(parts)


def event_text(type_: str) -> str:
    """A security event type in words (an unknown code as it is)."""
    if type_ in ServerEventType.__members__:
        return SERVER_EVENT_WORDS[ServerEventType(type_)]
    try:
        return EVENT_WORDS[SecurityEventType(type_)]
    except ValueError:
        return type_
