"""The outside review's findings (issue 13): each test replays the attack and shows that it
now fails safely. The names carry the finding's number; README "Reliability and security"
lists them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PREVIOUS_RELEASE,
    USER_EMAIL,
    USER_PASSWORD,
    Env,
    add_legacy_tenant,
    held_phi_keys,
    make_previous_release,
    run_cli,
    sql,
    use_system_policy,
)

from closeplan_desktop.core.domain.errors import (
    AccountLocked,
    AuthError,
    NotFoundError,
    PermissionDenied,
    PolicyError,
    RolledBack,
    ValidationError,
    WorkspaceBusy,
)
from closeplan_desktop.core.security import crypto, hardening, passwords, policy, slots
from closeplan_desktop.core.security.keyring_store import (
    ANCHOR_SLOT,
    AUDIT_SLOT,
    DB_SLOT,
    KeyringStore,
    phi_slot,
)
from closeplan_desktop.core.store import layout, workspace
from closeplan_desktop.core.tools import doctor
from closeplan_desktop.core.usecases import audit, auth, deals, key_admin, restore, users

KIT_PASS = "a long kit passphrase"

# --- helpers ---------------------------------------------------------------------------


def db_files(path: Path) -> list[Path]:
    return [path / f"{layout.DB_FILE}{suffix}" for suffix in ("", "-wal", "-shm")]


def copy_db(path: Path, target: Path) -> None:
    """A plain file copy of the database, as anyone who can read the folder can make."""
    target.mkdir(parents=True, exist_ok=True)
    for f in db_files(path):
        if f.exists():
            shutil.copyfile(f, target / f.name)


def put_back(saved: Path, path: Path) -> None:
    for f in db_files(path):
        f.unlink(missing_ok=True)
    for f in saved.iterdir():
        shutil.copyfile(f, path / f.name)


def drop_log_triggers(path: Path) -> None:
    for table in ("access_logs", "security_events"):
        for what in ("update", "delete"):
            sql(path, f"DROP TRIGGER IF EXISTS {table}_no_{what}")


def events(path: Path, type_: str) -> list[tuple[object, ...]]:
    return sql(path, "SELECT tenant_id, detail FROM security_events WHERE type = ?", (type_,))


# --- finding 1: rollback ---------------------------------------------------------------


def test_finding_1_rollback_of_the_database_file_is_refused(env: Env, tmp_path: Path) -> None:
    """An older closeplan.db copied back (no key needed) would erase every access row and
    security event since, and undo a deactivation: it is refused, with a clear message
    and a security event, and `doctor` says so."""
    d = deals.create_deal(env.admin, "Before the copy", "ACTIVE", "1", {"mrn": "R-1"})
    env.ws.close()
    copy_db(env.path, tmp_path / "old")
    with workspace.open_workspace(env.path) as ws:
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        deals.reveal_phi(admin, d.id)
        users.deactivate(admin, users.find_user_id(admin, USER_EMAIL))
    put_back(tmp_path / "old", env.path)

    with pytest.raises(RolledBack) as exc:
        workspace.open_workspace(env.path)
    assert "older than the last state" in str(exc.value) and "not opened" in str(exc.value)
    assert "R-1" not in str(exc.value)
    assert [r[0] for r in events(env.path, "ROLLBACK_DETECTED")] == [env.tenant_id]
    checks = {c.name: c for c in doctor.run(env.path)}
    assert not checks["workspace"].ok and "older than the last state" in checks["workspace"].detail
    # Still refused the next time (the refusal does not move the anchor).
    with pytest.raises(RolledBack):
        workspace.open_workspace(env.path)


def test_finding_1_an_emptied_log_with_its_head_is_noticed(env: Env) -> None:
    """With the database key alone: empty a log table together with its chain head."""
    d = deals.create_deal(env.admin, "Logged", "ACTIVE", "1", {"mrn": "E-1"})
    deals.reveal_phi(env.admin, d.id)
    assert audit.verify(env.admin).ok
    env.ws.engine.dispose()
    drop_log_triggers(env.path)
    sql(env.path, "DELETE FROM access_logs")
    sql(env.path, "DELETE FROM audit_heads WHERE chain LIKE 'access_logs:%'")
    report = audit.verify(env.admin)
    assert not report.ok and "access_logs" in str(report.problem)
    env.ws.close()
    with pytest.raises(RolledBack, match="missing"):
        workspace.open_workspace(env.path)


def test_finding_1_a_cut_tail_with_older_heads_put_back_is_noticed(env: Env) -> None:
    """With the database key alone: cut every chain's tail and put back the heads (and
    counter) saved earlier, so the database's own check finds nothing amiss."""
    d = deals.create_deal(env.admin, "Logged", "ACTIVE", "1", {"mrn": "C-1"})
    env.ws.engine.dispose()
    heads = sql(env.path, "SELECT chain, seq, head_hash, head_mac FROM audit_heads")
    meta = sql(env.path, "SELECT key, value FROM workspace_meta")
    for _ in range(3):
        deals.reveal_phi(env.admin, d.id)
    users.deactivate(env.admin, env.user.user_id)
    env.ws.engine.dispose()
    drop_log_triggers(env.path)
    for chain_name, seq, head_hash, head_mac in heads:
        table, _, device = str(chain_name).partition(":")
        sql(env.path, f"DELETE FROM {table} WHERE device_id = ? AND seq > ?", (device, seq))
        sql(env.path, "UPDATE audit_heads SET seq = ?, head_hash = ?, head_mac = ? "
                      "WHERE chain = ?", (seq, head_hash, head_mac, chain_name))
    sql(env.path, "DELETE FROM workspace_meta")
    for key, value in meta:
        sql(env.path, "INSERT INTO workspace_meta (key, value) VALUES (?, ?)", (key, value))
    sql(env.path, "UPDATE users SET deactivated_at = NULL")
    report = audit.verify(env.admin)
    assert not report.ok and "behind" in str(report.problem)
    env.ws.close()
    with pytest.raises(RolledBack, match="behind"):
        workspace.open_workspace(env.path)


