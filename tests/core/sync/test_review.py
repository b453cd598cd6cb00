"""core.sync.review: conflicts and rejections in words, and the logged reveal of a
losing PHI value (real workspace, real keyring; the rows as a pull writes them)."""

from __future__ import annotations

import json

import pytest
from support import Env

from closeplan_desktop.core.domain.clock import iso, utcnow
from closeplan_desktop.core.domain.errors import NotFoundError, PermissionDenied
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.store import db
from closeplan_desktop.core.sync import review
from closeplan_desktop.core.usecases import deals

ROWS = ("INSERT INTO sync_conflicts (id, table_name, row_id, field, server_version, "
        "kept_value, losing_value, created_at, row_version) VALUES (?, 'deals', ?, ?, 2, ?, "
        "?, ?, 1)")


def write(env: Env, query: str, params: tuple[object, ...]) -> None:
    with db.write_session(env.ws.engine) as s:
        s.connection().exec_driver_sql(query, params)


def phi_access(env: Env) -> int:
    with db.read_session(env.ws.engine) as s:
        return int(s.connection().exec_driver_sql(
            "SELECT count(*) FROM access_logs WHERE action = 'PHI_ACCESS'").scalar_one())


def conflicts_on(env: Env, owner: str = "admin") -> tuple[str, str, str]:
    """A deal with a title conflict and a PHI conflict whose losing value is a real
    envelope of an older PHI value of that deal."""
    session = env.admin if owner == "admin" else env.user
    d = deals.create_deal(session, "Cath lab", "ACTIVE", "10.00", {"mrn": "LOST-MRN"})
    with db.read_session(env.ws.engine) as s:
        old = s.connection().exec_driver_sql("SELECT phi, phi_key_version FROM deals "
                                             "WHERE id = ?", (d.id,)).one()
    deals.update_deal(session, d.id, phi={"mrn": "KEPT-MRN"})
    title, phi = new_id(), new_id()
    now = iso(utcnow())
    write(env, ROWS, (title, d.id, "title", json.dumps("Cath lab"), json.dumps("Old name"),
                      now))
    write(env, ROWS, (phi, d.id, "phi", json.dumps({"phi": "kept envelope"}),
                      json.dumps({"phi": old[0], "phi_key_version": old[1]}), now))
    return d.id, title, phi


def test_conflicts_in_words_never_show_phi(env: Env) -> None:
    _deal, title, phi = conflicts_on(env)
    found = {c.id: c for c in review.list_conflicts(env.admin)}
    assert (found[title].what, found[title].field, found[title].kept, found[title].losing) \
        == ("Deal “Cath lab”", "Title", "Cath lab", "Old name")
    assert found[phi].is_phi and found[phi].losing is None
    assert "envelope" not in found[phi].kept and "LOST" not in repr(found[phi])
    assert review.counts(env.admin) == (2, 0)


def test_the_new_deal_fields_conflict_in_words(env: Env) -> None:
    """Owner by name, the close date as a date, probability and value as people read
    them: the same words as the deal's history, never a raw field name or user id."""
    d = deals.create_deal(env.admin, "Cath lab", "ACTIVE", "10.00")
    now = iso(utcnow())
    made = {}
    for field, kept, losing in (("owner_id", env.user.user_id, env.admin.user_id),
                                ("expected_close_date", "2027-03-31", None),
                                ("probability", 40, None), ("value", "1250.50", "99.00")):
        made[field] = new_id()
        write(env, ROWS, (made[field], d.id, field, json.dumps(kept), json.dumps(losing), now))
    found = {c.id: (c.field, c.kept, c.losing) for c in review.list_conflicts(env.admin)}
    assert found[made["owner_id"]] == ("Owner", "Bob Sales", "Ada Admin")
    assert found[made["expected_close_date"]] == ("Expected close", "31 Mar 2027", "none")
    assert found[made["probability"]] == ("Probability", "40%", "status default")
    assert found[made["value"]] == ("Value", "$1,250.50", "$99.00")


def test_a_losing_phi_value_opens_only_through_a_logged_reveal(env: Env) -> None:
    _deal, title, phi = conflicts_on(env)
    before = phi_access(env)
    assert review.reveal_losing_phi(env.admin, phi) == {"mrn": "LOST-MRN"}
    assert phi_access(env) == before + 1
    with pytest.raises(NotFoundError):
        review.reveal_losing_phi(env.admin, title)  # not a PHI conflict
    # Another user's deal: refused (a break-glass reveal goes through the deal itself).
    with pytest.raises(PermissionDenied):
        review.reveal_losing_phi(env.user, phi)
    assert phi_access(env) == before + 1


def test_the_owner_may_reveal_and_rejections_carry_the_reason(env: Env) -> None:
    _deal, _title, phi = conflicts_on(env, owner="user")
    assert review.reveal_losing_phi(env.user, phi) == {"mrn": "LOST-MRN"}
    write(env, "INSERT INTO sync_rejections (id, mutation_id, table_name, row_id, op, code, "
          "message, created_at, row_version) VALUES (?, 7, 'users', ?, 'update', "
          "'email_taken', 'Another user has that email.', ?, 1)",
          (new_id(), env.admin.user_id, iso(utcnow())))
    [rejected] = review.list_rejections(env.admin)
    assert (rejected.what, rejected.op, rejected.reason) == (
        f"User “{env.admin.email}”", "update", "Another user has that email.")
    assert review.counts(env.admin) == (2, 1)
