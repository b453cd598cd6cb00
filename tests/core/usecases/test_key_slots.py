"""Keys the keyring alone cannot open (issue 12, Keys): per-user key slots, PHI and
device keys wrapped for each slot, sign-in verified by the slot, the upgrade from plain
keyring entries, lock and sign-out, a copied workspace, the recovery kit.

Real SQLCipher files and the real Secret Service keyring throughout; the attacker test
reads every keyring entry of the workspace straight from the Secret Service.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import secretstorage
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    Env,
    held_phi_keys,
    make_previous_release,
    run_cli,
    sql,
)

from closeplan_desktop.core.domain.errors import AuthError, CryptoError, KeyMissing
from closeplan_desktop.core.security import crypto, slots
from closeplan_desktop.core.security.device_keys import DeviceKeys
from closeplan_desktop.core.security.keyring_store import DEVICE_HELD, SERVICE, KeyringStore
from closeplan_desktop.core.store import db, key_vault, layout, workspace
from closeplan_desktop.core.usecases import audit, auth, deals, key_admin, users

KIT_PASS = "a long recovery kit passphrase 4821"


def keyring_entries(workspace_id: str) -> dict[str, str]:
    """Every ClosePlan keyring entry of the workspace (name -> stored text), read from
    the Secret Service directly, as any process of the OS user can."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        found = {}
        for item in collection.search_items({"service": SERVICE}):
            name = item.get_attributes().get("username", "")
            if name.startswith(f"workspace:{workspace_id}:"):
                found[name.split(":", 2)[2]] = item.get_secret().decode()
        return found
    finally:
        conn.close()


def wipe_keyring(workspace_id: str) -> None:
    """A fresh keyring for the workspace (another machine, or a reset profile)."""
    store = KeyringStore(workspace_id)
    for name in keyring_entries(workspace_id):
        store.delete(name)


def test_the_keyring_alone_opens_no_phi_and_no_device_key(env: Env) -> None:
    d = deals.create_deal(env.admin, "Renewal", "ACTIVE", "10", {"mrn": "SECRET-1"})
    public = sql(env.path, "SELECT value FROM workspace_meta WHERE key='device_public'")
    ((public_hex,),) = public
    env.ws.close()

    # The attacker: every keyring entry and the database file, no password.
    entries = keyring_entries(env.ws.workspace_id)
    assert not any(name.startswith("phi:") for name in entries)
    secrets = [bytes.fromhex(v) for v in entries.values()]
    ((envelope,),) = sql(env.path, "SELECT phi FROM deals WHERE id=?", (d.id,))
    for secret in secrets:
        if len(secret) == crypto.KEY_BYTES:
            with pytest.raises(CryptoError):
                crypto.decrypt_phi(secret, env.tenant_id, d.id, envelope)
    for secret in secrets:  # no entry is the device's private key
        if len(secret) == 64:
            assert (DeviceKeys.from_bytes(secret).signing_public.hex() !=
                    str(public_hex)[:64])
    # The slots need the password too: the keyring half with a wrong guess opens none.
    ring = bytes.fromhex(entries["unlock"])
    for uid, salt, kdf, sealed in sql(env.path,
                                      "SELECT user_id, salt, kdf, sealed FROM key_slots"):
        slot = slots.SealedSlot(bytes(salt), str(kdf), bytes(sealed))
        assert slots.open_sealed(ring, "password123456", str(uid), slot) is None

    # With the password, the same keyring opens both.
    with workspace.open_workspace(env.path) as ws:
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(admin, d.id) == {"mrn": "SECRET-1"}
        keys = auth.device_keys(admin)
        assert (keys.signing_public + keys.agreement_public).hex() == public_hex
        assert keyring_entries(ws.workspace_id)["device-key-id"] == keys.key_id


