"""Sync with the keys of issue 12: connect makes the user's key slot from the password
the server accepted (no password hash on the laptop), the device keys are the
workspace's own (wrapped per slot, never plain in the keyring), PHI key grants from the
server are opened by a signed-in user and wrapped per local slot, and a copied
workspace enrols again through connect. Real laptops against the real server."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import secretstorage
from api_support import Api
from laptop_support import PASSWORD, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb
from support import held_phi_keys, sql

from closeplan_desktop.core.domain.errors import AuthError, KeyMissing, ServerRefused, SyncError
from closeplan_desktop.core.security import device_seal
from closeplan_desktop.core.security.device_keys import DeviceKeys
from closeplan_desktop.core.security.keyring_store import (
    DEVICE_HELD,
    SERVICE,
    UNLOCK_SLOT,
    KeyringStore,
    phi_slot,
)
from closeplan_desktop.core.security.passwords import is_bcrypt_hash
from closeplan_desktop.core.store import db, key_vault, layout, workspace
from closeplan_desktop.core.sync import connect, devices, engine, signin
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import auth, deals, key_admin, users

REP_PASSWORD = "Marble-Kettle-Violin-77"
KIT_PASS = "a long recovery kit passphrase 4821"


def keyring_names(workspace_id: str) -> set[str]:
    """The names of the workspace's keyring entries, read from the Secret Service."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        prefix = f"workspace:{workspace_id}:"
        return {str(item.get_attributes().get("username", ""))[len(prefix):]
                for item in collection.search_items({"service": SERVICE})
                if str(item.get_attributes().get("username", "")).startswith(prefix)}
    finally:
        conn.close()


def test_connect_makes_the_key_slot_and_keeps_no_plain_key(live: Api, server_db: ServerDb,
                                                           tmp_path: Path) -> None:
    made = new_tenant(server_db, "Slot Health", "ada@slot.example")
    a = connect_laptop(live, tmp_path / "a", "ada@slot.example")
    workspace_id = a.ws.workspace_id
    try:
        admin = a.session()
        d = deals.create_deal(admin, "Renewal", "ACTIVE", "10", {"mrn": "S-1"})
        a.sync()
        # The slot verifies the password here; no hash of it, from the server or made here.
        ((password,),) = a.rows("SELECT password FROM users WHERE id = ?", (admin.user_id,))
        assert not is_bcrypt_hash(str(password))
        assert a.rows("SELECT user_id FROM key_slots") == [(admin.user_id,)]
        assert {n for (n,) in a.rows("SELECT name FROM key_grants")} == {
            "device", phi_slot(made.tenant_id, 1)}
        assert a.rows("SELECT key FROM workspace_meta WHERE key LIKE 'device_grant:%' OR "
                      "key LIKE 'sync_verifier:%'") == []
        # The bootstrap's full rows replaced the ones made at the sign-in.
        assert a.rows("SELECT first_name FROM users WHERE id = ?", (admin.user_id,)) == [
            ("Ada",)]
        assert a.rows("SELECT name FROM tenants") == [("Slot Health",)]
        # The enrolled public keys are the workspace's device keys.
        ((sign_public,),) = server_rows(
            server_db, made.tenant_id, "SELECT sign_public_key FROM devices WHERE tenant_id "
            "= %s AND id = %s", (a.ws.device_id,))
        assert bytes(sign_public) == auth.device_keys(admin).signing_public
    finally:
        a.close()
    names = keyring_names(workspace_id)
    assert not [n for n in names if n.startswith(("phi:", "device:"))], names
    with workspace.open_workspace(tmp_path / "a") as ws:
        assert held_phi_keys(ws) == {}
        admin = auth.sign_in(ws, "ada@slot.example", PASSWORD)  # offline, by the slot
        assert deals.reveal_phi(admin, d.id) == {"mrn": "S-1"}
        with pytest.raises(AuthError):
            auth.sign_in(ws, "ada@slot.example", "not the password at all")


def test_a_pushed_users_hash_does_not_stay_in_the_outbox(live: Api, server_db: ServerDb,
                                                         tmp_path: Path) -> None:
    new_tenant(server_db, "Hash Health", "ada@hash.example")
    a = connect_laptop(live, tmp_path / "a", "ada@hash.example")
    try:
        users.add_user(a.session(), "rep@hash.example", "Rita", "Rep", "USER", REP_PASSWORD)
        hashes = "SELECT count(*) FROM outbox WHERE entity = 'users' AND " \
                 "json_extract(payload, '$.password') LIKE '$2%'"
        assert a.rows(hashes) == [(1,)]  # the server needs it to sign the new user in
        result = a.sync()
        assert result.verdicts.get("applied", 0) >= 1
        assert a.rows(hashes) == [(0,)]  # acknowledged: no use left on the laptop
        assert a.rows("SELECT count(*) FROM outbox WHERE entity = 'users'") != [(0,)]
    finally:
        a.close()


