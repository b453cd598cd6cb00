"""Sign-in, tokens and sessions through the real HTTP server: the seed's bcrypt hashes,
opaque tokens that name their tenant but grant nothing by themselves, deactivation and
sign-out that bite at the next call, refresh rotation with reuse detection, and every
refusal as a clear JSON 4xx that never echoes a password."""

from __future__ import annotations

import hashlib

import pytest
from api_support import Api, serve
from pg_support import ServerDb, Tenant

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def acme(server_db: ServerDb) -> Tenant:
    return server_db.tenant("Acme", password=PASSWORD)


def error_code(r: object) -> str:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    assert body["error"]["message"].endswith("."), body
    return str(body["error"]["code"])


def test_health_and_the_published_openapi(api: Api) -> None:
    assert api.http.get("/v1/health").json() == {"status": "ok", "database": "ok"}
    spec = api.http.get("/openapi.json").json()
    assert "/v1/auth/sign-in" in spec["paths"]


def test_sign_in_with_the_seeds_hash_then_me(api: Api, acme: Tenant) -> None:
    body = api.sign_in(acme.admin_email, PASSWORD)
    assert body["tenant_id"] == acme.id and body["role"] == "ADMIN"
    assert body["refresh_token"] is None  # no device: no refresh token
    me = api.http.get("/v1/auth/me", headers=api.auth(body["access_token"]))
    assert me.json() == {"tenant_id": acme.id, "user_id": acme.admin_id, "role": "ADMIN",
                         "device_id": None}