def test_finding_1_the_anchor_lags_only_ahead_and_costs_one_write_at_most(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The anchor moves after the commit (a crash between leaves the database ahead, which
    opens); it costs at most one keyring write per write transaction, off the caller's
    thread."""
    d = deals.create_deal(env.admin, "Revealed", "ACTIVE", "1", {"mrn": "A-1"})
    assert env.ws.anchor is not None
    env.ws.anchor.flush()
    writes: list[str] = []
    real = KeyringStore.replace

    def counting(self: KeyringStore, slot: str, key: bytes) -> None:
        writes.append(slot)
        real(self, slot, key)

    monkeypatch.setattr(KeyringStore, "replace", counting)
    for _ in range(5):
        deals.reveal_phi(env.admin, d.id)
    env.ws.anchor.flush()
    assert 1 <= writes.count(ANCHOR_SLOT) <= 5
    # A crash after the commit, before the anchor moved: the database is ahead, and opens.
    monkeypatch.setattr(type(env.ws.anchor), "committed", lambda *a, **k: None)
    deals.reveal_phi(env.admin, d.id)
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        assert audit.verify(auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)).ok


def test_finding_1_migration_backup_is_removed_once_verified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy taken before a migration is not left behind as a ready rollback."""
    previous = PREVIOUS_RELEASE
    path = tmp_path / "old"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Old Co", None, ADMIN_EMAIL, "Ada", "Admin", ADMIN_PASSWORD)
        phi_keys = held_phi_keys(ws)
    make_previous_release(path, phi_keys, {ADMIN_EMAIL: ADMIN_PASSWORD})
    assert sql(path, "SELECT version_num FROM alembic_version") == [(previous,)]
    taken: list[Path] = []
    real = workspace.backup_database
    monkeypatch.setattr(workspace, "backup_database",
                        lambda *a: taken.append(real(*a)) or taken[-1])
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == workspace.SCHEMA_HEAD
    assert len(taken) == 1 and not taken[0].exists()
    assert [p.name for p in path.rglob("*.db")] == [layout.DB_FILE]


# --- finding 3: importing a kit never overwrites a database key ------------------------


def test_finding_3_importing_an_old_kit_into_an_old_copy_keeps_the_live_key(
        env: Env, tmp_path: Path) -> None:
    """Copies of a folder share its id. An old kit imported into an old copy must not
    replace the key of the live, rekeyed workspace: keys are kept by fingerprint."""
    d = deals.create_deal(env.admin, "Live deal", "ACTIVE", "1", {"mrn": "L-1"})
    kit = tmp_path / "old-kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    env.ws.close()
    old_copy = tmp_path / "old-copy"
    shutil.copytree(env.path, old_copy)
    with workspace.open_workspace(env.path) as ws:
        key_admin.rotate_db(auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD))
    live_key = KeyringStore(env.ws.workspace_id).require(DB_SLOT, "db")

    restored = key_admin.import_kit(old_copy, kit.read_bytes(), KIT_PASS)
    assert restored and all(slot != DB_SLOT for slot in restored)
    assert KeyringStore(env.ws.workspace_id).require(DB_SLOT, "db") == live_key
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(s, d.id) == {"mrn": "L-1"}
    # The old copy's key is there too, by its fingerprint (the copy itself is older than
    # the live workspace, so opening it is refused as a rollback).
    with pytest.raises(RolledBack):
        workspace.open_workspace(old_copy)


