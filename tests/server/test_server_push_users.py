"""Pushed user and tenant mutations on the real cluster: admins only, no self-deactivation
or self-demotion, the last admin kept, emails unique across tenants, bcrypt hashes only,
deactivation ends sessions and beats a reactivation made without seeing it."""

from __future__ import annotations

import datetime

import pytest
from pg_support import ServerDb, Tenant
from push_support import Device, mutation, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync import push_users
from closeplan_desktop.server.sync.mutations import Mutation
from closeplan_desktop.server.sync.outcome import Context, Rejected

HASH_12 = "$2a$12$" + "b" * 53


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def user_row(server_db: ServerDb, user_id: str) -> tuple[object, ...]:
    with server_db.superuser() as conn:
        row = conn.execute("SELECT email, first_name, last_name, password, role::text, "
                           "deactivated_at IS NOT NULL, row_version FROM users WHERE id = %s",
                           (user_id,)).fetchone()
    assert row is not None
    return tuple(row)


def events(server_db: ServerDb, t: Tenant) -> list[tuple[str, str]]:
    with server_db.superuser() as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT type, detail FROM security_events WHERE tenant_id = %s "
            "ORDER BY \"timestamp\"", (t.id,))]


def new_user(email: str, role: str | None = None, password: str = HASH_12) -> dict[str, object]:
    fields: dict[str, object] = {"email": email, "first_name": "Nia", "last_name": "North",
                                 "password": password}
    if role is not None:
        fields["role"] = role
    return mutation("users", "create", new_id(), **fields)


def test_an_admin_creates_users_with_globally_unique_emails(server_db: ServerDb,
                                                            db: Database) -> None:
    t, other = server_db.tenant("Users"), server_db.tenant("Elsewhere")
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    created = new_user("Nia.North@Users.example", "ADMIN")
    result = admin.push(created, new_user("nia.north@users.example"),
                        new_user(other.admin_email), new_user(t.admin_email.upper()))
    assert [(v.verdict, v.code) for v in result.verdicts] == [
        ("applied", None), ("rejected", "email_taken"), ("rejected", "email_taken"),
        ("rejected", "email_taken")]
    # The clash with another tenant's user reads like any other: no hint of the tenant.
    assert result.verdicts[1].message == result.verdicts[2].message == \
        "This email cannot be used; use another email."
    row = user_row(server_db, str(created["id"]))
    assert row[:5] == ("nia.north@users.example", "Nia", "North", HASH_12, "ADMIN")
    assert events(server_db, t)[-1][0] == "USER_CREATED"
    assert HASH_12 not in "".join(d for _, d in events(server_db, t))
    with server_db.superuser() as conn:
        stored = conn.execute("SELECT fields FROM rejections WHERE device_id = %s",
                              (admin.id,)).fetchall()
    assert all(HASH_12 not in str(r[0]) for r in stored)


def test_passwords_arrive_as_bcrypt_hashes_of_a_sane_cost(server_db: ServerDb,
                                                          db: Database) -> None:
    t = server_db.tenant("Hashes")
    seller, _ = server_db.user(t)
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    base = user_row(server_db, seller)[6]
    result = admin.push(*(mutation("users", "set_password", seller, base, password=p) for p in (
        "plain-text-password", "$2y$10$" + "c" * 53, "$2b$09$" + "c" * 53,
        "$2b$15$" + "c" * 53, "$2b$10$" + "c" * 52, HASH_12)))
    assert verdicts(result) == ["rejected"] * 5 + ["applied"]
    assert user_row(server_db, seller)[3] == HASH_12
    assert events(server_db, t)[-1][0] == "PASSWORD_RESET"
    # A user sets their own password, never another's.
    own = Device(db, server_db, t, seller, "USER")
    base = user_row(server_db, seller)[6]
    mine = own.push(mutation("users", "set_password", seller, base,
                             password="$2b$10$" + "d" * 53),
                    mutation("users", "set_password", t.admin_id, 0,
                             password="$2b$10$" + "e" * 53))
    assert [(v.verdict, v.code) for v in mine.verdicts] == [("applied", None),
                                                            ("rejected", "forbidden")]
    assert events(server_db, t)[-2][0] == "PASSWORD_CHANGED"


