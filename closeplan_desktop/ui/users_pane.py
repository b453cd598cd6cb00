"""The Users pane, for tenant admins: list, add, change role, deactivate, reactivate,
reset password.

Every rule (who may do it, the last admin, yourself, what a valid name, email or password
is) is core's: the pane calls core and shows core's message. Inline validation calls
core's validation functions as the user types, so the form says exactly what core would.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.domain import validation
from ..core.domain.enums import UserRole
from ..core.domain.errors import ClosePlanError
from ..core.usecases import users
from ..core.usecases.users import UserInfo
from .icons import icon
from .messages import confirm, error_text, show_error
from .pane import Pane
from .session import AppSession
from .widgets import heading, muted

COLUMNS = ("Name", "Email", "Role", "Status", "Last sign-in")
ROLE_LABELS = {UserRole.ADMIN: "Admin", UserRole.USER: "User"}
ROLE_CHOICES = ((UserRole.USER, "User – works deals"),
                (UserRole.ADMIN, "Admin – also manages users, keys and the audit"))
ERROR_COLOR = "#b91c1c"
OK_COLOR = "#15803d"
USER_ROLE = Qt.ItemDataRole.UserRole  # the row's UserInfo
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex


def _local(when: Any) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M") if when else "Never"




def _message_label(name: str) -> QLabel:
    """A red line under a field (or a form) for core's validation message."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {ERROR_COLOR};")
    label.setAccessibleName(name)
    label.hide()
    return label


def _set_message(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))


def _with_message(field: QWidget, message: QLabel) -> QWidget:
    holder = QWidget()
    box = QVBoxLayout(holder)
    box.setContentsMargins(0, 0, 0, 0)
    box.setSpacing(2)
    box.addWidget(field)
    box.addWidget(message)
    return holder


# ---- the table model --------------------------------------------------------------------


