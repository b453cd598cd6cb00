"""A laptop's session with the server ends and starts again, and a connection left waiting
for approval is finished later (issue 12, "Revocation" and "Connect"), against the real
server: `connect.sign_in_again_open` for the window's open workspace (wrong password,
deactivated user, deactivation undone, a password reset elsewhere), and `connect.stage`
with `resume_waiting` (the same code again; a new enrolment when the server forgot it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api
from laptop_support import Laptop, connect_laptop, new_tenant
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import AuthError, ServerRefused, SignedOut, SyncError
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.sync import connect, devices, engine
from closeplan_desktop.core.sync.connect import Stage
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import auth, deals, users

SAM_PASSWORD = "Marble-Kettle-Violin-77"
NEW_PASSWORD = "Copper-Lantern-Meadow-31"


def _pair(live: Api, server_db: ServerDb, tmp_path: Path, tag: str) -> tuple[Laptop, Laptop]:
    new_tenant(server_db, f"Stage {tag}", f"ada@{tag}.example")
    a = connect_laptop(live, tmp_path / "ada", f"ada@{tag}.example")
    users.add_user(a.session(), f"sam@{tag}.example", "Sam", "Sales", "USER", SAM_PASSWORD)
    a.sync()
    b = connect_laptop(live, tmp_path / "sam", f"sam@{tag}.example", SAM_PASSWORD,
                       approver=a)
    return a, b


def test_signed_out_deactivated_and_back_the_laptop_signs_in_again(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    a, b = _pair(live, server_db, tmp_path, "again")
    try:
        sam = b.session()  # the window's session: Sam's keys in memory
        assert connect.stage(b.ws) == Stage.CONNECTED
        # Signed out elsewhere: every session of the device ends on the server.
        b.transport.call("POST", "/v1/auth/sign-out")
        b.transport.forget_tokens()
        with pytest.raises(SignedOut):
            b.sync()
        deals.create_deal(sam, "Written while signed out", "DRAFT", "1.00")  # work goes on
        with pytest.raises(ServerRefused) as wrong:
            connect.sign_in_again_open(b.ws, b.transport, b.email, "not-his-password",
                                       keys_held=True)
        assert wrong.value.status == 401 and "password" in str(wrong.value).lower()
        assert auth.sign_in(b.ws, b.email, SAM_PASSWORD)  # nothing changed here
        again = connect.sign_in_again_open(b.ws, b.transport, b.email, SAM_PASSWORD,
                                           keys_held=True)
        assert (again.status, again.approval_code) == (engine.CONNECTED, None)
        assert b.sync().verdicts == {"applied": 1}  # syncing resumes with the queued change

        # Deactivated by Ada: the next round ends the session and says why.
        users.deactivate(a.session(), sam.user_id)
        a.sync()
        with pytest.raises(SignedOut, match="deactivated"):
            b.sync()
        with pytest.raises(ServerRefused) as refused:
            connect.sign_in_again_open(b.ws, b.transport, b.email, SAM_PASSWORD,
                                       keys_held=True)
        assert refused.value.status == 403 and "deactivated" in str(refused.value)
        # The deactivation undone: signing in again works, and the pull brings Sam back.
        users.reactivate(a.session(), sam.user_id)
        a.sync()
        connect.sign_in_again_open(b.ws, b.transport, b.email, SAM_PASSWORD, keys_held=True)
        b.sync()
        assert b.session().user_id == sam.user_id
    finally:
        b.close()
        a.close()


def test_a_password_reset_elsewhere_becomes_this_laptops_password(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    a, b = _pair(live, server_db, tmp_path, "reset")
    try:
        sam = b.session()
        users.reset_password(a.session(), sam.user_id, NEW_PASSWORD)
        a.sync()
        b.transport.call("POST", "/v1/auth/sign-out")
        b.transport.forget_tokens()
        with pytest.raises(SignedOut):
            b.sync()
        # The server takes the new password; this laptop's slot knows the old one. With
        # nobody signed in here, that is a clear refusal...
        auth.sign_out(sam)
        with pytest.raises(SyncError, match="changed elsewhere"):
            connect.sign_in_again_open(b.ws, b.transport, b.email, NEW_PASSWORD)
        # ... and in the window of Sam, signed in with the old one, the new one is kept.
        b.session()
        connect.sign_in_again_open(b.ws, b.transport, b.email, NEW_PASSWORD, keys_held=True)
        b.sync()
        auth.sign_out(auth.sign_in(b.ws, b.email, NEW_PASSWORD))
        with pytest.raises(AuthError):
            auth.sign_in(b.ws, b.email, SAM_PASSWORD)
        # The keys came over to the new slot: PHI still opens.
        new = auth.sign_in(b.ws, b.email, NEW_PASSWORD)
        phi = deals.create_deal(new, "PHI after the reset", "DRAFT", "1.00", {"mrn": "R-9"})
        auth.sign_out(new)
        assert deals.reveal_phi(auth.sign_in(b.ws, b.email, NEW_PASSWORD),
                                phi.id) == {"mrn": "R-9"}
        kinds = b.rows("SELECT detail FROM security_events WHERE type = 'KEY_SLOT_CREATED'")
        assert any("password changed on the server" in str(d) for (d,) in kinds)
    finally:
        b.close()
        a.close()


def test_a_connection_left_waiting_is_finished_with_the_same_code(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Stage wait", "ada@wait.example")
    a = connect_laptop(live, tmp_path / "ada", "ada@wait.example")
    try:
        assert connect.stage(a.ws) == Stage.CONNECTED
        users.add_user(a.session(), "sam@wait.example", "Sam", "Sales", "USER", SAM_PASSWORD)
        a.sync()
        path = tmp_path / "sam"
        ws, transport, enrolment = connect.start(path, live.live.url, "sam@wait.example",
                                                 SAM_PASSWORD)
        code = enrolment.approval_code
        assert code and connect.kept_code(ws) == code
        transport.close()  # the wait was cancelled and the window closed
        ws.close()

        with workspace.open_workspace(path) as ws:
            assert connect.stage(ws) == Stage.AWAITING
            auth.sign_in(ws, "sam@wait.example", SAM_PASSWORD)  # the window's sign-in
            with Transport(engine.connection(ws).url, ws.keyring) as t:  # type: ignore[union-attr]
                again = connect.resume_waiting(ws, t)
                assert (again.status, again.approval_code) == (engine.AWAITING, code)
                assert not connect.wait_for_approval(t, ws.device_id, timeout=0,
                                                     sleep=lambda _: None)
                a.session()
                devices.approve(a.ws, a.transport, code, ws.device_id)
                assert connect.resume_waiting(ws, t).status == engine.CONNECTED
                connect.finish(ws, t)
                assert connect.stage(ws) == Stage.CONNECTED
                assert connect.kept_code(ws) is None
                assert engine.sync_once(ws, t).pushed == 0
    finally:
        a.close()


def test_a_waiting_enrolment_the_server_forgot_is_made_again(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Stage forgot", "ada@forgot.example")
    a = connect_laptop(live, tmp_path / "ada", "ada@forgot.example")
    try:
        users.add_user(a.session(), "sam@forgot.example", "Sam", "Sales", "USER",
                       SAM_PASSWORD)
        a.sync()
        path = tmp_path / "sam"
        ws, transport, enrolment = connect.start(path, live.live.url, "sam@forgot.example",
                                                 SAM_PASSWORD)
        transport.close()
        with server_db.superuser() as conn:  # the server lost the pending enrolment
            conn.execute("DELETE FROM sessions WHERE tenant_id = %s AND device_id = %s",
                         (made.tenant_id, ws.device_id))
            conn.execute("DELETE FROM devices WHERE tenant_id = %s AND id = %s",
                         (made.tenant_id, ws.device_id))
        try:
            auth.sign_in(ws, "sam@forgot.example", SAM_PASSWORD)
            with Transport(live.live.url, ws.keyring) as t:
                # Its tokens went with it: the window asks for the password, and the
                # sign-in enrols the laptop again, with a new code.
                with pytest.raises(SignedOut):
                    connect.resume_waiting(ws, t)
                again = connect.sign_in_again_open(ws, t, "sam@forgot.example",
                                                   SAM_PASSWORD, keys_held=True)
                assert again.status == engine.AWAITING
                assert again.approval_code and again.approval_code != enrolment.approval_code
                assert connect.kept_code(ws) == again.approval_code
                assert connect.device_status(t, ws.device_id) == "PENDING"
                a.session()
                devices.approve(a.ws, a.transport, again.approval_code, ws.device_id)
                connect.finish(ws, t)
                assert connect.stage(ws) == Stage.CONNECTED
        finally:
            ws.close()
    finally:
        a.close()
