"""Who is calling: taken from the authenticated session, never from the request."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import forbidden

ADMIN = "ADMIN"


@dataclass(frozen=True)
class Caller:
    """The signed-in user behind a request, as the session row says (the tenant, the
    user, their role and device). Every service takes the tenant from here."""

    tenant_id: str
    user_id: str
    role: str
    session_id: str
    device_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def require_admin(self) -> None:
        """Refuse unless the caller is a tenant admin (the desktop's rule, again here)."""
        if not self.is_admin:
            raise forbidden("admin_only", "Only a tenant admin may do this.")
