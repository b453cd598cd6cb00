"""Devices on a real cluster, through the services as the API's role runs them: enrolment
and approval by code (wrong codes counted, then the enrolment must restart), revocation
(sessions and grants end at once, a wipe order that verifies with the published key),
key grants (each device only its own), PHI key rotation by compare-and-swap, and tenant
isolation of all of it."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from device_support import (
    Device,
    add_session,
    add_user,
    approved,
    enrol,
    first_admin_device,
    grant_for,
)
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain import audit_batch as ab
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.devices import enrolment, grants, registry, shares
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.keys import escrow, signing


@pytest.fixture
def acme(server_db: ServerDb, app_pool: Database) -> tuple[Tenant, Device]:
    """A fresh tenant and its first admin device."""
    t = server_db.tenant("Acme")
    return t, first_admin_device(app_pool, t)


def count(app_pool: Database, t: Tenant, query: str, *params: object) -> int:
    with app_pool.transaction(t.id) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def approve(app_pool: Database, t: Tenant, admin: Device, d: Device, code: str
            ) -> enrolment.Outcome:
    with app_pool.transaction(t.id, admin.user_id) as conn:
        return enrolment.approve(conn, admin.caller(t.id), d.id, code, [grant_for(t, d)])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_enrol_then_approve_with_the_right_code_activates_and_grants(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    user = add_user(app_pool, t)
    d, code = enrol(app_pool, t, user)
    assert len(code) == 6 and code.isdigit()
    with app_pool.transaction(t.id) as conn:
        stored = conn.execute("SELECT status, approval_code_hash FROM devices WHERE id = %s",
                              (d.id,)).fetchone()
    assert stored is not None and stored[0] == "PENDING"
    assert code.encode() not in bytes(stored[1])  # only a hash is kept
    device = approve(app_pool, t, admin, d, code).result()
    assert device["status"] == "ACTIVE" and device["approved_by_id"] == t.admin_id
    assert "approval_code_hash" not in device
    with app_pool.transaction(t.id, user) as conn:
        mine = grants.my_grants(conn, d.caller(t.id))
    assert [(g["key_version"], g["grantee_kind"], g["grantee_id"]) for g in mine] == \
        [(1, "DEVICE", d.id)]
    # The new device opens its grant with its own X25519 key: the tenant's PHI key.
    wrapped = base64.b64decode(mine[0]["wrapped"])
    assert escrow.unwrap_key(d.kem, t.id, 1, wrapped) == t.phi_key
    assert count(app_pool, t, "SELECT count(*) FROM security_events WHERE type = 'DEVICE_APPROVED' "
                 "AND device_id IS NULL AND seq IS NULL AND user_id = %s", t.admin_id) == 1


def test_wrong_codes_are_counted_then_the_enrolment_must_restart(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    d, code = enrol(app_pool, t, add_user(app_pool, t))
    for left in range(enrolment.MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(ApiError) as e:
            approve(app_pool, t, admin, d, wrong(code)).result()
        assert (e.value.status, e.value.code) == (403, "wrong_approval_code")
        assert e.value.detail["attempts_left"] == left
    with pytest.raises(ApiError) as e:
        approve(app_pool, t, admin, d, wrong(code)).result()
    assert e.value.code == "enrolment_restart_required"
    # Even the right code is refused now, and nothing was granted.
    with pytest.raises(ApiError) as e:
        approve(app_pool, t, admin, d, code).result()
    assert (e.value.status, e.value.code) == (409, "enrolment_restart_required")
    assert count(app_pool, t, "SELECT count(*) FROM key_grants WHERE grantee_id = %s", d.id) == 0
    assert count(app_pool, t, "SELECT count(*) FROM security_events WHERE type = "
                 "'DEVICE_APPROVAL_FAILED'") == enrolment.MAX_ATTEMPTS
    # Enrolling again gives a new code and a new count; that code approves.
    c = Caller(t.id, d.user_id, "USER", new_id(), None)
    with app_pool.transaction(t.id) as conn:
        again = enrolment.enrol(conn, c, d.id, "laptop", d.sign_public, d.kem_public)
    with pytest.raises(ApiError) as e:
        approve(app_pool, t, admin, d, wrong(again["approval_code"])).result()
    assert e.value.detail["attempts_left"] == enrolment.MAX_ATTEMPTS - 1
    assert approve(app_pool, t, admin, d, again["approval_code"]).result()["status"] == "ACTIVE"


def test_approval_needs_an_admin_on_an_active_device(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    user = add_user(app_pool, t)
    user_device = approved(app_pool, t, admin, user)
    d, code = enrol(app_pool, t, user)
    for caller in (user_device.caller(t.id),  # a user
                   Caller(t.id, t.admin_id, "ADMIN", new_id(), None)):  # no device
        with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
            enrolment.approve(conn, caller, d.id, code, [grant_for(t, d)])
        assert e.value.status == 403
    with app_pool.transaction(t.id) as conn:
        assert registry.get_device(conn, admin.caller(t.id), d.id)["status"] == "PENDING"


def test_bad_grants_refuse_the_approval_and_write_nothing(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    d, code = enrol(app_pool, t, add_user(app_pool, t))
    bad = [grants.GrantIn(1, "DEVICE", d.id, b"short"),  # not a wrapped key
           grants.GrantIn(9, "DEVICE", d.id, b"x" * 80),  # no such key version
           grants.GrantIn(1, "DEVICE", admin.id, b"x" * 80)]  # another device
    for g in bad:
        with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
            enrolment.approve(conn, admin.caller(t.id), d.id, code, [g])
        assert e.value.status == 400
    assert count(app_pool, t, "SELECT count(*) FROM key_grants WHERE grantee_id = %s", d.id) == 0
    assert approve(app_pool, t, admin, d, code).result()["status"] == "ACTIVE"


def test_enrol_refuses_bad_input_and_a_taken_device_id(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    user = add_user(app_pool, t)
    c = Caller(t.id, user, "USER", new_id(), None)
    d = Device(new_id(), user, "USER")
    cases = [("not-an-id", "laptop", d.sign_public, d.kem_public, "invalid_device_id"),
             (d.id, "", d.sign_public, d.kem_public, "invalid_name"),
             (d.id, "x" * 101, d.sign_public, d.kem_public, "invalid_name"),
             (d.id, "laptop", b"\x01" * 31, d.kem_public, "invalid_key"),
             (d.id, "laptop", d.sign_public, b"", "invalid_key")]
    for device_id, name, sign, kem, code in cases:
        with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
            enrolment.enrol(conn, c, device_id, name, sign, kem)
        assert (e.value.status, e.value.code) == (400, code)
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        enrolment.enrol(conn, c, admin.id, "laptop", d.sign_public, d.kem_public)
    assert (e.value.status, e.value.code) == (409, "device_id_taken")
    assert count(app_pool, t, "SELECT count(*) FROM devices WHERE user_id = %s", user) == 0


def test_a_user_has_a_bounded_number_of_pending_enrolments(
        app_pool: Database, acme: tuple[Tenant, Device], server_key: signing.SigningKey
        ) -> None:
    t, _ = acme
    user = add_user(app_pool, t)
    pending = [enrol(app_pool, t, user)[0] for _ in range(enrolment.MAX_PENDING)]
    with pytest.raises(ApiError) as e:
        enrol(app_pool, t, user)
    assert (e.value.status, e.value.code) == (409, "too_many_pending")
    # Restarting one of them is no new enrolment; revoking one makes room.
    c = Caller(t.id, user, "USER", new_id(), None)
    d = pending[0]
    with app_pool.transaction(t.id) as conn:
        enrolment.enrol(conn, c, d.id, "laptop", d.sign_public, d.kem_public)
        registry.revoke(conn, c, server_key, d.id)
    enrol(app_pool, t, user)


def test_revoke_ends_sessions_and_grants_and_leaves_a_signed_wipe_order(
        app_pool: Database, acme: tuple[Tenant, Device], server_key: signing.SigningKey) -> None:
    t, admin = acme
    user = add_user(app_pool, t)
    d = approved(app_pool, t, admin, user)
    other = approved(app_pool, t, admin, user)
    sessions = [add_session(app_pool, t, d), add_session(app_pool, t, d, "REFRESH")]
    kept = add_session(app_pool, t, other)
    with app_pool.transaction(t.id) as conn:
        assert registry.wipe_order(conn, d.caller(t.id)) is None  # not revoked yet
    with app_pool.transaction(t.id, t.admin_id) as conn:
        order = registry.revoke(conn, admin.caller(t.id), server_key, d.id, "Laptop stolen")
    assert count(app_pool, t, "SELECT count(*) FROM sessions WHERE id = ANY(%s) AND revoked_at "
                 "IS NOT NULL", sessions) == 2
    assert count(app_pool, t, "SELECT count(*) FROM sessions WHERE id = %s AND revoked_at IS NULL",
                 kept) == 1
    assert count(app_pool, t, "SELECT count(*) FROM key_grants WHERE grantee_id = %s AND "
                 "revoked_at IS NULL", d.id) == 0
    assert count(app_pool, t, "SELECT count(*) FROM key_grants WHERE grantee_id = %s AND "
                 "revoked_at IS NULL", other.id) == 1
    # The order verifies with the key the server publishes, over exactly its fields.
    published = server_key.published()
    assert order["server_key_id"] == published["key_id"]
    message = ab.wipe_order_message(t.id, d.id, order["revoked_at"], "Laptop stolen")
    public = base64.b64decode(published["public_key"])
    assert signing.verify(public, message, base64.b64decode(order["signature"]))
    assert not signing.verify(public, ab.wipe_order_message(t.id, other.id,
                                                            order["revoked_at"],
                                                            "Laptop stolen"),
                              base64.b64decode(order["signature"]))
    # The device gets the same order at its next contact, by Caller or by ids.
    with app_pool.transaction(t.id) as conn:
        assert registry.wipe_order(conn, d.caller(t.id)) == order
        assert registry.wipe_order(conn, (t.id, d.id)) == order
        assert registry.wipe_order(conn, (t.id, other.id)) is None
        assert registry.get_device(conn, admin.caller(t.id), d.id)["status"] == "REVOKED"
        with pytest.raises(ApiError) as e:
            grants.my_grants(conn, d.caller(t.id))
        assert e.value.status == 403
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id, t.admin_id) as conn:
        registry.revoke(conn, admin.caller(t.id), server_key, d.id)
    assert e.value.status == 409


def test_a_user_revokes_only_their_own_devices(
        app_pool: Database, acme: tuple[Tenant, Device], server_key: signing.SigningKey) -> None:
    t, admin = acme
    alice, bob = add_user(app_pool, t), add_user(app_pool, t)
    a, b = approved(app_pool, t, admin, alice), approved(app_pool, t, admin, bob)
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id, alice) as conn:
        registry.revoke(conn, a.caller(t.id), server_key, b.id)
    assert e.value.status == 404
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id, alice) as conn:
        registry.revoke(conn, a.caller(t.id), server_key, a.id, "x" * 501)
    assert e.value.status == 400
    with app_pool.transaction(t.id, alice) as conn:
        order = registry.revoke(conn, a.caller(t.id), server_key, a.id)
        assert order["reason"] == registry.DEFAULT_REASON
        assert registry.get_device(conn, b.caller(t.id), b.id)["status"] == "ACTIVE"


def test_list_shows_admins_all_devices_and_users_their_own(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    alice, bob = add_user(app_pool, t), add_user(app_pool, t)
    a, b = approved(app_pool, t, admin, alice), approved(app_pool, t, admin, bob)
    with app_pool.transaction(t.id) as conn:
        everyone = registry.list_devices(conn, admin.caller(t.id))
        own = registry.list_devices(conn, a.caller(t.id))
        with pytest.raises(ApiError) as e:
            registry.get_device(conn, a.caller(t.id), b.id)
    assert {d["id"] for d in everyone["items"]} == {admin.id, a.id, b.id}
    assert [d["id"] for d in own["items"]] == [a.id]
    assert e.value.status == 404
    assert all("approval_code_hash" not in d for d in everyone["items"])


def test_a_device_fetches_only_its_own_and_its_users_grants(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    alice, bob = add_user(app_pool, t), add_user(app_pool, t)
    a, b = approved(app_pool, t, admin, alice), approved(app_pool, t, admin, bob)
    user_grant = grants.GrantIn(1, "USER", alice,
                                escrow.wrap_key(a.kem_public, t.id, 1, t.phi_key))
    with app_pool.transaction(t.id, t.admin_id) as conn:
        grants.post_grants(conn, admin.caller(t.id), [user_grant])
    with app_pool.transaction(t.id) as conn:
        mine = grants.my_grants(conn, a.caller(t.id))
        theirs = grants.my_grants(conn, b.caller(t.id))
        # A session that claims another user's device gets nothing of it.
        with pytest.raises(ApiError) as e:
            grants.my_grants(conn, Caller(t.id, alice, "USER", new_id(), b.id))
    assert {(g["grantee_kind"], g["grantee_id"]) for g in mine} == \
        {("DEVICE", a.id), ("USER", alice)}
    assert {(g["grantee_kind"], g["grantee_id"]) for g in theirs} == {("DEVICE", b.id)}
    assert e.value.status == 403


def test_post_grants_is_for_admins_and_refuses_duplicates(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    user = add_user(app_pool, t)
    d = approved(app_pool, t, admin, user)
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.post_grants(conn, d.caller(t.id), [grant_for(t, d)])
    assert e.value.status == 403
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.post_grants(conn, admin.caller(t.id), [grant_for(t, d)])
    assert (e.value.status, e.value.code) == (409, "grant_exists")
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.post_grants(conn, admin.caller(t.id),
                           [grants.GrantIn(1, "SERVER", "not-a-key-id", b"x" * 80)])
    assert e.value.status == 400


def escrow_grant(server_db: ServerDb, t: Tenant, version: int, key: bytes) -> grants.GrantIn:
    """`key` wrapped for the server's escrow key (the tenants here keep escrow)."""
    public = server_db.pg.escrow_public
    return grants.GrantIn(version, "SERVER", escrow.key_id(public),
                          escrow.wrap_key(public, t.id, version, key))