def test_finding_3_kit_import_takes_the_lock_and_logs_before_the_keyring(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import into a workspace that is open elsewhere writes nothing; otherwise the
    import's log row is committed before any key is written, and it belongs to the
    tenant (finding 7)."""
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    store = KeyringStore(env.ws.workspace_id)
    for slot in (AUDIT_SLOT, phi_slot(env.tenant_id, 1)):
        store.delete(slot)
    with pytest.raises(WorkspaceBusy):  # env.ws holds the lock
        key_admin.import_kit(env.path, kit.read_bytes(), KIT_PASS)
    assert KeyringStore(env.ws.workspace_id).get(AUDIT_SLOT) is None
    env.ws.close()

    order: list[str] = []
    real_put = KeyringStore.put
    monkeypatch.setattr(KeyringStore, "put", lambda self, slot, key: (
        order.append(f"key {slot}"), real_put(self, slot, key))[1])
    real_log = key_admin.log_event
    monkeypatch.setattr(key_admin, "log_event", lambda *a, **k: (
        order.append("log"), real_log(*a, **k))[1])
    key_admin.import_kit(env.path, kit.read_bytes(), KIT_PASS)
    assert order[0] == "log" and len(order) == 3
    assert [r[0] for r in events(env.path, "RECOVERY_KIT_IMPORTED")] == [env.tenant_id]


# --- finding 2: a workspace holds exactly one tenant -----------------------------------


def test_finding_2_a_second_tenant_is_refused(env: Env) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        users.create_tenant(env.ws, "Other Clinic", None, "eve@other.example", "Eve", "O",
                            "other tenant password")
    assert sql(env.path, "SELECT count(*) FROM tenants") == [(1,)]
    assert sql(env.path, "SELECT count(*) FROM users WHERE email = 'eve@other.example'") == \
        [(0,)]


def test_finding_2_in_an_older_two_tenant_workspace_no_admin_takes_the_others_keys(
        env: Env, tmp_path: Path) -> None:
    """An older workspace may hold two tenants: one admin cannot export a kit (it would hold
    the database key) or rekey the database (it would break the other's kits); the verify
    count and the events stay the admin's own."""
    add_legacy_tenant(env.ws, "Other Clinic", None, "eve@other.example", "Eve", "O",
                      "other tenant password")
    eve = auth.sign_in(env.ws, "eve@other.example", "other tenant password")
    deals.create_deal(eve, "Eve's deal", "ACTIVE", "1", {"mrn": "EVE-1"})
    for op in (lambda: key_admin.export_kit(env.admin, tmp_path / "kit", KIT_PASS),
               lambda: key_admin.rotate_db(env.admin)):
        with pytest.raises(PermissionDenied, match="more than one organisation"):
            op()
    assert not (tmp_path / "kit").exists()
    mine = sum(int(sql(env.path, f"SELECT count(*) FROM {t} WHERE tenant_id = ?",
                       (env.tenant_id,))[0][0]) for t in ("access_logs", "security_events"))
    report = audit.verify(env.admin)
    assert report.ok and report.rows_checked == mine
    events_seen, _ = audit.list_events(env.admin, limit=1000)
    assert all(e.user_email != "eve@other.example" for e in events_seen)
    # Adding a user whose email the other tenant uses does not say that it exists.
    with pytest.raises(ValidationError) as exc:
        users.add_user(env.admin, "eve@other.example", "E", "V", "USER", "a long password 1")
    assert "exists" not in str(exc.value)


def test_finding_2_a_kit_holds_only_the_tenants_keys_in_use(env: Env, tmp_path: Path) -> None:
    key_admin.rotate_phi(env.admin)  # v1 retired: no row uses it
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    payload = crypto.open_kit(KIT_PASS, kit.read_bytes())
    assert list(payload["phi_keys"]) == [env.tenant_id]
    assert list(payload["phi_keys"][env.tenant_id]) == ["2"]


# --- finding 8: file modes -------------------------------------------------------------


def test_finding_8_workspace_files_are_the_users_alone(tmp_path: Path) -> None:
    """In a folder that already exists (0755) and under a umask of 022, the database, WAL,
    SHM, lock and metadata come out 0600 and the folder 0700; `doctor` checks them."""
    path = tmp_path / "shared"
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)  # noqa: S103 - the loose folder under test
    old = os.umask(0o022)
    try:
        with workspace.create(path) as ws:
            users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                                ADMIN_PASSWORD)
            s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
            deals.create_deal(s, "Deal", "ACTIVE", "1", {"mrn": "M-8"})
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()}
            assert stat.S_IMODE(path.stat().st_mode) == 0o700
            assert {f"{layout.DB_FILE}-wal", f"{layout.DB_FILE}-shm", layout.DB_FILE,
                    layout.LOCK_FILE, layout.META_FILE} <= set(modes)
            assert all(mode == 0o600 for mode in modes.values()), modes
            assert os.umask(0o077) == 0o077  # the process's umask was tightened too
    finally:
        os.umask(old)
    checks = {c.name: c for c in doctor.run(path)}
    assert checks["file modes"].ok
    os.chmod(path / layout.DB_FILE, 0o644)
    os.chmod(path, 0o755)  # noqa: S103 - the loose folder under test
    checks = {c.name: c for c in doctor.run(path)}
    assert not checks["file modes"].ok and layout.DB_FILE in checks["file modes"].detail
    assert stat.S_IMODE((path / layout.DB_FILE).stat().st_mode) == 0o600  # and fixed