def test_a_user_cannot_change_any_user_or_the_organisation(server_db: ServerDb,
                                                            db: Database) -> None:
    t = server_db.tenant("Plain")
    seller, _ = server_db.user(t)
    before = (user_row(server_db, t.admin_id), user_row(server_db, seller))
    device = Device(db, server_db, t, seller, "USER")
    result = device.push(new_user("sneaky@plain.example", "ADMIN"),
                         mutation("users", "update", seller, 0, role="ADMIN"),
                         mutation("users", "update", t.admin_id, 0, first_name="Mallory"),
                         mutation("users", "deactivate", t.admin_id, 0),
                         mutation("users", "reactivate", seller, 0),
                         mutation("tenants", "update", t.id, 0, name="Mine"))
    assert verdicts(result) == ["rejected"] * 6
    assert {v.code for v in result.verdicts} == {"forbidden"}
    assert (user_row(server_db, t.admin_id), user_row(server_db, seller)) == before
    assert [e for e, _ in events(server_db, t)].count("ACCESS_DENIED") == 5


def test_no_self_deactivation_no_self_demotion(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Self")
    other_admin, _ = server_db.user(t, role="ADMIN")
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    base = user_row(server_db, other_admin)[6]
    result = admin.push(mutation("users", "deactivate", t.admin_id, base),
                        mutation("users", "update", t.admin_id, base, role="USER"),
                        mutation("users", "update", other_admin, base, role="USER"))
    assert [(v.verdict, v.code) for v in result.verdicts] == [
        ("rejected", "self_deactivation"), ("rejected", "self_demotion"), ("applied", None)]
    assert user_row(server_db, t.admin_id)[4:6] == ("ADMIN", False)
    assert user_row(server_db, other_admin)[4] == "USER"
    assert events(server_db, t)[-1] == (
        "ROLE_CHANGED", f'{{"from":"ADMIN","to":"USER","user":"{other_admin}"}}')
    # The demoted admin's device is now a USER's, whatever its session said.
    theirs = Device(db, server_db, t, other_admin, "ADMIN")
    late = theirs.push(mutation("users", "deactivate", t.admin_id, 0))
    assert (late.verdicts[0].verdict, late.verdicts[0].code) == ("rejected", "forbidden")


def test_the_last_active_admin_is_kept(server_db: ServerDb, db: Database) -> None:
    """Re-checked on arrival even for an actor the session calls an admin: the database
    has one active admin, so neither demoting nor deactivating them goes through."""
    t = server_db.tenant("Last")
    seller, _ = server_db.user(t)
    device_id = server_db.device(t, seller)
    with db.transaction(t.id, seller) as conn:
        ctx = Context(conn, Caller(t.id, seller, "ADMIN", new_id(), device_id), device_id,
                      True, 0)
        for op, fields in (("update", {"role": "USER"}), ("deactivate", {})):
            m = Mutation(mid=1, table="users", op=op, id=t.admin_id, base_version=0,
                         fields=fields)
            with pytest.raises(Rejected) as caught:
                push_users.update(ctx, m) if op == "update" else push_users.deactivate(ctx, m)
            assert caught.value.code == "last_admin"
    assert user_row(server_db, t.admin_id)[4:6] == ("ADMIN", False)


def test_deactivation_ends_sessions_and_beats_an_unseen_reactivation(server_db: ServerDb,
                                                                     db: Database) -> None:
    t = server_db.tenant("Deactivate")
    seller, _ = server_db.user(t)
    second_admin, _ = server_db.user(t, role="ADMIN")
    with server_db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (t.id,))
        conn.execute("INSERT INTO sessions (tenant_id, id, user_id, kind, token_hash, "
                     "expires_at) VALUES (current_tenant_id(), %s, %s, 'ACCESS', %s, %s)",
                     (new_id(), seller, b"h" * 32,
                      datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)))
    a = Device(db, server_db, t, t.admin_id, "ADMIN")
    b = Device(db, server_db, t, second_admin, "ADMIN")
    start = user_row(server_db, seller)[6]
    first = a.push(mutation("users", "deactivate", seller, start))
    assert verdicts(first) == ["applied"]
    with server_db.superuser() as conn:
        live = conn.execute("SELECT count(*) FROM sessions WHERE user_id = %s AND revoked_at "
                            "IS NULL", (seller,)).fetchone()
    assert live == (0,)
    seen = first.verdicts[0].row_version
    assert seen is not None
    # b reactivates having seen the deactivation: that reactivation is later, it applies.
    assert verdicts(b.push(mutation("users", "reactivate", seller, seen))) == ["applied"]
    # a deactivates again; b's next reactivation was made before seeing it: it loses.
    again = a.push(mutation("users", "deactivate", seller, seen))
    assert verdicts(again) == ["conflict"]  # over b's reactivation, which it beats
    lost = b.push(mutation("users", "reactivate", seller, seen))
    assert (lost.verdicts[0].verdict, lost.verdicts[0].code) == ("conflict",
                                                                 "deactivation_wins")
    assert user_row(server_db, seller)[5] is True
    with server_db.superuser() as conn:
        kept = conn.execute("SELECT kept_value, losing_value FROM conflicts WHERE row_id = %s "
                            "ORDER BY created_at", (seller,)).fetchall()
    assert kept[-1] == ({"deactivated": True}, {"deactivated": False})


