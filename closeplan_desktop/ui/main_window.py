"""The main window: navigation between panes, menus and shortcuts, status bar, locking.

The panes are listed once, in PANES; each declares its key, title, icon, View shortcut,
whether only admins have it, and its menu commands (pane.Pane). The window builds the
navigation, the menus and the shortcuts from those declarations. Only the Deals pane is
built at start; the others are built when first shown or when a command needs them (a
faster first page after sign-in).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from .. import __version__
from ..core.sync import connect
from ..core.sync.connect import Stage
from ..core.usecases import auth, users
from ..core.usecases.auth import BAD_CREDENTIALS
from .audit.pane import AuditPane
from .deals.dialog import DealDialog, Draft
from .deals.pane import DealsPane
from .icons import icon
from .idle import IdleWatcher, SessionSignals
from .kit import dialogs, ops
from .kit.ops import Kind
from .kit.widgets import fit_to_screen, keep_on_screen
from .pane import Command, Pane
from .signed_in import SignedIn
from .signin import LockScreen
from .sync.devices import DevicesPane
from .sync.service import SyncService, is_connected
from .users.pane import UsersPane

# Every pane, in the order of the navigation and the View menu.
PANES: tuple[type[Pane], ...] = (DealsPane, UsersPane, AuditPane, DevicesPane)


def nav_width(nav: QListWidget) -> int:
    """The navigation's width: its widest title, icon and padding (style sheet), no more."""
    nav.ensurePolished()  # the style sheet's font size, not the default
    text = max((nav.fontMetrics().horizontalAdvance(nav.item(i).text())
                for i in range(nav.count())), default=0)
    # icon + gap, the item's padding (2 x 10) and margin (2 x 8), the list's frame.
    return text + nav.iconSize().width() + 8 + 20 + 16 + 8