# --- finding 5: sign-in timing ---------------------------------------------------------

FRESH_SIGN_IN = """
import json, sys, time
from pathlib import Path
import bcrypt
from closeplan_desktop.core.domain.errors import AuthError
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth

work = []
real_check, real_hash = bcrypt.checkpw, bcrypt.hashpw
def check(pw, hashed):
    work.append(("check", int(hashed[4:6])))
    return real_check(pw, hashed)
def hashpw(pw, salt):
    work.append(("hash", int(salt[4:6])))
    return real_hash(pw, salt)
bcrypt.checkpw, bcrypt.hashpw = check, hashpw
from closeplan_desktop.core.security import slots
real_kek = slots._kek
def kek(ring, pw, salt, kdf):
    work.append(("argon2id", json.dumps(kdf, sort_keys=True)))
    return real_kek(ring, pw, salt, kdf)
slots._kek = kek
with workspace.open_workspace(Path(sys.argv[1])) as ws:
    t = time.perf_counter()
    try:
        auth.sign_in(ws, sys.argv[2], "not the password 123")
    except AuthError:
        pass
    ms = (time.perf_counter() - t) * 1000
print(json.dumps({"work": work, "ms": ms}))
"""


def test_finding_5_unknown_and_known_emails_cost_the_same_in_a_fresh_process(
        tmp_path: Path, _policy: Path) -> None:
    """Each CLI call is a fresh process: a failed sign-in of an unknown email does the
    work of opening a key slot at the stored slots' parameters (here the suite's cheap
    ones; the fresh process would make new slots at the default), and no bcrypt run."""
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
    _policy.write_text(json.dumps({"bcrypt_cost": 6}))
    seen = {}
    for email in (ADMIN_EMAIL, "nobody@acme-health.example"):
        out = subprocess.run([sys.executable, "-c", FRESH_SIGN_IN, str(path), email],
                             capture_output=True, text=True, timeout=120, check=True)
        seen[email] = json.loads(out.stdout.strip().splitlines()[-1])
    stored = [["argon2id", json.dumps(slots.TEST_KDF, sort_keys=True)]]
    assert seen[ADMIN_EMAIL]["work"] == stored
    assert seen["nobody@acme-health.example"]["work"] == stored
    print("fresh-process failed sign-in, ms:",
          {k: round(v["ms"], 1) for k, v in seen.items()})


# --- finding 11: bounded KDF parameters ------------------------------------------------


