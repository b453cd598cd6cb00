"""Connecting a laptop to the organisation's server: the first online sign-in.

`start` signs in with email and password, creates the workspace, makes this device's
keys (Ed25519 and X25519), pins the server's signing key and enrols the device, which
answers with a 6-digit approval code for this screen. The first device of a new tenant
(the server's rule: its admin, while no device of the tenant was ever approved) is
approved at once with its own code and makes the tenant's PHI key version 1; any other
device waits for an admin's approval (`wait_for_approval`, bounded and cancellable).
`finish` then receives the PHI key grants (HPKE, unwrapped with this device's key and
kept in the keyring) and bootstraps with progress. An interrupted connection is
finished later by `finish` (what `closeplan-admin sync` does for a waiting device).

The password is used for the sign-ins and for this laptop's own verifier of it (a
bcrypt hash made here, so that the user can sign in offline); it is never stored as is,
logged or sent anywhere but the server's sign-in.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..domain import validation
from ..domain.errors import ServerRefused, SyncError
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.keyring_store import phi_slot
from ..security.passwords import hash_password
from ..store import db, workspace
from ..store.models import Meta, SyncConnection, User
from ..store.workspace import Workspace
from . import device_keys
from .bootstrap import bootstrap
from .engine import AWAITING, CONNECTED, connection, keep_grant, with_retries
from .transport import Transport, check_url

POLL_SECONDS = 2.0
WAIT_SECONDS = 600.0
# workspace_meta key of the connecting user's verifier, until the bootstrap brings the row.
VERIFIER = "sync_verifier:"


@dataclass(frozen=True)
class Enrolment:
    """Where a connection stands: the code to show while approval is awaited."""

    device_id: str
    status: str  # engine.AWAITING or engine.CONNECTED
    approval_code: str | None
    first_device: bool


def device_name() -> str:
    """A name for this laptop in the admin's list of devices."""
    return (socket.gethostname() or "Laptop")[:100]


def start(path: Path, url: str, email: str, password: str, *,
          name: str | None = None) -> tuple[Workspace, Transport, Enrolment]:
    """Sign in, create the workspace at `path` and enrol this device. Returns the open
    workspace, a transport signed in for the device, and the enrolment (its code)."""
    email = validation.email(email)
    transport = Transport(url)
    try:
        who = transport.sign_in(email, password)
        ws = workspace.create(path)
    except BaseException:
        transport.close()
        raise
    try:
        verifier = hash_password(password, ws.policy.bcrypt_cost)
        transport.keyring = ws.keyring
        keys = device_keys.create(ws.keyring)
        pinned = transport.call("GET", "/v1/server/keys", auth=False)["keys"][0]
        code = _enrol(ws, transport, keys, name or device_name())
        first = False
        if who.role == "ADMIN":
            first = _approve_first(transport, ws.device_id, code)
        with db.write_session(ws.engine) as s:
            s.add(SyncConnection(id=1, url=transport.url, tenant_id=who.tenant_id,
                                 user_id=who.user_id, device_id=ws.device_id,
                                 server_key_id=pinned["key_id"],
                                 server_key=pinned["public_key"], status=AWAITING))
            s.add(Meta(key=VERIFIER + who.user_id, value=verifier))
        # Device-bound tokens: the refresh token goes to the keyring, and a restart can
        # finish the connection without the password.
        transport.sign_in(email, password, ws.device_id)
        if first:
            _first_key(ws, transport, who.tenant_id, keys)
        return ws, transport, Enrolment(ws.device_id, AWAITING, code, first)
    except BaseException:
        transport.close()
        ws.close()
        raise


def sign_in_again(path: Path, url: str, email: str, password: str
                  ) -> tuple[Workspace, Transport, Enrolment]:
    """Sign this laptop's connected (or waiting) workspace in online again, for its own
    device: after the refresh token ended (30 days unused, a sign-out, a reused token).
    The workspace must belong to `email` at the server `url`."""
    email = validation.email(email)
    ws = workspace.open_workspace(path)
    try:
        conn = connection(ws)
        if conn is None:
            raise SyncError(f"The workspace at {path} is not connected to a server; connect "
                            "a new workspace folder instead (--workspace DIR).")
        transport = Transport(conn.url, ws.keyring)
    except BaseException:
        ws.close()
        raise
    try:
        if check_url(url) != conn.url:
            raise SyncError(f"This workspace is connected to {conn.url}, not to {url}.")
        who = transport.sign_in(email, password, conn.device_id)
        if who.user_id != conn.user_id or who.tenant_id != conn.tenant_id:
            transport.forget_tokens()
            raise SyncError("This workspace was connected by another user; sign in as that "
                            "user, or connect a new workspace folder for yourself.")
        code = None
        if conn.status == AWAITING:  # the enrolment starts again: new keys, a new code
            code = _enrol(ws, transport, device_keys.create(ws.keyring), device_name())
    except BaseException:
        transport.close()
        ws.close()
        raise
    return ws, transport, Enrolment(conn.device_id, conn.status, code, False)


