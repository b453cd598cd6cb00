"""Hostile input to the device, key, audit and admin endpoints through the real HTTP
server: valid requests with one field replaced by any JSON value, dropped, or joined by
an unknown one, and random query strings. Every answer is a 4xx with the one error shape
and a message (never a 500), and a refused request stores no device, grant, key version
or audit row."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import Api, serve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from device_support import Device, access_rows, batch, first_admin_device, grant_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.db.pool import Database

PASSWORD = "correct horse battery staple 42"
EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with one field replaced by any JSON value, dropped, or an unknown added."""
    out = dict(body)
    field = draw(st.sampled_from(sorted(out)))
    how = draw(st.sampled_from(["replace", "drop", "add"]))
    if how == "replace":
        out[field] = draw(json_values)
    elif how == "drop":
        del out[field]
    else:
        out[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class World:
    """A tenant with an admin on its device, a user's active and pending devices."""

    def __init__(self, server_db: ServerDb, db: Database, api: Api) -> None:
        self.api = api
        self.t: Tenant = server_db.tenant("Fuzz", password=PASSWORD)
        self.admin = first_admin_device(db, self.t)
        self.admin_token = api.sign_in(self.t.admin_email, PASSWORD,
                                       self.admin.id)["access_token"]
        self.user_id, email = server_db.user(self.t, password=PASSWORD)
        self.user_token = api.sign_in(email, PASSWORD)["access_token"]
        self.pending = Device(new_id(), self.user_id, "USER")
        r = api.http.post("/v1/devices", headers=api.auth(self.user_token),
                          json=self.enrol_body(self.pending))
        assert r.status_code == 201, r.text
        self.device = Device(new_id(), self.user_id, "USER")
        r = api.http.post("/v1/devices", headers=api.auth(self.user_token),
                          json=self.enrol_body(self.device))
        self.grant = grant_for(self.t, self.device)
        r = api.http.post(f"/v1/devices/{self.device.id}/approve",
                          headers=api.auth(self.admin_token),
                          json={"code": r.json()["approval_code"],
                                "grants": [self.grant_body()]})
        assert r.status_code == 200, r.text
        self.device_token = api.sign_in(email, PASSWORD, self.device.id)["access_token"]

    @staticmethod
    def enrol_body(d: Device) -> dict[str, Any]:
        return {"device_id": d.id, "name": "laptop", "sign_public_key": b64(d.sign_public),
                "kem_public_key": b64(d.kem_public)}

    def grant_body(self) -> dict[str, Any]:
        return {"key_version": 1, "grantee_kind": "DEVICE", "grantee_id": self.device.id,
                "wrapped": b64(self.grant.wrapped)}

    def counts(self, db: Database) -> tuple[int, ...]:
        with db.transaction(self.t.id) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM key_grants), "
                "(SELECT count(*) FROM phi_keys), (SELECT count(*) FROM access_logs), "
                "(SELECT count(*) FROM audit_batches), "
                "(SELECT count(*) FROM devices WHERE status = 'ACTIVE')").fetchone()
        assert row is not None
        return tuple(row)


@pytest.fixture(scope="module")
def live(server_db: ServerDb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    key_file = tmp_path_factory.mktemp("keys") / "signing.key"
    with serve(server_db, signing_key_file=key_file) as api:
        yield api


@pytest.fixture(scope="module")
def world(server_db: ServerDb, app_pool: Database, live: Api) -> World:
    return World(server_db, app_pool, live)


def refused_cleanly(r: Any) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"], body


def post_refused(w: World, db: Database, path: str, token: str, body: Any) -> None:
    before = w.counts(db)
    r = w.api.http.post(path, headers=w.api.auth(token), json=body)
    refused_cleanly(r)
    assert w.counts(db) == before


@EXAMPLES
@given(data=st.data())
def test_enrol(world: World, app_pool: Database, data: st.DataObject) -> None:
    # An already enrolled device id: even a body that stays valid is refused (409).
    body = data.draw(mutated(world.enrol_body(world.device)))
    post_refused(world, app_pool, "/v1/devices", world.user_token, body)


@EXAMPLES
@given(data=st.data())
def test_approve(world: World, app_pool: Database, data: st.DataObject) -> None:
    valid = {"code": "x", "grants": [world.grant_body()]}  # never the right code
    body = data.draw(mutated(valid))
    if data.draw(st.booleans()) and isinstance(body.get("grants"), list) and body["grants"]:
        body["grants"] = [data.draw(mutated(world.grant_body()))]
    post_refused(world, app_pool, f"/v1/devices/{world.pending.id}/approve",
                 world.admin_token, body)


@EXAMPLES
@given(data=st.data())
def test_grants_and_rotation(world: World, app_pool: Database, data: st.DataObject) -> None:
    grant = data.draw(mutated(world.grant_body()))  # the live grant again, or broken
    post_refused(world, app_pool, "/v1/keys/grants", world.admin_token, {"grants": [grant]})
    body = data.draw(mutated({"expected_active": 7, "grants": [world.grant_body()]}))
    post_refused(world, app_pool, "/v1/keys/rotate", world.admin_token, body)


@EXAMPLES
@given(data=st.data())
def test_audit_upload(world: World, app_pool: Database, data: st.DataObject) -> None:
    d = world.device
    saved = dict(d.heads)
    # Signed by a stranger: even a body a mutation leaves valid is refused (403).
    b = batch(world.t, d, "access_logs", access_rows(world.t, d, 2),
              signer=Ed25519PrivateKey.generate())
    d.heads = saved  # nothing is stored: the chain does not move
    valid = {"device_id": b.device_id, "table": b.table, "first_seq": b.first_seq,
             "last_seq": b.last_seq, "last_chain_hash": b.last_chain_hash,
             "signature": b64(b.signature), "rows": b.rows}
    body = data.draw(mutated(valid))
    if data.draw(st.booleans()):
        body = dict(valid, rows=[data.draw(mutated(b.rows[0])), b.rows[1]])
    post_refused(world, app_pool, "/v1/audit/batches", world.device_token, body)


queries = st.dictionaries(
    st.sampled_from(["limit", "cursor", "user_id", "device_id", "deal_id", "since", "until",
                     "type", "status", "unacknowledged", "action", "success", "order",
                     "x"]),
    st.text(max_size=30) | st.integers().map(str), max_size=4)


@EXAMPLES
@given(path=st.sampled_from(["users", "devices", "conflicts", "rejections", "access-logs",
                             "security-events", "reveals-by-day"]), params=queries)
def test_admin_views_never_fail(world: World, path: str, params: dict[str, str]) -> None:
    r = world.api.http.get(f"/v1/admin/{path}", headers=world.api.auth(world.admin_token),
                           params=params)
    if r.status_code != 200:
        refused_cleanly(r)
    else:
        assert set(r.json()) == ({"items", "more"} if path == "reveals-by-day"
                                 else {"items", "next_cursor"})
    r = world.api.http.get("/v1/devices", headers=world.api.auth(world.user_token),
                           params=params)
    assert r.status_code < 500, r.text