@pytest.mark.parametrize("kdf", [
    {"iterations": 10**7}, {"memory_kib": 1 << 21}, {"lanes": 10**6}, {"iterations": 0},
    {"iterations": "3"},
])
def test_finding_11_a_crafted_kit_cannot_hang_the_import(tmp_path: Path,
                                                         kdf: dict[str, object]) -> None:
    """The KDF parameters come from the file: only bounded ones are used."""
    sealed = json.loads(crypto.seal_kit(KIT_PASS, {"workspace_id": "x"}))
    sealed["kdf"] = dict(sealed["kdf"], **kdf)
    started = time.perf_counter()
    with pytest.raises(ValidationError, match=r"safe range|not a ClosePlan recovery kit"):
        crypto.open_kit(KIT_PASS, json.dumps(sealed).encode())
    assert time.perf_counter() - started < 1.0
    # This version's own kits still open.
    assert crypto.open_kit(KIT_PASS, crypto.seal_kit(KIT_PASS, {"a": 1})) == {"a": 1}


# --- finding 10: lockout can be lifted -------------------------------------------------


def test_finding_10_a_reset_or_an_admin_unlock_lifts_the_lockout(env: Env) -> None:
    """Anyone who knows an email can lock it out; an admin can lift that (logged), and a
    password reset lifts it too."""
    def lock_out() -> None:
        for _ in range(env.ws.policy.lockout_threshold):
            with pytest.raises(AuthError):
                auth.sign_in(env.ws, USER_EMAIL, "not the password 123")
        with pytest.raises(AccountLocked):
            auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)

    lock_out()
    users.unlock(env.admin, env.user.user_id)
    auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    lock_out()
    users.reset_password(env.admin, env.user.user_id, "a brand new strong secret 7")
    auth.sign_in(env.ws, USER_EMAIL, "a brand new strong secret 7")
    unlocked = events(env.path, "USER_UNLOCKED")
    assert len(unlocked) == 2 and all(r[0] == env.tenant_id for r in unlocked)
    with pytest.raises(PermissionDenied):
        users.unlock(env.user, env.admin.user_id)


# --- finding 7: events with no tenant --------------------------------------------------


def test_finding_7_failed_sign_ins_for_unknown_emails_reach_the_tenants_audit(env: Env) -> None:
    with pytest.raises(AuthError):
        auth.sign_in(env.ws, "nobody@acme-health.example", "not the password 123")
    seen, _ = audit.list_events(env.admin, audit.AuditFilter(event_type="LOGIN_FAILURE"))
    assert any("nobody@acme-health.example" in e.detail for e in seen)
    assert sql(env.path, "SELECT count(*) FROM security_events WHERE tenant_id IS NULL") == \
        [(0,)]


# --- finding 12: passwords, dumpable flag, reveal of a deal without PHI ----------------


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "password1234", "qwertyuiop123",
                                  "Password2026!"])
def test_finding_12_common_and_patterned_passwords_are_refused_with_advice(
        env: Env, weak: str) -> None:
    with pytest.raises(ValidationError, match="too weak") as exc:
        users.add_user(env.admin, "new@acme-health.example", "New", "User", "USER", weak)
    assert weak not in str(exc.value)
    found = passwords.strength(weak, ["new@acme-health.example"])
    assert not found.ok and found.message.startswith("Password is too weak")
    with pytest.raises(ValidationError, match="too weak"):
        users.reset_password(env.admin, env.user.user_id, weak)
    assert passwords.strength("correct horse battery").ok


def test_finding_12_the_process_is_not_dumpable_once_a_workspace_is_open(env: Env) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("prctl is Linux's")
    assert hardening.is_dumpable() is False


def test_finding_12_revealing_a_deal_without_phi_logs_no_phi_access(env: Env) -> None:
    d = deals.create_deal(env.admin, "No PHI here", "ACTIVE", "1")
    assert deals.reveal_phi(env.admin, d.id) == {}
    assert sql(env.path, "SELECT count(*) FROM access_logs WHERE deal_id = ? AND "
                         "action = 'PHI_ACCESS'", (d.id,)) == [(0,)]


# --- finding 6: removed PHI stays recoverable ------------------------------------------