class UsersModel(QAbstractTableModel):
    """The tenant's users as display strings; deactivated users are greyed."""

    def __init__(self, me: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.me = me
        self.rows: list[UserInfo] = []
        self._display: list[tuple[str, ...]] = []

    def set_users(self, rows: list[UserInfo]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._display = [self._render(u) for u in self.rows]
        self.endResetModel()

    def _render(self, u: UserInfo) -> tuple[str, ...]:
        name = u.full_name + ("  (you)" if u.id == self.me else "")
        return (name, u.email, ROLE_LABELS.get(u.role, str(u.role)),
                "Active" if u.active else "Deactivated", _local(u.last_login_at))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._display)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        user = self.rows[row]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._display[row][col]
        if role == Qt.ItemDataRole.ForegroundRole and not user.active:
            return QGuiApplication.palette().brush(QPalette.ColorGroup.Disabled,
                                                   QPalette.ColorRole.Text)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3 and not user.active:
                return "Deactivated: cannot sign in. Their deals and log rows are kept."
            if col == 4 and user.last_login_at:
                return user.last_login_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
            return None
        if role == USER_ROLE:
            return user
        if role == SORT_ROLE:
            if col == 4:  # never signed in sorts first
                return user.last_login_at.isoformat() if user.last_login_at else ""
            return self._display[row][col].casefold()
        if role == SEARCH_ROLE:
            return f"{user.first_name} {user.last_name}\n{user.email}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


# ---- password fields (also used for recovery-kit passphrases) ---------------------------


class NewPasswordFields(QObject):
    """A new password and its confirmation, checked by core's `validation.password` as the
    user types; the policy hint turns green once the password satisfies it. `add_rows`
    puts the two rows into the caller's form, so labels line up with its other rows."""

    changed = Signal()

    def __init__(self, min_length: int, label: str = "Password",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_length = min_length
        self.label = label
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
        self.password_error = _message_label(f"{label} problem")
        self.confirm_error = _message_label(f"Confirm {label.lower()} problem")
        self.password_box = QWidget()
        pw_layout = QVBoxLayout(self.password_box)
        pw_layout.setContentsMargins(0, 0, 0, 0)
        pw_layout.setSpacing(2)
        pw_layout.addWidget(self.password)
        pw_layout.addWidget(self.hint)
        pw_layout.addWidget(self.password_error)
        self.confirm_box = _with_message(self.confirm, self.confirm_error)
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
        return ""

    def _update(self) -> None:
        text = self.password.text()
        problem = self._problem()
        ok = not problem
        self.hint.setStyleSheet(f"color: {OK_COLOR};" if ok else "")
        self.hint.setForegroundRole(QPalette.ColorRole.WindowText if ok
                                    else QPalette.ColorRole.PlaceholderText)
        self.hint.setText(("✓ " if ok else "") + f"At least {self.min_length} characters, "
                          f"at most {validation.BCRYPT_MAX_BYTES} bytes")
        _set_message(self.password_error, problem if text else "")
        mismatch = bool(self.confirm.text()) and self.confirm.text() != text
        _set_message(self.confirm_error,
                     f"The two {self.label.lower()}s do not match." if mismatch else "")
        self.changed.emit()

    def is_valid(self) -> bool:
        return not self._problem() and self.confirm.text() == self.password.text()

    def value(self) -> str:
        return self.password.text()

    def clear(self) -> None:
        self.password.clear()
        self.confirm.clear()


class _PaneDialog(QDialog):
    """A dialog with a red form-level message line and password fields it clears on close."""

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(20, 18, 20, 16)
        self.layout_.setSpacing(12)
        # The dialog fits its content, growing and shrinking as messages come and go.
        self.layout_.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setVerticalSpacing(10)
        self.error = _message_label("Problem")
        self.error.setObjectName("dialogError")
        self.passwords: list[NewPasswordFields] = []

    def show_problem(self, text: str) -> None:
        _set_message(self.error, text)

    def done(self, result: int) -> None:
        for fields_ in self.passwords:
            fields_.clear()
        super().done(result)


class AddUserDialog(_PaneDialog):
    """First name, last name, email, role and a password; Create calls core's add_user.
    A refusal from core is shown in the dialog, which stays open."""

    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__("Add User", parent)
        self.setObjectName("addUserDialog")
        self.app_session = app_session
        self.created: UserInfo | None = None
        self._touched: set[str] = set()
        self.layout_.addWidget(heading("Add a user", 1.2))
        self.layout_.addWidget(muted("They sign in with this email and password. Give them "
                                      "the password in person; they can change it later."))
        form = self.form
        self.first_name = self._line("firstName", "First name")
        self.first_name.setMinimumWidth(320)
        self.last_name = self._line("lastName", "Last name")
        self.email = self._line("email", "Email")
        self.email.setPlaceholderText("name@hospital.org")
        self.first_error = _message_label("First name problem")
        self.last_error = _message_label("Last name problem")
        self.email_error = _message_label("Email problem")
        self.role = QComboBox()
        self.role.setObjectName("role")
        self.role.setAccessibleName("Role")
        for value, label in ROLE_CHOICES:
            self.role.addItem(label, value.value)
        form.addRow("&First name", _with_message(self.first_name, self.first_error))
        form.addRow("&Last name", _with_message(self.last_name, self.last_error))
        form.addRow("&Email", _with_message(self.email, self.email_error))
        form.addRow("&Role", self.role)
        self.new_password = NewPasswordFields(app_session.policy.password_min_length,
                                              parent=self)
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
            _set_message(label, problems[name] if name in self._touched else "")
        self.create_button.setEnabled(not any(problems.values())
                                      and self.new_password.is_valid())
        self.show_problem("")

    def submit(self) -> None:
        if not self.create_button.isEnabled():
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.created = users.add_user(self.app_session.core, self.email.text(),
                                          self.first_name.text(), self.last_name.text(),
                                          str(self.role.currentData()),
                                          self.new_password.value())
        except ClosePlanError as exc:
            self.show_problem(error_text(exc))
            return
        finally:
            QApplication.restoreOverrideCursor()
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

    def __init__(self, app_session: AppSession, user: UserInfo,
                 parent: QWidget | None = None) -> None:
        super().__init__("Reset Password", parent)
        self.setObjectName("resetPasswordDialog")
        self.app_session = app_session
        self.user = user
        self.layout_.addWidget(heading(f"New password for {user.full_name}", 1.2))
        self.layout_.addWidget(muted(f"{user.email}. Their current password stops working. "
                                      "Give them the new one in person."))
        self.new_password = NewPasswordFields(app_session.policy.password_min_length,
                                              "New password", self)
        self.new_password.password.setMinimumWidth(320)
        self.new_password.add_rows(self.form)
        self.passwords.append(self.new_password)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.ok = buttons.addButton("Reset password", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("resetPasswordOk")
        self.ok.setAccessibleName("Reset password")
        self.ok.setIcon(icon("key"))
        self.ok.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
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
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            users.reset_password(self.app_session.core, self.user.id, self.new_password.value())
        except ClosePlanError as exc:
            self.show_problem(error_text(exc))
            return
        finally:
            QApplication.restoreOverrideCursor()
        self.accept()


# ---- the pane ---------------------------------------------------------------------------


class UsersPane(Pane):
    title = "Users"

    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(app_session, parent)
        self.setObjectName("usersPane")
        self.active_dialog: QDialog | None = None
        self.model = UsersModel(app_session.core.user_id, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterRole(SEARCH_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(10)
        head = QVBoxLayout()
        head.setSpacing(2)
        head.addWidget(heading("Users"))
        self.subtitle = muted("People who can sign in to this workspace. Users are "
                               "deactivated, never deleted, so the audit keeps pointing at "
                               "them.")
        head.addWidget(self.subtitle)
        layout.addLayout(head)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.add_button = self._button("addUserButton", "Add user…", "add", "Add user",
                                       "Add a user to this tenant", self.add_user)
        self.role_button = self._button("roleButton", "Change role…", "users", "Change role",
                                        "Make the selected user an Admin or a User",
                                        self.change_role)
        self.deactivate_button = self._button("deactivateButton", "Deactivate", "lock",
                                              "Deactivate user",
                                              "Stop the selected user from signing in",
                                              self.deactivate)
        self.reactivate_button = self._button("reactivateButton", "Reactivate", "unlock",
                                              "Reactivate user",
                                              "Let the selected user sign in again",
                                              self.reactivate)
        self.reset_button = self._button("resetPasswordButton", "Reset password…", "key",
                                         "Reset password",
                                         "Set a new password for the selected user",
                                         self.reset_password)
        for b in (self.add_button, self.role_button, self.deactivate_button,
                  self.reactivate_button, self.reset_button):
            bar.addWidget(b)
        bar.addStretch(1)
        self.search = QLineEdit()
        self.search.setObjectName("usersSearch")
        self.search.setAccessibleName("Search users")
        self.search.setPlaceholderText("Search name or email")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(220)
        self.search.textChanged.connect(self._filter)
        bar.addWidget(self.search)
        layout.addLayout(bar)

        self.table = QTableView()
        self.table.setObjectName("usersTable")
        self.table.setAccessibleName("Users")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # core's order until clicked
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 220), (2, 90), (3, 110), (4, 150)):
            header.resizeSection(col, width)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _=None: self.change_role())

        self.empty = QLabel()
        self.empty.setObjectName("usersEmpty")
        self.empty.setAccessibleName("No users")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)
        self.count = muted()
        self.count.setObjectName("usersCount")
        self.count.setAccessibleName("User count")
        layout.addWidget(self.count)

        for a, b in ((self.add_button, self.role_button),
                     (self.role_button, self.deactivate_button),
                     (self.deactivate_button, self.reactivate_button),
                     (self.reactivate_button, self.reset_button),
                     (self.reset_button, self.search), (self.search, self.table)):
            self.setTabOrder(a, b)
        self.refresh()

    def _button(self, name: str, text: str, icon_name: str, accessible: str, tip: str,
                slot: Any) -> QPushButton:
        button = QPushButton(icon(icon_name), text)
        button.setObjectName(name)
        button.setAccessibleName(accessible)
        button.setToolTip(tip)
        button.clicked.connect(lambda _=False: slot())
        return button

    # ---- showing --------------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected_user()
        try:
            rows = users.list_users(self.app_session.core)
        except ClosePlanError as exc:
            self.model.set_users([])
            self._show_empty(error_text(exc))
            return
        self.model.set_users(rows)
        if selected is not None:
            self.select_user(selected.id)
        self._filter()

    def _filter(self) -> None:
        self.proxy.setFilterFixedString(self.search.text().strip())
        total = len(self.model.rows)
        active = sum(1 for u in self.model.rows if u.active)
        shown = self.proxy.rowCount()
        if total == 0:
            self._show_empty("No users yet. Click “Add user…” to add the first person who "
                             "will work in this workspace.")
            return
        if shown == 0:
            query = self.search.text().strip()
            self._show_empty(f"No user matches “{query}”. Clear the search to see everyone.")
            return
        self.stack.setCurrentWidget(self.table)
        text = f"{total} user{'s' if total != 1 else ''} · {active} active"
        if shown != total:
            text = f"Showing {shown} of {text}"
        self.count.setText(text)
        self._update_buttons()

    def _show_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)
        self.count.setText("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        user = self.selected_user()
        self.role_button.setEnabled(user is not None)
        self.reset_button.setEnabled(user is not None)
        self.deactivate_button.setEnabled(user is not None and user.active)
        self.reactivate_button.setEnabled(user is not None and not user.active)

    def selected_user(self) -> UserInfo | None:
        if self.stack.currentWidget() is not self.table:
            return None
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = rows[0].data(USER_ROLE)
        return value if isinstance(value, UserInfo) else None

    def select_user(self, user_id: str) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            user = index.data(USER_ROLE)
            if isinstance(user, UserInfo) and user.id == user_id:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return True
        return False

    # ---- actions --------------------------------------------------------------------

    def _run_dialog(self, dialog: QDialog) -> bool:
        """Show a modal dialog, remembered in `active_dialog` so that locking (and tests)
        can reach it."""
        self.active_dialog = dialog
        try:
            return dialog.exec() == QDialog.DialogCode.Accepted
        finally:
            self.active_dialog = None
            dialog.deleteLater()

    def add_user(self) -> None:
        dialog = AddUserDialog(self.app_session, self)
        if self._run_dialog(dialog) and dialog.created is not None:
            self.search.clear()
            self.refresh()
            self.select_user(dialog.created.id)

    def change_role(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        dialog = RoleDialog(user, self)
        if not self._run_dialog(dialog):
            return
        self._apply("Cannot change the role", users.set_role, user.id, dialog.value())

    def deactivate(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        if not confirm(self, "Deactivate user",
                       f"Deactivate {user.full_name} ({user.email})?\n\nThey can no longer "
                       "sign in. Their deals and log entries are kept, and you can "
                       "reactivate them later.", "Deactivate"):
            return
        self._apply("Cannot deactivate", users.deactivate, user.id)

    def reactivate(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        self._apply("Cannot reactivate", users.reactivate, user.id)

    def reset_password(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        if self._run_dialog(ResetPasswordDialog(self.app_session, user, self)):
            self.refresh()

    def _apply(self, title: str, fn: Any, *args: Any) -> bool:
        try:
            fn(self.app_session.core, *args)
        except ClosePlanError as exc:
            show_error(self, title, error_text(exc))
            self.refresh()
            return False
        self.refresh()
        return True

    def clear_sensitive(self) -> None:
        """Nothing here holds PHI; close an open dialog (its password fields clear)."""
        if self.active_dialog is not None:
            self.active_dialog.reject()
