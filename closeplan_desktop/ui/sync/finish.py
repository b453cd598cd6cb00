"""Sync ▸ Finish Connecting…: a workspace whose connection was left waiting for an admin's
approval (the first-run window closed, the wait cancelled), or copied to this computer,
finishes connecting here instead of staying a dead end.

Core says where the connection stands (`connect.stage`) and resumes it
(`connect.resume_waiting`: the same approval code while the server still waits for it,
a new enrolment when it forgot it). When the server needs the password first (its
session ended, or the workspace is a copy that must enrol as a new device), the dialog
asks for it (`connect.sign_in_again_open`). Then it shows the code large, waits
(cancellable, off the UI thread) for the approval, and loads the organisation's data
with progress (`connect.finish`). Every failure is core's message in words; the dialog
stays open to try again.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.errors import SignedOut
from ...core.domain.progress import CancelToken
from ...core.sync import connect, engine
from ...core.sync.connect import Enrolment, Stage
from ...core.sync.transport import Transport
from ..icons import icon
from ..kit.ops import Kind, Op
from ..kit.widgets import heading, message_label, muted, set_message
from ..signed_in import SignedIn
from .connect_pages import approval_parts, spaced


class _Bridge(QObject):
    progress = Signal(int, int)


class FinishConnectingDialog(QDialog):
    """Resume, (sign in,) show the code, wait, load. Accepted once connected."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        ws = signed_in.ws
        conn = engine.connection(ws)
        assert conn is not None, "only a workspace with a connection finishes connecting"
        self.transport = Transport(conn.url, ws.keyring)
        self.email = connect.owner_email(ws) or signed_in.core.email
        self.op: Op | None = None
        self.setWindowTitle("Finish connecting")
        self.setObjectName("finishConnectingDialog")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 20, 22, 16)
        layout.setSpacing(12)
        layout.addWidget(heading("Finish connecting this laptop", 1.2))
        self.intro = muted(f"This laptop is registered with {conn.url} but not connected "
                           "yet: an administrator approves each new laptop before it "
                           "receives your organisation's data.")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)

        # Asked only when the server needs the password first.
        self.password_box = QWidget()
        form = QFormLayout(self.password_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Email", QLabel(self.email))
        self.password = QLineEdit()
        self.password.setObjectName("finishPassword")
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("&Password", self.password)
        self.sign_in_button = QPushButton(icon("unlock"), "Sign in")
        self.sign_in_button.setObjectName("finishSignIn")
        self.sign_in_button.clicked.connect(lambda _c=False: self._sign_in())
        form.addRow("", self.sign_in_button)
        self.password_box.hide()
        layout.addWidget(self.password_box)

        self.code, self.words, self.status, self.bar = approval_parts(
            "finishCode", "finishWords", "finishStatus", "finishProgress", 3.0)
        self.code.hide()
        self.error = message_label("Problem", "finishError")
        for w in (self.code, self.words, self.bar, self.status, self.error):
            layout.addWidget(w)
        self.buttons = QDialogButtonBox()
        self.wait_button = self.buttons.addButton("Wait again",
                                                  QDialogButtonBox.ButtonRole.ActionRole)
        self.wait_button.setObjectName("finishWaitAgain")
        self.wait_button.setIcon(icon("refresh"))
        self.wait_button.clicked.connect(lambda _c=False: self._wait())
        self.new_code_button = self.buttons.addButton("New code",
                                                      QDialogButtonBox.ButtonRole.ActionRole)
        self.new_code_button.setObjectName("finishNewCode")
        self.new_code_button.setToolTip("Enrol this laptop again with a new code (after "
                                        "too many wrong tries at the old one)")
        self.new_code_button.clicked.connect(lambda _c=False: self._resume(new_code=True))
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        close.setAccessibleName("Cancel")
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.wait_button.hide()
        self.new_code_button.hide()
        self.bridge = _Bridge()
        self.bridge.progress.connect(self._progress)
        self.enrolment: Enrolment | None = None
        self.closed = False
        if connect.stage(ws) == Stage.COPIED:  # a new device for the server: sign in
            self._ask_password("This workspace was copied or restored here, so this "
                               "computer enrols as a new device. Sign in to get its code.")
        else:
            self._resume()

    # ---- steps ------------------------------------------------------------------------

    def _run(self, title: str, work: Any, done: Any, failed: Any = None) -> None:
        set_message(self.error, "")
        self.wait_button.hide()
        self.new_code_button.hide()
        self.op = (Op(self, title, work, progress=False)
                   .on_success(done).on_failure(failed or self._failed).run_in_background())

    def _resume(self, new_code: bool = False) -> None:
        self.status.setText("Asking the server where this laptop's enrolment stands…")
        transport, ws = self.transport, self.signed_in.ws
        self._run("Finishing connecting",
                  lambda _p, _c: connect.resume_waiting(ws, transport, new_code=new_code),
                  self._resumed, self._resume_failed)

    def _resume_failed(self, text: str) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        if isinstance(self.op.error if self.op else None, SignedOut):
            self.op = None
            self._ask_password("The server needs your password again before this laptop "
                               "can finish connecting.")
            return
        self._failed(text)

    def _ask_password(self, why: str) -> None:
        self.status.setText(why)
        self.bar.hide()
        self.password_box.show()
        self.password.setFocus()

    def _sign_in(self) -> None:
        password = self.password.text()
        if not password or self.op is not None:
            return
        ws, transport, email = self.signed_in.ws, self.transport, self.email
        conn = engine.connection(ws)
        # Only the owner's own keys may move to a new slot (see sign_in_again_open).
        held = (conn is not None and not self.signed_in.is_locked
                and self.signed_in.core.user_id == conn.user_id)
        self.bar.show()
        self.status.setText("Signing in…")
        self._run("Signing in to the server",
                  lambda _p, _c: connect.sign_in_again_open(ws, transport, email, password,
                                                            keys_held=held),
                  self._resumed)
        self.password.clear()

    def _resumed(self, enrolment: Enrolment) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        self.op = None
        self.password_box.hide()
        self.enrolment = enrolment
        if enrolment.status == engine.CONNECTED:
            self.words.setText("Approved.")
            self._load()
            return
        code = spaced(enrolment.approval_code or "")
        self.code.setText(code)
        self.code.show()
        self.words.setText(f"Ask an administrator to approve this laptop with code "
                           f"<b>{code}</b> in their Devices pane.")
        self._wait()

    def _wait(self) -> None:
        transport, device = self.transport, self.signed_in.ws.device_id
        self.bar.show()
        self.bar.setRange(0, 0)
        self.status.setText("Waiting for an administrator's approval… (Cancel stops "
                            "waiting; you can finish later from the Sync menu)")
        self._run("Waiting for approval",
                  lambda _p, token: connect.wait_for_approval(transport, device, cancel=token),
                  self._approved)

    def _approved(self, approved: bool) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        self.op = None
        if not approved:
            self.status.setText("")
            self.bar.hide()
            set_message(self.error, "No administrator approved this laptop yet. Ask them to "
                        "open Devices, select this laptop and approve it with the code "
                        "above; then wait again.")
            self.wait_button.show()
            self.new_code_button.show()
            return
        self.words.setText("Approved.")
        self._load()

    def _load(self) -> None:
        ws, transport, bridge = self.signed_in.ws, self.transport, self.bridge
        self.code.hide()
        self.status.setText("Loading your organisation's data…")

        def work(_p: object, token: CancelToken) -> object:
            return connect.finish(ws, transport, cancel=token,
                                  progress=lambda d, t: bridge.progress.emit(d, t or 0))

        self.op = (Op(self, "Loading data", work, progress=False,
                      changes={Kind.DEALS, Kind.USERS, Kind.KEYS, Kind.SETTINGS},
                      hub=self.signed_in.changes)
                   .on_success(lambda _c: self._loaded()).on_failure(self._failed)
                   .run_in_background())

    def _progress(self, done: int, total: int) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        self.status.setText(f"Loading your organisation's data… {done:,} records")

    def _loaded(self) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        self.op = None
        self.accept()

    def _failed(self, text: str) -> None:
        if self.closed:  # an outcome that arrived after the dialog closed
            return
        self.op = None
        self.bar.hide()
        self.status.setText("")
        set_message(self.error, text)
        self.wait_button.setVisible(self.enrolment is not None
                                    and self.enrolment.status == engine.AWAITING)
        self.new_code_button.setVisible(self.wait_button.isVisible())
        if self.enrolment is None and not self.password_box.isVisible():
            self.wait_button.setText("Try again")
            self.wait_button.show()
            self.wait_button.clicked.disconnect()
            self.wait_button.clicked.connect(lambda _c=False: self._resume())

    def done(self, result: int) -> None:
        self.closed = True
        if self.op is not None:
            self.op.cancel()
            self.op.wait()
        self.password.clear()
        self.transport.close()
        super().done(result)


def finish_connecting(signed_in: SignedIn, parent: QWidget) -> bool:
    """Open the dialog (unless locked); True once this laptop is connected."""
    if signed_in.is_locked:
        return False
    dialog = FinishConnectingDialog(signed_in, parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    dialog.deleteLater()
    return accepted