def test_lock_and_sign_out_drop_the_unlocked_keys(env: Env) -> None:
    d = deals.create_deal(env.admin, "Renewal", "ACTIVE", "10", {"mrn": "M-1"})
    assert held_phi_keys(env.ws) and env.ws.keyring.held(DEVICE_HELD) is not None
    auth.sign_out(env.admin)
    assert held_phi_keys(env.ws) == {}
    assert env.ws.keyring.held(DEVICE_HELD) is None
    with pytest.raises(KeyMissing, match="locked"):
        deals.reveal_phi(env.admin, d.id)
    with pytest.raises(KeyMissing, match="locked"):
        auth.device_keys(env.admin)
    admin = auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert deals.reveal_phi(admin, d.id) == {"mrn": "M-1"}


def test_password_change_reseals_and_reset_makes_a_new_slot(env: Env) -> None:
    d = deals.create_deal(env.user, "Bob's deal", "ACTIVE", "10", {"mrn": "B-1"})
    users.change_password(env.user, USER_PASSWORD, "a brand new password 5531")
    with pytest.raises(AuthError):
        auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    auth.sign_out(env.admin)  # nothing held: the new password alone must open the keys
    bob = auth.sign_in(env.ws, USER_EMAIL, "a brand new password 5531")
    assert deals.reveal_phi(bob, d.id) == {"mrn": "B-1"}

    ((before,),) = sql(env.path, "SELECT public_key FROM key_slots WHERE user_id=?",
                       (bob.user_id,))
    admin = auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    users.reset_password(admin, bob.user_id, "reset by the admin 7702")
    ((after,),) = sql(env.path, "SELECT public_key FROM key_slots WHERE user_id=?",
                      (bob.user_id,))
    assert after != before  # a new key pair, its keys re-wrapped without Bob's password
    auth.sign_out(admin)
    bob = auth.sign_in(env.ws, USER_EMAIL, "reset by the admin 7702")
    assert deals.reveal_phi(bob, d.id) == {"mrn": "B-1"}
    with pytest.raises(AuthError):
        auth.sign_in(env.ws, USER_EMAIL, "a brand new password 5531")


def test_a_rotated_key_reaches_every_slot(env: Env) -> None:
    key_admin.rotate_phi(env.admin)
    d = deals.create_deal(env.admin, "After rotation", "ACTIVE", "1", {"mrn": "V2"})
    names = {n for (n,) in sql(env.path, "SELECT name FROM key_grants WHERE user_id=?",
                                (env.user.user_id,))}
    assert f"phi:{env.tenant_id}:v2" in names
    assert f"phi:{env.tenant_id}:v1" not in names  # retired: its grants are gone
    auth.sign_out(env.admin)
    bob = auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    assert deals.reveal_phi(bob, d.id, reason="covering for Ada") == {"mrn": "V2"}


def test_upgrade_moves_plain_phi_keys_out_of_the_keyring(tmp_path: Path) -> None:
    """A workspace as the previous release left it: PHI keys in plain keyring entries,
    bcrypt hashes, no slots. The first sign-in wraps the keys for that user and deletes
    the entries; the next user gets a slot at their sign-in and the keys from the next
    signed-in user who holds them."""
    path = tmp_path / "old"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Old Co", None, ADMIN_EMAIL, "Ada", "Admin", ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        users.add_user(admin, USER_EMAIL, "Bob", "Sales", "USER", USER_PASSWORD)
        d = deals.create_deal(admin, "Legacy deal", "ACTIVE", "1", {"mrn": "OLD-1"})
        phi_keys = held_phi_keys(ws)
        workspace_id = ws.workspace_id
    make_previous_release(path, phi_keys, {ADMIN_EMAIL: ADMIN_PASSWORD,
                                           USER_EMAIL: USER_PASSWORD})
    assert [n for n in keyring_entries(workspace_id) if n.startswith("phi:")]
    with workspace.open_workspace(path) as ws:
        assert held_phi_keys(ws) == {}  # opened, nobody signed in: PHI stays locked
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert not [n for n in keyring_entries(workspace_id) if n.startswith("phi:")]
        assert deals.reveal_phi(admin, d.id) == {"mrn": "OLD-1"}
        assert sql(path, "SELECT password FROM users WHERE email=?", (ADMIN_EMAIL,)) == [("",)]
        auth.sign_out(admin)
        bob = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)  # bcrypt once: makes his slot
        with pytest.raises(KeyMissing, match="administrator must sign in here once"):
            deals.reveal_phi(bob, d.id, reason="checking")
        auth.sign_out(bob)
        auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)  # holds the keys: grants Bob's slot
        auth.sign_out(admin)
        bob = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
        assert deals.reveal_phi(bob, d.id, reason="checking") == {"mrn": "OLD-1"}


