"""Keys: PHI rotation (resumable), database rekey, recovery kits on a new device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import ADMIN_EMAIL, ADMIN_PASSWORD, Env, sql

from closeplan_desktop.core.domain.errors import KeyMissing, PermissionDenied, ValidationError
from closeplan_desktop.core.domain.progress import Cancelled, CancelToken
from closeplan_desktop.core.security import crypto
from closeplan_desktop.core.security.keyring_store import (
    AUDIT_SLOT,
    DB_SLOT,
    KeyringStore,
    phi_slot,
)
from closeplan_desktop.core.store import db, layout, phi_keys, processes, workspace
from closeplan_desktop.core.usecases import auth, deal_import, deal_list, deals, key_admin

KIT_PASS = "kit passphrase for tests"


def make_deals(env: Env, n: int) -> list[str]:
    rows = [{"title": f"Deal {i}", "status": "ACTIVE", "value": "1.00",
             "phi": {"mrn": f"MRN-{i:06d}"} if i % 2 == 0 else None} for i in range(n)]
    from closeplan_desktop.core.domain.money import parse
    from closeplan_desktop.core.domain.validation import status

    for r in rows:
        r["status"], r["value"] = status(r["status"]), parse(r["value"])
    deal_import.import_deals(env.admin, rows)
    return [d.id for d in deal_list.list_deals(env.admin, limit=1000)]


def versions(env: Env) -> dict[int, int]:
    env.ws.engine.dispose()
    return {v: n for v, n in sql(env.path, "SELECT phi_key_version, count(*) FROM deals "
                                           "WHERE phi IS NOT NULL GROUP BY 1")}


def test_rotation_reencrypts_every_row_and_retires_the_old_key(env: Env) -> None:
    ids = make_deals(env, 30)
    seen = []
    n = key_admin.rotate_phi(env.admin, lambda done, total: seen.append((done, total)))
    assert n == 15 and seen[-1] == (15, 15)
    assert versions(env) == {2: 15}
    st = key_admin.status(env.admin)
    assert [(v, s) for v, s, _, _ in st.phi_versions] == [(1, "RETIRED"), (2, "ACTIVE")]
    for deal_id in ids:
        phi = deals.reveal_phi(env.admin, deal_id)
        assert phi == {} or phi["mrn"].startswith("MRN-")
    types = [r[0] for r in sql(env.path, "SELECT type FROM security_events WHERE type LIKE "
                                         "'KEY_%' ORDER BY seq")]
    assert types == ["KEY_CREATED", "KEY_CREATED", "KEY_ROTATED", "KEY_RETIRED"]


@pytest.mark.parametrize("workers_start", [True, False])
def test_rotation_in_batches_with_and_without_a_worker_keeps_edits_made_meanwhile(
        env: Env, monkeypatch: pytest.MonkeyPatch, workers_start: bool) -> None:
    """Several batches: a worker process reseals one while the next is written (or, where
    no worker can start, this process does). A deal edited after its batch was read and
    before it was written keeps the edit (sealed under the new key already)."""
    ids = make_deals(env, 30)
    monkeypatch.setattr(phi_keys, "BATCH", 5)
    if not workers_start:
        def no_processes(size: int) -> None:
            raise OSError("no processes here")

        monkeypatch.setattr(processes, "pool", no_processes)
    in_rowid_order = [r[0] for r in sql(env.path, "SELECT id FROM deals WHERE phi IS NOT NULL "
                                                  "ORDER BY rowid")]
    edited = in_rowid_order[6]  # in the second batch

    def edit_while_the_second_batch_is_out(done: int, total: int | None) -> None:
        if done == 5:
            deals.update_deal(env.admin, edited, phi={"mrn": "EDITED-DURING-ROTATION"})

    assert key_admin.rotate_phi(env.admin, edit_while_the_second_batch_is_out) == 15
    assert versions(env) == {2: 15}
    assert deals.reveal_phi(env.admin, edited) == {"mrn": "EDITED-DURING-ROTATION"}
    for deal_id in ids:
        if deal_id != edited:
            phi = deals.reveal_phi(env.admin, deal_id)
            assert phi == {} or phi["mrn"].startswith("MRN-")


def test_interrupted_rotation_resumes_on_next_open(env: Env, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    make_deals(env, 60)
    monkeypatch.setattr(phi_keys, "BATCH", 10)
    token = CancelToken()

    def stop_after_first_batch(done: int, total: int | None) -> None:
        if done >= 10:
            token.cancel()

    with pytest.raises(Cancelled):
        key_admin.rotate_phi(env.admin, stop_after_first_batch, token)
    assert versions(env) == {2: 10, 1: 20}
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert [(v, st) for v, st, _, _ in key_admin.status(s).phi_versions] == [
            (1, "RETIRED"), (2, "ACTIVE")]
    assert versions(env) == {2: 30}


def test_new_deals_use_the_active_key(env: Env) -> None:
    key_admin.rotate_phi(env.admin)
    d = deals.create_deal(env.admin, "After rotation", "ACTIVE", "1", {"mrn": "X"})
    assert versions(env) == {2: 1}
    assert deals.reveal_phi(env.admin, d.id) == {"mrn": "X"}


def test_rotate_db_rekeys_the_file(env: Env) -> None:
    d = deals.create_deal(env.admin, "Rekey me", "ACTIVE", "1", {"mrn": "R"})
    old = env.ws.keyring.require(DB_SLOT, "db")
    key_admin.rotate_db(env.admin)
    new = KeyringStore(env.ws.workspace_id).require(DB_SLOT, "db")
    assert new != old
    assert not db.key_opens(env.path / layout.DB_FILE, old)
    assert db.key_opens(env.path / layout.DB_FILE, new)
    assert layout.read_meta(env.path)["key_check"] == crypto.key_check(new)
    assert deals.reveal_phi(env.admin, d.id) == {"mrn": "R"}
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.get_deal(s, d.id).title == "Rekey me"


def test_rekey_cut_short_finishes_at_next_open(env: Env) -> None:
    """Crash after PRAGMA rekey, before the fingerprint and the slot were updated."""
    old = env.ws.keyring.require(DB_SLOT, "db")
    new = crypto.new_key()
    env.ws.close()
    keys_ = KeyringStore(env.ws.workspace_id)
    keys_.replace("db:pending", new)
    conn = db.raw_connect(env.path / layout.DB_FILE, old)
    conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
    conn.close()
    with workspace.open_workspace(env.path):
        pass
    fresh = KeyringStore(env.ws.workspace_id)
    assert fresh.get(DB_SLOT) == new and fresh.get("db:pending") is None
    assert layout.read_meta(env.path)["key_check"] == crypto.key_check(new)


def test_kit_restores_a_workspace_on_a_device_without_keys(env: Env, tmp_path: Path) -> None:
    d = deals.create_deal(env.admin, "Kit deal", "ACTIVE", "1", {"mrn": "KIT-1"})
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    text = kit.read_text()
    store = env.ws.keyring
    for slot in (DB_SLOT, AUDIT_SLOT, phi_slot(env.tenant_id, 1)):
        assert store.require(slot, slot).hex() not in text
    assert json.loads(text)["kdf"]["name"] == "argon2id"
    env.ws.close()
    # "A new laptop": the keyring has none of this workspace's key_admin.
    fresh = KeyringStore(env.ws.workspace_id)
    for slot in (DB_SLOT, AUDIT_SLOT, phi_slot(env.tenant_id, 1)):
        fresh.delete(slot)
    with pytest.raises(KeyMissing):
        workspace.open_workspace(env.path)
    with pytest.raises(ValidationError, match="passphrase is wrong"):
        key_admin.import_kit(env.path, kit.read_bytes(), "not the passphrase")
    assert KeyringStore(env.ws.workspace_id).get(DB_SLOT) is None
    restored = key_admin.import_kit(env.path, kit.read_bytes(), KIT_PASS)
    assert len(restored) == 3
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(s, d.id) == {"mrn": "KIT-1"}


def test_kit_of_another_workspace_or_garbage_is_refused(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other"
    with workspace.create(other):
        pass
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, KIT_PASS)
    with pytest.raises(ValidationError, match="another workspace"):
        key_admin.import_kit(other, kit.read_bytes(), KIT_PASS)
    with pytest.raises(ValidationError, match="not a ClosePlan recovery kit"):
        key_admin.import_kit(other, b"{}", KIT_PASS)
    with pytest.raises(ValidationError, match="not a ClosePlan recovery kit"):
        key_admin.import_kit(other, b"\x00\xff", KIT_PASS)


def test_only_admins_manage_keys(env: Env, tmp_path: Path) -> None:
    for op in (lambda: key_admin.rotate_phi(env.user), lambda: key_admin.rotate_db(env.user),
               lambda: key_admin.status(env.user),
               lambda: key_admin.export_kit(env.user, tmp_path / "k", KIT_PASS)):
        with pytest.raises(PermissionDenied):
            op()
    assert not (tmp_path / "k").exists()


def test_kit_passphrase_follows_password_policy(env: Env, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least"):
        key_admin.export_kit(env.admin, tmp_path / "k", "short")
