"""The new-password field pair: users' passwords and recovery-kit passphrases."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ...core.domain import validation
from ...core.domain.errors import ClosePlanError
from ...core.security import passwords
from . import palette
from .widgets import message_label, set_message, with_message


class NewPasswordFields(QObject):
    """A new password and its confirmation, checked by core's `validation.password` as the
    user types; the policy hint turns green once the password satisfies it. With
    `user_inputs` (the user's email, names) core's strength advice shows as they type too
    (what `require_strong` would refuse). `add_rows` puts the two rows into the caller's
    form, so labels line up with its other rows."""

    changed = Signal()

    def __init__(self, min_length: int, label: str = "Password",
                 parent: QObject | None = None,
                 user_inputs: tuple[str, ...] | None = None) -> None:
        super().__init__(parent)
        self.min_length = min_length
        self.label = label
        self.user_inputs = user_inputs
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(label)
        self.password.setObjectName("newPassword")
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setAccessibleName(f"Confirm {label.lower()}")
        self.confirm.setObjectName("confirmPassword")
        self.hint = QLabel()
        self.hint.setObjectName("passwordHint")
        self.hint.setAccessibleName(f"{label} policy")
        self.password_error = message_label(f"{label} problem")
        self.confirm_error = message_label(f"Confirm {label.lower()} problem")
        self.password_box = QWidget()
        pw_layout = QVBoxLayout(self.password_box)
        pw_layout.setContentsMargins(0, 0, 0, 0)
        pw_layout.setSpacing(2)
        pw_layout.addWidget(self.password)
        pw_layout.addWidget(self.hint)
        pw_layout.addWidget(self.password_error)
        self.confirm_box = with_message(self.confirm, self.confirm_error)
        self.password.textChanged.connect(self._update)
        self.confirm.textChanged.connect(self._update)
        self._update()

    def add_rows(self, form: QFormLayout) -> None:
        form.addRow(f"&{self.label}", self.password_box)
        form.addRow(f"C&onfirm {self.label.lower()}", self.confirm_box)

    def _problem(self) -> str:
        try:
            validation.password(self.password.text(), self.min_length)
        except ClosePlanError as exc:
            message = str(exc)
            # Core names the field "Password"; say "Passphrase" (etc.) where that is asked.
            if message.startswith("Password ") and self.label != "Password":
                message = self.label + message[len("Password"):]
            return message
        if self.user_inputs is not None:
            found = passwords.strength(self.password.text(), self.user_inputs)
            if not found.ok:
                return found.message
        return ""

    def _update(self) -> None:
        text = self.password.text()
        problem = self._problem()
        ok = not problem
        self.hint.setStyleSheet(f"color: {palette.ok_name()};" if ok else "")
        self.hint.setForegroundRole(QPalette.ColorRole.WindowText if ok
                                    else QPalette.ColorRole.PlaceholderText)
        self.hint.setText(("✓ " if ok else "") + f"At least {self.min_length} characters, "
                          f"at most {validation.BCRYPT_MAX_BYTES} bytes")
        set_message(self.password_error, problem if text else "")
        mismatch = bool(self.confirm.text()) and self.confirm.text() != text
        set_message(self.confirm_error,
                    f"The two {self.label.lower()}s do not match." if mismatch else "")
        self.changed.emit()

    def is_valid(self) -> bool:
        return not self._problem() and self.confirm.text() == self.password.text()

    def value(self) -> str:
        return self.password.text()

    def clear(self) -> None:
        self.password.clear()
        self.confirm.clear()
