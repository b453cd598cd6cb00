"""Pull (server/sync/pull.py) against the real database as the app role: what each device
gets and never gets, paging that resumes exactly across rows of one version, tombstones,
the checkpoint summary, and cursors and parameters that are refused with clear 4xx."""

from __future__ import annotations

import base64
import json

import pytest
from pg_support import ServerDb, Tenant
from pull_support import (
    HASH,
    Client,
    add_conflict,
    add_grant,
    add_rejection,
    add_user,
    admin_caller,
    caller,
    committed,
    in_tenant,
)

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.sync import pull, pull_cursor
from closeplan_desktop.server.sync.pull_cursor import BootstrapPosition, PullPosition


@pytest.fixture(scope="module")
def world(server_db: ServerDb) -> dict[str, object]:
    """Tenant A (an admin device, a user with two devices, deals, grants, conflicts and
    rejections of several devices) and tenant B with rows of its own."""
    a, b = server_db.tenant("Alpha"), server_db.tenant("Beta")
    user = add_user(server_db, a)
    mine, other = server_db.device(a, user), server_db.device(a, user)
    admin = admin_caller(server_db, a)
    deal = server_db.deal(a, {"patient_name": "Jane Roe", "mrn": "12345678"}, value="1234.56")
    server_db.deal(a, None, title='Quotes " and \\ back\nslash', value="0.10")
    grants = {"mine": add_grant(server_db, a, "DEVICE", mine),
              "other": add_grant(server_db, a, "DEVICE", other),
              "user": add_grant(server_db, a, "USER", user),
              "admin_device": add_grant(server_db, a, "DEVICE", str(admin.device_id))}
    conflicts = {"mine": add_conflict(server_db, a, mine, deal),
                 "other": add_conflict(server_db, a, other, deal)}
    rejections = {"mine": add_rejection(server_db, a, mine),
                  "other": add_rejection(server_db, a, other)}
    b_user = add_user(server_db, b)
    b_device = server_db.device(b, b_user)
    server_db.deal(b, {"patient_name": "Other Tenant"})
    return {"a": a, "b": b, "user": user, "mine": mine, "other": other, "admin": admin,
            "deal": deal, "grants": grants, "conflicts": conflicts, "rejections": rejections,
            "b_caller": caller(b, b_user, b_device)}


def user_caller(world: dict[str, object]) -> Caller:
    a = world["a"]
    assert isinstance(a, Tenant)
    return caller(a, str(world["user"]), str(world["mine"]))


def test_an_admin_device_gets_the_tenant_state_and_never_a_password_hash(
        server_db: ServerDb, world: dict[str, object]) -> None:
    a = world["a"]
    assert isinstance(a, Tenant)
    admin = world["admin"]
    assert isinstance(admin, Caller)
    client = Client(server_db.pool(), admin)
    pages = client.sync()
    assert pages[-1].up_to_date and pages[-1].checkpoint > 0
    assert client.ids("tenants") == {a.id}
    assert client.ids("users") == set(committed(server_db, a, "users"))
    assert client.ids("deals") == set(committed(server_db, a, "deals"))
    assert client.ids("devices") == set(committed(server_db, a, "devices"))
    assert client.ids("phi_keys") == {"1"}
    assert client.ids("conflicts") == set(world["conflicts"].values())  # type: ignore[attr-defined]
    assert client.ids("rejections") == set(world["rejections"].values())  # type: ignore[attr-defined]
    # Grants: this device's and this user's only; never the server's escrow grant.
    grants = world["grants"]
    assert isinstance(grants, dict)
    assert client.ids("key_grants") == {grants["admin_device"]}
    for change in client.received:
        assert "password" not in change["row"]
    assert all(HASH not in json.dumps(c) for c in client.received)
    assert all("approval_code_hash" not in c["row"] for c in client.received)


def test_deals_arrive_exactly_money_as_text_and_the_envelope_as_stored(
        server_db: ServerDb, world: dict[str, object]) -> None:
    admin = world["admin"]
    assert isinstance(admin, Caller)
    client = Client(server_db.pool(), admin)
    client.sync()
    deal = client.rows[("deals", str(world["deal"]))]
    assert deal["value"] == "1234.56" and deal["status"] == "ACTIVE"
    with server_db.superuser() as conn:
        stored = conn.execute("SELECT phi::text FROM deals WHERE id = %s",
                              (world["deal"],)).fetchone()
    assert stored is not None
    assert deal["phi"] == json.loads(stored[0])
    a = world["a"]
    assert isinstance(a, Tenant)
    envelope = json.dumps(deal["phi"], separators=(",", ":"))
    assert crypto.decrypt_phi(a.phi_key, a.id, deal["id"], envelope) == {
        "patient_name": "Jane Roe", "mrn": "12345678"}
    odd = next(r for (t, _), r in client.rows.items() if t == "deals" and r["phi"] is None)
    assert odd["title"] == 'Quotes " and \\ back\nslash' and odd["value"] == "0.10"
    grant = next(r for (t, _), r in client.rows.items() if t == "key_grants")
    assert base64.b64decode(grant["wrapped"], validate=True) == bytes(range(80))


