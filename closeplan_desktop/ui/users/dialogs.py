"""The Users pane's dialogs: add a user, change a role, reset a password. Each calls core
and shows core's refusal in its own message line, staying open."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...core.domain import validation
from ...core.domain.enums import UserRole
from ...core.domain.errors import ClosePlanError
from ...core.usecases import users
from ...core.usecases.users import UserInfo
from ..icons import icon
from ..kit import ops
from ..kit.dialogs import ok_cancel
from ..kit.ops import Kind
from ..kit.password import NewPasswordFields
from ..kit.widgets import heading, message_label, muted, set_message, with_message
from ..signed_in import SignedIn

ROLE_CHOICES = ((UserRole.USER, "User – works deals"),
                (UserRole.ADMIN, "Admin – also manages users, keys and the audit"))
# Every user change is a security event.
USER_WRITES = frozenset({Kind.USERS, Kind.AUDIT})


class _PaneDialog(QDialog):
    """A dialog with a red form-level message line and password fields it clears on close."""

    def __init__(self, title: str, parent: QWidget | None,
                 signed_in: SignedIn | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(20, 18, 20, 16)
        self.layout_.setSpacing(12)
        # The dialog fits its content, growing and shrinking as messages come and go.
        self.layout_.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setVerticalSpacing(10)
        self.error = message_label("Problem")
        self.error.setObjectName("dialogError")
        self.passwords: list[NewPasswordFields] = []

    def show_problem(self, text: str) -> None:
        set_message(self.error, text)

    def run(self, work: Any) -> ops.Outcome[Any]:
        """A user change through core; a refusal shows in this dialog, which stays open."""
        assert self.signed_in is not None
        return ops.run_now(work, parent=self, on_failure=self.show_problem,
                           changes=USER_WRITES, hub=self.signed_in.changes)

    def done(self, result: int) -> None:
        for fields_ in self.passwords:
            fields_.clear()
        super().done(result)


class AddUserDialog(_PaneDialog):
    """First name, last name, email, role and a password; Create calls core's add_user.
    A refusal from core is shown in the dialog, which stays open."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__("Add User", parent, signed_in)
        self.setObjectName("addUserDialog")
        self.created: UserInfo | None = None
        self._touched: set[str] = set()
        self.layout_.addWidget(heading("Add a user", 1.2))
        self.layout_.addWidget(muted(
            "They sign in with this email and password. Give them the password in person; "
            "they can change it under Account → Change password (or with closeplan-admin "
            "user passwd)."))
        form = self.form
        self.first_name = self._line("firstName", "First name")
        self.first_name.setMinimumWidth(320)
        self.last_name = self._line("lastName", "Last name")
        self.email = self._line("email", "Email")
        self.email.setPlaceholderText("name@hospital.org")
        self.first_error = message_label("First name problem")
        self.last_error = message_label("Last name problem")
        self.email_error = message_label("Email problem")
        self.role = QComboBox()
        self.role.setObjectName("role")
        self.role.setAccessibleName("Role")
        for value, label in ROLE_CHOICES:
            self.role.addItem(label, value.value)
        form.addRow("&First name", with_message(self.first_name, self.first_error))
        form.addRow("&Last name", with_message(self.last_name, self.last_error))
        form.addRow("&Email", with_message(self.email, self.email_error))
        form.addRow("&Role", self.role)
        # The strength is scored with what core's add_user counts as easy to guess.
        self.new_password = NewPasswordFields(
            signed_in.policy.password_min_length, parent=self,
            inputs=lambda: (self.email.text(), self.first_name.text(), self.last_name.text()))
        self.new_password.add_rows(form)
        self.passwords.append(self.new_password)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.error)
        self.buttons = QDialogButtonBox()
        self.create_button = self.buttons.addButton("Create user",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setObjectName("createUserButton")
        self.create_button.setAccessibleName("Create user")
        self.create_button.setIcon(icon("add"))
        self.create_button.setDefault(True)
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)
        for a, b in ((self.first_name, self.last_name), (self.last_name, self.email),
                     (self.email, self.role), (self.role, self.new_password.password),
                     (self.new_password.password, self.new_password.confirm),
                     (self.new_password.confirm, self.create_button),
                     (self.create_button, cancel)):
            self.setTabOrder(a, b)
        self.new_password.changed.connect(self._update)
        self.first_name.setFocus()
        self._update()

    def _line(self, name: str, accessible: str) -> QLineEdit:
        line = QLineEdit()
        line.setObjectName(name)
        line.setAccessibleName(accessible)
        line.setMaxLength(validation.MAX_EMAIL if name == "email" else validation.MAX_NAME + 20)
        line.textEdited.connect(lambda _=None, n=name: self._touched.add(n))
        line.textChanged.connect(self._update)
        return line

    @staticmethod
    def _check(fn: Any, *args: Any) -> str:
        try:
            fn(*args)
        except ClosePlanError as exc:
            return str(exc)
        return ""

    def _update(self) -> None:
        problems = {
            "firstName": self._check(validation.person_name, self.first_name.text(),
                                     "First name"),
            "lastName": self._check(validation.person_name, self.last_name.text(), "Last name"),
            "email": self._check(validation.email, self.email.text()),
        }
        for name, label in (("firstName", self.first_error), ("lastName", self.last_error),
                            ("email", self.email_error)):
            set_message(label, problems[name] if name in self._touched else "")
        self.create_button.setEnabled(not any(problems.values())
                                      and self.new_password.is_valid())
        self.show_problem("")

    def submit(self) -> None:
        if not self.create_button.isEnabled():
            return
        session = self.signed_in.core
        email, first, last = self.email.text(), self.first_name.text(), self.last_name.text()
        role, password = str(self.role.currentData()), self.new_password.value()
        done = self.run(lambda: users.add_user(session, email, first, last, role, password))
        if done.ok:
            self.created = done.value
            self.accept()