def _enrol(ws: Workspace, transport: Transport, keys: device_keys.DeviceKeys,
           name: str) -> str:
    """Enrol (or enrol again) this device with its public keys; the approval code."""
    enrolled = transport.call("POST", "/v1/devices", json={
        "device_id": ws.device_id, "name": name,
        "sign_public_key": base64.b64encode(keys.sign_public).decode("ascii"),
        "kem_public_key": base64.b64encode(keys.kem_public).decode("ascii")})
    return str(enrolled["approval_code"])


def _approve_first(transport: Transport, device_id: str, code: str) -> bool:
    """Approve the tenant's first device with its own code; False when the tenant already
    has an approved device (then another admin approves this one)."""
    try:
        transport.call("POST", f"/v1/devices/{device_id}/approve",
                       json={"code": code, "grants": []})
    except ServerRefused as exc:
        if exc.status in (403, 409):
            return False
        raise
    return True


def _first_key(ws: Workspace, transport: Transport, tenant_id: str,
               keys: device_keys.DeviceKeys) -> None:
    """A new tenant's PHI key version 1, made here and granted to this device (only when
    the tenant has none yet)."""
    versions = transport.call("GET", "/v1/keys/versions")["versions"]
    if versions:
        return
    key = crypto.new_key()
    ws.keyring.put(phi_slot(tenant_id, 1), key)  # the key first: never a grant without it
    wrapped = crypto.wrap_key(keys.kem_public, tenant_id, 1, key)
    transport.call("POST", "/v1/keys/rotate", json={
        "expected_active": 0, "grants": [{
            "key_version": 1, "grantee_kind": "DEVICE", "grantee_id": ws.device_id,
            "wrapped": base64.b64encode(wrapped).decode("ascii")}]})


def device_status(transport: Transport, device_id: str) -> str:
    """The device's status on the server (PENDING, ACTIVE, REVOKED)."""
    return str(transport.call("GET", f"/v1/devices/{device_id}")["status"])


def wait_for_approval(transport: Transport, device_id: str, *,
                      timeout: float = WAIT_SECONDS, poll: float = POLL_SECONDS,
                      cancel: CancelToken | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> bool:
    """Poll until an admin approved this device (True), or `timeout` seconds passed
    (False). Cancelled raises `Cancelled`; a revoked enrolment raises SyncError."""
    deadline = time.monotonic() + timeout
    while True:
        if cancel is not None:
            cancel.check()
        status = with_retries(lambda: device_status(transport, device_id), sleep=sleep)
        if status == "ACTIVE":
            return True
        if status == "REVOKED":
            raise SyncError("This device's enrolment was refused (revoked) by an admin.")
        if time.monotonic() >= deadline:
            return False
        sleep(poll)


def finish(ws: Workspace, transport: Transport, *, progress: Progress = no_progress,
           cancel: CancelToken | None = None,
           on_first_screen: Callable[[], None] | None = None) -> SyncConnection:
    """Once approved: keep the PHI key grants, mark the connection connected, and
    bootstrap (resuming an interrupted one)."""
    conn = connection(ws)
    if conn is None:
        raise SyncError("This workspace is not connected to a server.")
    if conn.status == AWAITING:
        if device_status(transport, conn.device_id) != "ACTIVE":
            raise SyncError("This device is still waiting for an admin's approval. Ask an "
                            "admin to approve it with the code shown when you connected.")
        sink = keep_grant(ws, conn.tenant_id)
        for grant in transport.call("GET", "/v1/keys/grants")["grants"]:
            sink(int(grant["key_version"]), base64.b64decode(grant["wrapped"]))
        with db.write_session(ws.engine) as s:
            row = s.get(SyncConnection, 1)
            assert row is not None
            row.status = CONNECTED
        conn.status = CONNECTED
    def first_screen() -> None:
        # The user's row is here now: they can sign in offline before the rest arrives.
        _keep_verifier(ws, conn.user_id)
        if on_first_screen is not None:
            on_first_screen()

    bootstrap(ws, transport, conn, progress=progress, cancel=cancel,
              on_first_screen=first_screen)
    _keep_verifier(ws, conn.user_id)
    return conn


def _keep_verifier(ws: Workspace, user_id: str) -> None:
    """Give the connecting user the verifier made here at the first online sign-in (no
    outbox row: it never leaves this laptop)."""
    with db.write_session(ws.engine) as s:
        meta = s.get(Meta, VERIFIER + user_id)
        if meta is None or s.get(User, user_id) is None:
            return
        s.connection().exec_driver_sql("UPDATE users SET password = ? WHERE id = ?",
                                       (meta.value, user_id))
        s.delete(meta)