def test_a_user_device_gets_its_own_grants_conflicts_and_rejections_and_no_devices(
        server_db: ServerDb, world: dict[str, object]) -> None:
    client = Client(server_db.pool(), user_caller(world))
    client.sync()
    grants, conflicts, rejections = world["grants"], world["conflicts"], world["rejections"]
    assert isinstance(grants, dict) and isinstance(conflicts, dict)
    assert isinstance(rejections, dict)
    assert client.ids("key_grants") == {grants["mine"], grants["user"]}
    assert client.ids("conflicts") == {conflicts["mine"]}
    assert client.ids("rejections") == {rejections["mine"]}
    assert client.ids("devices") == set()
    assert client.ids("users") and all("password" not in r for (t, _), r in
                                       client.rows.items() if t == "users")
    assert all(HASH not in json.dumps(c) for c in client.received)


def test_tenant_b_device_never_receives_tenant_a_rows_nor_with_a_forged_cursor(
        server_db: ServerDb, world: dict[str, object]) -> None:
    a, b, b_caller = world["a"], world["b"], world["b_caller"]
    assert isinstance(a, Tenant) and isinstance(b, Tenant) and isinstance(b_caller, Caller)
    client = Client(server_db.pool(), b_caller)
    client.sync()
    assert client.ids("tenants") == {b.id}
    assert client.ids("deals") == set(b.deals)
    assert not any(a.id in json.dumps(c) for c in client.received)
    # A cursor made for tenant A's device, presented by tenant B's device.
    admin = world["admin"]
    assert isinstance(admin, Caller)
    forged = pull_cursor.encode_pull(admin, PullPosition(0))
    with pytest.raises(ApiError) as e, pull.snapshot(server_db.pool(), b_caller) as conn:
        pull.pull(conn, b_caller, forged)
    assert e.value.status == 400 and e.value.code == "bad_cursor"
    # B's own cursor with A's tenant written into it: the digest no longer matches.
    text = str(client.cursor)
    body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    body["t"] = a.id
    tampered = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    with pytest.raises(ApiError) as e, pull.snapshot(server_db.pool(), b_caller) as conn:
        pull.pull(conn, b_caller, tampered)
    assert e.value.status == 400 and "damaged" in e.value.message


def test_paging_across_rows_of_one_version_resumes_exactly(server_db: ServerDb) -> None:
    t = server_db.tenant("Paging")
    who = admin_caller(server_db, t)
    with in_tenant(server_db, t) as conn:  # one transaction: 23 deals of one version
        for i in range(23):
            conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id) "
                         "VALUES (current_tenant_id(), %s, %s, 'DRAFT', 1, %s)",
                         (new_id(), f"Bulk {i}", t.admin_id))
    whole = Client(server_db.pool(), who)
    whole.sync()
    paged = Client(server_db.pool(), who)
    pages = paged.sync(limit=4)
    assert len(pages) >= 7 and all(len(p.changes) <= 4 for p in pages)
    order = [(c["table"], c["row"]["row_version"], c["row"].get("id")) for c in paged.received]
    assert order == [(c["table"], c["row"]["row_version"], c["row"].get("id"))
                     for c in whole.received]
    assert len(set(order)) == len(order)
    versions = [c["row"]["row_version"] for c in paged.received if c["table"] == "deals"]
    assert versions.count(max(versions)) == 23  # the bulk version spans several pages


def test_tombstones_and_edits_arrive_in_commit_order(server_db: ServerDb) -> None:
    t = server_db.tenant("Tombs")
    who = admin_caller(server_db, t)
    gone, kept = server_db.deal(t), server_db.deal(t)
    client = Client(server_db.pool(), who)
    client.sync()
    with in_tenant(server_db, t) as conn:
        conn.execute("UPDATE deals SET deleted_at = now() WHERE id = %s", (gone,))
    with in_tenant(server_db, t) as conn:
        conn.execute("UPDATE deals SET title = 'Renamed' WHERE id = %s", (kept,))
    (page,) = client.sync()
    # Each change with its history row (issue 15), in the same commit order.
    changes = [json.loads(c) for c in page.changes]
    assert [c["row"]["id"] for c in changes if c["table"] == "deals"] == [gone, kept]
    assert [(c["row"]["deal_id"], c["row"]["op"]) for c in changes
            if c["table"] == "deal_history"] == [(gone, "delete"), (kept, "update")]
    assert client.rows[("deals", gone)]["deleted_at"] is not None
    assert client.rows[("deals", kept)]["title"] == "Renamed"
    assert page.counts == {"deals": 2, "deal_history": 2}
    (again,) = client.sync()
    assert again.changes == [] and again.up_to_date and again.checkpoint == page.checkpoint