def test_a_copied_workspace_gets_a_new_device_and_must_enrol(env: Env,
                                                              tmp_path: Path) -> None:
    """The folder copied to another machine (a fresh keyring) and opened there with its
    recovery kit: a new device id and chain, new device keys, marked for enrolment; the
    old rows stay verifiable as the old device's, and the users sign in as before."""
    d = deals.create_deal(env.admin, "Renewal", "ACTIVE", "10", {"mrn": "C-1"})
    old_device = env.ws.device_id
    old_keys = auth.device_keys(env.admin)
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    env.ws.close()
    copy = tmp_path / "copy"
    shutil.copytree(env.path, copy)
    wipe_keyring(env.ws.workspace_id)  # the other machine's keyring knows nothing
    key_admin.import_kit(copy, kit.read_bytes(), KIT_PASS)
    with workspace.open_workspace(copy) as ws:
        assert ws.device_id != old_device
        with db.read_session(ws.engine) as s:
            assert key_vault.needs_enrolment(s)
        assert [t for (t,) in sql(copy, "SELECT type FROM security_events WHERE "
                                        "type='WORKSPACE_COPIED'")] == ["WORKSPACE_COPIED"]
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(admin, d.id) == {"mrn": "C-1"}
        keys = auth.device_keys(admin)
        assert keys.key_id != old_keys.key_id
        report = audit.verify(admin)
        assert report.ok, report.problem
        devices = {dev for (dev,) in sql(copy, "SELECT DISTINCT device_id FROM "
                                               "security_events")}
        assert devices == {old_device, ws.device_id}
    # Opening it again on this machine is not a copy any more.
    with workspace.open_workspace(copy) as ws:
        assert ws.device_id != old_device
        assert len(sql(copy, "SELECT id FROM security_events WHERE "
                             "type='WORKSPACE_COPIED'")) == 1
        assert layout.read_meta(copy)["workspace_id"] == ws.workspace_id


def test_make_slot_for_an_online_sign_in_and_grants_from_memory(env: Env) -> None:
    """The sync helper's call after a user's first online sign-in: a slot here, granted
    the keys held in memory (an admin is signed in)."""
    line = ('{"email": "new@acme-health.example", "firstName": "Nia", "lastName": "New", '
            '"password": "$2b$04$' + "a" * 53 + '", "role": "USER"}')
    users.import_users(env.admin, [line])
    uid = users.find_user_id(env.admin, "new@acme-health.example")
    sql(env.path, "UPDATE users SET password='' WHERE id=?", (uid,))
    d = deals.create_deal(env.admin, "Renewal", "ACTIVE", "10", {"mrn": "N-1"})
    auth.make_slot(env.ws, uid, "her online password 8812")
    auth.sign_out(env.admin)
    nia = auth.sign_in(env.ws, "new@acme-health.example", "her online password 8812")
    assert deals.reveal_phi(nia, d.id, reason="cover") == {"mrn": "N-1"}


