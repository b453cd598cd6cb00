"""The server's side of creating a tenant from a standalone workspace (`server.adopt`):
the setup code's authority, the ids kept, the users' passwords, and every refusal
writing nothing. The whole flow from a real laptop is in sync/test_sync_adopt.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import bcrypt
import pytest
from api_support import serve
from pg_support import ServerDb

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server import adopt
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.errors import ApiError

PASSWORD = "Tangerine-Orbit-Ladder-42"
REP_PASSWORD = "Marble-Kettle-Violin-77"


def error_code(r: Any) -> str:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"].endswith("."), body
    return str(body["error"]["code"])


def workspace_body(domain: str, code: str) -> dict[str, Any]:
    """What a laptop sends: its tenant, an admin, a rep with a usable hash, a user
    without one, and two PHI key versions."""
    admin, rep, plain = new_id(), new_id(), new_id()
    rep_hash = bcrypt.hashpw(REP_PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    return {"code": code, "password": PASSWORD, "admin_id": admin,
            "tenant": {"id": new_id(), "name": "Workspace Health", "domain": domain},
            "users": [
                {"id": admin, "email": f"ada@{domain}", "first_name": "Ada",
                 "last_name": "Admin", "role": "ADMIN", "password_hash": None},
                {"id": rep, "email": f"rex@{domain}", "first_name": "Rex",
                 "last_name": "Rep", "role": "USER", "password_hash": rep_hash,
                 "created_at": "2026-01-02T03:04:05.000000Z"},
                {"id": plain, "email": f"pia@{domain}", "first_name": "Pia",
                 "last_name": "Plain", "role": "USER", "password_hash": "$2b$04$" + "x" * 53,
                 "deactivated_at": None}],
            "phi_keys": [{"version": 1, "state": "DECRYPT_ONLY"},
                         {"version": 2, "state": "ACTIVE"}]}


def tenants(server_db: ServerDb) -> int:
    with server_db.superuser() as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM tenants) + (SELECT count(*) FROM "
                           "users)").fetchone()
    assert row is not None
    return int(row[0])


def test_the_dev_code_creates_one_tenant_keeping_the_workspace_ids(
        server_db: ServerDb) -> None:
    code = "1234-5678-9012"
    body = workspace_body("dev-adopt.example", code)
    with serve(server_db, setup_code_hash=hashlib.sha256(code.encode()).digest()) as api:
        before = tenants(server_db)
        refused = [
            ({**body, "code": "0000"}, 401, "wrong_code"),
            ({**body, "admin_id": body["users"][1]["id"]}, 403, "not_admin"),
            ({**body, "users": body["users"] + [{**body["users"][1], "id": new_id()}]}, 400,
             "invalid_field"),
            ({**body, "phi_keys": [{"version": 1, "state": "ACTIVE"}] * 2}, 400,
             "invalid_field"),
            ({**body, "password": "aaaaaaaaaaaa"}, 400, "invalid_field")]
        for sent, status, code_word in refused:
            r = api.http.post("/v1/setup/adopt", json=sent)
            assert r.status_code == status and error_code(r) == code_word, r.text
            assert PASSWORD not in r.text and "aaaa" not in r.text
        assert tenants(server_db) == before  # nothing written for a refusal
        made = api.http.post("/v1/setup/adopt", json=body)
        assert made.status_code == 201, made.text
        assert made.json() == {"tenant_id": body["tenant"]["id"], "admin_id": body["admin_id"]}
        assert api.sign_in("ada@dev-adopt.example", PASSWORD)["role"] == "ADMIN"
        assert api.sign_in("rex@dev-adopt.example", REP_PASSWORD)["user_id"] == \
            body["users"][1]["id"]
        # A hash the server does not take (cost 4): reset by an admin first.
        r = api.http.post("/v1/auth/sign-in", json={"email": "pia@dev-adopt.example",
                                                     "password": "anything-at-all-1"})
        assert r.status_code == 401
        with server_db.superuser() as conn:
            assert conn.execute("SELECT password FROM users WHERE email = %s",
                                ("pia@dev-adopt.example",)).fetchone() == (
                adopt.RESET_REQUIRED,)
            assert conn.execute("SELECT version, state::text FROM phi_keys WHERE tenant_id = "
                                "%s ORDER BY version", (body["tenant"]["id"],)).fetchall() == [
                (1, "DECRYPT_ONLY"), (2, "ACTIVE")]
            assert conn.execute("SELECT adopting FROM tenants WHERE id = %s",
                                (body["tenant"]["id"],)).fetchone() == (True,)
        # The dev code works once.
        again = api.http.post("/v1/setup/adopt", json=workspace_body("two.example", code))
        assert again.status_code == 401 and error_code(again) == "wrong_code"


def envelope(tenant_id: str, deal_id: str, version: int) -> str:
    return crypto.encrypt_phi(crypto.new_key(), version, tenant_id, deal_id, {"mrn": "X-1"})


def test_the_deals_import_keeps_owners_and_refuses_bad_batches_whole(
        server_db: ServerDb) -> None:
    pool = server_db.pool(max_size=2)
    code = "4321-8765-2109-6543"
    adopt.issue_code(pool, hashlib.sha256(code.encode()).digest(), 1)
    body = workspace_body("import.example", code)
    made = adopt.adopt_tenant(pool, body, PASSWORD, hashlib.sha256(code.encode()).digest())
    t, admin, rep = made.tenant_id, made.admin_id, body["users"][1]["id"]
    who = Caller(t, admin, "ADMIN", new_id(), new_id())
    deal_id = new_id()
    good = {"id": deal_id, "title": "Rex's deal", "status": "ACTIVE", "value": "12.50",
            "phi": envelope(t, deal_id, 1), "phi_key_version": 1, "created_by_id": rep,
            "created_at": "2026-01-02T03:04:05.000000Z", "updated_at": None,
            "deleted_at": "2026-02-01T00:00:00.000000Z"}

    def deals() -> list[tuple[Any, ...]]:
        with server_db.superuser() as conn:
            return conn.execute("SELECT id, created_by_id, value::text, deleted_at IS NOT "
                                "NULL, created_at::date::text FROM deals WHERE tenant_id = %s",
                                (t,)).fetchall()

    bad_batches = [
        [{**good, "created_by_id": new_id()}],  # an owner who is not a user
        [{**good, "phi_key_version": 7, "phi": envelope(t, deal_id, 7)}],  # no such key
        [{**good, "phi": json.dumps({"v": 1})}],  # not an envelope
        [{**good, "value": 12.5}],  # money as a float
        [good, {**good, "id": new_id(), "title": ""}]]  # one bad deal refuses the batch
    for batch in bad_batches:
        with pytest.raises(ApiError) as refused:
            adopt.import_deals(pool, who, batch)
        assert refused.value.status == 400
    with pytest.raises(ApiError) as user:
        adopt.import_deals(pool, Caller(t, rep, "USER", new_id(), new_id()), [good])
    assert user.value.status == 403
    assert deals() == []
    assert adopt.import_deals(pool, who, [good]) == 1
    assert adopt.import_deals(pool, who, [{**good, "title": "Sent again"}]) == 1
    assert deals() == [(deal_id, rep, "12.50", True, "2026-01-02")]
    assert adopt.finish(pool, who) == {"deals": 1}
    for late in (lambda: adopt.import_deals(pool, who, [good]),
                 lambda: adopt.finish(pool, who)):
        with pytest.raises(ApiError) as closed:
            late()
        assert closed.value.status == 409 and closed.value.code == "adoption_closed"
    # The operator's code worked once.
    with pytest.raises(ApiError) as used:
        adopt.adopt_tenant(pool, workspace_body("again.example", code), PASSWORD,
                           hashlib.sha256(code.encode()).digest())
    assert used.value.status == 401 and used.value.code == "wrong_code"