def test_the_checkpoint_summary_matches_what_the_device_holds(
        server_db: ServerDb, world: dict[str, object]) -> None:
    for who in (world["admin"], user_caller(world)):
        assert isinstance(who, Caller)
        client = Client(server_db.pool(), who)
        client.sync()
        with pull.snapshot(server_db.pool(), who) as conn:
            summary = pull.checkpoint(conn, who)
        assert summary.hash == client.hash()
        assert summary.counts == {t: len(client.ids(t)) for t in summary.counts}
        assert sum(summary.counts.values()) == len(client.rows)
    # One row more or less, or a stale version, changes the hash.
    rows = list(client.rows.items())
    assert pull.combine([pull.row_hash(t, k, r["row_version"]) for (t, k), r in rows[1:]]
                        ) != summary.hash
    (t0, k0), r0 = rows[0]
    stale = [pull.row_hash(t0, k0, r0["row_version"] - 1)] + [
        pull.row_hash(t, k, r["row_version"]) for (t, k), r in rows[1:]]
    assert pull.combine(stale) != summary.hash


def _expect(status: int, code: str, fn: object) -> ApiError:
    with pytest.raises(ApiError) as e:
        fn()  # type: ignore[operator]
    assert (e.value.status, e.value.code) == (status, code), e.value.message
    assert e.value.message.endswith(".")
    return e.value


def test_bad_cursors_and_limits_are_refused_with_clear_messages(
        server_db: ServerDb, world: dict[str, object]) -> None:
    who = user_caller(world)
    db = server_db.pool()

    def run(cursor: object, limit: object = 10) -> object:
        with pull.snapshot(db, who) as conn:
            return pull.pull(conn, who, cursor, limit)  # type: ignore[arg-type]

    good = pull_cursor.encode_pull(who, PullPosition(1, "deals", "x"))
    for bad in ("", "not base64 at all!", "e30", good[:-3], good[:10] + "A" + good[11:],
                "x" * 5000, pull_cursor.encode_bootstrap(who, BootstrapPosition(1, None, None)),
                pull_cursor.encode_pull(who, PullPosition(10**12)), 12):
        _expect(400, "bad_cursor", lambda bad=bad: run(bad))
    for limit in (0, 1001, -1, "10", 2.5, True):
        _expect(400, "bad_limit", lambda limit=limit: run(None, limit))
    # A cursor made before the caller's role changed: bootstrap again.
    promoted = Caller(who.tenant_id, who.user_id, "ADMIN", who.session_id, who.device_id)
    err = _expect(409, "scope_changed", lambda: run(pull_cursor.encode_pull(promoted,
                                                                            PullPosition(0))))
    assert "bootstrap" in err.message
    # A session without a device does not sync.
    deviceless = Caller(who.tenant_id, who.user_id, "USER", who.session_id, None)
    _expect(403, "device_required", lambda: pull.pull(None, deviceless))  # type: ignore[arg-type]


def test_pull_refuses_to_run_outside_its_snapshot(server_db: ServerDb,
                                                 world: dict[str, object]) -> None:
    who = user_caller(world)
    with server_db.pool().transaction(who.tenant_id, who.user_id) as conn, \
            pytest.raises(RuntimeError, match="REPEATABLE READ"):
        pull.pull(conn, who)


def test_queries_under_rls_may_run_in_parallel_and_workers_keep_the_tenant(
        server_db: ServerDb, world: dict[str, object]) -> None:
    """current_tenant_id() is PARALLEL SAFE (0006): RLS no longer rules out parallel
    plans, and the workers see the leader's tenant context (their rows, no others)."""
    a = world["a"]
    assert isinstance(a, Tenant)
    with in_tenant(server_db, a) as conn:
        conn.execute("SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
                     "SET LOCAL min_parallel_table_scan_size = 0; "
                     "SET LOCAL max_parallel_workers_per_gather = 2; "
                     "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; "
                     "SET LOCAL enable_bitmapscan = off")  # a small table, read in parallel
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT count(*) FROM deals"))
        counted = conn.execute("SELECT count(*) FROM deals").fetchone()
    assert "Gather" in plan
    assert counted == (len(committed(server_db, a)),)
