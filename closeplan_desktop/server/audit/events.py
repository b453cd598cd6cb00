"""The kinds of security event the server writes itself about devices and keys (with
`server.events.record_event`: no device, no seq; the device an event is about is named
in its detail). A device uploads only core.domain's SecurityEventType kinds."""

from __future__ import annotations

DEVICE_ENROLLED = "DEVICE_ENROLLED"
DEVICE_APPROVED = "DEVICE_APPROVED"
DEVICE_APPROVAL_FAILED = "DEVICE_APPROVAL_FAILED"
DEVICE_ENROLMENT_LOCKED = "DEVICE_ENROLMENT_LOCKED"
DEVICE_REVOKED = "DEVICE_REVOKED"
KEY_GRANTED = "KEY_GRANTED"
KEY_ROTATED = "KEY_ROTATED"


def device_pattern(device_id: str) -> str:
    """A LIKE pattern that finds the events about `device_id` (an id: no wildcards) in
    their compact, sorted JSON detail."""
    return f'%"device_id":"{device_id}"%'