class MainWindow(QMainWindow):
    signed_out = Signal()
    # Finish connecting made this workspace a connected one: its owner opens a new
    # window on the same session (the sync, its menu and panes come with it).
    reopen_requested = Signal()
    # Set by a sign-out that also ends the app (the lock screen's Sign out and quit).
    quit_after_sign_out = False

    def __init__(self, signed_in: SignedIn, *, sync_later: bool = False) -> None:
        """`sync_later`: the first load from the server still runs (the connect window):
        its owner starts `sync` when it is done."""
        super().__init__()
        self.signed_in = signed_in
        # Unsaved deal forms closed by a lock, reopened after unlocking (memory only).
        self._drafts: list[Draft] = []
        self.setWindowTitle("ClosePlan Desktop")
        self.setWindowIcon(icon("closeplan"))
        self.setObjectName("mainWindow")
        core = signed_in.core
        self.is_admin = core.is_admin
        self.tenant = ops.read(lambda: users.tenant_name(core), on_failure=lambda _t: None
                               ).value or ""

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName("Navigation")
        self.nav.setIconSize(QSize(20, 20))
        self.stack = QStackedWidget()
        # Sync with the organisation's server (a connected workspace only); a connection
        # left waiting for approval, or a copied workspace, offers Finish connecting.
        self.stage = connect.stage(signed_in.ws)
        self.unfinished = self.stage in (Stage.AWAITING, Stage.COPIED)
        self.sync = signed_in.sync = SyncService(signed_in, self) \
            if is_connected(signed_in) and not self.unfinished else None
        # The panes this user has, by key; `panes` holds those built so far.
        self.pane_classes = {cls.key: cls for cls in PANES
                             if (self.is_admin or not cls.admin_only)
                             and (self.sync is not None or not cls.needs_server)}
        self.pane_keys = list(self.pane_classes)
        self.panes: dict[str, Pane] = {}
        for cls in self.pane_classes.values():
            self._add_nav(cls)
        # As narrow as its longest entry: the rest of the width goes to the deal titles.
        self.nav.setFixedWidth(nav_width(self.nav))
        self.deals = self.pane("deals")
        assert isinstance(self.deals, DealsPane)
        self.lock_screen = LockScreen()
        self.lock_screen.unlock_requested.connect(self._unlock)
        self.lock_screen.switch_user_requested.connect(self.sign_out)
        self.lock_screen.sign_out_requested.connect(lambda: self.sign_out(quit_app=True))
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
        # One pane (a sales user) needs no navigation: its width goes to the deal titles.
        self.nav.setVisible(self.nav.count() > 1)

        signed_in.locked.connect(self._on_locked)
        signed_in.unlocked.connect(self._on_unlocked)
        self.idle = IdleWatcher(signed_in.policy.idle_lock_minutes, self)
        self.idle.idle.connect(signed_in.lock)
        QApplication.instance().installEventFilter(self.idle)
        self.idle.start()
        self.session_signals = SessionSignals(self)
        self.session_signals.lock_requested.connect(signed_in.lock)
        self._restore_geometry()
        if self.sync is not None and not sync_later:
            QTimer.singleShot(0, self.sync.start)  # the first round once the window is up

    # ---- construction ---------------------------------------------------------------

    def _add_nav(self, cls: type[Pane]) -> None:
        item = QListWidgetItem(icon(cls.icon_name), cls.title)
        item.setData(Qt.ItemDataRole.UserRole, cls.key)
        item.setSizeHint(QSize(0, 40))
        self.nav.addItem(item)

    def pane(self, key: str) -> Pane:
        """The pane for `key` (one of `pane_keys`), built on first use."""
        found = self.panes.get(key)
        if found is None:
            found = self.panes[key] = self.pane_classes[key](self.signed_in)
            self.stack.addWidget(found)
        return found

    def _action(self, text: str, slot: object, shortcut: QKeySequence | QKeySequence.StandardKey
                | str | None = None, icon_name: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        self.addAction(action)
        return action

    def _command_actions(self, menu: str) -> list[QAction | None]:
        """The actions the panes declare for `menu`, None where a separator goes."""
        found: list[QAction | None] = []
        for key, cls in self.pane_classes.items():
            for command in cls.commands:
                if command.menu != menu:
                    continue
                if command.separator_before:
                    found.append(None)
                if command.own_action is not None:
                    found.append(command.own_action(self.pane(key)))
                else:
                    found.append(self._action(command.text, self._runner(key, command),
                                              command.shortcut, command.icon))
        return found

    def _runner(self, key: str, command: Command) -> Callable[[], None]:
        def run() -> None:
            if not self.signed_in.is_locked and command.run is not None:
                command.run(self.pane(key))
        return run

    @staticmethod
    def _fill(menu: QMenu, actions: list[QAction | None]) -> None:
        for action in actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._fill(file, self._command_actions("file"))
        file.addSeparator()
        self.act_lock = self._action("&Lock", self.signed_in.lock, "Ctrl+L", "lock")
        file.addAction(self.act_lock)
        file.addAction(self._action("Sign &Out", self.sign_out, "Ctrl+Shift+Q", "signout"))
        file.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        self._fill(bar.addMenu("&Edit"), self._command_actions("edit"))

        view = bar.addMenu("&View")
        for key, cls in self.pane_classes.items():
            view.addAction(self._action(f"&{cls.title}", lambda _c=False, k=key:
                                        self.show_pane(k), cls.shortcut, cls.icon_name))
        view.addSeparator()
        self._fill(view, self._command_actions("view"))
        view.addAction(self._action("&Refresh", self.refresh, QKeySequence.StandardKey.Refresh,
                                    "refresh"))
        if self.sync is not None or self.is_admin or self.unfinished:
            self.sync_menu = bar.addMenu("&Sync")
            self._fill_sync_menu()
        if self.is_admin:
            tools = bar.addMenu("&Tools")
            tools.addAction(self._action("&Keys and Settings…", self.open_keys, "Ctrl+K",
                                         "key"))
            self._fill(tools, self._command_actions("tools"))
        account = bar.addMenu("&Account")
        account.addAction(self._action("Change &Password…", self.change_password, None,
                                       "key"))
        help_ = bar.addMenu("&Help")
        help_.addAction(self._action("&About ClosePlan Desktop", self.about, None, "about"))

    def _fill_sync_menu(self) -> None:
        """Sync now and conflicts; in a standalone workspace (admins), the way to connect
        it to a server instead."""
        if self.sync is None and self.unfinished:
            self.act_finish = self._action("Finish &Connecting…", self.finish_connecting,
                                           None, "sync")
            self.sync_menu.addAction(self.act_finish)
            return
        if self.sync is None:
            self.act_connect = self._action("&Connect This Workspace to a Server…",
                                            self.connect_workspace, None, "sync")
            self.sync_menu.addAction(self.act_connect)
            return
        self.act_sync = self._action("Sync &Now", self.sync_now, "Ctrl+Shift+S", "sync")
        self.sync_menu.addAction(self.act_sync)
        self.sync_menu.addAction(self._action("&Conflicts and Rejections…",
                                              self.open_conflicts, None, "warning"))
        self.sync_menu.addSeparator()
        self.sync_menu.addAction(self._action("Sign &In to the Server…", self.sign_in_again,
                                              None, "unlock"))

    def _build_status(self) -> None:
        core = self.signed_in.core
        who = QLabel(f"{core.display_name} ({core.email})")
        who.setObjectName("statusUser")
        role = QLabel(core.role.value.title())
        role.setObjectName("statusRole")
        tenant = QLabel(self.tenant)
        tenant.setObjectName("statusTenant")
        # The folder is for support, not for every glance: a tooltip (and Help > About).
        tenant.setToolTip(f"Workspace folder: {self.signed_in.ws.path}")
        sb = self.statusBar()
        for widget in (who, role, tenant):
            sb.addWidget(widget)
        if self.sync is not None:
            self._add_sync_status()
        elif self.unfinished:
            self.finish_button = QToolButton()
            self.finish_button.setObjectName("finishConnecting")
            self.finish_button.setText("Not connected yet — Finish connecting")
            self.finish_button.setIcon(icon("sync"))
            self.finish_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.finish_button.setAutoRaise(True)
            self.finish_button.setCursor(Qt.CursorShape.PointingHandCursor)
            self.finish_button.setToolTip("This laptop waits for an administrator's approval "
                                          "before it receives your organisation's data")
            self.finish_button.clicked.connect(lambda _c=False: self.finish_connecting())
            sb.addPermanentWidget(self.finish_button)

    def _add_sync_status(self) -> None:
        from .sync.status import SyncStatus

        assert self.sync is not None
        self.sync_status = SyncStatus(self.sync, self.open_conflicts,
                                      sign_in=self.sign_in_again)
        self.statusBar().addPermanentWidget(self.sync_status)

    # ---- navigation -----------------------------------------------------------------

    def show_pane(self, key: str) -> None:
        if self.signed_in.is_locked or key not in self.pane_keys:
            return
        for row in range(self.nav.count()):
            if self.nav.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.nav.setCurrentRow(row)

    def current_pane_key(self) -> str:
        item = self.nav.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item else ""

    def _show_row(self, row: int) -> None:
        if self.signed_in.is_locked or row < 0:
            return
        key = self.nav.item(row).data(Qt.ItemDataRole.UserRole)
        pane = self.pane(key)
        self.stack.setCurrentWidget(pane)
        pane.shown()

    def refresh(self) -> None:
        """View > Refresh: reload the current pane whether or not anything changed."""
        pane = self.stack.currentWidget()
        if isinstance(pane, Pane):
            pane.reload()

    # ---- locking --------------------------------------------------------------------

    def _on_locked(self) -> None:
        for pane in self.panes.values():
            pane.clear_sensitive()
            pane.stale = True  # reloaded when shown after unlocking
        # Dialogs can hold PHI (an edit form): close them. A deal form with unsaved
        # changes is kept in memory (never on disk) and opened again after unlocking.
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                if isinstance(widget, DealDialog) and widget.has_changes():
                    self._drafts.append(widget.draft())
                widget.reject()
        self.idle.stop()
        self.nav.setEnabled(False)
        self.menuBar().setEnabled(False)
        self.lock_screen.prepare(self.signed_in.core.email)
        if self._drafts:
            self.lock_screen.say_draft_kept()
        self.stack.setCurrentWidget(self.lock_screen)

    def _unlock(self, password: str) -> None:
        # A sign-in is a security event, whether it succeeds or not.
        ops.run_now(lambda: self.signed_in.unlock(password), parent=self,
                    on_failure=self._unlock_failed, changes={Kind.AUDIT},
                    hub=self.signed_in.changes)

    def _unlock_failed(self, text: str) -> None:
        # The email is fixed here: only the password can be wrong.
        self.lock_screen.show_error("The password is incorrect." if text == BAD_CREDENTIALS
                                    else text)

    def _on_unlocked(self) -> None:
        self.nav.setEnabled(True)
        self.menuBar().setEnabled(True)
        self.idle.start()
        self._show_row(self.nav.currentRow())
        drafts, self._drafts = self._drafts, []
        for draft in drafts:  # after this slot returns: the form's own event loop
            QTimer.singleShot(0, lambda d=draft: self.deals.reopen_draft(d))

    def sign_out_drafts(self) -> None:
        """Drop the drafts kept through a lock (signing out ends them)."""
        for draft in self._drafts:
            draft.clear()
        self._drafts = []

    # ---- actions --------------------------------------------------------------------

    def open_keys(self, export_kit: bool = False) -> None:
        from .keys.dialog import KeysDialog

        dialog = KeysDialog(self.signed_in, self)
        if export_kit:  # once it is on screen, the export's file prompt over it
            QTimer.singleShot(0, dialog.export_kit)
        dialog.exec()
        dialog.deleteLater()  # it listens to the window's changes while it exists

    def offer_recovery_kit(self) -> None:
        """After creating a workspace: its keys are only in this keyring until a kit is
        exported, so ask the admin to export one now."""
        if not self.signed_in.core.is_admin or self.signed_in.is_locked:
            return
        if dialogs.confirm(
                self, "Export a recovery kit",
                "Your workspace is ready. Its keys are kept only in this computer's keyring: "
                "if the keyring is lost (a new computer, a reset user profile), the data "
                "cannot be opened without a recovery kit.\n\nExport a recovery kit now and "
                "keep it away from this computer. You can also do it later under Tools → "
                "Keys and Settings.", "Export kit…"):
            self.open_keys(export_kit=True)

    def sync_now(self) -> None:
        if self.sync is not None and not self.signed_in.is_locked:
            self.sync.sync_now()

    def sign_in_again(self) -> None:
        """Sync ▸ Sign In to the Server… and the status bar's "Sign in": the server
        ended this laptop's session; the password brings it back."""
        from .sync.sign_in_again import sign_in_again

        if self.sync is not None:
            sign_in_again(self.signed_in, self.sync, self)

    def finish_connecting(self) -> None:
        """Sync ▸ Finish Connecting…: approval, then the first load; then the window
        opens again as a connected one (reopen_requested)."""
        from .sync.finish import finish_connecting

        if self.unfinished and finish_connecting(self.signed_in, self):
            self.unfinished = False
            self.reopen_requested.emit()

    def connect_workspace(self) -> None:
        """Sync > Connect this workspace to a server (an admin of a standalone one)."""
        from .sync.adopt_dialog import ConnectWorkspaceDialog

        if self.signed_in.is_locked or self.sync is not None:
            return
        dialog = ConnectWorkspaceDialog(self.signed_in, self)
        accepted = dialog.exec()
        done = dialog.adopted
        dialog.deleteLater()
        if not accepted or done is None:
            return
        self._became_connected()
        reset = ("\n\nThese users cannot sign in online until you reset their password "
                 "(Users → Reset password): " + ", ".join(done.users_to_reset)
                 if done.users_to_reset else "")
        dialogs.inform(self, "Connected", f"The organisation now lives on the server: "
                       f"{done.deals} deals and {done.audit_rows} audit rows uploaded, and "
                       f"this laptop is its first device. It syncs from now on.{reset}")

    def _became_connected(self) -> None:
        """The workspace was just connected: sync, its menu, status and panes, now."""
        self.sync = self.signed_in.sync = SyncService(self.signed_in, self)
        for cls in PANES:
            if cls.needs_server and cls.key not in self.pane_classes \
                    and (self.is_admin or not cls.admin_only):
                self.pane_classes[cls.key] = cls
                self.pane_keys.append(cls.key)
                self._add_nav(cls)
        self.nav.setVisible(self.nav.count() > 1)
        self.sync_menu.clear()
        self.removeAction(self.act_connect)
        self._fill_sync_menu()
        self._add_sync_status()
        self.sync.start()

    def open_conflicts(self) -> None:
        from .sync.conflicts import ConflictsDialog

        if self.signed_in.is_locked:
            return
        dialog = ConflictsDialog(self.signed_in, self)
        dialog.exec()
        dialog.clear_sensitive()
        dialog.deleteLater()  # it listens to the window's changes while it exists

    def change_password(self) -> None:
        from .account import change_password

        change_password(self.signed_in, self)

    def about(self) -> None:
        dialogs.about(
            self, "About ClosePlan Desktop",
            f"<h3>ClosePlan Desktop {__version__}</h3>"
            "<p>Offline deal management for healthcare sales.</p>"
            "<p>PHI is encrypted at rest (AES-256-GCM, keys in the OS keyring) and every "
            "view of it is logged.</p>"
            f"<p>Workspace: {self.signed_in.ws.path}</p>")

    def sign_out(self, quit_app: bool = False) -> None:
        """End the session: back to the sign-in window, or (`quit_app`) out of the app."""
        self.quit_after_sign_out = quit_app
        auth.sign_out(self.signed_in.core)  # the unlocked keys leave memory
        self.sign_out_drafts()
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
            keep_on_screen(self)
        else:
            fit_to_screen(self, QSize(1280, 800), fill_small=True)
        state = settings.value("mainWindow/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sync is not None:  # no round and no long-poll after the window
            self.sync.stop()
        for pane in self.panes.values():
            pane.clear_sensitive()
        settings = QSettings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/state", self.saveState())
        QApplication.instance().removeEventFilter(self.idle)
        super().closeEvent(event)
