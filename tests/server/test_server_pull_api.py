"""Pull, checkpoint, long-poll and bootstrap through the real HTTP server (uvicorn on
127.0.0.1, an httpx client, sign-in with a device): the same answers as the services,
bad parameters as clear 400/422 JSON, a waiting pull answered by another connection's
commit and ended by the server's shutdown, two API servers each with its own listener."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_support import Api, LiveServer, serve
from pg_support import ServerDb, Tenant
from pull_support import HASH, add_user, committed, in_tenant, key_of

from closeplan_desktop.server.api.app import create_app
from closeplan_desktop.server.config import ServerConfig
from closeplan_desktop.server.sync import pull

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def acme(server_db: ServerDb) -> Tenant:
    t = server_db.tenant("Acme", password=PASSWORD)
    for i in range(7):
        server_db.deal(t, {"patient_name": f"Patient {i}"} if i % 2 else None)
    add_user(server_db, t)
    return t


def device_token(api: Api, db: ServerDb, t: Tenant) -> dict[str, str]:
    """Sign in as `t`'s admin on a new ACTIVE device: the request headers."""
    device = db.device(t, t.admin_id)
    return api.auth(api.sign_in(t.admin_email, PASSWORD, device)["access_token"])


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"].endswith("."), body
    return dict(body["error"])


def pull_all(api: Api, auth: dict[str, str], cursor: str | None = None,
             limit: int = 1000) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = api.http.get("/v1/sync/pull", params=params, headers=auth)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        changes += body["changes"]
        cursor = body["cursor"]
        if body["up_to_date"]:
            return changes, body


def in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    th = threading.Thread(target=lambda: out.append(fn()))
    th.start()
    return th, out


def rename(db: ServerDb, t: Tenant, title: str, delay: float = 0.3) -> None:
    time.sleep(delay)
    with in_tenant(db, t) as conn:
        conn.execute("UPDATE deals SET title = %s WHERE id = %s", (title, t.deals[0]))


def test_pull_pages_to_the_committed_state_and_the_checkpoint_agrees(
        api: Api, server_db: ServerDb, acme: Tenant) -> None:
    auth = device_token(api, server_db, acme)
    changes, last = pull_all(api, auth, limit=3)
    deals = {c["row"]["id"]: c["row"]["row_version"] for c in changes if c["table"] == "deals"}
    assert deals == committed(server_db, acme)
    assert HASH not in json.dumps(changes) and all("password" not in c["row"] for c in changes)
    summary = api.http.get("/v1/sync/checkpoint", headers=auth).json()
    newest: dict[tuple[str, str], int] = {}
    for c in changes:
        newest[key_of(c)] = max(newest.get(key_of(c), 0), c["row"]["row_version"])
    assert summary["checkpoint"] == last["checkpoint"]
    assert summary["hash"] == pull.combine([pull.row_hash(t, k, v)
                                            for (t, k), v in newest.items()])
    assert summary["counts"]["deals"] == len(deals)


def test_sync_needs_a_device_session_and_a_token(api: Api, acme: Tenant) -> None:
    plain = api.auth(api.sign_in(acme.admin_email, PASSWORD)["access_token"])
    for path in ("/v1/sync/pull", "/v1/sync/checkpoint", "/v1/sync/bootstrap"):
        r = api.http.get(path, headers=plain)
        assert r.status_code == 403 and error(r)["code"] == "device_required"
        r = api.http.get(path)
        assert r.status_code == 401


def test_bad_parameters_are_clear_400_or_422(api: Api, server_db: ServerDb,
                                             acme: Tenant) -> None:
    auth = device_token(api, server_db, acme)
    cases = [({"limit": 0}, 422), ({"limit": 1001}, 422), ({"limit": "ten"}, 422),
             ({"wait": 31}, 422), ({"wait": -1}, 422), ({"wait": "soon"}, 422),
             ({"cursor": "x" * 2000}, 422), ({"cursor": "not-a-cursor"}, 400),
             ({"cursor": "eyJmIjoxfQ"}, 400)]
    for params, status in cases:
        r = api.http.get("/v1/sync/pull", params=params, headers=auth)
        assert r.status_code == status, (params, r.text)
        assert error(r)["code"] == ("invalid_request" if status == 422 else "bad_cursor")
    r = api.http.get("/v1/sync/bootstrap", params={"cursor": "not-a-cursor"}, headers=auth)
    assert r.status_code == 400 and error(r)["code"] == "bad_cursor"
    _, last = pull_all(api, auth)
    r = api.http.get("/v1/sync/bootstrap", params={"cursor": last["cursor"]}, headers=auth)
    assert r.status_code == 400 and "pull cursor" in error(r)["message"]