def test_finding_6_superseded_envelopes_and_retired_keys_are_gone(env: Env) -> None:
    """Outbox rows kept every old envelope, and retired PHI keys stayed in the keyring:
    only the latest outbox row of a deal keeps its envelope, and a retired key is deleted
    (and left out of kits, test_finding_2_a_kit_holds_only_the_tenants_keys_in_use)."""
    d = deals.create_deal(env.admin, "Changing PHI", "ACTIVE", "1", {"mrn": "OLD-1"})
    deals.update_deal(env.admin, d.id, phi={"mrn": "OLD-2"})
    deals.update_deal(env.admin, d.id, phi={"mrn": "NOW-3"})
    rows = sql(env.path, "SELECT json_extract(payload, '$.phi') FROM outbox WHERE "
                         "entity = 'deals' AND entity_id = ? ORDER BY id", (d.id,))
    assert [r[0] is None for r in rows] == [True, True, False]
    key_admin.rotate_phi(env.admin)
    assert KeyringStore(env.ws.workspace_id).get(phi_slot(env.tenant_id, 1)) is None
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(s, d.id) == {"mrn": "NOW-3"}
        assert not [v for v in key_admin.status(s).phi_versions if v[0] == 1 and v[3]]


# The reviewer's attack on the policy: IT's 5 idle minutes and 3 tries, and a file of the
# user's own raising them, with a cheap bcrypt cost and a slow clipboard clear.
SYSTEM = {"idle_lock_minutes": 5, "lockout_threshold": 3}
ATTACK = {"idle_lock_minutes": 240, "lockout_threshold": 100, "bcrypt_cost": 4,
          "clipboard_clear_seconds": 600}
POLICY_AS_USER = """
import json, os, sys
from pathlib import Path
from closeplan_desktop.core.security import policy
# Python itself lies under root's home: start as root, then become an ordinary user.
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[2]))
policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(Path(sys.argv[1]))
p = policy.load_policy()
print(json.dumps({"values": {k: getattr(p, k) for k in p.sources}, "notes": p.notes}))
"""
NOBODY = 65534


def effective(p: policy.Policy) -> dict[str, int]:
    return {k: getattr(p, k) for k in (*ATTACK, "phi_autohide_seconds")}


