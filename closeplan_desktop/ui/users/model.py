"""The Users table: the tenant's users as display strings; deactivated users are greyed."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget

from ...core.domain.enums import UserRole
from ...core.usecases.users import UserInfo
from ..kit.formatting import local_minute, local_second_zone

COLUMNS = ("Name", "Email", "Role", "Status", "Last sign-in")
ROLE_LABELS = {UserRole.ADMIN: "Admin", UserRole.USER: "User"}
USER_ROLE = Qt.ItemDataRole.UserRole  # the row's UserInfo
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex


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
                ("Active" if u.active else "Deactivated") + (" · locked out" if u.locked else ""),
                local_minute(u.last_login_at, "Never"))

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
                return local_second_zone(user.last_login_at)
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
