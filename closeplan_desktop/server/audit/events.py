"""The kinds of security event the server writes itself about devices and keys (with
`server.events.record_event`: no device, no seq; the device an event is about is named
in its detail). A device uploads only core.domain's SecurityEventType kinds."""

from __future__ import annotations

from ...core.domain.enums import SecurityEventType, ServerEventType

DEVICE_ENROLLED = ServerEventType.DEVICE_ENROLLED
DEVICE_APPROVED = ServerEventType.DEVICE_APPROVED
DEVICE_APPROVAL_FAILED = ServerEventType.DEVICE_APPROVAL_FAILED
DEVICE_ENROLMENT_LOCKED = ServerEventType.DEVICE_ENROLMENT_LOCKED
DEVICE_REVOKED = ServerEventType.DEVICE_REVOKED
KEY_GRANTED = ServerEventType.KEY_GRANTED
KEY_ROTATED = SecurityEventType.KEY_ROTATED


def device_pattern(device_id: str) -> str:
    """A LIKE pattern that finds the events about `device_id` (an id: no wildcards) in
    their compact, sorted JSON detail."""
    return f'%"device_id":"{device_id}"%'