def test_a_grant_received_while_nobody_is_signed_in_opens_at_the_sign_in(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Wait Health", "ada@wait.example")
    a = connect_laptop(live, tmp_path / "a", "ada@wait.example")
    try:
        admin = a.session()
        rep = users.add_user(admin, "sam@wait.example", "Sam", "Sales", "USER", REP_PASSWORD)
        d = deals.create_deal(admin, "Renewal", "ACTIVE", "10", {"mrn": "W-1"})
        a.sync()
        # Sam's laptop enrols, then closes before the approval (a restart).
        ws, transport, enrolment = connect.start(tmp_path / "b", live.live.url,
                                                 "sam@wait.example", REP_PASSWORD)
        transport.close()
        ws.close()
        devices.approve(a.ws, a.transport, str(enrolment.approval_code), enrolment.device_id)
    finally:
        a.close()
    with workspace.open_workspace(tmp_path / "b") as ws:
        with engine.open_transport(ws, engine.connection(ws)) as transport:
            connect.finish(ws, transport)  # what `closeplan-admin sync` does
        # The grant is kept as it came: the device key is locked while nobody signs in.
        assert held_phi_keys(ws) == {}
        assert len(sql(tmp_path / "b", "SELECT key FROM workspace_meta WHERE key LIKE "
                                       "'device_grant:%'")) == 1
        sam = auth.sign_in(ws, "sam@wait.example", REP_PASSWORD)
        assert sam.user_id == rep.id
        assert deals.reveal_phi(sam, d.id, reason="covering for Ada") == {"mrn": "W-1"}
        assert sql(tmp_path / "b", "SELECT key FROM workspace_meta WHERE key LIKE "
                                   "'device_grant:%'") == []
        assert sql(tmp_path / "b", "SELECT name FROM key_grants WHERE user_id = ? AND name "
                                   "LIKE 'phi:%'", (rep.id,)) == [(phi_slot(sam.tenant_id, 1),)]
        assert KeyringStore(ws.workspace_id).get(phi_slot(sam.tenant_id, 1)) is None
        auth.sign_out(sam)

        # Ada, whom the sync brought to Sam's laptop, signs in here for the first time:
        # online once (the server checks the password), which makes her slot.
        ada = "ada@wait.example"
        with pytest.raises(AuthError, match="sign in online"):
            auth.sign_in(ws, ada, PASSWORD)
        with pytest.raises(AuthError):
            signin.sign_in(ws, ada, "not the password at all")
        assert len(sql(tmp_path / "b", "SELECT user_id FROM key_slots")) == 1
        admin = signin.sign_in(ws, ada, PASSWORD)
        assert admin.role == "ADMIN"
        assert len(sql(tmp_path / "b", "SELECT user_id FROM key_slots")) == 2
        # Nobody held the PHI key when her slot was made: the online sign-in opened the
        # device key sealed at connect with the server's share, and this device's grant
        # with it, for her new slot.
        assert deals.reveal_phi(admin, d.id) == {"mrn": "W-1"}
        auth.sign_out(admin)
        admin = auth.sign_in(ws, ada, PASSWORD)  # offline now
        assert deals.reveal_phi(admin, d.id) == {"mrn": "W-1"}


def test_a_copied_workspace_enrols_again_through_connect(live: Api, server_db: ServerDb,
                                                         tmp_path: Path) -> None:
    new_tenant(server_db, "Copy Health", "ada@copy.example")
    a = connect_laptop(live, tmp_path / "a", "ada@copy.example")
    # Ada's second laptop: it approves the copy below.
    c = connect_laptop(live, tmp_path / "c", "ada@copy.example", approver=a)
    try:
        admin = a.session()
        d = deals.create_deal(admin, "Renewal", "ACTIVE", "10", {"mrn": "C-1"})
        a.sync()
        kit = tmp_path / "kit.json"
        key_admin.export_kit(admin, kit, KIT_PASS)
        old_device = a.ws.device_id
        url = a.transport.url
        a.close()
        copy = tmp_path / "copy"
        shutil.copytree(tmp_path / "a", copy)
        # Another machine: its keyring knows nothing of this workspace.
        wid = layout.read_meta(copy)["workspace_id"]
        for name in keyring_names(wid):
            KeyringStore(wid).delete(name)
        key_admin.import_kit(copy, kit.read_bytes(), KIT_PASS)
        with workspace.open_workspace(copy) as ws:
            assert ws.device_id != old_device
            with pytest.raises(SyncError, match="copied or restored"):
                engine.sync_once(ws)
        ws, transport, enrolment = connect.sign_in_again(copy, url, "ada@copy.example",
                                                         PASSWORD)
        try:
            assert enrolment.device_id == ws.device_id != old_device
            assert enrolment.status == engine.AWAITING and enrolment.approval_code
            with db.read_session(ws.engine) as s:
                assert not key_vault.needs_enrolment(s)
            ((tenant_id, device_id, status),) = sql(
                copy, "SELECT tenant_id, device_id, status FROM sync_connection")
            assert (device_id, status) == (ws.device_id, engine.AWAITING)
            ((kem,),) = server_rows(server_db, str(tenant_id),
                                    "SELECT kem_public_key FROM devices WHERE tenant_id = %s "
                                    "AND id = %s", (ws.device_id,))
            assert bytes(kem) == key_vault.device_keys(ws).agreement_public
        finally:
            transport.close()
            ws.close()
        c.session()
        devices.approve(c.ws, c.transport, str(enrolment.approval_code), enrolment.device_id)
    finally:
        c.close()
    with workspace.open_workspace(copy) as ws:
        with engine.open_transport(ws, engine.connection(ws)) as transport:
            connect.finish(ws, transport)
        admin = auth.sign_in(ws, "ada@copy.example", PASSWORD)
        assert deals.reveal_phi(admin, d.id) == {"mrn": "C-1"}
        assert engine.sync_once(ws).rejections == 0


def test_the_sealed_device_key_needs_the_servers_share_from_a_password_session(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Seal Health", "ada@seal.example")
    a = connect_laptop(live, tmp_path / "a", "ada@seal.example")
    path, wid, url = tmp_path / "a", a.ws.workspace_id, a.transport.url
    try:
        deals.create_deal(a.session(), "Renewal", "ACTIVE", "10", {"mrn": "K-1"})
        a.sync()
    finally:
        a.close()
    # The attacker: every keyring entry and the database file, no password, no session.
    secrets = [s for s in (KeyringStore(wid).get(n) for n in keyring_names(wid)) if s]
    ((sealed,),) = sql(path, "SELECT value FROM workspace_meta WHERE key = ?",
                       (key_vault.META_DEVICE_SEALED,))
    ((key_id,),) = sql(path, "SELECT value FROM workspace_meta WHERE key = ?",
                       (key_vault.META_DEVICE_KEY_ID,))
    blob = base64.b64decode(str(sealed))
    for secret in secrets:
        for share in (bytes(32), secret[:32].ljust(32, b"\0"), *secrets):
            assert device_seal.open_sealed(secret, share[:32].ljust(32, b"\0"), wid,
                                           str(key_id), blob) is None
    with workspace.open_workspace(path) as ws:
        # The device's own session (the refresh token the keyring holds) gets no share.
        with engine.open_transport(ws, engine.connection(ws)) as transport, \
                pytest.raises(ServerRefused) as refused:
            transport.call("POST", "/v1/keys/device-unlock", json={"device_id": ws.device_id})
        assert (refused.value.status, refused.value.code) == (403,
                                                              "password_session_required")
        assert ws.keyring.held(DEVICE_HELD) is None and held_phi_keys(ws) == {}
        with pytest.raises(KeyMissing):
            key_vault.device_keys(ws)
        # A password session gets it; with the keyring's half it opens the device key.
        with Transport(url) as plain:
            plain.sign_in("ada@seal.example", PASSWORD)
            answer = plain.call("POST", "/v1/keys/device-unlock",
                                json={"device_id": ws.device_id})
        assert [g["key_version"] for g in answer["grants"]] == [1]
        ring = KeyringStore(wid).get(UNLOCK_SLOT)
        assert ring is not None
        raw = device_seal.open_sealed(ring, base64.b64decode(answer["share"]), wid,
                                      str(key_id), blob)
        assert raw is not None and DeviceKeys.from_bytes(raw).key_id == key_id
    ((share_count,),) = server_rows(server_db, made.tenant_id, "SELECT count(*) FROM "
                                    "device_shares WHERE tenant_id = %s")
    assert share_count == 1  # made once, at connect; handed out again unchanged


def test_signing_in_online_again_seals_the_device_keys_of_an_older_connection(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Older Health", "ada@older.example")
    a = connect_laptop(live, tmp_path / "a", "ada@older.example")
    url = a.transport.url
    with db.read_session(a.ws.engine) as s:
        assert key_vault.has_sealed_device(s)  # sealed at connect
    with db.write_session(a.ws.engine) as s:  # as a connection made before this version
        s.connection().exec_driver_sql("DELETE FROM workspace_meta WHERE key = ?",
                                       (key_vault.META_DEVICE_SEALED,))
    a.close()
    ws, transport, enrolment = connect.sign_in_again(tmp_path / "a", url,
                                                     "ada@older.example", PASSWORD)
    try:
        assert enrolment.status == engine.CONNECTED
        with db.read_session(ws.engine) as s:
            assert key_vault.has_sealed_device(s)
    finally:
        transport.close()
        ws.close()
