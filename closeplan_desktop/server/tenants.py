"""Creating a tenant with its first admin: the one way, used by `closeplan-server
create-tenant` and by the first-run setup code of `closeplan-server dev`."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..core.domain import validation
from ..core.domain.enums import SecurityEventType
from ..core.domain.errors import ValidationError
from ..core.domain.ids import new_id
from ..core.security.passwords import hash_password, require_strong
from .db.pool import Database
from .errors import bad_request, conflict
from .events import record_event

MIN_PASSWORD = 12
ADMIN_COST = 12


@dataclass(frozen=True)
class NewTenant:
    tenant_id: str
    admin_id: str


def create_tenant(db: Database, name: object, domain: object, email: object,
                  first_name: object, last_name: object, password: object) -> NewTenant:
    """A tenant and its first admin, in one transaction, as the app role under the new
    tenant's own context. Raises ApiError 400 for bad input, 409 for a taken email."""
    try:
        clean_name = validation.text(name, "Organisation name", max_len=validation.MAX_NAME)
        clean_domain = validation.domain(domain)
        clean_email = validation.email(email)
        first = validation.person_name(first_name, "First name")
        last = validation.person_name(last_name, "Last name")
        secret = validation.password(password, MIN_PASSWORD)
        require_strong(secret, (clean_email, first, last, clean_name))
    except ValidationError as e:
        raise bad_request("invalid_field", str(e)) from None
    tenant_id, admin_id = new_id(), new_id()
    hashed = hash_password(secret, ADMIN_COST)
    try:
        with db.transaction(tenant_id, admin_id) as conn:
            conn.execute("INSERT INTO tenants (id, name, domain) VALUES (%s, %s, %s)",
                         (tenant_id, clean_name, clean_domain))
            conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                         "password, role) VALUES (current_tenant_id(), %s, %s, %s, %s, %s, "
                         "'ADMIN')", (admin_id, clean_email, first, last, hashed))
            record_event(conn, SecurityEventType.TENANT_CREATED, admin_id, via="server")
            record_event(conn, SecurityEventType.USER_CREATED, admin_id, user=admin_id,
                         role="ADMIN")
    except psycopg.errors.UniqueViolation:
        raise conflict("email_taken", "An account with this email already exists; use "
                       "another email.") from None
    return NewTenant(tenant_id, admin_id)