def test_key_rotation_is_compare_and_swap(
        server_db: ServerDb, app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    new_key = bytes(range(32))
    g = grant_for(t, admin, version=2, phi_key=new_key)
    kept = escrow_grant(server_db, t, 2, new_key)
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.rotate_key(conn, admin.caller(t.id), 2, [g, kept])  # 1 is active, not 2
    assert (e.value.status, e.value.detail["active_version"]) == (409, 1)
    with app_pool.transaction(t.id) as conn:
        out = grants.rotate_key(conn, admin.caller(t.id), 1, [g, kept])
        states = {v["version"]: v["state"] for v in grants.key_versions(conn,
                                                                         admin.caller(t.id))}
    assert out["version"] == 2 and states == {1: "DECRYPT_ONLY", 2: "ACTIVE"}
    # A second rotation from the same stale view is refused; nothing changes.
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.rotate_key(conn, admin.caller(t.id), 1, [grant_for(t, admin, version=3)])
    assert e.value.status == 409
    # Grants of another version than the new one refuse the rotation as a whole.
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.rotate_key(conn, admin.caller(t.id), 2, [grant_for(t, admin, version=1)])
    assert e.value.status == 400
    assert count(app_pool, t, "SELECT count(*) FROM phi_keys") == 2


def test_a_rotation_must_reach_every_approved_device_and_the_escrow_key(
        server_db: ServerDb, app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    rep = approved(app_pool, t, admin, add_user(app_pool, t))
    with app_pool.transaction(t.id) as conn:
        plan = shares.grantees(conn, admin.caller(t.id))
    assert plan["active_version"] == 1
    assert {d["id"]: base64.b64decode(d["kem_public_key"]) for d in plan["devices"]} == {
        admin.id: admin.kem_public, rep.id: rep.kem_public}
    assert base64.b64decode(plan["escrow"]["public_key"]) == server_db.pg.escrow_public
    key = bytes(range(32))
    everyone = [grant_for(t, admin, 2, key), grant_for(t, rep, 2, key),
                escrow_grant(server_db, t, 2, key)]
    for missing in range(3):
        partial = everyone[:missing] + everyone[missing + 1:]
        with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
            grants.rotate_key(conn, admin.caller(t.id), 1, partial)
        assert (e.value.status, e.value.code) == (409, "grantees_changed")
    assert count(app_pool, t, "SELECT count(*) FROM phi_keys") == 1
    with app_pool.transaction(t.id) as conn:
        assert grants.rotate_key(conn, admin.caller(t.id), 1, everyone)["version"] == 2
    # A user's session, or one without an approved device, gets no list.
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        shares.grantees(conn, rep.caller(t.id))
    assert e.value.status == 403


def test_another_tenants_devices_and_grants_are_out_of_reach(
        server_db: ServerDb, app_pool: Database, acme: tuple[Tenant, Device],
        server_key: signing.SigningKey) -> None:
    t, admin = acme
    b = server_db.tenant("Bravo")
    b_admin = first_admin_device(app_pool, b)
    b_device = approved(app_pool, b, b_admin, add_user(app_pool, b))
    d, code = enrol(app_pool, b, b_device.user_id)
    with app_pool.transaction(t.id) as conn:
        listed = registry.list_devices(conn, admin.caller(t.id))
        assert b_device.id not in {x["id"] for x in listed["items"]}
        for call in (lambda: registry.get_device(conn, admin.caller(t.id), b_device.id),
                     lambda: registry.revoke(conn, admin.caller(t.id), server_key, b_device.id)):
            with pytest.raises(ApiError) as e:
                call()
            assert e.value.status == 404
        # A caller of tenant A that names tenant B's device as its own gets nothing.
        with pytest.raises(ApiError) as e:
            grants.my_grants(conn, Caller(t.id, b_device.user_id, "USER", new_id(),
                                          b_device.id))
        assert e.value.status == 403
        assert registry.wipe_order(conn, (t.id, b_device.id)) is None
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        enrolment.approve(conn, admin.caller(t.id), d.id, code, [grant_for(b, d)])
    assert e.value.status == 404
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        grants.post_grants(conn, admin.caller(t.id), [grant_for(t, b_device)])
    assert e.value.status == 400
    with app_pool.transaction(b.id) as conn:
        assert registry.get_device(conn, b_admin.caller(b.id), b_device.id)["status"] == \
            "ACTIVE"


def test_signing_key_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    made = signing.write_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().splitlines()[0] == signing.KEY_FILE_HEADER
    loaded = signing.load_or_create(path)
    assert loaded.key_id == made.key_id and len(made.key_id) == 32
    assert signing.verify(made.public, b"m", loaded.sign(b"m"))
    with pytest.raises(FileExistsError):
        signing.write_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        signing.read_key_file(path)
    other = tmp_path / "other.key"
    other.write_text("closeplan-escrow-key v1\nAAAA\n")
    other.chmod(0o600)
    with pytest.raises(ValueError, match="not a ClosePlan signing key"):
        signing.read_key_file(other)
    assert not signing.verify(b"short", b"m", b"sig")


def bare_tenant(app_pool: Database) -> Tenant:
    """A tenant as create-tenant makes it: its admin, no PHI key, no device."""
    t = Tenant(new_id(), new_id(), "", bytes(range(32)))
    with app_pool.transaction(t.id) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'New')", (t.id,))
        conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                     "password, role) VALUES (%s, %s, %s, 'Ada', 'Admin', %s, 'ADMIN')",
                     (t.id, t.admin_id, f"a-{t.id}@new.example", "$2a$10$" + "z" * 53))
    return t


