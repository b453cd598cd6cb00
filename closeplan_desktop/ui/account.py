"""Account > Change password…: the signed-in user changes their own password, proving the
current one (core's `users.change_password`, which logs it as a security event)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ..core.usecases import users
from .kit import dialogs, ops
from .kit.dialogs import ok_cancel
from .kit.ops import Kind
from .kit.password import NewPasswordFields
from .kit.widgets import heading, message_label, muted, set_message
from .signed_in import SignedIn


class ChangePasswordDialog(QDialog):
    """Current password, the new one twice (with core's length rule and strength advice
    as the user types); a refusal (a wrong current password) shows here, and the dialog
    stays open."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.changed = False
        self.setWindowTitle("Change Password")
        self.setObjectName("changePasswordDialog")
        core = signed_in.core
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)
        layout.addWidget(heading("Change your password", 1.2))
        layout.addWidget(muted(f"Signed in as {core.email}. The new password is needed from "
                               "the next sign-in or unlock on."))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.current = QLineEdit()
        self.current.setObjectName("currentPassword")
        self.current.setAccessibleName("Current password")
        self.current.setEchoMode(QLineEdit.EchoMode.Password)
        self.current.setMinimumWidth(320)
        form.addRow("C&urrent password", self.current)
        self.new = NewPasswordFields(signed_in.policy.password_min_length, "New password",
                                     self, inputs=lambda: (core.email, core.display_name))
        self.new.add_rows(form)
        layout.addLayout(form)
        self.error = message_label("Problem")
        self.error.setObjectName("dialogError")
        layout.addWidget(self.error)
        self.buttons, self.ok = ok_cancel(self, "Change password", "key",
                                          "changePasswordButton", self.submit)
        layout.addWidget(self.buttons)
        self.current.textChanged.connect(self._update)
        self.new.changed.connect(self._update)
        self.current.setFocus()
        self._update()

    def _update(self) -> None:
        self.ok.setEnabled(bool(self.current.text()) and self.new.is_valid())

    def submit(self) -> None:
        if not self.ok.isEnabled():
            return
        core = self.signed_in.core
        current, new = self.current.text(), self.new.value()
        done = ops.run_now(lambda: users.change_password(core, current, new), parent=self,
                           on_failure=lambda text: set_message(self.error, text),
                           changes={Kind.USERS, Kind.AUDIT}, hub=self.signed_in.changes)
        if done.ok:
            self.changed = True
            self.accept()

    def done(self, result: int) -> None:
        # Passwords do not outlive the dialog.
        self.current.clear()
        self.new.clear()
        super().done(result)


def change_password(signed_in: SignedIn, parent: QWidget) -> bool:
    """Account > Change password…; True when it was changed (and the user told so)."""
    if signed_in.is_locked:
        return False
    dialog = ChangePasswordDialog(signed_in, parent)
    dialog.exec()
    dialog.deleteLater()
    if dialog.changed:
        dialogs.inform(parent, "Password changed",
                       "Your password was changed. Use the new one the next time you sign in "
                       "or unlock.")
    return dialog.changed
