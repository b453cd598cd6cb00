"""The Users pane, for tenant admins: list, add, change role, deactivate, reactivate,
reset password.

Every rule (who may do it, the last admin, yourself, what a valid name, email or password
is) is core's: the pane calls core and shows core's message. Inline validation calls
core's validation functions as the user types, so the form says exactly what core would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.usecases import users
from ...core.usecases.users import UserInfo
from ..icons import icon
from ..kit import dialogs
from ..kit.ops import Kind
from ..kit.widgets import button, heading, muted
from ..pane import Pane
from ..signed_in import SignedIn
from .dialogs import USER_WRITES, AddUserDialog, ResetPasswordDialog, RoleDialog
from .model import SEARCH_ROLE, SORT_ROLE, USER_ROLE, UsersModel


class UsersPane(Pane):
    key = "users"
    title = "Users"
    icon_name = "users"
    shortcut = "Ctrl+2"
    admin_only = True
    shows = frozenset({Kind.USERS})

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(signed_in, parent)
        self.setObjectName("usersPane")
        self.active_dialog: QDialog | None = None
        self.model = UsersModel(signed_in.core.user_id, self)
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
        self.add_button = button("Add user…", "add", self.add_user, name="addUserButton",
                                 accessible="Add user", tip="Add a user to this tenant")
        self.role_button = button("Change role…", "users", self.change_role, name="roleButton",
                                  accessible="Change role",
                                  tip="Make the selected user an Admin or a User")
        self.deactivate_button = button("Deactivate", "lock", self.deactivate,
                                        name="deactivateButton", accessible="Deactivate user",
                                        tip="Stop the selected user from signing in")
        self.reactivate_button = button("Reactivate", "unlock", self.reactivate,
                                        name="reactivateButton", accessible="Reactivate user",
                                        tip="Let the selected user sign in again")
        self.reset_button = button("Reset password…", "key", self.reset_password,
                                   name="resetPasswordButton", accessible="Reset password",
                                   tip="Set a new password for the selected user")
        # Shown only for a user whom failed sign-ins have locked out (issue 13, finding 10).
        self.unlock_button = button("Unlock", "unlock", self.unlock, name="unlockButton",
                                    accessible="Unlock user",
                                    tip="Lift the selected user's sign-in lockout (logged)")
        self.unlock_button.setVisible(False)
        for b in (self.add_button, self.role_button, self.deactivate_button,
                  self.reactivate_button, self.reset_button, self.unlock_button):
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
                     (self.reset_button, self.unlock_button),
                     (self.unlock_button, self.search), (self.search, self.table)):
            self.setTabOrder(a, b)
        self.reload()

    # ---- showing --------------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected_user()
        session = self.signed_in.core
        found = self.read("Cannot list users", lambda: users.list_users(session),
                          on_failure=self._list_failed)
        if found.value is None:
            return
        self.model.set_users(found.value)
        if selected is not None:
            self.select_user(selected.id)
        self._filter()

    def _list_failed(self, message: str) -> None:
        self.model.set_users([])
        self._show_empty(message)

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
        self.unlock_button.setVisible(user is not None and user.locked
                                      and self.signed_in.core.is_admin)

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
        dialog = AddUserDialog(self.signed_in, self)
        if self._run_dialog(dialog) and dialog.created is not None:
            self.search.clear()  # the list was reloaded when the user was added
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
        if not dialogs.confirm(self, "Deactivate user",
                               f"Deactivate {user.full_name} ({user.email})?\n\nThey can no "
                               "longer sign in. Their deals and log entries are kept, and you "
                               "can reactivate them later.", "Deactivate"):
            return
        self._apply("Cannot deactivate", users.deactivate, user.id)

    def reactivate(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        self._apply("Cannot reactivate", users.reactivate, user.id)

    def unlock(self) -> None:
        user = self.selected_user()
        if user is None or not user.locked:
            return
        self._apply("Cannot unlock", users.unlock, user.id)

    def reset_password(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        self._run_dialog(ResetPasswordDialog(self.signed_in, user, self))

    def _apply(self, title: str, fn: Callable[..., object], *args: Any) -> bool:
        session = self.signed_in.core
        return self.run_now(title, lambda: fn(session, *args), changes=USER_WRITES).ok

    def clear_sensitive(self) -> None:
        """Nothing here holds PHI; close an open dialog (its password fields clear)."""
        if self.active_dialog is not None:
            self.active_dialog.reject()
