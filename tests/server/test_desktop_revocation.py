"""Revocation on the desktop (core.sync.revocation) against the real server: a revoked
laptop's 401 carries the server-signed wipe order, which removes every keyring entry of
the workspace and its folder; a forged, unsigned or foreign order is refused, logged and
wipes nothing; a deactivated user's 401 ends the session with the server's reason."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from desktop_support import ADMIN_PASSWORD, Linked, linked
from sqlalchemy import func, select

from closeplan_desktop.core.domain import audit_batch as ab
from closeplan_desktop.core.domain.enums import SecurityEventType as Ev
from closeplan_desktop.core.domain.errors import (
    DeviceRevoked,
    DeviceWiped,
    SessionEnded,
    SignedOut,
    WipeOrderRefused,
)
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security.keyring_store import AUDIT_SLOT, DB_SLOT, KeyringStore
from closeplan_desktop.core.store import db
from closeplan_desktop.core.store.models import SecurityEvent
from closeplan_desktop.core.sync import audit_upload, revocation


@pytest.fixture
def link(tmp_path: Path, api: Api) -> Iterator[Linked]:
    lk = linked(tmp_path / "ws", api)
    try:
        yield lk
    finally:
        lk.ws.close()


def revoke(api: Api, lk: Linked, device_id: str) -> dict:
    token = api.sign_in(lk.admin_email, ADMIN_PASSWORD)["access_token"]
    r = api.http.post(f"/v1/devices/{device_id}/revoke", json={"reason": "Laptop lost"},
                      headers=Api.auth(token))
    assert r.status_code == 200, r.text
    order: dict = r.json()["wipe_order"]
    return order


def refusal(lk: Linked) -> DeviceRevoked | SignedOut:
    """What the laptop's next call gets from the server (a 401, as the transport reads
    it)."""
    with pytest.raises((DeviceRevoked, SignedOut)) as e:
        audit_upload.upload(lk.ws, lk.post, lk.device_key, lk.server_key, lk.tenant_id)
    assert isinstance(e.value, (DeviceRevoked, SignedOut))
    return e.value


def events(lk: Linked, type_: Ev) -> int:
    with db.read_session(lk.ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(SecurityEvent)
                            .where(SecurityEvent.type == type_.value)) or 0)


def test_a_signed_wipe_order_for_this_laptop_removes_its_keys_and_folder(
        link: Linked, api: Api) -> None:
    revoke(api, link, link.ws.device_id)
    refused = refusal(link)
    assert isinstance(refused, DeviceRevoked) and refused.wipe_order is not None
    keys = KeyringStore(link.ws.workspace_id)
    assert keys.get(DB_SLOT) is not None and keys.listed_slots() >= {DB_SLOT, AUDIT_SLOT}
    seen: list[int] = []
    with pytest.raises(DeviceWiped, match="revoked this laptop"):
        revocation.on_unauthorized(link.ws, refused, link.server_key, link.tenant_id,
                                   upload=lambda: seen.append(events(link, Ev.DEVICE_WIPED)))
    assert seen == [1]  # the event was written before the upload was tried
    assert not link.path.exists()
    fresh = KeyringStore(link.ws.workspace_id)
    assert fresh.listed_slots() == set()
    assert fresh.get(DB_SLOT) is None and fresh.get(AUDIT_SLOT) is None


def refuses(link: Linked, order: object) -> None:
    refused = DeviceRevoked("revoked", order)
    with pytest.raises(WipeOrderRefused, match="nothing was wiped"):
        revocation.on_unauthorized(link.ws, refused, link.server_key, link.tenant_id)
    assert link.ws.db_path.exists()
    assert KeyringStore(link.ws.workspace_id).get(DB_SLOT) is not None
    assert events(link, Ev.WIPE_ORDER_REFUSED) >= 1


def test_a_forged_wipe_order_is_refused_and_logged(link: Linked) -> None:
    forger = Ed25519PrivateKey.generate()
    order = {"type": "wipe", "tenant_id": link.tenant_id, "device_id": link.ws.device_id,
             "revoked_at": "2026-11-30T10:00:00.000000Z", "reason": "Laptop lost",
             "server_key_id": "x" * 32}
    message = ab.wipe_order_message(order["tenant_id"], order["device_id"],
                                    order["revoked_at"], order["reason"])
    order["signature"] = base64.b64encode(forger.sign(message)).decode()
    refuses(link, order)


def test_an_unsigned_or_malformed_wipe_order_is_refused(link: Linked) -> None:
    refuses(link, {"type": "wipe", "tenant_id": link.tenant_id,
                   "device_id": link.ws.device_id, "revoked_at": "2026-11-30T10:00:00.000000Z",
                   "reason": "Laptop lost"})
    refuses(link, "wipe")


def test_a_server_signed_order_for_another_device_is_refused(link: Linked, api: Api) -> None:
    other = new_id()
    with api.db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (link.tenant_id,))
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status) VALUES "
                     "(%s, %s, %s, 'other laptop', 'ACTIVE')",
                     (link.tenant_id, other, link.user.user_id))
    order = revoke(api, link, other)  # genuinely signed by the server, for `other`
    refuses(link, order)


def test_a_deactivated_users_401_ends_the_session_with_its_reason(
        link: Linked, api: Api) -> None:
    with api.db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (link.tenant_id,))
        conn.execute("UPDATE users SET deactivated_at = now() WHERE id = %s",
                     (link.admin.user_id,))
    refused = refusal(link)
    assert isinstance(refused, SignedOut)  # no wipe order: only the session ends
    with pytest.raises(SessionEnded, match="deactivated"):
        revocation.on_unauthorized(link.ws, refused, link.server_key, link.tenant_id)
    assert link.path.exists()
    assert KeyringStore(link.ws.workspace_id).get(DB_SLOT) is not None
