"""A recovery kit made before kits kept the key slots' keyring half (`unlock_key`),
imported where the keyring lost that half too: the slots cannot open any more, so
nobody could sign in. The kit's holder (who has every key anyway) names an active
administrator and a new password: every slot is dropped (sealed under the lost half),
a new keyring half is made, and that administrator gets a new slot granted the kit's
PHI keys. The device keys went with the slots: the workspace makes new ones at the
next sign-in (and enrols again if it is connected). Used by `key_admin.import_kit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from ..domain import validation
from ..domain.enums import SecurityEventType as Ev
from ..domain.enums import UserRole
from ..domain.errors import ValidationError
from ..security.keyring_store import AUDIT_SLOT, KeyringStore, phi_slot
from ..security.passwords import require_strong
from ..security.policy import load_policy
from . import db, key_vault
from .audit_log import log_event
from .layout import DB_FILE
from .models import KeyGrant, KeySlot, Meta, User
from .workspace import Workspace


@dataclass(frozen=True)
class Reset:
    """Who gets the new slot, checked before anything is written."""

    email: str
    user_id: str
    tenant_id: str
    password: str


def plan(db_path: Path, db_key: bytes, email: str | None, password: str | None,
         refusal: str) -> Reset | None:
    """The reset an old kit needs here (None: the workspace has no key slot, so the kit
    restores sign-in as it is); ValidationError (`refusal` when no administrator is
    named) before anything is written."""
    engine = db.make_engine(db_path, db_key)
    try:
        with db.read_session(engine) as s:
            if s.scalar(select(KeySlot.user_id).limit(1)) is None:
                return None
            if email is None:
                raise ValidationError(refusal)
            email = validation.email(email)
            user = s.scalar(select(User).where(User.email == email))
            if user is None or user.deactivated_at is not None or \
                    user.role != UserRole.ADMIN:
                raise ValidationError(f"{email} is not an active administrator of this "
                                      "workspace; name one who is.")
            user_id, tenant_id = user.id, user.tenant_id
    finally:
        engine.dispose()
    if not password:
        raise ValidationError(f"Give the new password for {email}.")
    password = require_strong(validation.password(password,
                                                  load_policy().password_min_length))
    return Reset(email, user_id, tenant_id, password)


def apply(path: Path, workspace_id: str, db_key: bytes, audit_key: bytes,
          phi: dict[str, dict[int, bytes]], reset: Reset) -> None:
    """Drop the dead slots, make the new keyring half and the administrator's slot,
    granted the kit's PHI keys, in one transaction (logged)."""
    engine = db.make_engine(path / DB_FILE, db_key)
    keys = KeyringStore(workspace_id)
    try:
        keys.remember(AUDIT_SLOT, audit_key)
        for tenant_id, versions in phi.items():
            for version, key in versions.items():
                keys.remember(phi_slot(tenant_id, version), key)
        with db.write_session(engine) as s:
            device_id = s.scalar(select(Meta.value).where(Meta.key == "device_id"))
            ws = Workspace(path, workspace_id, str(device_id), engine, keys, load_policy())
            s.execute(delete(KeyGrant))
            s.execute(delete(KeySlot))
            key_vault.forget_device(s)  # its keys were wrapped only for the lost slots
            key_vault.make_slot(s, ws, reset.user_id, reset.password)
            log_event(s, ws, Ev.KEY_SLOT_CREATED, reset.tenant_id, reset.user_id,
                      {"user": reset.user_id, "from": "recovery kit without sign-in key"})
        # The kit's PHI keys are wrapped for the new slot now: no plain copy stays.
        for tenant_id, versions in phi.items():
            for version in versions:
                keys.delete(phi_slot(tenant_id, version))
    finally:
        keys.forget()
        engine.dispose()
