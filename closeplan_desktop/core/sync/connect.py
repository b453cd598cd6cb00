"""Connecting a laptop to the organisation's server: the first online sign-in.

`start` signs in with email and password, creates the workspace, makes this device's
keys (Ed25519 and X25519), pins the server's signing key and enrols the device, which
answers with a 6-digit approval code for this screen. The first device of a new tenant
(the server's rule: its admin, while no device of the tenant was ever approved) is
approved at once with its own code and makes the tenant's PHI key version 1; any other
device waits for an admin's approval (`wait_for_approval`, bounded and cancellable).
`finish` then receives the PHI key grants (HPKE, wrapped for this device's agreement
key; kept as they came and opened by `key_vault` with the device key of the signed-in
user, then wrapped per local key slot) and bootstraps with progress. An interrupted
connection is finished later by `finish` (what `closeplan-admin sync` does for a
waiting device).

The device keys are the workspace's own (`core.security.device_keys`, kept wrapped in
`core.store.key_vault`). The password the server accepted makes the user's key slot
here (`key_vault.make_slot`): it is how the user signs in offline; no password hash
comes from the server or is made for this. The password is never stored as is, logged
or sent anywhere but the server's sign-in.

A workspace copied or restored to another computer (`key_vault.needs_enrolment`) is a
new device for the server: `sign_in_again` enrols it again with new device keys.

`stage` tells where a workspace's connection stands. A connection left waiting for
approval (the window closed, the wait cancelled) is resumed by `resume_waiting`: the
same code again while the server still has the enrolment (the code is kept in the
keyring until approval), a new enrolment when the server forgot it; then `finish`.

While it holds a password session, connecting also seals the device keys under the
keyring secret and the server's share for this device (`seal_device`): a user whom sync
brings here later gets the PHI keys at their first online sign-in (`core.sync.signin`).
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import iso, utcnow
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import KeyMissing, ServerRefused, SyncError
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.device_keys import DeviceKeys
from ..security.keyring_store import phi_slot
from ..store import db, key_vault, lease, workspace
from ..store.audit_log import log_event
from ..store.models import SyncConnection, User
from ..store.workspace import Workspace
from ..usecases import auth
from . import engine
from .apply import NO_PASSWORD
from .bootstrap import bootstrap
from .engine import AWAITING, CONNECTED, connection, keep_grant, with_retries
from .transport import APPROVAL_SLOT, SignedIn, Transport, check_url

POLL_SECONDS = 2.0
WAIT_SECONDS = 600.0


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
        transport.keyring = ws.keyring
        _first_user(ws, email, who)
        auth.make_slot(ws, who.user_id, password)
        with db.write_session(ws.engine) as s:
            key_vault.ensure_device_keys(s, ws, who.user_id)
            key_vault.grant_held(s, ws)  # the device keys, for the new slot
        keys = key_vault.device_keys(ws)
        pinned = _server_key(transport)
        code = _enrol(ws, transport, keys, name or device_name())
        keep_code(ws, code)
        seal_device(ws, transport, ws.device_id)  # still the password session
        first = False
        if who.role == "ADMIN":
            first = _approve_first(transport, ws.device_id, code)
        with db.write_session(ws.engine) as s:
            s.add(SyncConnection(id=1, url=transport.url, tenant_id=who.tenant_id,
                                 user_id=who.user_id, device_id=ws.device_id,
                                 server_key_id=pinned["key_id"],
                                 server_key=pinned["public_key"], status=AWAITING))
        lease.contact(ws.keyring)
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


def _server_key(transport: Transport) -> dict[str, Any]:
    """The server's signing key (which checks receipts and wipe orders), to pin in the
    connection row (`receipts.pinned_server_key`: its one home)."""
    key: dict[str, Any] = transport.call("GET", "/v1/server/keys", auth=False)["keys"][0]
    if len(base64.b64decode(key["public_key"])) != 32:
        raise SyncError("The server sent a signing key this app cannot use; ask your IT "
                        "team.")
    return key


def _first_user(ws: Workspace, email: str, who: SignedIn) -> None:
    """The connecting user's tenant and user rows as the server's sign-in names them, so
    that their key slot can be made now; the bootstrap brings the full rows over them
    (no outbox or audit row: they are the server's). The user row holds no password
    hash: the slot verifies the password here."""
    now = iso(utcnow())
    with db.write_session(ws.engine) as s:
        raw = s.connection()
        raw.exec_driver_sql(
            "INSERT INTO tenants (id, name, domain, created_at, updated_at, row_version) "
            "VALUES (?, ?, NULL, ?, ?, 0)", (who.tenant_id, who.tenant_id, now, now))
        raw.exec_driver_sql(
            "INSERT INTO users (id, email, first_name, last_name, password, tenant_id, role, "
            "created_at, updated_at, deactivated_at, row_version) "
            "VALUES (?, ?, '', '', ?, ?, ?, ?, ?, NULL, 0)",
            (who.user_id, email, NO_PASSWORD, who.tenant_id, who.role, now, now))


def sign_in_again(path: Path, url: str, email: str, password: str
                  ) -> tuple[Workspace, Transport, Enrolment]:
    """Sign this laptop's connected (or waiting) workspace in online again, for its own
    device: after the refresh token ended (30 days unused, a sign-out, a reused token).
    The workspace must belong to `email` at the server `url`. A copied workspace
    (`key_vault.needs_enrolment`) enrols again here as a new device, with a new code."""
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
        enrolment = sign_in_again_open(ws, transport, email, password)
    except BaseException:
        transport.close()
        ws.close()
        raise
    return ws, transport, enrolment


def sign_in_again_open(ws: Workspace, transport: Transport, email: str, password: str,
                       *, keys_held: bool = False) -> Enrolment:
    """`sign_in_again` for a workspace already open (the window, whose sync keeps using
    `transport`, a Transport to the workspace's server with its keyring): the device's
    session with the server starts again. `keys_held`: the workspace's owner is signed
    in here and their keys are in memory; then a password changed or reset elsewhere
    (the server takes it, this laptop's key slot does not) becomes this laptop's
    password too, instead of a refusal. Nothing is stored when the server refuses."""
    email = validation.email(email)
    conn = connection(ws)
    if conn is None:
        raise SyncError("This workspace is not connected to a server.")
    copied = engine.copied(ws)
    forgotten = False
    try:
        # A copied workspace's device is not enrolled yet: an unbound sign-in first.
        who = transport.sign_in(email, password, None if copied else conn.device_id)
    except ServerRefused as exc:
        if exc.code != "unknown_device" or conn.status != AWAITING:
            raise
        # The server forgot this waiting enrolment: sign in unbound, enrol again below.
        who = transport.sign_in(email, password)
        forgotten = True
    if who.user_id != conn.user_id or who.tenant_id != conn.tenant_id:
        transport.forget_tokens()
        raise SyncError("This workspace was connected by another user; sign in as that "
                        "user, or connect a new workspace folder for yourself.")
    keys = _unlock_online(ws, who.user_id, password, keys_held=keys_held)
    code = None
    lease.contact(ws.keyring)
    if copied:
        code = _enrol(ws, transport, keys, device_name())
        keep_code(ws, code)
        seal_device(ws, transport, ws.device_id)  # the new keys; a password session
        with db.write_session(ws.engine) as s:
            row = s.get(SyncConnection, 1)
            assert row is not None
            row.device_id, row.status = ws.device_id, AWAITING
            # The old device's cursors do not serve the new one: load again (rows
            # already here are updated in place; unpushed changes are kept).
            row.pull_cursor = row.bootstrap_cursor = None
            row.bootstrapped = False
            key_vault.set_enrolled(s)
        conn.device_id, conn.status = ws.device_id, AWAITING
        conn.pull_cursor = conn.bootstrap_cursor = None
        conn.bootstrapped = False
        transport.sign_in(email, password, ws.device_id)
    elif not _sealed(ws):
        # Connected before device keys were sealed: a password session (no device)
        # is what the server hands the share to.
        try:
            with Transport(conn.url) as plain:
                plain.sign_in(email, password)
                seal_device(ws, plain, conn.device_id)
        except SyncError:
            pass  # tried again at the next online sign-in
    if conn.status == AWAITING and not copied:  # the same code while the server waits
        enrolment = resume_waiting(ws, transport)
        if forgotten:  # enrolled again: now the device-bound tokens
            transport.sign_in(email, password, ws.device_id)
        return enrolment
    return Enrolment(conn.device_id, conn.status, code, False)


def _unlock_online(ws: Workspace, user_id: str, password: str, *,
                   keys_held: bool = False) -> DeviceKeys:
    """The device keys, unlocked with the key slot of the user the server has just
    signed in; a user without a slot here (their first online sign-in on this laptop)
    gets one, and so does one whose keys are held in memory (`keys_held`) when the slot
    refuses the password the server took. A copied workspace gets its new device keys
    here."""
    with db.read_session(ws.engine) as s:
        has_slot = key_vault.has_slot(s, user_id)
    if not has_slot:
        auth.make_slot(ws, user_id, password)
    with db.write_session(ws.engine) as s:
        private = key_vault.open_slot(s, ws, user_id, password)
        if private is None and keys_held:
            # The keys held in memory are granted to the new slot (key_vault.make_slot).
            private = key_vault.make_slot(s, ws, user_id, password)
            log_event(s, ws, Ev.KEY_SLOT_CREATED, _tenant_of(s, user_id), user_id,
                      {"user": user_id, "from": "password changed on the server"})
        if private is None:
            raise SyncError("The server accepted this password but this laptop's key slot "
                            "did not (the password was changed elsewhere): sign in with "
                            "the password this laptop knows, then change it.")
        legacy = key_vault.unlock(s, ws, user_id, private)
    key_vault.drop_legacy(ws, legacy)
    return key_vault.device_keys(ws)


def _tenant_of(s: Session, user_id: str) -> str | None:
    """The tenant of a local user (for a security event about them)."""
    user = s.get(User, user_id)
    return None if user is None else user.tenant_id


def seal_device(ws: Workspace, transport: Transport, device_id: str) -> bool:
    """Seal the device keys held now under the keyring secret and the server's share
    for this device (`key_vault.seal_device`). `transport` must hold a password session
    (no device): the server gives the share to nothing else. False when the server
    refused (an older server: the keys then reach a new user's slot the older way)."""
    try:
        answer = transport.call("POST", "/v1/keys/device-unlock",
                                json={"device_id": device_id})
    except ServerRefused:
        return False
    with db.write_session(ws.engine) as s:
        return key_vault.seal_device(s, ws, base64.b64decode(answer["share"]))


def _sealed(ws: Workspace) -> bool:
    with db.read_session(ws.engine) as s:
        return key_vault.has_sealed_device(s)


def _enrol(ws: Workspace, transport: Transport, keys: DeviceKeys, name: str) -> str:
    """Enrol (or enrol again) this device with its public keys; the approval code."""
    enrolled = transport.call("POST", "/v1/devices", json={
        "device_id": ws.device_id, "name": name,
        "sign_public_key": base64.b64encode(keys.signing_public).decode("ascii"),
        "kem_public_key": base64.b64encode(keys.agreement_public).decode("ascii")})
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
               keys: DeviceKeys) -> None:
    """A new tenant's PHI key version 1, made here and granted to this device (only when
    the tenant has none yet)."""
    versions = transport.call("GET", "/v1/keys/versions")["versions"]
    if versions:
        return
    key = crypto.new_key()
    wrapped = crypto.wrap_key(keys.agreement_public, tenant_id, 1, key)
    # The key first: never a grant on the server without it here. It is kept as the
    # server's grant will be (opened once the bootstrap brings its version row).
    ws.keyring.remember(phi_slot(tenant_id, 1), key)
    with db.write_session(ws.engine) as s:
        key_vault.keep_device_grant(s, tenant_id, 1, wrapped)
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
        grants = transport.call("GET", "/v1/keys/grants")["grants"]
        with db.write_session(ws.engine) as s:
            sink = keep_grant(s, conn.tenant_id)
            for grant in grants:
                sink(int(grant["key_version"]), base64.b64decode(grant["wrapped"]))
            row = s.get(SyncConnection, 1)
            assert row is not None
            row.status = CONNECTED
        conn.status = CONNECTED
        ws.keyring.delete(APPROVAL_SLOT)  # approved: the code has no use left
    bootstrap(ws, transport, conn, progress=progress, cancel=cancel,
              on_first_screen=on_first_screen)
    return conn


# -- where a connection stands, and finishing one that was left waiting -----------------


class Stage(StrEnum):
    """Where a workspace's connection to a server stands (`stage`)."""

    STANDALONE = "standalone"  # no server: works offline only
    COPIED = "copied"  # copied or restored here: must enrol again (sign in online)
    AWAITING = "awaiting_approval"  # enrolled; an admin has not approved it yet
    LOADING = "loading"  # approved; the first load from the server has not finished
    CONNECTED = "connected"  # syncs


def stage(ws: Workspace) -> Stage:
    """Where this workspace's connection stands, from what the workspace records (no
    server call): what the window offers next (nothing, Finish connecting, Sync)."""
    conn = connection(ws)
    if conn is None:
        return Stage.STANDALONE
    if engine.copied(ws):
        return Stage.COPIED
    if conn.status == AWAITING:
        return Stage.AWAITING
    return Stage.CONNECTED if conn.bootstrapped else Stage.LOADING


def owner_email(ws: Workspace) -> str | None:
    """The email of the user who connected this workspace: the account whose session
    with the server this device holds (and signs in again)."""
    conn = connection(ws)
    if conn is None:
        return None
    with db.read_session(ws.engine) as s:
        user = s.get(User, conn.user_id)
        return None if user is None else user.email


def keep_code(ws: Workspace, code: str) -> None:
    """Keep the approval code of a waiting enrolment, to show it again on resuming."""
    ws.keyring.replace(APPROVAL_SLOT, code.encode("ascii"))


def kept_code(ws: Workspace) -> str | None:
    """The approval code kept at enrolment (None once approved, or when lost)."""
    raw = ws.keyring.get(APPROVAL_SLOT)
    return None if raw is None else raw.decode("ascii")


def resume_waiting(ws: Workspace, transport: Transport, *,
                   new_code: bool = False) -> Enrolment:
    """Resume a connection left waiting for approval (the window closed, the wait
    cancelled): ask the server where the enrolment stands. Still waiting: the same code
    again (a new enrolment and code when `new_code`, after too many wrong tries, or when
    the code was lost here); forgotten by the server: enrolled again, with a new code;
    approved: status CONNECTED (then `finish`); refused by an admin: SyncError. Needs
    the signed-in user's device keys only to enrol again."""
    conn = connection(ws)
    if conn is None:
        raise SyncError("This workspace is not connected to a server.")
    if conn.status != AWAITING:
        return Enrolment(conn.device_id, conn.status, None, False)
    try:
        status = with_retries(lambda: device_status(transport, conn.device_id))
    except ServerRefused as exc:
        if exc.status != 404:
            raise
        status = None  # the server has no such device (its enrolment was removed)
    if status == "ACTIVE":
        return Enrolment(conn.device_id, CONNECTED, None, False)
    if status == "REVOKED":
        raise SyncError("An admin refused (revoked) this laptop's enrolment. Ask your admin, "
                        "or connect a new workspace folder.")
    code = None if new_code or status is None else kept_code(ws)
    if code is None:
        try:
            keys = key_vault.device_keys(ws)
        except KeyMissing:
            raise SyncError("Sign in on this laptop first: enrolling it again needs your "
                            "unlocked device keys.") from None
        code = _enrol(ws, transport, keys, device_name())
        keep_code(ws, code)
    return Enrolment(conn.device_id, AWAITING, code, False)