def test_names_and_email_merge_per_field(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Names")
    seller, _ = server_db.user(t)
    second_admin, _ = server_db.user(t, role="ADMIN")
    a = Device(db, server_db, t, t.admin_id, "ADMIN")
    b = Device(db, server_db, t, second_admin, "ADMIN")
    base = user_row(server_db, seller)[6]
    assert verdicts(a.push(mutation("users", "update", seller, base, first_name="Ann"))) == [
        "applied"]
    merged = b.push(mutation("users", "update", seller, base, last_name="Bell",
                             email="Ann.Bell@Names.example"))
    assert verdicts(merged) == ["merged"]
    clash = b.push(mutation("users", "update", seller, base, first_name="Anna"))
    assert verdicts(clash) == ["conflict"]
    assert user_row(server_db, seller)[:3] == ("ann.bell@names.example", "Anna", "Bell")
    assert ("USER_UPDATED", f'{{"fields":["email","last_name"],"user":"{seller}"}}') in \
        events(server_db, t)


def test_the_organisation_is_changed_by_its_admins_only(server_db: ServerDb,
                                                       db: Database) -> None:
    t, other = server_db.tenant("Org"), server_db.tenant("OtherOrg")
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    with server_db.superuser() as conn:
        base = conn.execute("SELECT row_version FROM tenants WHERE id = %s",
                            (t.id,)).fetchone()[0]
    result = admin.push(mutation("tenants", "update", t.id, base, name=" Org Health ",
                                 domain="Org-Health.example"),
                        mutation("tenants", "update", other.id, 0, name="Taken"),
                        mutation("tenants", "update", t.id, 0, domain="not a domain"))
    assert [(v.verdict, v.code) for v in result.verdicts] == [
        ("applied", None), ("rejected", "not_found"), ("rejected", "invalid")]
    with server_db.superuser() as conn:
        names = conn.execute("SELECT id, name, domain FROM tenants WHERE id = ANY(%s) "
                             "ORDER BY name", ([t.id, other.id],)).fetchall()
    assert sorted(names) == sorted([(t.id, "Org Health", "org-health.example"),
                                    (other.id, "OtherOrg", "otherorg.example")])
