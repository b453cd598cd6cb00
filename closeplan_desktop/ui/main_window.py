"""The main window: navigation between panes, menus and shortcuts, status bar, locking."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from .. import __version__
from ..core.domain.errors import ClosePlanError
from ..core.usecases import users
from .deals_pane import DealsPane
from .icons import icon
from .idle import IdleWatcher, SessionSignals
from .messages import error_text
from .pane import Pane
from .session import AppSession
from .signin import LockScreen


class MainWindow(QMainWindow):
    signed_out = Signal()

    def __init__(self, app_session: AppSession) -> None:
        super().__init__()
        self.app_session = app_session
        self.setWindowTitle("ClosePlan Desktop")
        self.setWindowIcon(icon("closeplan"))
        self.setObjectName("mainWindow")
        core = app_session.core
        self.is_admin = core.is_admin
        try:
            self.tenant = users.tenant_name(core)
        except ClosePlanError:
            self.tenant = ""

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName("Navigation")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setFixedWidth(168)
        self.stack = QStackedWidget()
        # The panes built so far; the others are built when first shown (a faster first
        # page after sign-in). `pane_keys` lists every pane this user has.
        self.panes: dict[str, Pane] = {}
        self.pane_keys: list[str] = []
        self._factories: dict[str, Callable[[], Pane]] = {}
        self.deals = DealsPane(app_session)
        self._add_pane("deals", "Deals", lambda: self.deals)
        if self.is_admin:
            self._add_pane("users", "Users", self._users_pane)
            self._add_pane("audit", "Audit", self._audit_pane)
        self.lock_screen = LockScreen()
        self.lock_screen.unlock_requested.connect(self._unlock)
        self.stack.addWidget(self.lock_screen)
        self.nav.currentRowChanged.connect(self._show_row)

        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(body)

        self._build_menus()
        self._build_status()
        self.nav.setCurrentRow(0)

        app_session.locked.connect(self._on_locked)
        app_session.unlocked.connect(self._on_unlocked)
        self.idle = IdleWatcher(app_session.policy.idle_lock_minutes, self)
        self.idle.idle.connect(app_session.lock)
        QApplication.instance().installEventFilter(self.idle)
        self.idle.start()
        self.session_signals = SessionSignals(self)
        self.session_signals.lock_requested.connect(app_session.lock)
        self._restore_geometry()

    # ---- construction ---------------------------------------------------------------

    def _add_pane(self, key: str, label: str, factory: Callable[[], Pane]) -> None:
        self.pane_keys.append(key)
        self._factories[key] = factory
        item = QListWidgetItem(icon(key), label)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setSizeHint(QSize(150, 40))
        self.nav.addItem(item)

    def _users_pane(self) -> Pane:
        from .users_pane import UsersPane

        return UsersPane(self.app_session)

    def _audit_pane(self) -> Pane:
        from .audit_pane import AuditPane

        return AuditPane(self.app_session)

    def pane(self, key: str) -> Pane:
        """The pane for `key` (one of `pane_keys`), built on first use."""
        found = self.panes.get(key)
        if found is None:
            found = self.panes[key] = self._factories[key]()
            self.stack.addWidget(found)
        return found

    def _action(self, text: str, slot: object, shortcut: QKeySequence | str | None = None,
                icon_name: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        d = self.deals
        file = bar.addMenu("&File")
        self.act_new = self._action("&New Deal…", d.new_deal, QKeySequence.StandardKey.New,
                                    "add")
        file.addAction(self.act_new)
        file.addAction(self._action("&Import Deals from CSV…", d.import_csv, "Ctrl+I",
                                    "download"))
        file.addSeparator()
        self.act_lock = self._action("&Lock", self.app_session.lock, "Ctrl+L", "lock")
        file.addAction(self.act_lock)
        file.addAction(self._action("Sign &Out", self.sign_out, "Ctrl+Shift+Q", "signout"))
        file.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        edit = bar.addMenu("&Edit")
        edit.addAction(self._action("&Edit Deal…", d.edit_deal, "Ctrl+E", "edit"))
        edit.addAction(self._action("&Delete Deal…", d.delete_deal, QKeySequence.StandardKey
                                    .Delete, "delete"))
        edit.addAction(self._action("&Restore Deal", d.restore_deal, "Ctrl+Shift+R",
                                    "restore"))
        edit.addSeparator()
        edit.addAction(self._action("&Find Deals", d.focus_search, QKeySequence.StandardKey
                                    .Find, "search"))
        edit.addAction(self._action("&Reveal PHI", d.detail.reveal, "Ctrl+Shift+P", "reveal"))
        edit.addAction(self._action("&Hide PHI", d.detail.hide_phi, "Ctrl+Shift+H", "hide"))

        view = bar.addMenu("&View")
        view.addAction(self._action("&Deals", lambda: self.show_pane("deals"), "Ctrl+1",
                                    "deals"))
        if self.is_admin:
            view.addAction(self._action("&Users", lambda: self.show_pane("users"), "Ctrl+2",
                                        "users"))
            view.addAction(self._action("&Audit", lambda: self.show_pane("audit"), "Ctrl+3",
                                        "audit"))
        view.addSeparator()
        view.addAction(d.deleted_action)
        view.addAction(self._action("&Refresh", self.refresh, QKeySequence.StandardKey.Refresh,
                                    "refresh"))
        if self.is_admin:
            tools = bar.addMenu("&Tools")
            tools.addAction(self._action("&Keys and Settings…", self.open_keys, "Ctrl+K",
                                         "key"))
            tools.addAction(self._action("&Verify Audit Chain", lambda: self._audit(
                "verify_chain"), None, "verify"))
            tools.addAction(self._action("E&xport Audit…", lambda: self._audit("export_audit"),
                                         None, "export"))
        help_ = bar.addMenu("&Help")
        help_.addAction(self._action("&About ClosePlan Desktop", self.about, None, "about"))

    def _build_status(self) -> None:
        core = self.app_session.core
        who = QLabel(f"{core.display_name} ({core.email})")
        who.setObjectName("statusUser")
        role = QLabel(core.role.value.title())
        role.setObjectName("statusRole")
        tenant = QLabel(self.tenant)
        tenant.setObjectName("statusTenant")
        where = QLabel(str(self.app_session.ws.path))
        where.setObjectName("statusWorkspace")
        where.setToolTip("Workspace folder")
        sb = self.statusBar()
        for widget in (who, role, tenant):
            sb.addWidget(widget)
        sb.addPermanentWidget(where)

    # ---- navigation -----------------------------------------------------------------

    def _audit(self, method: str) -> None:
        if not self.app_session.is_locked:
            getattr(self.pane("audit"), method)()

    def show_pane(self, key: str) -> None:
        if self.app_session.is_locked or key not in self.pane_keys:
            return
        for row in range(self.nav.count()):
            if self.nav.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.nav.setCurrentRow(row)

    def current_pane_key(self) -> str:
        item = self.nav.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item else ""

    def _show_row(self, row: int) -> None:
        if self.app_session.is_locked or row < 0:
            return
        key = self.nav.item(row).data(Qt.ItemDataRole.UserRole)
        pane = self.pane(key)
        self.stack.setCurrentWidget(pane)
        pane.refresh()

    def refresh(self) -> None:
        pane = self.stack.currentWidget()
        if isinstance(pane, Pane):
            pane.refresh()

    # ---- locking --------------------------------------------------------------------

    def _on_locked(self) -> None:
        for pane in self.panes.values():
            pane.clear_sensitive()
        # Dialogs can hold PHI (an edit form): close them.
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()
        self.idle.stop()
        self.nav.setEnabled(False)
        self.menuBar().setEnabled(False)
        self.lock_screen.prepare(self.app_session.core.email)
        self.stack.setCurrentWidget(self.lock_screen)

    def _unlock(self, password: str) -> None:
        try:
            self.app_session.unlock(password)
        except ClosePlanError as exc:
            self.lock_screen.show_error(error_text(exc))

    def _on_unlocked(self) -> None:
        self.nav.setEnabled(True)
        self.menuBar().setEnabled(True)
        self.idle.start()
        self._show_row(self.nav.currentRow())

    # ---- actions --------------------------------------------------------------------

    def open_keys(self) -> None:
        from .keys_dialog import KeysDialog

        KeysDialog(self.app_session, self).exec()

    def about(self) -> None:
        QMessageBox.about(
            self, "About ClosePlan Desktop",
            f"<h3>ClosePlan Desktop {__version__}</h3>"
            "<p>Offline deal management for healthcare sales.</p>"
            "<p>PHI is encrypted at rest (AES-256-GCM, keys in the OS keyring) and every "
            "view of it is logged.</p>"
            f"<p>Workspace: {self.app_session.ws.path}</p>")

    def sign_out(self) -> None:
        for pane in self.panes.values():
            pane.clear_sensitive()
        self.signed_out.emit()
        self.close()

    # ---- geometry -------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("mainWindow/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = settings.value("mainWindow/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        for pane in self.panes.values():
            pane.clear_sensitive()
        settings = QSettings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/state", self.saveState())
        QApplication.instance().removeEventFilter(self.idle)
        super().closeEvent(event)