def test_a_long_poll_answers_with_another_connections_commit_or_empty(
        api: Api, server_db: ServerDb, acme: Tenant) -> None:
    auth = device_token(api, server_db, acme)
    _, last = pull_all(api, auth)
    params = {"cursor": last["cursor"], "wait": 20}
    th, out = in_background(lambda: api.http.get("/v1/sync/pull", params=params, headers=auth))
    rename(server_db, acme, "Seen over HTTP")
    th.join(30)
    (r,) = out
    body = r.json()
    assert r.status_code == 200 and [c["row"]["title"] for c in body["changes"]
                                    if c["table"] == "deals"] == [
        "Seen over HTTP"]
    quiet = api.http.get("/v1/sync/pull", params={"cursor": body["cursor"], "wait": 0.5},
                         headers=auth).json()
    assert quiet["changes"] == [] and quiet["up_to_date"] and quiet["cursor"]


def test_shutdown_ends_a_waiting_pull_at_once(server_db: ServerDb, acme: Tenant) -> None:
    live = LiveServer(create_app(ServerConfig(dsn=server_db.app_dsn, pool_min=1, pool_max=4)))
    live.start()
    api = Api(live, server_db)
    try:
        auth = device_token(api, server_db, acme)
        _, last = pull_all(api, auth)
        th, out = in_background(lambda: api.http.get(
            "/v1/sync/pull", params={"cursor": last["cursor"], "wait": 30}, headers=auth))
        listener = live.server.config.app.state.listener  # type: ignore[attr-defined]
        while listener.waiting < 1:
            time.sleep(0.02)
        stopper = threading.Thread(target=live.stop)
        stopper.start()
        th.join(15)  # well under the 30 s the pull asked to wait
        assert not th.is_alive()
        (r,) = out
        assert r.status_code == 200 and r.json()["changes"] == []
        stopper.join(20)
        assert not live.thread.is_alive()
    finally:
        api.close()
        live.stop()


def test_two_api_servers_each_wake_their_own_waiting_pull(server_db: ServerDb,
                                                          acme: Tenant) -> None:
    with serve(server_db) as one, serve(server_db) as two:
        auths = [device_token(api, server_db, acme) for api in (one, two)]
        cursors = [pull_all(api, a)[1]["cursor"] for api, a in zip((one, two), auths,
                                                                     strict=True)]
        waits = [in_background(lambda api=api, a=a, c=c: api.http.get(
            "/v1/sync/pull", params={"cursor": c, "wait": 20}, headers=a))
            for api, a, c in zip((one, two), auths, cursors, strict=True)]
        rename(server_db, acme, "Seen by both", delay=0.5)
        for th, out in waits:
            th.join(30)
            (r,) = out
            assert [c["row"]["title"] for c in r.json()["changes"]
                    if c["table"] == "deals"] == ["Seen by both"]


def test_bootstrap_streams_ndjson_and_resumes_over_http(
        api: Api, server_db: ServerDb, acme: Tenant) -> None:
    auth = device_token(api, server_db, acme)
    with api.http.stream("GET", "/v1/sync/bootstrap", headers=auth) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    changes = [x for x in lines if "table" in x]
    assert len({key_of(c) for c in changes}) == len(changes)
    assert {c["row"]["id"] for c in changes if c["table"] == "deals"} == set(
        committed(server_db, acme))
    assert changes[0]["table"] == "tenants" and lines[-1]["done"] is True
    marker = next(x for x in lines if x.get("first_screen"))
    rest = api.http.get("/v1/sync/bootstrap", params={"cursor": marker["cursor"]},
                        headers=auth)
    resumed = [json.loads(line) for line in rest.text.splitlines()]
    assert resumed[-1]["done"] is True
    after = pull_all(api, auth, resumed[-1]["cursor"])[0]
    assert all(c["row"]["row_version"] > lines[-1]["checkpoint"] for c in after)
