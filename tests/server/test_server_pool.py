"""The pool: one connection serving alternating tenants never carries a context from
one transaction into the next."""

from __future__ import annotations

import pytest
from pg_support import ServerDb

PHI = {"mrn": "MRN-7"}


def test_a_pool_of_one_connection_never_leaks_a_tenant(server_db: ServerDb) -> None:
    a, b = server_db.tenant("PoolA"), server_db.tenant("PoolB")
    for _ in range(2):
        server_db.deal(a, PHI)
    server_db.deal(b, PHI)
    db = server_db.pool(min_size=1, max_size=1)
    pids = set()
    for tenant, expected in [(a, 2), (b, 1), (None, 0), (a, 2), (None, 0), (b, 1)] * 2:
        with db.transaction(tenant and tenant.id) as conn:
            rows = conn.execute("SELECT tenant_id, pg_backend_pid() FROM deals").fetchall()
            assert len(rows) == expected
            assert {r[0] for r in rows} <= ({tenant.id} if tenant else set())
            pids.add(conn.execute("SELECT pg_backend_pid()").fetchone())
        # The same connection, outside any unit of work: no tenant is left on it.
        with db.pool.connection() as conn:
            assert conn.execute("SELECT current_tenant_id(), current_user_id(), "
                                "pg_backend_pid()").fetchone()[:2] == (None, None)
            assert conn.execute("SELECT count(*) FROM deals").fetchone() == (0,)
            pids.add(conn.execute("SELECT pg_backend_pid()").fetchone())
    assert len(pids) == 1


def test_a_failed_unit_of_work_leaves_no_context_and_no_change(server_db: ServerDb) -> None:
    a = server_db.tenant("PoolFail")
    deal = server_db.deal(a, PHI)
    db = server_db.pool(min_size=1, max_size=1)
    with pytest.raises(RuntimeError), db.transaction(a.id, a.admin_id) as conn:
        conn.execute("UPDATE deals SET title = 'changed' WHERE id = %s", (deal,))
        raise RuntimeError("the request failed")
    with db.transaction(None) as conn:
        assert conn.execute("SELECT current_tenant_id()").fetchone() == (None,)
    with db.transaction(a.id) as conn:
        assert conn.execute("SELECT title FROM deals WHERE id = %s", (deal,)
                            ).fetchone() == ("Cardiology suite",)


def test_sign_in_finds_the_tenant_then_reads_the_user_in_its_context(
        server_db: ServerDb) -> None:
    a = server_db.tenant("PoolSignIn")
    db = server_db.pool(min_size=1, max_size=2)
    tenant_id = db.tenant_for_email(a.admin_email)
    assert tenant_id == a.id
    assert db.tenant_for_email("unknown@nowhere.example") is None
    with db.transaction(tenant_id) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s AND tenant_id = "
                           "current_tenant_id()", (a.admin_email,)).fetchone()
    assert row == (a.admin_id,)


def test_decrypt_phi_through_the_pool(server_db: ServerDb) -> None:
    a = server_db.tenant("PoolPhi")
    deal = server_db.deal(a, PHI)
    db = server_db.pool(min_size=1, max_size=1)
    with db.transaction(a.id, a.admin_id) as conn:
        row = conn.execute("SELECT decrypt_phi(phi) FROM deals WHERE id = %s",
                           (deal,)).fetchone()
    assert row == (PHI,)
    with db.transaction(a.id) as conn:
        assert conn.execute("SELECT count(*) FROM access_logs WHERE deal_id = %s AND success",
                            (deal,)).fetchone() == (1,)