class RoleDialog(_PaneDialog):
    def __init__(self, user: UserInfo, parent: QWidget | None = None) -> None:
        super().__init__("Change Role", parent)
        self.setObjectName("roleDialog")
        self.layout_.addWidget(heading(f"Role of {user.full_name}", 1.2))
        self.layout_.addWidget(muted(user.email))
        self.role = QComboBox()
        self.role.setObjectName("role")
        self.role.setAccessibleName("Role")
        for value, label in ROLE_CHOICES:
            self.role.addItem(label, value.value)
        self.role.setCurrentIndex(max(0, self.role.findData(user.role.value)))
        self.role.setMinimumWidth(320)
        self.form.addRow("&Role", self.role)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(muted("The change applies at once, also to a session they "
                                      "have open, and is logged."))
        buttons = QDialogButtonBox()
        ok = buttons.addButton("Change role", QDialogButtonBox.ButtonRole.AcceptRole)
        ok.setObjectName("changeRoleOk")
        ok.setAccessibleName("Change role")
        ok.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.layout_.addWidget(buttons)

    def value(self) -> str:
        return str(self.role.currentData())


class ResetPasswordDialog(_PaneDialog):
    """A new password for a user; Reset calls core's reset_password."""

    def __init__(self, signed_in: SignedIn, user: UserInfo,
                 parent: QWidget | None = None) -> None:
        super().__init__("Reset Password", parent, signed_in)
        self.setObjectName("resetPasswordDialog")
        self.user = user
        self.layout_.addWidget(heading(f"New password for {user.full_name}", 1.2))
        self.layout_.addWidget(muted(f"{user.email}. Their current password stops working. "
                                      "Give them the new one in person."))
        self.new_password = NewPasswordFields(signed_in.policy.password_min_length,
                                              "New password", self)
        self.new_password.password.setMinimumWidth(320)
        self.new_password.add_rows(self.form)
        self.passwords.append(self.new_password)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(self.error)
        buttons, self.ok = ok_cancel(self, "Reset password", "key", "resetPasswordOk",
                                     self.submit)
        self.layout_.addWidget(buttons)
        self.new_password.changed.connect(self._update)
        self.new_password.password.setFocus()
        self._update()

    def _update(self) -> None:
        self.ok.setEnabled(self.new_password.is_valid())
        self.show_problem("")

    def submit(self) -> None:
        if not self.ok.isEnabled():
            return
        session, user_id = self.signed_in.core, self.user.id
        password = self.new_password.value()
        if self.run(lambda: users.reset_password(session, user_id, password)).ok:
            self.accept()
