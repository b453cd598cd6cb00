"""Audit upload on a real cluster: signed batches in seq order are stored with a receipt
that verifies with the server's published key; a replay answers the same receipt; a gap,
an overlap, a bad signature, another device's id, a revoked device or a bad row is
refused and writes nothing; the app role cannot rewrite what was stored."""

from __future__ import annotations

import base64
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from device_support import (
    Device,
    access_rows,
    add_user,
    approved,
    batch,
    event_rows,
    first_admin_device,
)
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain import audit_batch as ab
from closeplan_desktop.core.domain.clock import iso
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.audit.upload import BatchIn, upload
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.devices import registry
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.keys import signing

Setup = tuple[Tenant, Device, Device]


@pytest.fixture
def setup(server_db: ServerDb, app_pool: Database) -> tuple[Tenant, Device, Device]:
    """A tenant, its admin device and a user's approved device."""
    t = server_db.tenant("Acme")
    admin = first_admin_device(app_pool, t)
    return t, admin, approved(app_pool, t, admin, add_user(app_pool, t))


def send(app_pool: Database, server_key: signing.SigningKey, t: Tenant, d: Device, b: BatchIn,
         *, device_id: str | None = None) -> dict:
    caller = dataclasses.replace(d.caller(t.id), device_id=device_id or d.id)
    with app_pool.transaction(t.id, d.user_id) as conn:
        return upload(conn, caller, server_key, b)


def refused(app_pool: Database, server_key: signing.SigningKey, t: Tenant, d: Device, b: BatchIn,
            **kw: str) -> ApiError:
    with pytest.raises(ApiError) as e:
        send(app_pool, server_key, t, d, b, **kw)
    return e.value


def stored(app_pool: Database, t: Tenant, d: Device) -> tuple[int, int, int]:
    """(access log rows, security event rows, batches) of the device."""
    with app_pool.transaction(t.id) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM access_logs WHERE device_id = %(d)s), "
            "(SELECT count(*) FROM security_events WHERE device_id = %(d)s), "
            "(SELECT count(*) FROM audit_batches WHERE device_id = %(d)s)", {"d": d.id}
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def verifies(server_key: signing.SigningKey, receipt: dict) -> bool:
    message = ab.receipt_message(receipt["tenant_id"], receipt["device_id"],
                                 receipt["table"], receipt["first_seq"], receipt["last_seq"],
                                 bytes.fromhex(receipt["batch_hash"]), receipt["received_at"],
                                 receipt["server_key_id"])
    public = base64.b64decode(server_key.published()["public_key"])
    return signing.verify(public, message, base64.b64decode(receipt["signature"]))


def test_batches_in_order_are_stored_and_receipted(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    first = batch(t, d, "access_logs", access_rows(t, d, 3))
    receipt = send(app_pool, server_key, t, d, first)
    assert (receipt["first_seq"], receipt["last_seq"]) == (1, 3)
    assert receipt["server_key_id"] == server_key.key_id and verifies(server_key, receipt)
    second = send(app_pool, server_key, t, d, batch(t, d, "access_logs", access_rows(t, d, 2)))
    events = send(app_pool, server_key, t, d, batch(t, d, "security_events", event_rows(t, d, 4)))
    assert (second["first_seq"], events["last_seq"]) == (4, 4)
    assert stored(app_pool, t, d) == (5, 4, 3)
    # The rows are kept as sent: their chain hashes and seqs, in the tenant.
    with app_pool.transaction(t.id) as conn:
        rows = conn.execute("SELECT seq, chain_hash FROM access_logs WHERE device_id = %s "
                            "ORDER BY seq", (d.id,)).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2][1] == first.last_chain_hash
    # A receipt altered in any field no longer verifies.
    assert not verifies(server_key, {**receipt, "last_seq": 4})


