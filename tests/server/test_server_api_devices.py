"""Devices, key grants, audit upload and admin views end to end, through the real HTTP
server on 127.0.0.1: a laptop enrols, shows its code, an admin's device approves it with
a wrapped key, the laptop fetches and opens its grant, uploads signed audit batches and
checks the receipts against the published key; revoked, it gets a wipe order in its 401.
A user is refused the admin views; tenant B's token never reaches tenant A's devices,
grants or logs; hostile input is a clear 4xx, never a 500."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Api, serve
from device_support import Device, access_rows, batch, first_admin_device, grant_for
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain import audit_batch as ab
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.api.app import create_app
from closeplan_desktop.server.config import ConfigError, ServerConfig
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.keys import escrow, signing
from closeplan_desktop.server.tenants import create_tenant

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def live(server_db: ServerDb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    key_file = tmp_path_factory.mktemp("keys") / "signing.key"
    with serve(server_db, signing_key_file=key_file) as api:
        yield api


class Org:
    """A tenant with a signed-in admin on its first device and a user who can sign in."""

    def __init__(self, server_db: ServerDb, app_pool: Database, api: Api, name: str) -> None:
        self.t: Tenant = server_db.tenant(name, password=PASSWORD)
        self.admin = first_admin_device(app_pool, self.t)
        self.admin_token = api.sign_in(self.t.admin_email, PASSWORD,
                                       self.admin.id)["access_token"]
        self.user_id, self.user_email = server_db.user(self.t, password=PASSWORD)
        self.user_token = api.sign_in(self.user_email, PASSWORD)["access_token"]


@pytest.fixture(scope="module")
def acme(server_db: ServerDb, app_pool: Database, live: Api) -> Org:
    return Org(server_db, app_pool, live, "Acme")


@pytest.fixture(scope="module")
def bravo(server_db: ServerDb, app_pool: Database, live: Api) -> Org:
    return Org(server_db, app_pool, live, "Bravo")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def published_key(api: Api) -> bytes:
    r = api.http.get("/v1/server/keys")  # public: no token
    assert r.status_code == 200, r.text
    (key,) = r.json()["keys"]
    assert key["algorithm"] == "Ed25519" and key["key_id"] == signing.key_id(
        base64.b64decode(key["public_key"]))
    return base64.b64decode(key["public_key"])


def enrol(api: Api, org: Org) -> tuple[Device, str, str]:
    """A new laptop of the org's user: enrolled; its code and its device-bound token."""
    d = Device(new_id(), org.user_id, "USER")
    r = api.http.post("/v1/devices", headers=api.auth(org.user_token), json={
        "device_id": d.id, "name": "Sam's laptop", "sign_public_key": b64(d.sign_public),
        "kem_public_key": b64(d.kem_public)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "PENDING" and len(body["approval_code"]) == 6
    token = api.sign_in(org.user_email, PASSWORD, d.id)["access_token"]
    return d, body["approval_code"], token


def approve(api: Api, org: Org, d: Device, code: str) -> httpx.Response:
    g = grant_for(org.t, d)
    return api.http.post(f"/v1/devices/{d.id}/approve", headers=api.auth(org.admin_token),
                         json={"code": code, "grants": [{
                             "key_version": 1, "grantee_kind": "DEVICE",
                             "grantee_id": d.id, "wrapped": b64(g.wrapped)}]})


def upload(api: Api, token: str, b: Any) -> httpx.Response:
    return api.http.post("/v1/audit/batches", headers=api.auth(token), json={
        "device_id": b.device_id, "table": b.table, "first_seq": b.first_seq,
        "last_seq": b.last_seq, "last_chain_hash": b.last_chain_hash,
        "signature": b64(b.signature), "rows": b.rows})


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    return err


def test_a_laptops_life_enrol_approve_grants_audit_revoke(live: Api, acme: Org) -> None:
    api = live
    public = published_key(api)
    d, code, token = enrol(api, acme)
    # Pending: no grants yet.
    r = api.http.get("/v1/keys/grants", headers=api.auth(token))
    assert r.status_code == 403 and error(r)["code"] == "device_pending"
    # A wrong code is refused and counted; the right one approves.
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = approve(api, acme, d, wrong)
    assert r.status_code == 403
    assert error(r)["attempts_left"] == 4
    r = approve(api, acme, d, code)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ACTIVE"
    # The laptop opens its grant with its own key.
    r = api.http.get("/v1/keys/grants", headers=api.auth(token))
    (g,) = r.json()["grants"]
    assert escrow.unwrap_key(d.kem, acme.t.id, 1, base64.b64decode(g["wrapped"])) == \
        acme.t.phi_key
    # Audit upload: a receipt that verifies with the published key; a replay answers it.
    b = batch(acme.t, d, "access_logs", access_rows(acme.t, d, 3))
    r = upload(api, token, b)
    assert r.status_code == 201, r.text
    receipt = r.json()
    message = ab.receipt_message(acme.t.id, d.id, "access_logs", 1, 3,
                                 bytes.fromhex(receipt["batch_hash"]), receipt["received_at"],
                                 receipt["server_key_id"])
    assert signing.verify(public, message, base64.b64decode(receipt["signature"]))
    assert upload(api, token, b).json() == receipt
    gap = batch(acme.t, d, "access_logs", access_rows(acme.t, d, 2)[1:])
    r = upload(api, token, gap)
    assert r.status_code == 409 and error(r)["expected_seq"] == 4
    refresh_token = api.sign_in(acme.user_email, PASSWORD, d.id)["refresh_token"]
    # The user revokes nothing of another's; the admin revokes the laptop.
    r = api.http.post(f"/v1/devices/{acme.admin.id}/revoke", headers=api.auth(token),
                      json={})
    assert r.status_code == 404
    r = api.http.post(f"/v1/devices/{d.id}/revoke", headers=api.auth(acme.admin_token),
                      json={"reason": "Laptop lost"})
    assert r.status_code == 200, r.text
    order = r.json()["wipe_order"]
    # The laptop's next call: 401, with the same signed wipe order.
    r = api.http.get("/v1/keys/grants", headers=api.auth(token))
    assert r.status_code == 401
    err = error(r)
    assert err["code"] == "device_revoked" and err["wipe_order"] == order
    wipe = ab.wipe_order_message(acme.t.id, d.id, order["revoked_at"], "Laptop lost")
    assert signing.verify(public, wipe, base64.b64decode(order["signature"]))
    # Its refresh token was ended too, and answers the same order (not "reused").
    r = api.http.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert r.status_code == 401
    assert error(r)["code"] == "device_revoked" and error(r)["wipe_order"] == order
    r = api.http.get(f"/v1/devices/{d.id}", headers=api.auth(acme.admin_token))
    assert r.json()["status"] == "REVOKED"


def test_too_many_wrong_codes_mean_enrolling_again(live: Api, acme: Org) -> None:
    d, code, _ = enrol(live, acme)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    codes = [approve(live, acme, d, wrong) for _ in range(5)]
    assert [r.status_code for r in codes] == [403] * 5
    assert error(codes[-1])["code"] == "enrolment_restart_required"
    r = approve(live, acme, d, code)
    assert r.status_code == 409 and error(r)["code"] == "enrolment_restart_required"


def test_a_user_is_refused_the_admin_views_and_an_admin_pages_them(
        live: Api, acme: Org) -> None:
    paths = ["users", "devices", "conflicts", "rejections", "access-logs", "security-events"]
    for path in paths:
        r = live.http.get(f"/v1/admin/{path}", headers=live.auth(acme.user_token))
        assert r.status_code == 403 and error(r)["code"] == "admin_only", path
        r = live.http.get(f"/v1/admin/{path}", headers=live.auth(acme.admin_token),
                          params={"limit": 1})
        assert r.status_code == 200, (path, r.text)
        assert set(r.json()) == {"items", "next_cursor"}
    r = live.http.get("/v1/admin/reveals-by-day", headers=live.auth(acme.user_token))
    assert r.status_code == 403 and error(r)["code"] == "admin_only"
    r = live.http.get("/v1/admin/reveals-by-day", headers=live.auth(acme.admin_token))
    assert r.status_code == 200 and set(r.json()) == {"items", "more"}
    for params in ({"order": "sideways"}, {"action": "PHI"}, {"success": "maybe"}):
        r = live.http.get("/v1/admin/access-logs", headers=live.auth(acme.admin_token),
                          params=params)
        assert r.status_code == 422 and error(r)["code"], params
    r = live.http.get("/v1/admin/users", headers=live.auth(acme.admin_token))
    assert all("password" not in u for u in r.json()["items"])
    assert {u["id"] for u in r.json()["items"]} >= {acme.t.admin_id, acme.user_id}
    r = live.http.get("/v1/admin/security-events", headers=live.auth(acme.admin_token),
                      params={"type": "LOGIN_SUCCESS", "limit": 500})
    assert r.status_code == 200 and r.json()["items"]
    assert {e["type"] for e in r.json()["items"]} == {"LOGIN_SUCCESS"}


def test_tenant_b_never_reaches_tenant_a(live: Api, acme: Org, bravo: Org) -> None:
    d, code, token = enrol(live, acme)
    assert approve(live, acme, d, code).status_code == 200
    assert upload(live, token, batch(acme.t, d, "access_logs",
                                     access_rows(acme.t, d, 2))).status_code == 201
    b_admin = live.auth(bravo.admin_token)
    for path in (f"/v1/devices/{d.id}", f"/v1/devices/{acme.admin.id}"):
        r = live.http.get(path, headers=b_admin)
        assert r.status_code == 404, path
    r = live.http.post(f"/v1/devices/{d.id}/revoke", headers=b_admin, json={})
    assert r.status_code == 404
    r = live.http.post(
        f"/v1/devices/{d.id}/approve", headers=b_admin,
        json={"code": code, "grants": [{"key_version": 1, "grantee_kind": "DEVICE",
                                        "grantee_id": d.id, "wrapped": b64(b"x" * 80)}]})
    assert r.status_code == 404
    listed = live.http.get("/v1/devices", headers=b_admin).json()["items"]
    assert d.id not in {x["id"] for x in listed}
    for path in ("access-logs", "security-events", "devices", "users"):
        text = live.http.get(f"/v1/admin/{path}", headers=b_admin,
                             params={"limit": 500}).text
        assert d.id not in text and acme.user_id not in text, path
    r = live.http.get("/v1/admin/access-logs", headers=b_admin, params={"device_id": d.id})
    assert r.json()["items"] == []
    # B's admin device cannot fetch A's grants, nor upload A's device's rows.
    assert acme.t.id not in live.http.get("/v1/keys/grants", headers=b_admin).text
    b = batch(acme.t, d, "access_logs", access_rows(acme.t, d, 1))
    r = upload(live, bravo.admin_token, b)
    assert r.status_code in (400, 403) and r.status_code != 500
    # A token naming tenant A but made up is refused before anything is read.
    forged = f"cp1.{acme.t.id}.{'A' * 43}"
    assert live.http.get("/v1/devices", headers=live.auth(forged)).status_code == 401


def test_hostile_input_is_a_clear_4xx(live: Api, acme: Org) -> None:
    user = live.auth(acme.user_token)
    admin = live.auth(acme.admin_token)
    d = Device(new_id(), acme.user_id, "USER")
    bad_enrolments = [
        {"device_id": d.id, "name": "x", "sign_public_key": "!!!", "kem_public_key": "AA=="},
        {"device_id": d.id, "name": "x", "sign_public_key": b64(b"k" * 31),
         "kem_public_key": b64(d.kem_public)},
        {"device_id": "../etc", "name": "x", "sign_public_key": "", "kem_public_key": ""},
        {"device_id": d.id, "name": "x" * 101, "sign_public_key": b64(d.sign_public),
         "kem_public_key": b64(d.kem_public)},
        {"device_id": d.id}, [], "text",
    ]
    for body in bad_enrolments:
        r = live.http.post("/v1/devices", headers=user, json=body)
        assert r.status_code in (400, 422), (body, r.text)
        assert error(r)["message"]
    many = [{"key_version": 1, "grantee_kind": "USER", "grantee_id": acme.user_id,
             "wrapped": b64(b"x" * 80)}] * 101
    for body in ({"grants": many}, {"grants": []},
                 {"grants": [{**many[0], "grantee_kind": "ROOT"}]},
                 {"grants": [{**many[0], "wrapped": "not base64!"}]},
                 {"grants": [{**many[0], "key_version": 2**40}]}):
        r = live.http.post("/v1/keys/grants", headers=admin, json=body)
        assert r.status_code in (400, 422), r.text
    for params in ({"limit": 0}, {"limit": 10**6}, {"cursor": "@@"}, {"since": "soon"},
                   {"device_id": "x"}):
        r = live.http.get("/v1/admin/access-logs", headers=admin, params=params)
        assert r.status_code in (400, 422), (params, r.text)
    hostile_rows = [{"id": {"$gt": ""}, "seq": [1], "action": {"a": 1}}]
    r = live.http.post("/v1/audit/batches", headers=admin, json={
        "device_id": acme.admin.id, "table": "access_logs", "first_seq": 1, "last_seq": 1,
        "last_chain_hash": "0" * 64, "signature": b64(b"s" * 64), "rows": hostile_rows})
    assert r.status_code == 400, r.text
    r = live.http.post("/v1/audit/batches", headers=admin, json={
        "device_id": acme.admin.id, "table": "deals", "first_seq": 1, "last_seq": 1,
        "last_chain_hash": "0", "signature": "", "rows": [{}]})
    assert r.status_code == 422


def test_a_new_tenants_first_laptop(live: Api, app_pool: Database) -> None:
    """create-tenant makes a tenant with no key and no device: its admin's first laptop
    approves itself with its code, makes PHI key 1 and opens its own grant."""
    email = f"ada-{new_id()}@newco.example"
    made = create_tenant(app_pool, "Newco", None, email, "Ada", "Lovelace", PASSWORD)
    token = live.sign_in(email, PASSWORD)["access_token"]
    d = Device(new_id(), made.admin_id, "ADMIN")
    r = live.http.post("/v1/devices", headers=live.auth(token), json={
        "device_id": d.id, "name": "Ada's laptop", "sign_public_key": b64(d.sign_public),
        "kem_public_key": b64(d.kem_public)})
    assert r.status_code == 201, r.text
    r = live.http.post(f"/v1/devices/{d.id}/approve", headers=live.auth(token),
                       json={"code": r.json()["approval_code"]})
    assert r.status_code == 200, r.text
    device_token = live.sign_in(email, PASSWORD, d.id)["access_token"]
    phi_key = bytes(range(32))
    wrapped = escrow.wrap_key(d.kem_public, made.tenant_id, 1, phi_key)
    grant = {"key_version": 1, "grantee_kind": "DEVICE", "grantee_id": d.id,
             "wrapped": b64(wrapped)}
    r = live.http.post("/v1/keys/rotate", headers=live.auth(device_token),
                       json={"expected_active": 0, "grants": [grant]})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1
    r = live.http.post("/v1/keys/rotate", headers=live.auth(device_token),
                       json={"expected_active": 0, "grants": [grant]})
    assert r.status_code == 409 and error(r)["active_version"] == 1
    (g,) = live.http.get("/v1/keys/grants", headers=live.auth(device_token)).json()["grants"]
    assert escrow.unwrap_key(d.kem, made.tenant_id, 1, base64.b64decode(g["wrapped"])) == \
        phi_key


def test_an_unusable_signing_key_file_is_one_clear_error(server_db: ServerDb,
                                                          tmp_path: Path) -> None:
    key_file = tmp_path / "signing.key"
    signing.write_key_file(key_file)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        create_app(ServerConfig(dsn=server_db.app_dsn, signing_key_file=key_file))