def test_wrong_password_and_unknown_email_answer_alike(api: Api, acme: Tenant) -> None:
    wrong = api.http.post("/v1/auth/sign-in", json={"email": acme.admin_email,
                                                     "password": "not it at all"})
    unknown = api.http.post("/v1/auth/sign-in", json={"email": "nobody@nowhere.example",
                                                       "password": "not it at all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "wrong_credentials"


def test_bad_input_is_a_clear_4xx_that_never_echoes_the_password(api: Api) -> None:
    secret = "hunter2-" + "x" * 80
    cases = [
        {"email": "not an email", "password": secret},
        {"email": "a@b.example", "password": secret},  # over bcrypt's 72 bytes
        {"email": "a@b.example"},
        {"email": 5, "password": ["x"]},
        {"email": "a@b.example", "password": secret, "device_id": "../../etc"},
    ]
    for body in cases:
        r = api.http.post("/v1/auth/sign-in", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code)
        assert "hunter2" not in r.text
        error_code(r)
    raw = api.http.post("/v1/auth/sign-in", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert raw.status_code == 422 and error_code(raw) == "invalid_request"


def test_tokens_grant_nothing_outside_their_session(api: Api, acme: Tenant,
                                                    server_db: ServerDb) -> None:
    other = server_db.tenant("Other", password=PASSWORD)
    token = api.sign_in(acme.admin_email, PASSWORD)["access_token"]
    # The tenant part only says where to look: pointing it at another tenant finds nothing.
    moved = token.replace(acme.id, other.id)
    for bad in (moved, token[:-1] + ("A" if token[-1] != "A" else "B"), "garbage", "x.y.z"):
        r = api.http.get("/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
        assert r.headers["www-authenticate"] == "Bearer"
    assert api.http.get("/v1/auth/me").status_code == 401
    with server_db.superuser() as su:
        stored = su.execute("SELECT token_hash FROM sessions WHERE tenant_id = %s",
                            (acme.id,)).fetchall()
    assert (hashlib.sha256(token.encode()).digest(),) in stored
    assert all(token.encode() not in bytes(row[0]) for row in stored)


def test_deactivation_ends_sessions_at_once(api: Api, acme: Tenant,
                                            server_db: ServerDb) -> None:
    user_id, email = server_db.user(acme, password=PASSWORD)
    token = api.sign_in(email, PASSWORD)["access_token"]
    assert api.http.get("/v1/auth/me", headers=api.auth(token)).status_code == 200
    with server_db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (acme.id,))
        conn.execute("UPDATE users SET deactivated_at = now() WHERE id = %s", (user_id,))
    r = api.http.get("/v1/auth/me", headers=api.auth(token))
    assert r.status_code == 401 and error_code(r) == "user_deactivated"
    again = api.http.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert again.status_code == 403 and error_code(again) == "user_deactivated"


def test_sign_out_ends_the_session(api: Api, acme: Tenant) -> None:
    token = api.sign_in(acme.admin_email, PASSWORD)["access_token"]
    assert api.http.post("/v1/auth/sign-out", headers=api.auth(token)).status_code == 204
    r = api.http.get("/v1/auth/me", headers=api.auth(token))
    assert r.status_code == 401 and error_code(r) == "session_ended"


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_device(
        api: Api, acme: Tenant, server_db: ServerDb) -> None:
    device = server_db.device(acme, acme.admin_id)
    first = api.sign_in(acme.admin_email, PASSWORD, device_id=device)
    assert first["refresh_token"]
    r = api.http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["access_token"] != first["access_token"]
    me = api.http.get("/v1/auth/me", headers=api.auth(second["access_token"])).json()
    assert me["device_id"] == device
    # The first refresh token is used up; presenting it again means it was copied.
    reused = api.http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and error_code(reused) == "token_reused"
    for token in (first["access_token"], second["access_token"]):
        assert api.http.get("/v1/auth/me", headers=api.auth(token)).status_code == 401
    gone = api.http.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert gone.status_code == 401


def test_a_revoked_device_cannot_sign_in_or_call(api: Api, acme: Tenant,
                                                 server_db: ServerDb) -> None:
    device = server_db.device(acme, acme.admin_id)
    token = api.sign_in(acme.admin_email, PASSWORD, device_id=device)["access_token"]
    with server_db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (acme.id,))
        conn.execute("UPDATE devices SET status = 'REVOKED', revoked_at = now() "
                     "WHERE id = %s", (device,))
    r = api.http.get("/v1/auth/me", headers=api.auth(token))
    assert r.status_code == 401 and error_code(r) == "device_revoked"
    again = api.http.post("/v1/auth/sign-in", json={"email": acme.admin_email,
                                                     "password": PASSWORD, "device_id": device})
    assert again.status_code == 403 and error_code(again) == "device_revoked"


def test_repeated_failures_are_slowed_not_locked(server_db: ServerDb) -> None:
    t = server_db.tenant("Throttle", password=PASSWORD)
    with serve(server_db) as api:
        for _ in range(10):
            r = api.http.post("/v1/auth/sign-in", json={"email": t.admin_email,
                                                         "password": "wrong password"})
            assert r.status_code == 401
        r = api.http.post("/v1/auth/sign-in", json={"email": t.admin_email,
                                                     "password": PASSWORD})
        assert r.status_code == 429 and error_code(r) == "too_many_attempts"
        assert int(r.headers["retry-after"]) > 0


def test_unknown_routes_and_oversized_bodies(server_db: ServerDb) -> None:
    with serve(server_db, max_body_bytes=1000) as api:
        r = api.http.get("/v1/nothing-here")
        assert r.status_code == 404 and error_code(r) == "not_found"
        big = api.http.post("/v1/auth/sign-in", json={"email": "a@b.example",
                                                       "password": "x" * 5000})
        assert big.status_code == 413 and error_code(big) == "too_large"

        def chunks() -> object:
            yield b'{"email": "a@b.example", "password": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'
        streamed = api.http.post("/v1/auth/sign-in", content=chunks(),  # type: ignore[arg-type]
                                 headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413


def test_the_setup_code_creates_the_first_tenant_once(server_db: ServerDb) -> None:
    code = "123-456-789"
    body = {"code": code, "organisation": "First Clinic Sales", "email": "first@clinic.example",
            "first_name": "Fran", "last_name": "First", "password": PASSWORD}
    with serve(server_db, setup_code_hash=hashlib.sha256(code.encode()).digest()) as api:
        wrong = api.http.post("/v1/setup/first-tenant", json={**body, "code": "000"})
        assert wrong.status_code == 401 and error_code(wrong) == "wrong_code"
        weak = api.http.post("/v1/setup/first-tenant", json={**body, "password": "aaaaaaaaaaaa"})
        assert weak.status_code == 400 and "aaaa" not in weak.text
        made = api.http.post("/v1/setup/first-tenant", json=body)
        assert made.status_code == 201, made.text
        signed = api.sign_in("first@clinic.example", PASSWORD)
        assert signed["tenant_id"] == made.json()["tenant_id"] and signed["role"] == "ADMIN"
        again = api.http.post("/v1/setup/first-tenant", json=body)
        assert again.status_code == 403 and error_code(again) == "setup_closed"
    with serve(server_db) as api:
        closed = api.http.post("/v1/setup/first-tenant", json=body)
        assert closed.status_code == 403
