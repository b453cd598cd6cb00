"""POST /v1/sync/push through the real HTTP server on 127.0.0.1: a device's session
pushes, replays and gaps answer as the service does, and hostile bodies (wrong types,
huge strings, unknown tables, ops or fields, 10,000 mutations, not JSON, too large) are
a clear JSON 4xx that writes nothing and never echoes what was sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import Api
from pg_support import ServerDb, Tenant
from push_support import create_deal, mutation, snapshot

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.sync.mutations import SCHEMA_VERSION

PASSWORD = "correct horse battery staple 42"
SECRET = "Patient-Jane-Doe-MRN-4711"


@pytest.fixture(scope="module")
def acme(server_db: ServerDb) -> Tenant:
    return server_db.tenant("AcmePush", password=PASSWORD)


def body(device: str, *mutations: dict[str, Any], first_mid: int = 1) -> dict[str, Any]:
    return {"device_id": device, "schema_version": SCHEMA_VERSION,
            "mutations": [{**m, "mid": first_mid + i} for i, m in enumerate(mutations)]}


def signed_in(api: Api, server_db: ServerDb, t: Tenant) -> tuple[str, dict[str, str]]:
    device = server_db.device(t, t.admin_id)
    token = api.sign_in(t.admin_email, PASSWORD, device_id=device)["access_token"]
    return device, api.auth(token)


def error(r: Any) -> dict[str, Any]:
    got = r.json()
    assert set(got) == {"error"}, got
    assert got["error"]["message"].endswith("."), got
    return dict(got["error"])


def test_a_device_pushes_replays_and_is_told_of_a_gap(api: Api, server_db: ServerDb,
                                                      acme: Tenant) -> None:
    device, auth = signed_in(api, server_db, acme)
    deal_id = new_id()
    sent = body(device, create_deal(deal_id), create_deal(title=""),
                mutation("deals", "delete", deal_id, 0))
    r = api.http.post("/v1/sync/push", json=sent, headers=auth)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [v["verdict"] for v in got["verdicts"]] == ["applied", "rejected", "applied"]
    assert got["verdicts"][1]["code"] == "invalid"
    assert got["last_mutation_id"] == 3 and got["sync_version"] >= 1
    again = api.http.post("/v1/sync/push", json=sent, headers=auth).json()
    assert [v["verdict"] for v in again["verdicts"]] == ["duplicate", "rejected", "duplicate"]
    assert again["sync_version"] == got["sync_version"]
    gap = api.http.post("/v1/sync/push", json=body(device, create_deal(), first_mid=9),
                        headers=auth)
    assert gap.status_code == 409
    assert error(gap)["code"] == "mutation_gap" and error(gap)["expected_mid"] == 4


def test_push_needs_an_active_devices_session(api: Api, server_db: ServerDb,
                                              acme: Tenant) -> None:
    sent = body(new_id(), create_deal())
    assert api.http.post("/v1/sync/push", json=sent).status_code == 401
    no_device = api.sign_in(acme.admin_email, PASSWORD)["access_token"]
    r = api.http.post("/v1/sync/push", json=sent, headers=api.auth(no_device))
    assert r.status_code == 403 and error(r)["code"] == "device_required"
    _device, auth = signed_in(api, server_db, acme)
    other = api.http.post("/v1/sync/push", json=body(new_id(), create_deal()), headers=auth)
    assert other.status_code == 403 and error(other)["code"] == "device_mismatch"


def test_another_tenants_deal_is_not_found_over_http(api: Api, server_db: ServerDb,
                                                     acme: Tenant) -> None:
    beta = server_db.tenant("BetaPush", password=PASSWORD)
    theirs = server_db.deal(beta, {"patient_name": SECRET})
    before = snapshot(server_db, beta)
    device, auth = signed_in(api, server_db, acme)
    r = api.http.post("/v1/sync/push", headers=auth, json=body(
        device, mutation("deals", "update", theirs, 0, title="Mine"),
        mutation("deals", "delete", theirs, 0)))
    assert [(v["verdict"], v.get("code")) for v in r.json()["verdicts"]] == [
        ("rejected", "not_found"), ("rejected", "not_found")]
    assert snapshot(server_db, beta) == before


def _hostile(device: str) -> list[tuple[str, Any]]:
    good = create_deal(title=SECRET)
    return [
        ("mid as text", body(device, good) | {"mutations": [{**good, "mid": "1"}]}),
        ("mid a boolean", body(device, good) | {"mutations": [{**good, "mid": True}]}),
        ("title a number", body(device, {**good, "fields": {**good["fields"], "title": 5}})),
        ("huge title", body(device, create_deal(title=SECRET * 100_000))),
        ("huge PHI", body(device, create_deal(phi=SECRET * 10_000, phi_key_version=1))),
        ("unknown table", body(device, {**good, "table": "key_grants"})),
        ("unknown op", body(device, {**good, "op": "drop"})),
        ("op of another table", body(device, {**good, "op": "deactivate"})),
        ("unknown field", body(device, {**good, "fields": {**good["fields"],
                                                           "created_by_id": new_id()}})),
        ("no base version", body(device, mutation("deals", "update", new_id(), title=SECRET))),
        ("phi without version", body(device, create_deal(phi=SECRET))),
        ("too many fields", body(device, {**good, "fields": {f"f{i}": SECRET
                                                             for i in range(50)}})),
        ("mids out of order", body(device, good, good) | {
            "mutations": [{**good, "mid": 2}, {**good, "mid": 1}]}),
        ("extra key", body(device, good) | {"tenant_id": new_id()}),
        ("mutations not a list", body(device) | {"mutations": {"0": good}}),
        ("10,000 mutations", body(device, *([good] * 10_000))),
        ("fields a list", body(device, {**good, "fields": [SECRET]})),
        ("id too long", body(device, {**good, "id": SECRET * 10})),
        ("NUL in an id", body(device, {**good, "id": "c\x00" + SECRET[:20]})),
        ("NUL in a title", body(device, create_deal(title=SECRET + "\x00"))),
        ("unpaired surrogate", body(device, create_deal(title=SECRET + "\ud800"))),
        ("key version too large", body(device, create_deal(phi=SECRET,
                                                           phi_key_version=2**40))),
    ]


def test_hostile_bodies_are_a_clear_4xx_and_write_nothing(api: Api, server_db: ServerDb,
                                                          acme: Tenant) -> None:
    device, auth = signed_in(api, server_db, acme)
    before = snapshot(server_db, acme)
    for name, sent in _hostile(device):
        # ASCII JSON, so that an unpaired surrogate travels as its escape.
        r = api.http.post("/v1/sync/push", content=json.dumps(sent).encode(),
                          headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        assert error(r)["code"] == "invalid_request", name
        assert SECRET not in r.text, name
    raw = api.http.post("/v1/sync/push", content=b'{"mutations": [', headers={
        **auth, "Content-Type": "application/json"})
    assert raw.status_code == 422 and error(raw)["code"] == "invalid_request"
    big = json.dumps(body(device, create_deal())).encode() + b" " * (9 * 1024 * 1024)
    r = api.http.post("/v1/sync/push", content=big,
                      headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413 and error(r)["code"] == "too_large"
    assert snapshot(server_db, acme) == before
    # The messages say where and what.
    r = api.http.post("/v1/sync/push", json=_hostile(device)[8][1], headers=auth)
    assert "created_by_id" in error(r)["message"]
