"""The sync client's HTTP layer on its own: which URLs it accepts, how each kind of
failure reaches the caller, and where tokens go. The server's answers come from
httpx.MockTransport here (the transport's unit test); the end-to-end tests in
tests/server/test_sync_*.py talk to the real server."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from support import Env

from closeplan_desktop.core.domain.errors import (
    DeviceRevoked,
    ServerFailed,
    ServerRefused,
    ServerUnreachable,
    SignedOut,
    ValidationError,
)
from closeplan_desktop.core.security.keyring_store import KeyringStore
from closeplan_desktop.core.sync.transport import REFRESH_SLOT, Transport, check_url

Handler = Callable[[httpx.Request], httpx.Response]
SECRET_ACCESS = "cp1.tenant.ACCESS-SECRET-1"
SECRET_REFRESH = "cp1.tenant.REFRESH-SECRET-1"


def answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def signed_in(access: str = SECRET_ACCESS,
              refresh: str | None = SECRET_REFRESH) -> dict[str, object]:
    return {"access_token": access, "token_type": "bearer", "expires_in": 900,
            "refresh_token": refresh, "refresh_expires_in": 3600, "tenant_id": "t",
            "user_id": "u", "role": "ADMIN"}


@pytest.mark.parametrize("url", ["https://closeplan.example.org", "https://h.example/api/",
                                 "http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:2"])
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url, words", [
    ("http://closeplan.example.org", "https"), ("http://10.0.0.5", "https"),
    ("ftp://host", "URL"), ("closeplan.example.org", "URL"),
    ("https://user:pw@host.example", "user name"), ("https://host.example/?a=1", "query")])
def test_other_urls_are_refused_with_words(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        check_url(url)
    assert "pw" not in str(caught.value)


def make(handler: Handler, keyring: KeyringStore | None = None) -> Transport:
    return Transport("https://server.example", keyring, transport=httpx.MockTransport(handler))


def test_refresh_token_goes_to_the_keyring_access_token_stays_in_memory(env: Env) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(200, signed_in())

    with make(handler, env.ws.keyring) as t:
        t.sign_in("ada@example.org", "pw", "c" + "a" * 24)
        assert env.ws.keyring.get(REFRESH_SLOT) == SECRET_REFRESH.encode()
        fresh = KeyringStore(env.ws.workspace_id)  # what a restart finds
        assert fresh.get(REFRESH_SLOT) == SECRET_REFRESH.encode()
        assert all(SECRET_ACCESS.encode() != fresh.get(slot) for slot in ("db", "audit"))


def test_an_ended_access_token_is_refreshed_once_and_the_call_retried(env: Env) -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("Authorization")))
        if request.url.path == "/v1/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": SECRET_REFRESH}
            return answer(200, signed_in("cp1.tenant.ACCESS-2", "cp1.tenant.REFRESH-2"))
        if request.headers.get("Authorization") == f"Bearer {SECRET_ACCESS}":
            return answer(401, {"error": {"code": "session_ended", "message": "Ended."}})
        return answer(200, {"ok": True})

    env.ws.keyring.replace(REFRESH_SLOT, SECRET_REFRESH.encode())
    with make(handler, env.ws.keyring) as t:
        t._access = SECRET_ACCESS
        assert t.call("GET", "/v1/sync/checkpoint") == {"ok": True}
    assert [p for p, _ in seen] == ["/v1/sync/checkpoint", "/v1/auth/refresh",
                                    "/v1/sync/checkpoint"]
    assert seen[-1][1] == "Bearer cp1.tenant.ACCESS-2"
    assert env.ws.keyring.get(REFRESH_SLOT) == b"cp1.tenant.REFRESH-2"  # rotated


def test_a_refused_refresh_signs_out_and_forgets_the_token(env: Env) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        code = "token_reused" if request.url.path == "/v1/auth/refresh" else "session_ended"
        return answer(401, {"error": {"code": code, "message": f"No ({code})."}})

    env.ws.keyring.replace(REFRESH_SLOT, SECRET_REFRESH.encode())
    with make(handler, env.ws.keyring) as t:
        t._access = SECRET_ACCESS
        with pytest.raises(SignedOut, match="session_ended") as caught:
            t.call("GET", "/v1/sync/pull")
    assert env.ws.keyring.get(REFRESH_SLOT) is None
    assert SECRET_ACCESS not in str(caught.value) and SECRET_REFRESH not in str(caught.value)


def test_a_revoked_device_hands_up_the_signed_wipe_order_untouched() -> None:
    order = {"tenant_id": "t", "device_id": "d", "revoked_at": "2026-11-30T00:00:00Z",
             "reason": None, "key_id": "k", "signature": "c2lnbmF0dXJl"}

    def handler(request: httpx.Request) -> httpx.Response:
        return answer(401, {"error": {"code": "device_revoked", "message": "Revoked.",
                                      "wipe_order": order}})

    with make(handler) as t:
        t._access = SECRET_ACCESS
        with pytest.raises(DeviceRevoked) as caught:
            t.call("POST", "/v1/sync/push", json={})
    assert caught.value.wipe_order == order
    assert not caught.value.transient


def test_refusals_carry_the_servers_words_and_failures_are_transient() -> None:
    answers = iter([
        answer(409, {"error": {"code": "mutation_gap", "message": "Send from 4.",
                               "expected_mid": 4}}),
        answer(503, {"error": {"code": "unavailable", "message": "Database down."}}),
        httpx.Response(502, text="<html>bad gateway</html>"),
    ])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    with make(handler) as t:
        t._access = SECRET_ACCESS
        with pytest.raises(ServerRefused) as refused:
            t.call("POST", "/v1/sync/push", json={"password": "never-shown"})
        assert (refused.value.status, refused.value.code, str(refused.value)) == (
            409, "mutation_gap", "Send from 4.")
        assert refused.value.details == {"expected_mid": 4} and not refused.value.transient
        with pytest.raises(ServerFailed, match="Database down") as failed:
            t.call("GET", "/v1/sync/pull")
        assert failed.value.transient
        with pytest.raises(ServerFailed, match="502"):
            t.call("GET", "/v1/sync/pull")


def test_unreachable_and_timeouts_are_transient_and_name_no_secret() -> None:
    errors = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])

    def handler(request: httpx.Request) -> httpx.Response:
        raise next(errors)

    with make(handler) as t:
        t._access = SECRET_ACCESS
        for words in ("cannot be reached", "did not answer in time"):
            with pytest.raises(ServerUnreachable, match=words) as caught:
                t.call("GET", "/v1/sync/pull")
            assert caught.value.transient and SECRET_ACCESS not in str(caught.value)


def test_without_any_token_a_call_says_to_sign_in() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing is sent without a token")

    with make(handler) as t, pytest.raises(SignedOut, match="sign in online"):
        t.call("GET", "/v1/sync/pull")