def test_a_new_tenants_first_device_is_approved_by_its_admin_then_makes_key_1(
        app_pool: Database) -> None:
    t = bare_tenant(app_pool)
    no_device = Caller(t.id, t.admin_id, "ADMIN", new_id(), None)
    d, code = enrol(app_pool, t, t.admin_id, "ADMIN")
    with pytest.raises(ApiError) as e:
        with app_pool.transaction(t.id) as conn:
            outcome = enrolment.approve(conn, no_device, d.id, wrong(code), [])
        outcome.result()
    assert e.value.code == "wrong_approval_code"  # the code is checked all the same
    with app_pool.transaction(t.id) as conn:
        device = enrolment.approve(conn, no_device, d.id, code, []).result()
    assert device["status"] == "ACTIVE"
    # The first device makes PHI key version 1 (compare-and-swap from "none").
    g = grant_for(t, d, version=1)
    with app_pool.transaction(t.id) as conn:
        out = grants.rotate_key(conn, d.caller(t.id), 0, [g])
        mine = grants.my_grants(conn, d.caller(t.id))
    assert (out["version"], out["previous_version"]) == (1, 0)
    assert escrow.unwrap_key(d.kem, t.id, 1, base64.b64decode(mine[0]["wrapped"])) == \
        t.phi_key
    # Closed from now on: the admin's second device needs the first one.
    d2, code2 = enrol(app_pool, t, t.admin_id, "ADMIN")
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        enrolment.approve(conn, no_device, d2.id, code2, [])
    assert (e.value.status, e.value.code) == (403, "device_required")
    with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
        enrolment.approve(conn, d.caller(t.id), d2.id, code2, [])  # grants are due now
    assert (e.value.status, e.value.code) == (400, "grants_required")
    with app_pool.transaction(t.id) as conn:
        approved2 = enrolment.approve(conn, d.caller(t.id), d2.id, code2,
                                      [grant_for(t, d2)]).result()
    assert approved2["status"] == "ACTIVE"