def test_a_replay_answers_the_stored_receipt_and_stores_nothing(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    b = batch(t, d, "access_logs", access_rows(t, d, 2))
    receipt = send(app_pool, server_key, t, d, b)
    send(app_pool, server_key, t, d, batch(t, d, "access_logs", access_rows(t, d, 1)))
    assert send(app_pool, server_key, t, d, b) == receipt
    assert stored(app_pool, t, d) == (3, 0, 2)
    # The same seqs with other content are an overlap, not a replay.
    changed = [dict(r) for r in b.rows]
    changed[0]["success"] = False
    e = refused(app_pool, server_key, t, d, batch(t, d, "access_logs", changed))
    assert (e.status, e.code, e.detail["expected_seq"]) == (409, "audit_overlap", 4)


def test_a_gap_is_refused_with_the_expected_seq(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    send(app_pool, server_key, t, d, batch(t, d, "access_logs", access_rows(t, d, 2)))
    access_rows(t, d, 1)  # seq 3 never sent
    e = refused(app_pool, server_key, t, d, batch(t, d, "access_logs", access_rows(t, d, 2)))
    assert (e.status, e.code, e.detail["expected_seq"]) == (409, "audit_gap", 3)
    assert stored(app_pool, t, d) == (2, 0, 1)
    # Each table has its own chain: the events start at 1.
    e = refused(app_pool, server_key, t, d, batch(t, d, "security_events", event_rows(t, d, 3)[1:]))
    assert e.detail["expected_seq"] == 1


def test_a_bad_signature_is_refused_and_writes_nothing(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    rows = access_rows(t, d, 2)
    e = refused(app_pool, server_key, t, d, batch(t, d, "access_logs", rows,
                                     signer=Ed25519PrivateKey.generate()))
    assert (e.status, e.code) == (403, "bad_signature")
    # A row changed after signing breaks the signature too.
    b = batch(t, d, "access_logs", rows)
    tampered = [dict(r) for r in rows]
    tampered[0]["deal_id"] = new_id()
    e = refused(app_pool, server_key, t, d, dataclasses.replace(b, rows=tampered))
    assert e.code == "bad_signature"
    assert stored(app_pool, t, d) == (0, 0, 0)
    assert send(app_pool, server_key, t, d, b)["last_seq"] == 2


def test_another_devices_id_is_refused(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, admin, d = setup
    # d's rows sent by the admin's device session, and d's rows relabelled as the admin's.
    e = refused(app_pool, server_key, t, admin, batch(t, d, "access_logs", access_rows(t, d, 1)))
    assert (e.status, e.code) == (403, "not_your_device")
    rows = access_rows(t, d, 1)
    e = refused(app_pool, server_key, t, d, batch(t, d, "access_logs", rows, device_id=admin.id))
    assert e.status == 400 and e.detail["field"] == "device_id"
    # A session that claims a device of another user is not that device's.
    other = approved(app_pool, t, admin, add_user(app_pool, t))
    b = batch(t, other, "access_logs", access_rows(t, other, 1))
    e = refused(app_pool, server_key, t, d, b, device_id=other.id)
    assert (e.status, e.code) == (403, "device_not_active")
    assert stored(app_pool, t, d) == (0, 0, 0) and stored(app_pool, t, other) == (0, 0, 0)


def test_a_revoked_device_is_refused(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, admin, d = setup
    b = batch(t, d, "access_logs", access_rows(t, d, 1))
    with app_pool.transaction(t.id) as conn:
        registry.revoke(conn, admin.caller(t.id), server_key, d.id)
    e = refused(app_pool, server_key, t, d, b)
    assert (e.status, e.code) == (403, "device_not_active")
    assert stored(app_pool, t, d) == (0, 0, 0)


def test_bad_rows_are_refused_and_write_nothing(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    future = iso(datetime.now(UTC) + timedelta(days=3))
    cases: list[tuple[str, object]] = [
        ("action", "PHI_DELETE"), ("access_type", "read"), ("success", "yes"),
        ("user_id", new_id()),  # not a user of this tenant
        ("user_id", None), ("resource_type", "x" * 65), ("resource_type", " deal"),
        ("reason", "r" * 501), ("deal_id", "bad\x00id"), ("timestamp", future),
        ("timestamp", "2026-02-30T00:00:00.000000Z"), ("timestamp", "yesterday"),
        ("tenant_id", new_id()), ("seq", 7), ("id", "1"), ("chain_hash", "XYZ"),
    ]
    head = d.heads.get("access_logs")
    for field, value in cases:
        rows = access_rows(t, d, 3)
        d.heads["access_logs"] = head or (0, "0" * 64)
        rows[1][field] = value  # the middle row: the batch's own bounds stay right
        e = refused(app_pool, server_key, t, d, batch(t, d, "access_logs", rows))
        assert e.status == 400, (field, e.code)
        assert e.detail.get("field") == field and e.detail.get("index") == 1, field
    bad_event = event_rows(t, d, 1)
    bad_event[0]["type"] = "DEVICE_REVOKED"  # a server kind; a device cannot send it
    e = refused(app_pool, server_key, t, d, batch(t, d, "security_events", bad_event))
    assert e.detail["field"] == "type"
    extra = access_rows(t, d, 1)
    extra[0]["password"] = "x"
    assert refused(app_pool, server_key, t, d, batch(t, d, "access_logs", extra)).status == 400
    assert stored(app_pool, t, d) == (0, 0, 0)


def test_bad_batches_are_refused(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    b = batch(t, d, "access_logs", access_rows(t, d, 3))
    for change in ({"table": "deals"}, {"last_seq": 2}, {"first_seq": 0},
                   {"last_chain_hash": "0" * 64}, {"rows": b.rows[:2]},
                   {"first_seq": True}):
        assert refused(app_pool, server_key, t, d, dataclasses.replace(b, **change)).status == 400
    too_many = access_rows(t, d, ab.MAX_ROWS + 1)
    assert refused(app_pool, server_key, t, d, batch(t, d, "access_logs", too_many)).status == 400
    assert stored(app_pool, t, d) == (0, 0, 0)


def test_a_null_tenant_event_is_stored_in_the_uploading_tenant(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    rows = event_rows(t, d, 1)
    rows[0]["tenant_id"] = None  # the desktop logs some events before a tenant is known
    rows[0]["user_id"] = None
    send(app_pool, server_key, t, d, batch(t, d, "security_events", rows))
    assert stored(app_pool, t, d) == (0, 1, 1)


def test_stored_audit_rows_cannot_be_changed_by_the_app_role(
        server_db: ServerDb, app_pool: Database, server_key: signing.SigningKey,
        setup: tuple[Tenant, Device, Device]) -> None:
    t, _, d = setup
    send(app_pool, server_key, t, d, batch(t, d, "access_logs", access_rows(t, d, 1)))
    for statement in ("UPDATE access_logs SET success = false",
                      "DELETE FROM access_logs", "UPDATE audit_batches SET last_seq = 9",
                      "DELETE FROM audit_receipts"):
        with server_db.app() as conn:
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert stored(app_pool, t, d) == (1, 0, 1)


def test_another_tenants_session_cannot_upload_as_its_device(
        server_db: ServerDb, app_pool: Database, server_key: signing.SigningKey,
        setup: tuple[Tenant, Device, Device]) -> None:
    t, _, d = setup
    b_tenant = server_db.tenant("Bravo")
    b_admin = first_admin_device(app_pool, b_tenant)
    # Tenant B's admin claims A's device: unknown in B, refused, nothing stored anywhere.
    rows = access_rows(t, d, 1)
    caller = dataclasses.replace(b_admin.caller(b_tenant.id), device_id=d.id)
    with pytest.raises(ApiError) as e, app_pool.transaction(b_tenant.id) as conn:
        upload(conn, caller, server_key, batch(t, d, "access_logs", rows))
    assert e.value.status in (400, 403)
    assert stored(app_pool, t, d) == (0, 0, 0)


def test_the_same_batch_sent_at_once_from_two_threads_is_stored_once(
        app_pool: Database, server_key: signing.SigningKey, setup: Setup) -> None:
    t, _, d = setup
    b = batch(t, d, "access_logs", access_rows(t, d, 50))
    barrier = threading.Barrier(4)

    def one() -> dict:
        barrier.wait()
        return send(app_pool, server_key, t, d, b)

    with ThreadPoolExecutor(4) as pool:
        receipts = list(pool.map(lambda _: one(), range(4)))
    assert all(r == receipts[0] for r in receipts)
    assert stored(app_pool, t, d) == (50, 0, 1)