def test_finding_4_a_users_policy_file_cannot_switch_off_the_system_policy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The system policy is always read; CLOSEPLAN_POLICY_FILE only adds keys, from a file
    the user cannot write; every value is clamped to its secure floor, reported once, and
    `doctor` shows where each value came from."""
    shared = Path(tempfile.mkdtemp(prefix="closeplan-policy-"))  # a user can reach it
    try:
        shared.chmod(0o755)
        etc = shared / "etc"
        etc.mkdir()
        etc.chmod(0o755)
        system = etc / "policy.json"
        system.write_text(json.dumps(SYSTEM))
        system.chmod(0o644)  # (an open workspace sets the umask to 0077)
        home = shared / "home"
        home.mkdir()
        attack = home / "mine.json"
        attack.write_text(json.dumps(ATTACK))
        for p in (home, attack):
            os.chown(p, NOBODY, NOBODY)
        # 1. The attack itself, run as an ordinary user (not root) on a file of their own.
        out = subprocess.run(
            [sys.executable, "-c", POLICY_AS_USER, str(system), str(NOBODY)],
            env={**os.environ, "CLOSEPLAN_POLICY_FILE": str(attack), "HOME": str(home),
                 "XDG_CONFIG_HOME": str(home / "config")},
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        seen = json.loads(out.stdout.strip().splitlines()[-1])
        assert {k: seen["values"][k] for k in ATTACK} == {
            "idle_lock_minutes": 5, "lockout_threshold": 3, "bcrypt_cost": 10,
            "clipboard_clear_seconds": 20}
        assert any("belongs to you" in n and "ignored" in n for n in seen["notes"])
    finally:
        shutil.rmtree(shared)

    system = tmp_path / "policy.json"
    system.write_text(json.dumps(SYSTEM))
    use_system_policy(monkeypatch, system, below_floors=False)
    # 2. The same values in the user's own settings are clamped to the floors.
    user = policy.user_settings_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(json.dumps(ATTACK))
    with caplog.at_level(logging.WARNING):
        first = policy.load_policy()
        again = policy.load_policy()
    assert effective(first) == effective(again) == {
        "idle_lock_minutes": 5, "lockout_threshold": 3, "bcrypt_cost": 10,
        "clipboard_clear_seconds": 60, "phi_autohide_seconds": 30}
    clamped = [r for r in caplog.records if "'bcrypt_cost' = 4" in r.getMessage()]
    assert len(clamped) == 1 and "at least 10" in clamped[0].getMessage()  # once
    with pytest.raises(PolicyError, match="at least 10"):
        policy.save_user_setting("bcrypt_cost", 4)
    user.unlink()

    # 3. A file IT placed (root's, writable by no one else) adds keys the system policy
    # does not set; a key the system policy sets stays IT's; past a floor it is clamped.
    added_dir = tmp_path / "it"
    added_dir.mkdir()
    added_dir.chmod(0o755)
    added = added_dir / "added.json"
    added.write_text(json.dumps({"idle_lock_minutes": 240, "phi_autohide_seconds": 45,
                                 "clipboard_clear_seconds": 600}))
    added.chmod(0o644)
    monkeypatch.setenv("CLOSEPLAN_POLICY_FILE", str(added))
    p = policy.load_policy()
    assert (p.idle_lock_minutes, p.phi_autohide_seconds, p.clipboard_clear_seconds) == \
        (5, 45, 60)
    assert p.sources["idle_lock_minutes"] == str(system)
    assert p.is_enforced("phi_autohide_seconds") and "CLOSEPLAN_POLICY_FILE" in \
        p.sources["phi_autohide_seconds"]
    assert any("may not change 'idle_lock_minutes'" in n for n in p.notes)
    checks = {c.name: c.detail for c in doctor.policy_checks()}
    assert checks["policy idle_lock_minutes"] == f"5 min from {system}"
    assert "CLOSEPLAN_POLICY_FILE" in checks["policy phi_autohide_seconds"]
    assert checks["policy bcrypt_cost"] == "10 from default"
    # 4. Writable by others (the file or its folder): ignored as a whole.
    for loose in (added, added_dir):
        loose.chmod(loose.stat().st_mode | 0o022)
        p = policy.load_policy()
        assert (p.phi_autohide_seconds, p.clipboard_clear_seconds) == (30, 20)
        assert any("writable by others" in n for n in p.notes)
        loose.chmod(loose.stat().st_mode & ~0o022)
    # The ownership rule for an ordinary user: their own file is refused, root's is not.
    os.chown(added, NOBODY, NOBODY)
    assert "belongs to you" in (policy.untrusted_reason(added, uid=NOBODY) or "")
    assert policy.untrusted_reason(added, uid=NOBODY + 1) is None


def test_finding_9_phi_and_reasons_are_never_taken_from_argv(tmp_path: Path) -> None:
    """`deals add --phi JSON` and `--reason TEXT` put PHI and reasons in the process list
    and the shell history: refused (exit 2, the value never echoed, nothing written);
    `--phi -` and `--reason -` read them from piped stdin after the password."""
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
    phi = '{"mrn": "MRN-ARGV-4471"}'
    acting = ["--workspace", path, "--as", ADMIN_EMAIL, "--password-stdin"]
    add = ["deals", "add", *acting, "--title", "Argv", "--status", "ACTIVE", "--value", "1"]
    r = run_cli(*add, "--phi", phi, stdin=ADMIN_PASSWORD + "\n")
    assert r.code == 2 and "'--phi -'" in r.err and "shell history" in r.err
    assert "MRN-ARGV" not in r.err + r.out
    assert sql(path, "SELECT count(*) FROM deals") == [(0,)]
    r = run_cli(*add, "--phi", "-", stdin=f"{ADMIN_PASSWORD}\n{phi}\n")
    assert r.code == 0, r.err
    deal_id = r.out.strip()
    r = run_cli("deals", "show", deal_id, "--phi", "--reason", "Patient 4471 called",
                *acting, stdin=ADMIN_PASSWORD + "\n")
    assert r.code == 2 and "'--reason -'" in r.err and "4471" not in r.err + r.out
    r = run_cli("deals", "show", deal_id, "--phi", "--reason", "-", *acting,
                stdin=f"{ADMIN_PASSWORD}\nOn-call escalation\n")
    assert r.code == 0 and "MRN-ARGV-4471" in r.out
    r = run_cli("deals", "show", deal_id, "--phi", "--reason", "-", *acting,
                stdin=ADMIN_PASSWORD + "\n")
    assert r.code == 1 and "ended before the break-glass reason" in r.err


def test_finding_12_a_denied_plain_read_is_not_logged_as_phi_access(env: Env) -> None:
    """A user asks for a deal they may not see (another tenant's, in an older two-tenant
    workspace): no PHI was asked for, so no refused PHI_ACCESS row; an ACCESS_DENIED event
    says a plain read was refused, alike for a deal that does not exist."""
    add_legacy_tenant(env.ws, "Other Clinic", None, "eve@other.example", "Eve", "O",
                      "other tenant password")
    eve = auth.sign_in(env.ws, "eve@other.example", "other tenant password")
    theirs = deals.create_deal(eve, "Eve's deal", "ACTIVE", "1", {"mrn": "EVE-1"})
    missing = "c" + "0" * 24
    for deal_id in (theirs.id, missing):
        with pytest.raises(NotFoundError, match="No such deal"):
            deals.get_deal(env.user, deal_id)
    assert sql(env.path, "SELECT count(*) FROM access_logs WHERE user_id = ?",
               (env.user.user_id,)) == [(0,)]
    denied = [json.loads(str(d)) for t, d in events(env.path, "ACCESS_DENIED")
              if t == env.tenant_id]
    assert denied == [{"action": "DEAL_READ", "deal": theirs.id},
                      {"action": "DEAL_READ", "deal": missing}]


# --- the way forward after a rollback refusal ------------------------------------------


def test_finding_1_an_admin_accepts_a_restore_made_on_purpose(env: Env, tmp_path: Path) -> None:
    """A rolled-back copy is refused; a user's or a wrong password cannot accept it (and
    the attempt is logged); `closeplan-admin workspace accept-restore` with an admin's
    password and a reason re-anchors on it, with a RESTORE_ACCEPTED event saying from
    which counter to which; then it opens."""
    env.ws.close()
    copy_db(env.path, tmp_path / "old")
    with workspace.open_workspace(env.path) as ws:
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        deals.create_deal(admin, "After the copy", "ACTIVE", "1")
    put_back(tmp_path / "old", env.path)
    with pytest.raises(RolledBack) as exc:
        workspace.open_workspace(env.path)
    assert "closeplan-admin workspace accept-restore" in str(exc.value)  # the way forward

    with pytest.raises(PermissionDenied):
        restore.accept_restore(env.path, USER_EMAIL, USER_PASSWORD, "I want it back")
    with pytest.raises(AuthError):
        restore.accept_restore(env.path, ADMIN_EMAIL, "not the password 123", "Restore")
    with pytest.raises(RolledBack):
        workspace.open_workspace(env.path)
    denied = [json.loads(str(d)) for _t, d in events(env.path, "ACCESS_DENIED")]
    assert {"action": "workspace.accept_restore", "reason": "not an administrator"} in denied
    assert events(env.path, "RESTORE_ACCEPTED") == []

    acting = ["--workspace", env.path, "--as", ADMIN_EMAIL, "--password-stdin"]
    r = run_cli("workspace", "accept-restore", *acting, "--reason", "Restored from backup",
                stdin=ADMIN_PASSWORD + "\n")
    assert r.code == 2 and "'--reason -'" in r.err  # finding 9: never in argv
    r = run_cli("workspace", "accept-restore", *acting, "--reason", "-",
                stdin=f"{ADMIN_PASSWORD}\nIT restored last night's backup (ticket 4411)\n")
    assert r.code == 0, r.err
    ((tenant, detail),) = events(env.path, "RESTORE_ACCEPTED")
    recorded = json.loads(str(detail))
    assert tenant == env.tenant_id
    assert recorded["reason"] == "IT restored last night's backup (ticket 4411)"
    # The anchor's counter, the restored database's, and why it had been refused.
    assert {type(recorded["from_counter"]), type(recorded["to_counter"])} == {int}
    assert "is missing from the database" in recorded["why"]  # the deal's access chain
    assert f"goes from {recorded['from_counter']} back to {recorded['to_counter']}" in r.out
    with workspace.open_workspace(env.path) as ws:
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert audit.verify(admin).ok
        deals.create_deal(admin, "After the restore", "ACTIVE", "1")
    with workspace.open_workspace(env.path):
        pass  # and it stays accepted
    with pytest.raises(ValidationError, match="no refused restore"):
        restore.accept_restore(env.path, ADMIN_EMAIL, ADMIN_PASSWORD, "Again")