def test_only_an_admin_approves_their_own_first_device(app_pool: Database) -> None:
    t = bare_tenant(app_pool)
    user = add_user(app_pool, t)
    d, code = enrol(app_pool, t, user)
    for caller in (Caller(t.id, user, "USER", new_id(), None),  # not an admin
                   Caller(t.id, t.admin_id, "ADMIN", new_id(), None)):  # not their device
        with pytest.raises(ApiError) as e, app_pool.transaction(t.id) as conn:
            enrolment.approve(conn, caller, d.id, code, [])
        assert e.value.status == 403
    with app_pool.transaction(t.id) as conn:
        assert registry.get_device(conn, Caller(t.id, user, "USER", new_id()),
                                   d.id)["status"] == "PENDING"


def test_wrong_codes_sent_at_once_never_exceed_the_limit(
        app_pool: Database, acme: tuple[Tenant, Device]) -> None:
    t, admin = acme
    d, code = enrol(app_pool, t, add_user(app_pool, t))
    barrier = threading.Barrier(4)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            approve(app_pool, t, admin, d, wrong(code)).result()
        except ApiError as e:
            return e.code
        return "approved"

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert codes.count("wrong_approval_code") == enrolment.MAX_ATTEMPTS - 1
    assert codes.count("enrolment_restart_required") == 8 - (enrolment.MAX_ATTEMPTS - 1)
    assert count(app_pool, t, "SELECT count(*) FROM security_events WHERE type = "
                 "'DEVICE_APPROVAL_FAILED'") == enrolment.MAX_ATTEMPTS