def test_a_grant_opens_only_for_its_own_slot(env: Env) -> None:
    """A grant moved to another user's row does not open (HPKE to that slot's key)."""
    ((wrapped,),) = sql(env.path, "SELECT wrapped FROM key_grants WHERE user_id=? AND "
                                  "name=?", (env.admin.user_id, f"phi:{env.tenant_id}:v1"))
    sql(env.path, "UPDATE key_grants SET wrapped=? WHERE user_id=? AND name=?",
        (wrapped, env.user.user_id, f"phi:{env.tenant_id}:v1"))
    auth.sign_out(env.admin)
    auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    assert held_phi_keys(env.ws) == {}
    with pytest.raises(CryptoError, match="did not open"):
        crypto.unwrap_key(X25519PrivateKey.generate(), env.tenant_id, 1, bytes(wrapped))


def test_a_received_phi_key_is_wrapped_for_every_local_slot(env: Env) -> None:
    """What sync does with a PHI key that arrived in a server grant: every local slot
    gets it in the same transaction."""
    name = f"phi:{env.tenant_id}:v1"
    key = held_phi_keys(env.ws)[name]
    sql(env.path, "DELETE FROM key_grants WHERE name=?", (name,))
    auth.sign_out(env.admin)
    with db.write_session(env.ws.engine) as s:
        key_vault.receive_phi_key(s, env.ws, env.tenant_id, 1, key)
    assert len(sql(env.path, "SELECT user_id FROM key_grants WHERE name=?", (name,))) == 2
    auth.sign_out(env.admin)
    bob = auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    assert held_phi_keys(env.ws) == {name: key}
    assert bob.user_id == env.user.user_id


def old_kit(env: Env, tmp_path: Path) -> Path:
    """A kit as versions before the keyring half of the slots was kept in kits made it."""
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    payload = crypto.open_kit(KIT_PASS, kit.read_bytes())
    del payload["unlock_key"]
    kit.write_bytes(crypto.seal_kit(KIT_PASS, payload))
    return kit


def test_an_old_kit_says_what_to_do_then_resets_an_admin(env: Env, tmp_path: Path) -> None:
    d = deals.create_deal(env.admin, "Renewal", "ACTIVE", "10", {"mrn": "O-1"})
    kit = old_kit(env, tmp_path)
    workspace_id = env.ws.workspace_id
    env.ws.close()
    wipe_keyring(workspace_id)  # a reset keyring: the slots' keyring half is gone too
    base = ("keys", "import-kit", kit, "--workspace", env.path, "--password-stdin")
    r = run_cli(*base, stdin=f"{KIT_PASS}\n")
    assert r.code == 1 and "older version" in r.err and "--reset-admin" in r.err, r.err
    assert "Traceback" not in r.err
    assert keyring_entries(workspace_id) == {}  # nothing was changed
    r = run_cli(*base, "--reset-admin", USER_EMAIL, stdin=f"{KIT_PASS}\nA new long pass 5521\n")
    assert r.code == 1 and "not an active administrator" in r.err, r.err
    assert keyring_entries(workspace_id) == {}
    new_password = "A brand new admin pass 7714"
    r = run_cli(*base, "--reset-admin", ADMIN_EMAIL, stdin=f"{KIT_PASS}\n{new_password}\n")
    assert r.code == 0, r.err
    with workspace.open_workspace(env.path) as ws:
        with pytest.raises(AuthError):
            auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, new_password)
        assert deals.reveal_phi(admin, d.id) == {"mrn": "O-1"}
        # The other users' slots went with the lost half: an admin resets them.
        with pytest.raises(AuthError, match="ask an admin to reset"):
            auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
        users.reset_password(admin, users.find_user_id(admin, USER_EMAIL),
                             "Rita's new long pass 3390")
        auth.sign_out(admin)
        rita = auth.sign_in(ws, USER_EMAIL, "Rita's new long pass 3390")
        assert deals.reveal_phi(rita, d.id, reason="covering") == {"mrn": "O-1"}
        assert not [n for n in keyring_entries(ws.workspace_id) if n.startswith("phi:")]
