"""One HTTP client for the ClosePlan server: the base URL, TLS, the device's tokens, and
every failure turned into one of a few errors with words a user can act on.

- TLS verification is always on; plain http is accepted only to a loopback address
  (a server tried out on this machine).
- The access token lives in memory only. The refresh token (a device's, 30 days,
  rotated on every use) is kept in the OS keyring through `KeyringStore`, in one slot,
  so that a restart does not need the password. A 401 that says the access token ended
  is answered by one refresh and one retry.
- Errors: unreachable or timed out -> `ServerUnreachable` (transient); 5xx ->
  `ServerFailed` (transient); 401 with a wipe order -> `DeviceRevoked` (the signed order
  handed up untouched); any other 401 -> `SignedOut`; other 4xx -> `ServerRefused` with
  the server's own message and code. No token, password or body ever goes into an
  exception text or a log line.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..domain.errors import (
    DeviceRevoked,
    ServerFailed,
    ServerRefused,
    ServerUnreachable,
    SignedOut,
    ValidationError,
)
from ..security.keyring_store import KeyringStore

REFRESH_SLOT = "sync:refresh"  # the device's refresh token (a secret: the keyring only)
# The approval code of an enrolment still waiting, shown again when connecting resumes
# (the server keeps only its hash); deleted once the device is approved.
APPROVAL_SLOT = "sync:approval_code"
TIMEOUT = 30.0
# Codes of a 401 that a refresh may cure (the access token ended; the device did not).
REFRESHABLE = frozenset({"session_ended", "invalid_token", "unauthorized"})
LOOPBACK_NAMES = frozenset({"localhost"})


def check_url(url: str) -> str:
    """The server's base URL, without a trailing slash; ValidationError unless it is
    https, or http to this machine (loopback)."""
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError("The server address must be a URL such as "
                              "https://closeplan.example.org.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("The server address must not contain a user name, a password, "
                              "a query or a fragment.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValidationError("The server address must use https (plain http only to this "
                              "machine, for a server being tried out).")
    return text.rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SignedIn:
    """Who the server signed in (tokens stay inside the Transport)."""

    tenant_id: str
    user_id: str
    role: str


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def refusal(response: httpx.Response, *, signed_in: bool = True) -> Exception:
    """The error of a refused request (4xx or 5xx), in the server's words when it gave
    some. Never the request's body. A 401 of a request made without a session (a wrong
    password at sign-in) is a plain refusal, not a session that ended."""
    status = response.status_code
    error = _error_body(response)
    code = str(error.get("code") or "http_error")
    message = str(error.get("message") or f"The server refused the request ({status}).")
    if status >= 500:
        return ServerFailed(f"The server could not complete the request ({status}): "
                            f"{message} Try again later.")
    if status == 401 and code == "device_revoked":
        order = error.get("wipe_order")
        return DeviceRevoked(message, order if isinstance(order, dict) else None)
    details = {k: v for k, v in error.items() if k not in ("code", "message")}
    if status == 401 and signed_in:
        return SignedOut(f"{message} (Sign in online again.)", status=status, code=code,
                         details=details)
    return ServerRefused(message, status=status, code=code, details=details)


class Transport:
    """A client of one server. Thread-safe enough for one sync thread plus one
    long-poll thread: token refresh is serialised."""

    def __init__(self, url: str, keyring: KeyringStore | None = None, *,
                 timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.url = check_url(url)
        self.keyring = keyring
        self._access: str | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.url, timeout=timeout, verify=True,
                                  follow_redirects=False, transport=transport)

    # -- tokens --------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self._access is not None

    def _refresh_token(self) -> str | None:
        if self.keyring is None:
            return None
        raw = self.keyring.get(REFRESH_SLOT)
        return None if raw is None else raw.decode("ascii")

    def _keep_tokens(self, body: Mapping[str, Any]) -> None:
        self._access = str(body["access_token"])
        refresh = body.get("refresh_token")
        if refresh and self.keyring is not None:
            self.keyring.replace(REFRESH_SLOT, str(refresh).encode("ascii"))

    def forget_tokens(self) -> None:
        """Drop the access token and the stored refresh token (sign-out, revocation)."""
        self._access = None
        if self.keyring is not None and self.keyring.get(REFRESH_SLOT) is not None:
            self.keyring.delete(REFRESH_SLOT)

    def sign_in(self, email: str, password: str, device_id: str | None = None) -> SignedIn:
        """Sign in with email and password (bound to `device_id`, an enrolled device of
        this user, when given: then a refresh token comes too and is kept)."""
        body = self.call("POST", "/v1/auth/sign-in", json={
            "email": email, "password": password, "device_id": device_id}, auth=False)
        self._keep_tokens(body)
        return SignedIn(str(body["tenant_id"]), str(body["user_id"]), str(body["role"]))

    def refresh(self) -> bool:
        """Trade the stored refresh token for a new pair; False when there is none."""
        token = self._refresh_token()
        if token is None:
            return False
        body = self.call("POST", "/v1/auth/refresh", json={"refresh_token": token},
                         auth=False)
        self._keep_tokens(body)
        return True

    # -- requests ------------------------------------------------------------------

    def _send(self, method: str, path: str, *, auth: bool, stream: bool = False,
              timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if auth and self._access is not None:
            headers["Authorization"] = f"Bearer {self._access}"
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            request = self._http.build_request(method, path, headers=headers, **kwargs,
                                               **extra)
            return self._http.send(request, stream=stream)
        except httpx.TimeoutException:
            raise ServerUnreachable(f"The server at {self.url} did not answer in time. "
                                    "Check the connection and try again.") from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"The server at {self.url} cannot be reached "
                                    f"({type(exc).__name__}). Check the address and the "
                                    "network, then try again.") from None

    def _response(self, method: str, path: str, *, auth: bool, stream: bool = False,
                  timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        if auth and self._access is None and not self._try_refresh():
            raise SignedOut("This device is not signed in to the server: sign in online.",
                            status=401, code="not_signed_in")
        response = self._send(method, path, auth=auth, stream=stream, timeout=timeout,
                              **kwargs)
        if response.status_code == 401 and auth:
            code = str(_error_body(_read(response)).get("code") or "")
            if code in REFRESHABLE and self._try_refresh():
                response = self._send(method, path, auth=auth, stream=stream,
                                      timeout=timeout, **kwargs)
        if response.status_code >= 400:
            error = refusal(_read(response), signed_in=auth)
            if isinstance(error, DeviceRevoked):
                self._access = None
            raise error
        return response

    def _try_refresh(self) -> bool:
        with self._lock:
            try:
                return self.refresh()
            except ServerRefused as exc:  # the refresh token ended, or was used twice
                if exc.status != 401:
                    raise
                self.forget_tokens()
                return False

    def call(self, method: str, path: str, *, json: Any = None,
             params: Mapping[str, Any] | None = None, auth: bool = True,
             timeout: float | None = None) -> Any:
        """One request; its JSON answer (None for 204)."""
        response = self._response(method, path, auth=auth, json=json, params=params,
                                  timeout=timeout)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerFailed("The server's answer was not readable; try again later.") \
                from None

    def lines(self, path: str, params: Mapping[str, Any] | None = None
              ) -> Iterator[dict[str, Any]]:
        """The objects of an NDJSON answer, one per line, as they arrive."""
        response = self._response("GET", path, auth=True, stream=True, params=params)
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        except httpx.HTTPError:
            raise ServerUnreachable(f"The connection to {self.url} broke during the "
                                    "transfer; it resumes from where it stopped.") from None
        except ValueError:
            raise ServerFailed("The server sent an unreadable line; try again later.") \
                from None
        finally:
            response.close()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(response: httpx.Response) -> httpx.Response:
    """A (possibly streamed) response with its body read, for its error."""
    if not response.is_stream_consumed:
        try:
            response.read()
        except httpx.HTTPError:
            pass
        finally:
            response.close()
    return response
