"""The sign-in window, and the lock screen that asks for the password again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .icons import icon
from .kit import ops
from .kit.widgets import heading, message_label, muted, set_message

if TYPE_CHECKING:  # the database stack is imported after the first paint (app.py)
    from ..core.store.workspace import Workspace
    from ..core.usecases.frame import AuthSession

OPENING = "Opening workspace…"
QUEUED = "Signing in once the workspace is open…"


def _error_label() -> QLabel:
    return message_label("Sign-in message", "errorLabel")


class SignInDialog(QDialog):
    """Email and password; lockout and wrong-password answers come from core.

    Without a workspace yet (`ws` None, while it opens), the fields work and the status
    says so; Sign in waits for `set_workspace`, and Enter pressed before then is kept and
    submitted as soon as the workspace is open.
    """

    def __init__(self, ws: Workspace | None, tenant_hint: str = "",
                 demo_credentials: tuple[str, str] | None = None,
                 parent: QWidget | None = None, demo_users: tuple[str, ...] = (),
                 where: Path | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self.session: AuthSession | None = None
        self.queued = False
        self.setWindowTitle("Sign in – ClosePlan Desktop")
        self.setWindowIcon(icon("closeplan"))
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon("closeplan").pixmap(48, 48))
        head.addWidget(logo)
        titles = QVBoxLayout()
        titles.addWidget(heading("ClosePlan Desktop", 1.6))
        sub = QLabel(tenant_hint or "Sign in to your workspace")
        sub.setObjectName("subtitle")
        if where is not None:  # for support: a tooltip, not the subtitle
            sub.setToolTip(f"Workspace folder: {where}")
        titles.addWidget(sub)
        head.addLayout(titles, 1)
        layout.addLayout(head)
        if demo_credentials:
            # The sales users too: their window differs from the admin's (deals only).
            sales = "".join(f"<br>Sales: {email}" for email in demo_users)
            banner = QLabel(f"<b>Demo workspace</b><br>Admin: {demo_credentials[0]}{sales}"
                            f"<br>Password (all): {demo_credentials[1]}")
            banner.setObjectName("demoBanner")
            banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            banner.setFrameShape(QFrame.Shape.StyledPanel)
            banner.setStyleSheet("QLabel#demoBanner { padding: 8px; border-radius: 6px; "
                                 "background: rgba(15,118,110,0.12); }")
            layout.addWidget(banner)
        form = QFormLayout()
        self.email = QLineEdit()
        self.email.setPlaceholderText("name@hospital.org")
        self.email.setAccessibleName("Email")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        form.addRow("&Email", self.email)
        form.addRow("&Password", self.password)
        layout.addLayout(form)
        self.error = _error_label()
        layout.addWidget(self.error)
        self.button = QPushButton("Sign in")
        self.button.setDefault(True)
        self.button.setAccessibleName("Sign in")
        self.button.clicked.connect(self.submit)
        self.status = muted(OPENING)
        self.status.setObjectName("signInStatus")
        self.status.setWordWrap(False)  # one quiet line beside the button
        policy = self.status.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the button keeps its place once ready
        self.status.setSizePolicy(policy)
        self.status.setAccessibleName("Sign-in status")
        self.status.setVisible(ws is None)
        self.button.setEnabled(ws is not None)
        # The default button ignores Enter while disabled: keep the attempt instead.
        for field in (self.email, self.password):
            field.returnPressed.connect(self._enter)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.button)
        layout.addLayout(row)
        self.setTabOrder(self.email, self.password)
        self.setTabOrder(self.password, self.button)
        if demo_credentials:
            self.email.setText(demo_credentials[0])
            self.password.setFocus()

    def set_workspace(self, ws: Workspace) -> None:
        """The workspace is open: Sign in works, and a kept attempt is submitted."""
        self.ws = ws
        self.status.hide()
        self.button.setEnabled(True)
        if self.queued:
            self.queued = False
            self.submit()

    def _enter(self) -> None:
        if self.ws is None:
            self.submit()

    def submit(self) -> None:
        if self.ws is None:
            self.queued = True
            self.status.setText(QUEUED)
            return
        from ..core.sync import signin as signing_in  # imported after the first paint

        ws, email, password = self.ws, self.email.text(), self.password.text()
        done = ops.run_now(lambda: signing_in.sign_in(ws, email, password), parent=self,
                           on_failure=self._failed)
        if not done.ok:
            return
        self.session = done.value
        self.password.clear()
        self.accept()

    def _failed(self, message: str) -> None:
        set_message(self.error, message)
        self.password.clear()
        self.password.setFocus()


class LockScreen(QWidget):
    """Shown in place of the panes while locked: no PHI, only a password field, and the
    way out for someone else at this computer (switch user, or sign out and quit)."""

    unlock_requested = Signal(str)
    switch_user_requested = Signal()
    sign_out_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        box = QVBoxLayout()
        box.setSpacing(10)
        lock = QLabel()
        lock.setPixmap(icon("lock").pixmap(56, 56))
        lock.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        box.addWidget(lock)
        t = heading("ClosePlan is locked", 1.4)
        t.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        box.addWidget(t)
        self.who = QLabel()
        self.who.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        box.addWidget(self.who)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Password")
        self.password.setAccessibleName("Password to unlock")
        self.password.setMinimumWidth(260)
        self.password.setMaximumWidth(320)
        self.password.returnPressed.connect(self._submit)
        self.error = _error_label()
        self.error.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        button = QPushButton(icon("unlock"), "Unlock")
        button.setAccessibleName("Unlock")
        button.clicked.connect(self._submit)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.password)
        row.addWidget(button)
        row.addStretch(1)
        box.addLayout(row)
        box.addWidget(self.error)
        self.draft_note = QLabel()
        self.draft_note.setObjectName("draftNote")
        self.draft_note.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.draft_note.setWordWrap(True)
        box.addWidget(self.draft_note)
        self.switch_button = QPushButton(icon("user"), "Switch user…")
        self.switch_button.setObjectName("lockSwitchUser")
        self.switch_button.setToolTip("Sign out and let someone else sign in")
        self.switch_button.clicked.connect(lambda: self._leave(self.switch_user_requested))
        self.sign_out_button = QPushButton(icon("signout"), "Sign out and quit")
        self.sign_out_button.setObjectName("lockSignOut")
        self.sign_out_button.setToolTip("Sign out and close ClosePlan Desktop")
        self.sign_out_button.clicked.connect(lambda: self._leave(self.sign_out_requested))
        for b in (self.switch_button, self.sign_out_button):
            b.setFlat(True)
        exits = QHBoxLayout()
        exits.addStretch(1)
        exits.addWidget(self.switch_button)
        exits.addWidget(self.sign_out_button)
        exits.addStretch(1)
        box.addSpacing(16)
        box.addLayout(exits)
        outer.addLayout(box)
        outer.addStretch(3)

    def prepare(self, who: str) -> None:
        self.who.setText(f"Signed in as {who}. Enter your password to continue.")
        self.error.hide()
        self.draft_note.hide()
        self.password.clear()
        self.password.setFocus()

    def say_draft_kept(self) -> None:
        """An unsaved form was closed by the lock and is kept in memory: say so."""
        self.draft_note.setText("The deal you were editing was not saved. It is kept in "
                                "memory (not on disk) and opens again when you unlock.")
        self.draft_note.show()

    def show_error(self, text: str) -> None:
        set_message(self.error, text)
        self.password.clear()

    def _submit(self) -> None:
        self.unlock_requested.emit(self.password.text())

    def _leave(self, signal: SignalInstance) -> None:
        self.password.clear()
        signal.emit()
