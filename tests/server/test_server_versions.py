"""Commit-ordered versions (migration 0004): every write transaction takes the tenant's
next sync_version once and stamps its rows with it; concurrent writers of one tenant
commit in version order; field_versions names the version that last changed each field."""

from __future__ import annotations

import threading

import psycopg
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id


def ctx(conn: psycopg.Connection, t: Tenant) -> psycopg.Connection:
    """Set `t`'s context for the transaction `conn` is in (it ends with the transaction)."""
    conn.execute("SELECT set_tenant_context(%s)", (t.id,))
    return conn


def version(conn: psycopg.Connection, t: Tenant) -> int:
    row = ctx(conn, t).execute("SELECT sync_version FROM tenants WHERE id = %s", (t.id,))
    return int(row.fetchone()[0])


def insert_deal(conn: psycopg.Connection, t: Tenant, title: str = "Deal") -> str:
    deal_id = new_id()
    ctx(conn, t).execute("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id) "
                 "VALUES (current_tenant_id(), %s, %s, 'DRAFT', 10, %s)",
                 (deal_id, title, t.admin_id))
    return deal_id


def test_one_version_per_transaction_stamped_on_every_row_it_writes(server_db: ServerDb) -> None:
    t = server_db.tenant("Stamp")
    with server_db.app() as conn:
        before = version(conn, t)
        conn.commit()
        a, b = insert_deal(conn, t), insert_deal(conn, t)
        conn.commit()
        after = version(conn, t)
        rows = ctx(conn, t).execute("SELECT row_version FROM deals WHERE id = ANY(%s)",
                            ([a, b],)).fetchall()
        assert after == before + 1
        assert rows == [(after,), (after,)]


def test_field_versions_name_what_each_update_changed(server_db: ServerDb) -> None:
    t = server_db.tenant("Fields")
    with server_db.app() as conn:
        deal = insert_deal(conn, t)
        conn.commit()
        created = version(conn, t)
        ctx(conn, t).execute("UPDATE deals SET title = 'Renamed' WHERE id = %s", (deal,))
        conn.commit()
        renamed = version(conn, t)
        ctx(conn, t).execute("UPDATE deals SET status = 'ACTIVE', title = 'Renamed' WHERE id = %s",
                     (deal,))
        conn.commit()
        fv = ctx(conn, t).execute("SELECT field_versions FROM deals WHERE id = %s",
                                  (deal,)).fetchone()[0]
    assert fv["title"] == renamed > created
    assert fv["status"] == renamed + 1
    assert fv["value"] == created
    assert "updated_at" not in fv


def test_a_second_writer_waits_and_commits_after_the_first(server_db: ServerDb) -> None:
    """The first writer holds the tenant row's lock until it commits, so a second writer
    gets the next version only after: version order is commit order."""
    t = server_db.tenant("Order")
    first, second = server_db.app(), server_db.app()
    try:
        insert_deal(first, t, "first")
        got: list[int] = []
        waiting = threading.Thread(target=lambda: got.append(
            ctx(second, t).execute("SELECT row_version FROM deals WHERE id = %s",
                           (insert_deal(second, t, "second"),)).fetchone()[0]))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the second writer should wait for the first's commit"
        first.commit()
        waiting.join(10)
        second.commit()
        v1 = ctx(first, t).execute("SELECT row_version FROM deals WHERE title = 'first'"
                                   ).fetchone()[0]
        assert got == [v1 + 1]
    finally:
        first.close()
        second.close()


def test_other_tenants_do_not_wait_and_keep_their_own_counter(server_db: ServerDb) -> None:
    a, b = server_db.tenant("Alpha"), server_db.tenant("Beta")
    first, second = server_db.app(), server_db.app()
    try:
        start_b = version(second, b)
        second.commit()
        insert_deal(first, a)
        insert_deal(second, b)  # would block here if tenants shared a lock
        second.commit()
        first.commit()
        assert version(second, b) == start_b + 1
    finally:
        first.close()
        second.close()


def test_a_commit_notifies_listeners_with_tenant_and_version(server_db: ServerDb) -> None:
    t = server_db.tenant("Notify")
    with psycopg.connect(server_db.app_dsn, autocommit=True) as listener, \
            server_db.app() as conn:
        listener.execute("LISTEN closeplan_sync")
        insert_deal(conn, t)
        assert list(listener.notifies(timeout=0.2, stop_after=1)) == []  # not before commit
        conn.commit()
        note = next(listener.notifies(timeout=5, stop_after=1))
        assert note.payload == f"{t.id}:{version(conn, t)}"


