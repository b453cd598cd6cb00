"""Online PHI key rotation (issue 12, Keys): made on an admin's connected laptop, wrapped
for every approved device and the escrow key, posted with compare-and-swap, received by
the other laptops at their next sync; a lost race and an unreachable server change
nothing. Real laptops (SQLCipher, keyring) against the real server and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from api_support import Api
from laptop_support import PASSWORD, Laptop, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import ServerRefused, SyncError, ValidationError
from closeplan_desktop.core.security import crypto
from closeplan_desktop.core.security.keyring_store import phi_slot
from closeplan_desktop.core.sync import connect, devices, rotation
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import deal_list, deals, key_admin, users
from closeplan_desktop.server.keys import escrow

REP_PASSWORD = "Marble-Kettle-Violin-77"
VERSIONS = "SELECT version, state FROM phi_keys ORDER BY version"


def envelope_version(laptop: Laptop, deal_id: str) -> int:
    ((envelope,),) = laptop.rows("SELECT phi FROM deals WHERE id = ?", (deal_id,))
    return crypto.envelope_version(str(envelope))


def server_versions(server_db: ServerDb, tenant_id: str) -> list[tuple[Any, ...]]:
    return server_rows(server_db, tenant_id, "SELECT version, state::text FROM phi_keys "
                       "WHERE tenant_id = %s ORDER BY version")


def test_a_rotation_on_one_laptop_reaches_the_others(live: Api, server_db: ServerDb,
                                                     tmp_path: Path) -> None:
    made = new_tenant(server_db, "Turn Health", "ada@turn.example")
    a = connect_laptop(live, tmp_path / "a", "ada@turn.example")
    admin = a.session()
    users.add_user(admin, "sam@turn.example", "Sam", "Sales", "USER", REP_PASSWORD)
    old = deals.create_deal(admin, "Before", "ACTIVE", "10", {"mrn": "T-1"})
    a.sync()
    b = connect_laptop(live, tmp_path / "b", "sam@turn.example", REP_PASSWORD, approver=a)
    c = connect_laptop(live, tmp_path / "c", "ada@turn.example", approver=a)
    try:
        done = rotation.rotate_phi(a.session(), transport=a.transport)
        assert (done.version, done.online, done.reencrypted) == (2, True, 0)
        assert server_versions(server_db, made.tenant_id) == [(1, "DECRYPT_ONLY"),
                                                              (2, "ACTIVE")]
        granted = server_rows(server_db, made.tenant_id, "SELECT grantee_id FROM key_grants "
                              "WHERE tenant_id = %s AND key_version = 2 AND grantee_kind = "
                              "'DEVICE' ORDER BY grantee_id")
        assert sorted(g for (g,) in granted) == sorted(
            [a.ws.device_id, b.ws.device_id, c.ws.device_id])
        # The rotating laptop seals with v2 at once; nothing was re-encrypted.
        assert a.rows(VERSIONS) == [(1, "DECRYPT_ONLY"), (2, "ACTIVE")]
        assert envelope_version(a, old.id) == 1
        fresh_a = deals.create_deal(a.session(), "After A", "ACTIVE", "1", {"mrn": "A-2"})
        assert envelope_version(a, fresh_a.id) == 2
        a.sync()

        # Every other laptop gets v2 at its next sync, seals with it, and still opens v1.
        for laptop, who, mrn in ((b, "sam", "B-2"), (c, "ada", "C-2")):
            session = laptop.session()
            laptop.sync()
            assert laptop.rows(VERSIONS) == [(1, "DECRYPT_ONLY"), (2, "ACTIVE")]
            made_here = deals.create_deal(session, f"After {who}", "ACTIVE", "1",
                                          {"mrn": mrn})
            assert envelope_version(laptop, made_here.id) == 2
            assert deals.reveal_phi(session, old.id, reason="covering for Ada") == {
                "mrn": "T-1"}
            assert deals.reveal_phi(session, fresh_a.id, reason="covering for Ada") == {
                "mrn": "A-2"}
            laptop.sync()
            # A sign-in does not re-encrypt a connected workspace's rows.
            assert envelope_version(laptop, old.id) == 1
        # The other laptops' new deals open on the rotating one.
        a.sync()
        mine = a.session()
        assert {deals.reveal_phi(mine, d.id)["mrn"] for d in deals_of(a)} == {
            "T-1", "A-2", "B-2", "C-2"}
        assert key_admin.status(mine).phi_versions[1][1:] == ("ACTIVE", 3, True)
    finally:
        for laptop in (a, b, c):
            laptop.close()


def deals_of(laptop: Laptop) -> list[Any]:
    return deal_list.list_deals(laptop.session())


def test_the_rotation_is_granted_to_the_escrow_key_the_tenant_keeps(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Escrow Health", "ada@escrow.example")
    a = connect_laptop(live, tmp_path / "a", "ada@escrow.example")
    try:
        admin = a.session()
        key = a.ws.keyring.held(phi_slot(made.tenant_id, 1))
        assert key is not None
        wrapped = escrow.wrap_key(server_db.pg.escrow_public, made.tenant_id, 1, key)
        with server_db.superuser() as conn:  # the tenant chose escrow
            conn.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                         "grantee_id, wrapped) VALUES (%s, %s, 1, 'SERVER', %s, %s)",
                         (made.tenant_id, "c" + "e" * 24,
                          escrow.key_id(server_db.pg.escrow_public), wrapped))
        rotation.rotate_phi(admin, transport=a.transport)
        d = deals.create_deal(a.session(), "Sealed v2", "ACTIVE", "1", {"mrn": "E-2"})
        a.sync()
        # The server opens the v2 envelope with its escrow grant (the audited read).
        with server_db.superuser() as conn, conn.transaction():
            conn.execute("SELECT set_tenant_context(%s), set_user_context(%s)",
                         (made.tenant_id, made.admin_id))
            row = conn.execute("SELECT decrypt_phi(phi)::text FROM deals WHERE id = %s",
                               (d.id,)).fetchone()
        assert row is not None and json.loads(row[0]) == {"mrn": "E-2"}
    finally:
        a.close()


def test_a_lost_race_and_a_missing_device_change_nothing(live: Api, server_db: ServerDb,
                                                         tmp_path: Path) -> None:
    made = new_tenant(server_db, "Race Health", "ada@race.example")
    a = connect_laptop(live, tmp_path / "a", "ada@race.example")
    c = connect_laptop(live, tmp_path / "c", "ada@race.example", approver=a)
    try:
        first = a.session()
        second = c.session()
        c.sync()
        real_call = c.transport.call

        def racing(method: str, path: str, **kw: Any) -> Any:
            if (method, path) == ("POST", "/v1/keys/rotate"):
                rotation.rotate_phi(first, transport=a.transport)  # A wins the race
            return real_call(method, path, **kw)

        c.transport.call = racing  # type: ignore[method-assign]
        with pytest.raises(SyncError, match="Another administrator rotated") as lost:
            rotation.rotate_phi(second, transport=c.transport)
        assert "Nothing was changed" in str(lost.value)
        c.transport.call = real_call  # type: ignore[method-assign]
        assert server_versions(server_db, made.tenant_id) == [(1, "DECRYPT_ONLY"),
                                                              (2, "ACTIVE")]
        assert c.rows(VERSIONS) == [(1, "ACTIVE")]  # nothing changed here
        assert key_admin.status(second).phi_versions[0][1] == "ACTIVE"

        # Grants that miss an approved device are refused as a whole.
        key = crypto.new_key()
        own = {"key_version": 3, "grantee_kind": "DEVICE", "grantee_id": a.ws.device_id,
               "wrapped": base64.b64encode(crypto.wrap_key(
                   base64.b64decode(device_kem(server_db, made.tenant_id, a.ws.device_id)),
                   made.tenant_id, 3, key)).decode("ascii")}
        with pytest.raises(ServerRefused) as refused:
            a.transport.call("POST", "/v1/keys/rotate",
                             json={"expected_active": 2, "grants": [own]})
        assert (refused.value.status, refused.value.code) == (409, "grantees_changed")
        assert refused.value.details["missing_devices"] == [c.ws.device_id]
        assert server_versions(server_db, made.tenant_id) == [(1, "DECRYPT_ONLY"),
                                                              (2, "ACTIVE")]
        # After a sync, the loser rotates from the new version.
        assert rotation.rotate_phi(second, transport=c.transport).version == 3
    finally:
        a.close()
        c.close()


def device_kem(server_db: ServerDb, tenant_id: str, device_id: str) -> str:
    ((kem,),) = server_rows(server_db, tenant_id, "SELECT kem_public_key FROM devices "
                            "WHERE tenant_id = %s AND id = %s", (device_id,))
    return base64.b64encode(bytes(kem)).decode("ascii")


def test_offline_the_rotation_says_it_needs_the_server(live: Api, server_db: ServerDb,
                                                       tmp_path: Path) -> None:
    made = new_tenant(server_db, "Dark Health", "ada@dark.example")
    a = connect_laptop(live, tmp_path / "a", "ada@dark.example")
    try:
        admin = a.session()
        with Transport("http://127.0.0.1:9", a.ws.keyring) as dead, pytest.raises(
                SyncError, match="cannot be reached now"):
            rotation.rotate_phi(admin, transport=dead, sleep=lambda _: None)
        assert a.rows(VERSIONS) == [(1, "ACTIVE")]
        assert server_versions(server_db, made.tenant_id) == [(1, "ACTIVE")]
    finally:
        a.close()


def test_an_approval_without_the_new_key_is_refused_until_the_approver_syncs(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Late Health", "ada@late.example")
    a = connect_laptop(live, tmp_path / "a", "ada@late.example")
    c = connect_laptop(live, tmp_path / "c", "ada@late.example", approver=a)
    ws, transport, enrolment = connect.start(tmp_path / "d", live.live.url,
                                             "ada@late.example", PASSWORD, name="d")
    d = Laptop(ws, transport, "ada@late.example", PASSWORD, enrolment.approval_code)
    try:
        rotation.rotate_phi(a.session(), transport=a.transport)  # c has not synced since
        c.session()
        with pytest.raises(ValidationError, match="rotated since this laptop last synced"):
            devices.approve(c.ws, c.transport, str(enrolment.approval_code), ws.device_id)
        # The server refuses it too (it trusts no client), and writes nothing.
        kem = base64.b64decode(device_kem(server_db, made.tenant_id, ws.device_id))
        old_only = devices._grants(c.ws, made.tenant_id, ws.device_id, kem)
        with pytest.raises(ServerRefused) as refused:
            c.transport.call("POST", f"/v1/devices/{ws.device_id}/approve",
                             json={"code": str(enrolment.approval_code), "grants": old_only})
        assert refused.value.code == "active_key_missing"
        assert server_rows(server_db, made.tenant_id, "SELECT status::text FROM devices "
                           "WHERE tenant_id = %s AND id = %s", (ws.device_id,)) == [("PENDING",)]
        c.sync()
        c.session()
        devices.approve(c.ws, c.transport, str(enrolment.approval_code), ws.device_id)
        assert connect.wait_for_approval(transport, ws.device_id, timeout=5)
        connect.finish(ws, transport)
        created = deals.create_deal(d.session(), "After", "ACTIVE", "5", {"mrn": "L-2"})
        assert envelope_version(d, created.id) == 2
    finally:
        for laptop in (a, c, d):
            laptop.close()
