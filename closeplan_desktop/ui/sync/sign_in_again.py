"""Sync ▸ Sign In to the Server…, and the status bar's "Signed out of the server — Sign
in": the server ended this laptop's session (a sign-out elsewhere, a refresh token that
ended, a deactivation), and the password brings it back.

The email is the connected account's (shown, not typed). The sign-in runs off the UI
thread through `core.sync.connect.sign_in_again_open`, on the sync service's own
transport, so syncing resumes with the new tokens at once. The server's refusal shows in
the dialog in words (a wrong password, a deactivated account, an unreachable server);
the dialog stays open for another try. The password never outlives the dialog.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.errors import ServerRefused
from ...core.sync import connect, engine
from ..kit.dialogs import ok_cancel
from ..kit.ops import Kind, Op
from ..kit.widgets import heading, message_label, muted, set_message
from ..signed_in import SignedIn
from .service import SyncService

WRONG = "wrong_credentials"


def server_name(url: str) -> str:
    """The server as people say it: its host name (and port when not the usual)."""
    parts = urlsplit(url)
    return parts.netloc or url


class SignInAgainDialog(QDialog):
    """The connected account's password, checked by the server; accepted once the
    server took it (then `service.signed_in_again()` resumes syncing)."""

    def __init__(self, signed_in: SignedIn, service: SyncService,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.service = service
        self.op: Op | None = None
        self.email = connect.owner_email(signed_in.ws) or signed_in.core.email
        url = service.transport.url
        self.setWindowTitle(f"Sign in to {server_name(url)} again")
        self.setObjectName("signInAgainDialog")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 20, 22, 16)
        layout.setSpacing(12)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)
        layout.addWidget(heading(f"Sign in to {server_name(url)} again", 1.2))
        why = muted("Your organisation's server ended this laptop's session, so it stopped "
                    "syncing. Your work here goes on: changes wait on this laptop until you "
                    "sign in.")
        why.setWordWrap(True)
        why.setMaximumWidth(440)
        layout.addWidget(why)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        account = QLabel(self.email)
        account.setObjectName("signInAgainEmail")
        account.setAccessibleName("Email")
        form.addRow("Email", account)
        server = QLabel(url)
        server.setObjectName("signInAgainServer")
        form.addRow("Server", server)
        self.password = QLineEdit()
        self.password.setObjectName("signInAgainPassword")
        self.password.setAccessibleName("Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setMinimumWidth(300)
        form.addRow("&Password", self.password)
        layout.addLayout(form)
        self.error = message_label("Problem", "signInAgainError")
        self.error.setMaximumWidth(440)
        layout.addWidget(self.error)
        self.buttons, self.ok = ok_cancel(self, "Sign in", "unlock", "signInAgainButton",
                                          self.submit)
        layout.addWidget(self.buttons)
        self.password.textChanged.connect(lambda _t: self._update())
        self.password.setFocus()
        self._update()

    def _update(self) -> None:
        self.ok.setEnabled(bool(self.password.text()) and self.op is None)

    def submit(self) -> None:
        """Sign in off the UI thread; the outcome comes back to `_done` or `_failed`."""
        if not self.ok.isEnabled():
            return
        ws, transport, email = self.signed_in.ws, self.service.transport, self.email
        password = self.password.text()
        conn = engine.connection(ws)
        # The keys of the signed-in owner are in memory: a password reset elsewhere
        # becomes this laptop's password too (core decides; see sign_in_again_open).
        held = (conn is not None and not self.signed_in.is_locked
                and self.signed_in.core.user_id == conn.user_id)
        set_message(self.error, "")
        self.op = (Op(self, "Signing in to the server",
                      lambda _p, _c: connect.sign_in_again_open(ws, transport, email, password,
                                                                keys_held=held),
                      progress=False, changes={Kind.AUDIT, Kind.USERS},
                      hub=self.signed_in.changes)
                   .on_success(lambda _e: self._done()).on_failure(self._failed)
                   .run_in_background())
        self._update()

    def _done(self) -> None:
        self.op = None
        self.password.clear()
        self.accept()
        self.service.signed_in_again()

    def _failed(self, text: str) -> None:
        error = self.op.error if self.op is not None else None
        self.op = None
        if isinstance(error, ServerRefused) and error.code == WRONG:
            text = (f"The password is not right for {self.email} on this server. Type it "
                    "again (the one you use for ClosePlan at your organisation).")
        set_message(self.error, text)
        self.password.clear()
        self.password.setFocus()
        self._update()

    def done(self, result: int) -> None:
        self.password.clear()  # the password does not outlive the dialog
        super().done(result)


def sign_in_again(signed_in: SignedIn, service: SyncService, parent: QWidget) -> bool:
    """Open the dialog (unless locked); True when the server took the password."""
    if signed_in.is_locked or service.stopped:
        return False
    dialog = SignInAgainDialog(signed_in, service, parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    dialog.deleteLater()
    return accepted