def test_a_tenant_edit_takes_the_transactions_version(server_db: ServerDb) -> None:
    t = server_db.tenant("Rename")
    with server_db.app() as conn:
        deal = insert_deal(conn, t)
        conn.execute("UPDATE tenants SET name = 'Renamed' WHERE id = current_tenant_id()")
        conn.commit()
        v = version(conn, t)
        row = ctx(conn, t).execute("SELECT row_version FROM tenants WHERE id = %s",
                                   (t.id,)).fetchone()
        deal_v = conn.execute("SELECT row_version FROM deals WHERE id = %s", (deal,)).fetchone()
        assert row[0] == deal_v[0] == v
        ctx(conn, t).execute("UPDATE tenants SET domain = 'renamed.example' "
                             "WHERE id = current_tenant_id()")
        conn.commit()
        assert version(conn, t) == v + 1


def test_activity_columns_alone_keep_the_rows_version(server_db: ServerDb) -> None:
    """A sign-in's last_login_at (never pulled) takes no version and no tenant lock
    (migration 0008); a real change still does."""
    t = server_db.tenant("Quiet")
    with server_db.app() as conn:
        before = version(conn, t)
        ctx(conn, t).execute("UPDATE users SET last_login_at = now() WHERE id = %s",
                             (t.admin_id,))
        conn.commit()
        assert version(conn, t) == before
        ctx(conn, t).execute("UPDATE users SET first_name = 'Ada L.' WHERE id = %s",
                             (t.admin_id,))
        conn.commit()
        assert version(conn, t) == before + 1


def test_a_deal_update_that_changes_nothing_keeps_its_version(server_db: ServerDb) -> None:
    """Deals compare their columns one by one (0010): setting the same values takes no
    version; changing PHI alone names phi and its key version only."""
    t = server_db.tenant("SameDeal")
    with server_db.app() as conn:
        deal = insert_deal(conn, t)
        conn.commit()
        before = version(conn, t)
        ctx(conn, t).execute("UPDATE deals SET title = title, phi = phi WHERE id = %s", (deal,))
        conn.commit()
        assert version(conn, t) == before
        ctx(conn, t).execute("UPDATE deals SET deleted_at = now() WHERE id = %s", (deal,))
        conn.commit()
        fv, rv = ctx(conn, t).execute("SELECT field_versions, row_version FROM deals "
                                      "WHERE id = %s", (deal,)).fetchone()
    assert rv == fv["deleted_at"] == before + 1
    assert fv["title"] == fv["phi"] == before
    assert set(fv) == {"title", "status", "value", "phi", "phi_key_version", "created_by_id",
                       "deleted_at", "owner_id", "expected_close_date", "probability"}


def test_a_row_that_claims_a_version_it_does_not_hold_is_stamped(server_db: ServerDb) -> None:
    """A statement may stamp its own rows (0011) only with the version its transaction
    took under the tenant's lock: any other row_version it writes is stamped over."""
    t = server_db.tenant("Claims")
    with server_db.app() as conn:
        before = version(conn, t)
        conn.commit()
        deal = new_id()
        # Claims the next version without taking it (no lock, no next_sync_version).
        ctx(conn, t).execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                             "created_by_id, row_version, field_versions) VALUES "
                             "(current_tenant_id(), %s, 'Claim', 'DRAFT', 1, %s, %s, '{}')",
                             (deal, t.admin_id, before + 1))
        conn.commit()
        fv, rv = ctx(conn, t).execute("SELECT field_versions, row_version FROM deals "
                                      "WHERE id = %s", (deal,)).fetchone()
        assert rv == before + 1 == version(conn, t)  # taken for real: the lock was held
        assert fv["title"] == rv and len(fv) == 10  # every tracked field (0015)
        conn.commit()
        # An UPDATE claiming a stale version is stamped with the transaction's own.
        ctx(conn, t).execute("UPDATE deals SET title = 'Stale', row_version = 1 WHERE id = %s",
                             (deal,))
        conn.commit()
        fv, rv = ctx(conn, t).execute("SELECT field_versions, row_version FROM deals "
                                      "WHERE id = %s", (deal,)).fetchone()
    assert rv == before + 2 == fv["title"]


def test_a_statement_stamped_row_changed_again_in_its_transaction_is_stamped(
        server_db: ServerDb) -> None:
    """A row the statement stamped with the transaction's version (push's bulk path) and
    then changed by a statement that does not stamp still gets its changed fields named."""
    t = server_db.tenant("Restamp")
    with server_db.app() as conn:
        deal = insert_deal(conn, t)
        conn.commit()
        v = int(ctx(conn, t).execute("SELECT next_sync_version(%s)", (t.id,)).fetchone()[0])
        conn.execute("UPDATE deals SET title = 'Bulk', row_version = %s, field_versions = "
                     "field_versions || jsonb_build_object('title', %s::bigint) WHERE id = %s",
                     (v, v, deal))
        conn.execute("UPDATE deals SET status = 'ACTIVE' WHERE id = %s", (deal,))
        conn.commit()
        fv, rv = ctx(conn, t).execute("SELECT field_versions, row_version FROM deals "
                                      "WHERE id = %s", (deal,)).fetchone()
    assert rv == fv["title"] == fv["status"] == v
    assert fv["value"] == v - 1
