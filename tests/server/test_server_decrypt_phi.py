"""decrypt_phi: the desktop's envelope opened in SQL for tenants with escrow, every call
logged in the caller's transaction, every refusal NULL with its success=false row, and
bulk reads stopped unless allowed."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import psycopg
import pytest
from pg_support import Conn, ServerDb, Tenant
from psycopg import errors

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.keys import escrow

PHI = {"patient_name": "Jane Roe", "mrn": "MRN-0042", "diagnosis": "I25.10"}


def as_user(conn: Conn, t: Tenant) -> None:
    conn.execute("SELECT set_tenant_context(%s), set_user_context(%s)", (t.id, t.admin_id))


def phi_of(conn: Conn, deal_id: str) -> str:
    row = conn.execute("SELECT phi::text FROM deals WHERE id = %s", (deal_id,)).fetchone()
    assert row is not None
    return str(row[0])


def logs(conn: Conn) -> list[tuple[object, ...]]:
    """The access-log rows decrypt_phi wrote, in order (the caller's context applies)."""
    return conn.execute("SELECT deal_id, action, access_type, resource_type, success, "
                        "reason, user_id FROM access_logs WHERE device_id IS NULL "
                        "ORDER BY \"timestamp\", id").fetchall()


def decrypt(conn: Conn, envelope: str) -> object:
    row = conn.execute("SELECT decrypt_phi(%s::json)", (envelope,)).fetchone()
    assert row is not None
    return row[0]


def test_the_desktops_envelope_opens_in_sql_and_the_read_is_logged(
        server_db: ServerDb) -> None:
    t = server_db.tenant("Open")
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        as_user(app, t)
        envelope = phi_of(app, deal)
        # The stored envelope is the desktop's, byte for byte, and opens there too.
        assert crypto.decrypt_phi(t.phi_key, t.id, deal, envelope) == PHI
        assert decrypt(app, envelope) == PHI
        assert logs(app) == [(deal, "PHI_ACCESS", "READ", "deal.phi", True, None, t.admin_id)]
        app.commit()
    with server_db.superuser() as su:
        row = su.execute("SELECT tenant_id, length(id) FROM access_logs WHERE deal_id = %s",
                         (deal,)).fetchone()
        assert row == (t.id, 25)


def test_a_read_rolled_back_takes_its_log_row_with_it(server_db: ServerDb) -> None:
    """The row is in the caller's transaction: the API commits before it answers."""
    t = server_db.tenant("Rollback")
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        as_user(app, t)
        assert decrypt(app, phi_of(app, deal)) == PHI
        app.rollback()
        as_user(app, t)
        assert logs(app) == []


def refused(server_db: ServerDb, t: Tenant, envelope: str) -> list[tuple[object, ...]]:
    """Call decrypt_phi as `t`'s admin, expect NULL, commit, return the rows logged."""
    with server_db.app() as app:
        as_user(app, t)
        before = len(logs(app))
        assert decrypt(app, envelope) is None
        app.commit()
        as_user(app, t)
        return logs(app)[before:]


def test_no_escrow_is_refused_and_logged(server_db: ServerDb) -> None:
    t = server_db.tenant("NoEscrow", escrow_key=False)
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        as_user(app, t)
        envelope = phi_of(app, deal)
    assert refused(server_db, t, envelope) == [
        (deal, "PHI_ACCESS", "READ", "deal.phi", False, "no_escrow", t.admin_id)]


def test_a_revoked_grant_stops_at_once(server_db: ServerDb) -> None:
    t = server_db.tenant("Revoked")
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        as_user(app, t)
        envelope = phi_of(app, deal)
        assert decrypt(app, envelope) == PHI  # the key is now cached in this backend
        app.execute("UPDATE key_grants SET revoked_at = now()")
        assert decrypt(app, envelope) is None
        assert [r[4:6] for r in logs(app)] == [(True, None), (False, "no_escrow")]
        app.commit()


def test_another_tenants_envelope_is_refused_and_logged(server_db: ServerDb) -> None:
    a, b = server_db.tenant("Mine"), server_db.tenant("Theirs")
    b_deal = server_db.deal(b, PHI)
    with server_db.app() as app:
        as_user(app, b)
        envelope = phi_of(app, b_deal)
    # A's context cannot see B's deal: the envelope belongs to no deal of A.
    assert refused(server_db, a, envelope) == [
        (None, "PHI_ACCESS", "READ", "deal.phi", False, "unknown_envelope", a.admin_id)]
    # B's envelope copied into a deal of A does not open under A's key either.
    a_deal = server_db.deal(a, None)
    with server_db.app() as app:
        as_user(app, a)
        app.execute("UPDATE deals SET phi = %s, phi_key_version = 1 WHERE id = %s",
                    (envelope, a_deal))
        app.commit()
    assert refused(server_db, a, envelope)[0][4:6] == (False, "failed_authentication")
    with server_db.superuser() as su:
        assert su.execute("SELECT count(*) FROM access_logs WHERE tenant_id = %s",
                          (b.id,)).fetchone() == (0,)


def test_a_tampered_envelope_is_refused_and_logged(server_db: ServerDb) -> None:
    t = server_db.tenant("Tamper")
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        as_user(app, t)
        envelope = json.loads(phi_of(app, deal))
        ct = bytearray(base64.b64decode(envelope["c"]))
        ct[0] ^= 1
        envelope["c"] = base64.b64encode(bytes(ct)).decode("ascii")
        tampered = json.dumps(envelope, separators=(",", ":"))
        app.execute("UPDATE deals SET phi = %s WHERE id = %s", (tampered, deal))
        app.commit()
    assert refused(server_db, t, tampered) == [
        (deal, "PHI_ACCESS", "READ", "deal.phi", False, "failed_authentication", t.admin_id)]
    # Not an envelope at all: no deal can be named.
    assert refused(server_db, t, '{"v":1,"k":1,"n":"%%%","c":""}') == [
        (None, "PHI_ACCESS", "READ", "deal.phi", False, "damaged", t.admin_id)]


def test_an_envelope_moved_to_another_deal_is_refused_and_logged(server_db: ServerDb) -> None:
    t = server_db.tenant("Moved")
    source, target = server_db.deal(t, PHI), server_db.deal(t, {"mrn": "other"})
    with server_db.app() as app:
        as_user(app, t)
        envelope = phi_of(app, source)
        app.execute("UPDATE deals SET phi = NULL WHERE id = %s", (source,))
        app.execute("UPDATE deals SET phi = %s WHERE id = %s", (envelope, target))
        app.commit()
    assert refused(server_db, t, envelope) == [
        (target, "PHI_ACCESS", "READ", "deal.phi", False, "failed_authentication",
         t.admin_id)]


def test_a_bulk_read_is_stopped_unless_allowed(server_db: ServerDb) -> None:
    t = server_db.tenant("Bulk")
    for i in range(6):
        server_db.deal(t, {"mrn": f"MRN-{i}"})
    with server_db.app() as app:
        as_user(app, t)
        with pytest.raises(errors.InsufficientPrivilege, match="bulk read"):
            app.execute("SELECT decrypt_phi(phi) FROM deals").fetchall()
        app.rollback()
        as_user(app, t)
        assert logs(app) == []
        app.execute("SET LOCAL closeplan.allow_bulk_decrypt = on")
        rows = app.execute("SELECT decrypt_phi(phi) FROM deals ORDER BY id").fetchall()
        assert sorted(r[0]["mrn"] for r in rows) == [f"MRN-{i}" for i in range(6)]
        assert len(logs(app)) == 6
        app.commit()
        # Per transaction: one at a time, the 26th call in one transaction is stopped.
        as_user(app, t)
        envelope = phi_of(app, t.deals[0])
        for _ in range(25):
            assert decrypt(app, envelope) is not None
        with pytest.raises(errors.InsufficientPrivilege, match="bulk read"):
            decrypt(app, envelope)
        app.rollback()
        # The allowance lasted only for its transaction.
        as_user(app, t)
        with pytest.raises(errors.InsufficientPrivilege, match="bulk read"):
            app.execute("SELECT decrypt_phi(phi) FROM deals").fetchall()


def test_no_user_context_is_an_error(server_db: ServerDb) -> None:
    t = server_db.tenant("NoUser")
    deal = server_db.deal(t, PHI)
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        envelope = phi_of(app, deal)
        with pytest.raises(errors.InsufficientPrivilege, match="user context"):
            decrypt(app, envelope)


def test_the_key_file_must_be_private_to_the_server(server_db: ServerDb) -> None:
    t = server_db.tenant("KeyFile")
    deal = server_db.deal(t, PHI)
    loose = server_db.pg.cluster.root / "loose.key"
    shutil.copyfile(server_db.pg.key_file, loose)
    server_db.pg.cluster.give_to_server_user(loose)
    try:
        for path, mode in ((loose, 0o640), (loose, 0o604), (Path("/nonexistent"), 0)):
            if mode:
                os.chmod(path, mode)
            with server_db.app() as app:
                as_user(app, t)
                app.execute("SELECT set_config('closeplan.escrow_key_file', %s, true)",
                            (str(path),))
                assert decrypt(app, phi_of(app, deal)) is None
                assert logs(app)[-1][4:6] == (False, "no_server_key")
        # The same file, private again, opens.
        os.chmod(loose, 0o600)
        with server_db.app() as app:
            as_user(app, t)
            app.execute("SELECT set_config('closeplan.escrow_key_file', %s, true)",
                        (str(loose),))
            assert decrypt(app, phi_of(app, deal)) == PHI
    finally:
        loose.unlink()


def test_the_server_key_is_in_no_table(server_db: ServerDb) -> None:
    """Only wrapped keys are stored: neither the escrow private key nor a PHI key
    appears in any column of any table."""
    t = server_db.tenant("NoKeyInTables")
    server_db.deal(t, PHI)
    private = server_db.pg.key_file.read_text().splitlines()[1]
    secrets = [private.encode(), base64.b64decode(private), t.phi_key]
    with server_db.superuser() as su:
        for (table,) in su.execute("SELECT relname FROM pg_class WHERE relnamespace = "
                                   "'public'::regnamespace AND relkind = 'r'").fetchall():
            for row in su.execute(psycopg.sql.SQL("SELECT * FROM {}").format(
                    psycopg.sql.Identifier(table))).fetchall():
                blob = repr(row).encode()
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        blob += bytes(value)
                assert not any(s in blob for s in secrets), table


def test_a_backend_that_changes_key_file_reads_the_grant_of_the_new_key(
        server_db: ServerDb) -> None:
    """decrypt_phi reads the grant together with the deal, for the escrow key its backend
    loaded last (0011); a session pointed at another key file reads that key's grant."""
    t = server_db.tenant("KeySwitch")
    deal = server_db.deal(t, PHI)
    other = server_db.pg.cluster.root / "other.key"
    other_public = escrow.write_key_file(other)
    server_db.pg.cluster.give_to_server_user(other)
    try:
        with server_db.app() as app:
            as_user(app, t)
            envelope = phi_of(app, deal)
            assert decrypt(app, envelope) == PHI  # the cluster's key, loaded and cached
            app.commit()
            as_user(app, t)
            app.execute("SELECT set_config('closeplan.escrow_key_file', %s, true)",
                        (str(other),))
            assert decrypt(app, envelope) is None  # no grant for the other key yet
            assert logs(app)[-1][4:6] == (False, "no_escrow")
            app.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                        "grantee_id, wrapped) VALUES (current_tenant_id(), %s, %s, 'SERVER', "
                        "%s, %s)", (new_id(), t.key_version, escrow.key_id(other_public),
                                    escrow.wrap_key(other_public, t.id, t.key_version,
                                                    t.phi_key)))
            assert decrypt(app, envelope) == PHI  # the other key and its grant
            app.commit()
            as_user(app, t)  # back to the cluster's key: its grant read again
            assert decrypt(app, envelope) == PHI
            assert [r[4] for r in logs(app)[-4:]] == [True, False, True, True]
    finally:
        other.unlink()
