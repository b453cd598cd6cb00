"""Tenant isolation through the HTTP API: an admin's device token of tenant A, pointed
at every endpoint with every id of tenant B (its tenant, users, devices, deals, log
rows) and at random ids, never gets a byte of B's data, never changes B, and never a
500. The whole cross product of endpoints and ids is tried, not a sample."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import Api, serve
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.api.app import create_app
from closeplan_desktop.server.config import ServerConfig

PASSWORD = "correct horse battery staple 42"
SPEC = create_app(ServerConfig(dsn="dbname=unused")).openapi()
# GET endpoints and the query parameters among theirs that take an id.
ID_PARAMS = {"user_id", "device_id", "deal_id"}


def get_endpoints() -> list[tuple[str, list[str]]]:
    out = []
    for path, ops in SPEC["paths"].items():
        op = ops.get("get")
        if op is None or "{" in path:
            continue
        out.append((path, [p["name"] for p in op.get("parameters", [])
                           if p["in"] == "query" and p["name"] in ID_PARAMS]))
    return out


class World:
    def __init__(self, api: Api, db: ServerDb, a: Tenant, b: Tenant, a_device: str,
                 b_ids: list[str], b_words: list[str]) -> None:
        self.api, self.db, self.a, self.b = api, db, a, b
        self.a_device, self.b_ids, self.b_words = a_device, b_ids, b_words

    def token(self) -> str:
        return str(self.api.sign_in(self.a.admin_email, PASSWORD, self.a_device)
                   ["access_token"])

    def b_state(self) -> tuple[Any, ...]:
        with self.db.superuser() as su:
            row = su.execute("SELECT sync_version, (SELECT count(*) FROM sessions WHERE "
                             "tenant_id = %s), (SELECT count(*) FROM devices WHERE tenant_id = %s"
                             " AND status = 'ACTIVE') FROM tenants WHERE id = %s",
                             (self.b.id, self.b.id, self.b.id)).fetchone()
        assert row is not None
        return tuple(row)

    def assert_no_b(self, text: str, asked: str | None, where: str) -> None:
        for secret in self.b_ids + self.b_words:
            if secret != asked:  # an id the caller sent may come back in its own error
                assert secret not in text, f"{where} leaked {secret!r} of tenant B"


@pytest.fixture(scope="module")
def world(server_db: ServerDb) -> Iterator[World]:
    a = server_db.tenant("IsoA", password=PASSWORD)
    b = server_db.tenant("IsoB", password=PASSWORD)
    a_device = server_db.device(a, a.admin_id)
    b_device = server_db.device(b, b.admin_id)
    b_user, b_email = server_db.user(b, password=PASSWORD)
    server_db.device(b, b_user, status="PENDING")
    deals = [server_db.deal(b, {"patient_name": "Bea Secret"}, title="Tenant B secret deal")
             for _ in range(2)]
    server_db.deal(a, {"patient_name": "Al Example"}, title="Tenant A deal")
    with serve(server_db) as api:
        api.sign_in(b.admin_email, PASSWORD, b_device)  # B has sessions and log rows too
        with server_db.superuser() as su:
            b_ids = [r[0] for r in su.execute(
                "SELECT id FROM users WHERE tenant_id = %(t)s UNION ALL "
                "SELECT id FROM devices WHERE tenant_id = %(t)s UNION ALL "
                "SELECT id FROM deals WHERE tenant_id = %(t)s UNION ALL "
                "SELECT id FROM security_events WHERE tenant_id = %(t)s",
                {"t": b.id}).fetchall()]
        assert set(deals) <= set(b_ids)
        yield World(api, server_db, a, b, a_device, [b.id, *b_ids],
                    [b.admin_email, b_email, "Tenant B secret deal", "IsoB", "Bea Secret"])


def test_every_get_endpoint_with_every_id_of_another_tenant(world: World) -> None:
    before = world.b_state()
    headers = Api.auth(world.token())
    tried = 0
    for path, params in get_endpoints():
        asks: list[tuple[dict[str, str], str | None]] = [({}, None)]
        asks += [({p: i}, i) for p in params for i in [*world.b_ids, new_id()]]
        for query, asked in asks:
            if path == "/v1/sync/pull":
                query = {**query, "wait": "0"}
            r = world.api.http.get(path, params=query, headers=headers)
            tried += 1
            assert r.status_code < 500, (path, query, r.text[:300])
            world.assert_no_b(r.text, asked, f"GET {path} {query}")
    endpoints = get_endpoints()
    assert len(endpoints) >= 15 and sum(len(p) for _, p in endpoints) >= 9
    assert tried == sum(1 + len(p) * (len(world.b_ids) + 1) for _, p in endpoints)
    assert world.b_state() == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/v1/devices/{id}", None),
    ("post", "/v1/devices/{id}/approve", {"code": "123456", "grants": []}),
    ("post", "/v1/devices/{id}/revoke", {"reason": "lost laptop"}),
])
def test_every_id_endpoint_refuses_another_tenants_ids(world: World, method: str, path: str,
                                                      body: dict[str, Any] | None) -> None:
    before = world.b_state()
    headers = Api.auth(world.token())
    for other in [*world.b_ids, new_id()]:
        r = world.api.http.request(method.upper(), path.replace("{id}", other),
                                   headers=headers, json=body)
        assert r.status_code in (400, 403, 404, 409, 422), (path, r.status_code, r.text[:300])
        world.assert_no_b(r.text, other, f"{method.upper()} {path}")
    assert world.b_state() == before, "a request of tenant A changed tenant B"


def test_push_at_another_tenants_deals_changes_nothing_there(world: World) -> None:
    before = world.b_state()
    headers = Api.auth(world.token())
    me = world.api.http.get("/v1/auth/me", headers=headers).json()
    with world.db.superuser() as su:
        last = su.execute("SELECT last_mutation_id FROM devices WHERE tenant_id = %s AND "
                          "id = %s", (world.a.id, me["device_id"])).fetchone()[0]
        b_deals = [r[0] for r in su.execute("SELECT id FROM deals WHERE tenant_id = %s",
                                            (world.b.id,)).fetchall()]
    mutations = []
    for n, deal in enumerate(b_deals):
        mutations += [
            {"mid": last + 2 * n + 1, "table": "deals", "op": "update", "id": deal,
             "base_version": 1, "fields": {"title": "Taken over"}},
            {"mid": last + 2 * n + 2, "table": "deals", "op": "delete", "id": deal,
             "base_version": 1, "fields": {}},
        ]
    r = world.api.http.post("/v1/sync/push", headers=headers, json={
        "schema_version": 1, "mutations": mutations})
    assert r.status_code == 200, r.text
    verdicts = r.json()["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["rejected"] * len(mutations)
    world.assert_no_b(json.dumps(r.json()), None, "push")
    with world.db.superuser() as su:
        titles = {r[0] for r in su.execute("SELECT title FROM deals WHERE tenant_id = %s "
                                           "AND deleted_at IS NULL", (world.b.id,)).fetchall()}
    assert titles == {"Tenant B secret deal"}
    assert world.b_state() == before
