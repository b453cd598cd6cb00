"""Keys and Settings, for tenant admins: key status, PHI and database key rotation,
recovery-kit export, and the user's settings under IT's enforced policy.

Long key work runs off the UI thread through `Task`, with progress and Cancel. Every rule
(who may rotate, what a valid passphrase or setting is, what IT enforces) is core's; the
dialog calls core and shows its message.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.domain import settings
from ..core.domain.errors import ClosePlanError
from ..core.security import policy
from ..core.usecases import key_admin
from ..core.usecases.key_admin import KeyStatus
from .icons import icon
from .messages import confirm, error_text, show_error
from .session import AppSession
from .users_pane import NewPasswordFields
from .widgets import heading, muted
from .worker import Task

STATE_LABELS = {"ACTIVE": "Active – encrypts new PHI", "DECRYPT_ONLY": "Decrypt only",
                "RETIRED": "Retired"}
KIT_FILTER = "ClosePlan recovery kit (*.cpkit);;All files (*)"
OK_COLOR = "#15803d"
WARN_COLOR = "#b45309"
ERROR_COLOR = "#b91c1c"




def _button(name: str, text: str, icon_name: str, accessible: str, tip: str) -> QPushButton:
    button = QPushButton(icon(icon_name), text)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    button.setToolTip(tip)
    return button


class Notice(QLabel):
    """A one-line result under the tabs' content: green for done, amber for attention."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setAccessibleName("Result")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def say(self, text: str, kind: str = "ok") -> None:
        color = {"ok": OK_COLOR, "warn": WARN_COLOR, "error": ERROR_COLOR}[kind]
        self.setStyleSheet(f"QLabel {{ color: {color}; padding: 8px 10px; border-radius: 6px; "
                           f"border: 1px solid {color}; }}")
        self.setText(text)
        self.setVisible(bool(text))


class LockBadge(QWidget):
    """A lock icon and 'Enforced by IT' beside a setting IT enforces; the tooltip names
    the file the policy comes from."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.icon = QLabel()
        self.icon.setPixmap(icon("lock").pixmap(16, 16))
        self.text = QLabel("Enforced by IT")
        self.text.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        row.addWidget(self.icon)
        row.addWidget(self.text)
        self.reason = ""
        self.set_reason("")

    def set_reason(self, reason: str) -> None:
        """'Enforced by IT (FILE)', or empty when the setting is the user's."""
        self.reason = reason
        self.setToolTip(reason)
        self.setAccessibleName(reason or "Not enforced")
        # Keep the column's width when hidden so rows line up either way.
        policy_ = self.sizePolicy()
        policy_.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy_)
        self.setVisible(bool(reason))


class PassphraseDialog(QDialog):
    """A new recovery-kit passphrase and its confirmation, checked by core as typed."""

    def __init__(self, min_length: int, target: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("passphraseDialog")
        self.setWindowTitle("Recovery Kit Passphrase")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetFixedSize)
        layout.addWidget(heading("Seal the recovery kit", 1.15))
        note = muted(f"The kit {target.name} holds every key of this workspace, sealed with "
                      "this passphrase. Store the passphrase apart from the kit: without it "
                      "the kit cannot be opened, and nobody can recover it.")
        layout.addWidget(note)
        self.fields = NewPasswordFields(min_length, "Passphrase", self)
        self.fields.password.setMinimumWidth(320)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(10)
        self.fields.add_rows(form)
        layout.addLayout(form)
        buttons = QDialogButtonBox()
        self.ok = buttons.addButton("Export kit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("passphraseOk")
        self.ok.setAccessibleName("Export kit")
        self.ok.setIcon(icon("export"))
        self.ok.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.fields.changed.connect(lambda: self.ok.setEnabled(self.fields.is_valid()))
        self.ok.setEnabled(False)
        self.fields.password.setFocus()
        self.passphrase = ""

    def _accept(self) -> None:
        if self.fields.is_valid():
            self.passphrase = self.fields.value()
            self.accept()

    def done(self, result: int) -> None:
        self.fields.clear()
        super().done(result)


class KeysDialog(QDialog):
    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app_session = app_session
        self.setObjectName("keysDialog")
        self.setWindowTitle("Keys and Settings")
        self.setWindowIcon(icon("key"))
        self.setMinimumSize(720, 660)
        self.task: Task | None = None
        self.active_dialog: QDialog | None = None
        self.status: KeyStatus | None = None
        self._close_when_done = False
        self.setting_widgets: dict[str, QSpinBox | QLineEdit] = {}
        self._loaded: policy.Policy | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("keysTabs")
        self.tabs.setAccessibleName("Keys and settings")
        self.tabs.addTab(self._build_keys_tab(), icon("key"), "Keys")
        self.tabs.addTab(self._build_settings_tab(), icon("settings"), "Settings")
        layout.addWidget(self.tabs, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setObjectName("keysClose")
        close.setAccessibleName("Close")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        chain: list[QWidget] = [self.tabs, self.rotate_phi_button, self.rotate_db_button,
                                self.export_kit_button, *self.setting_widgets.values(),
                                self.revert_button, self.save_button, close]
        for a, b in pairwise(chain):
            self.setTabOrder(a, b)
        self.refresh_status()
        self.load_settings()

    # ---- Keys tab -------------------------------------------------------------------

    def _build_keys_tab(self) -> QWidget:
        page = QWidget()
        page.setObjectName("keysTab")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(12)

        store = QGroupBox("Keyring")
        grid = QGridLayout(store)
        grid.setHorizontalSpacing(16)
        grid.setColumnStretch(1, 1)
        self.backend = QLabel()
        self.backend.setObjectName("keyringBackend")
        self.backend.setAccessibleName("Keyring backend")
        self.backend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.db_key = QLabel()
        self.db_key.setObjectName("dbKeyStatus")
        self.db_key.setAccessibleName("Database key")
        self.audit_key = QLabel()
        self.audit_key.setObjectName("auditKeyStatus")
        self.audit_key.setAccessibleName("Audit key")
        for row, (text, widget) in enumerate((("Backend", self.backend),
                                              ("Database key", self.db_key),
                                              ("Audit key", self.audit_key))):
            grid.addWidget(QLabel(text), row, 0)
            grid.addWidget(widget, row, 1)
        layout.addWidget(store)

        phi = QGroupBox("PHI keys")
        phi_layout = QVBoxLayout(phi)
        self.phi_table = QTableWidget(0, 4)
        self.phi_table.setObjectName("phiKeysTable")
        self.phi_table.setAccessibleName("PHI key versions")
        self.phi_table.setHorizontalHeaderLabels(["Version", "State", "Deals using it",
                                                  "In keyring"])
        self.phi_table.verticalHeader().hide()
        self.phi_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.phi_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.phi_table.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.phi_table.setShowGrid(False)
        self.phi_table.setAlternatingRowColors(True)
        self.phi_table.verticalHeader().setDefaultSectionSize(28)
        header = self.phi_table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.phi_table.setMinimumHeight(120)
        phi_layout.addWidget(self.phi_table)
        self.pending = muted()
        self.pending.setObjectName("phiPending")
        phi_layout.addWidget(self.pending)
        row = QHBoxLayout()
        row.addWidget(muted("Rotation makes a new key and re-encrypts every deal's PHI "
                             "under it. It can be cancelled and resumes later."), 1)
        self.rotate_phi_button = _button("rotatePhiButton", "Rotate PHI key…", "refresh",
                                         "Rotate PHI key",
                                         "Make a new PHI key and re-encrypt all PHI")
        self.rotate_phi_button.clicked.connect(self.rotate_phi)
        row.addWidget(self.rotate_phi_button, 0, Qt.AlignmentFlag.AlignTop)
        phi_layout.addLayout(row)
        layout.addWidget(phi, 1)

        dbox = QGroupBox("Database key and recovery kit")
        dlayout = QVBoxLayout(dbox)
        dlayout.setSpacing(8)
        row = QHBoxLayout()
        row.addWidget(muted("Re-encrypt the database file under a new key. Older recovery "
                             "kits stop opening it: export a new kit afterwards."), 1)
        self.rotate_db_button = _button("rotateDbButton", "Rotate database key…", "lock",
                                        "Rotate database key",
                                        "Re-encrypt the database under a new key")
        self.rotate_db_button.clicked.connect(self.rotate_db)
        row.addWidget(self.rotate_db_button, 0, Qt.AlignmentFlag.AlignTop)
        dlayout.addLayout(row)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        dlayout.addWidget(line)
        row = QHBoxLayout()
        row.addWidget(muted("A recovery kit holds every key of this workspace, sealed with a "
                             "passphrase. Without it, a lost keyring means lost data."), 1)
        self.export_kit_button = _button("exportKitButton", "Export recovery kit…", "export",
                                         "Export recovery kit",
                                         "Write all keys to a file sealed with a passphrase")
        self.export_kit_button.clicked.connect(self.export_kit)
        row.addWidget(self.export_kit_button, 0, Qt.AlignmentFlag.AlignTop)
        dlayout.addLayout(row)
        self.import_note = QLabel(
            "<b>Restoring a kit</b> (on this or another device) needs the workspace closed: "
            "quit ClosePlan, then run <code>closeplan-admin keys import-kit FILE</code>, or "
            "use <i>Restore from recovery kit</i> in the first-run window.")
        self.import_note.setObjectName("importKitNote")
        self.import_note.setAccessibleName("How to import a recovery kit")
        self.import_note.setWordWrap(True)
        self.import_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dlayout.addWidget(self.import_note)
        layout.addWidget(dbox)

        self.keys_notice = Notice("keysNotice")
        layout.addWidget(self.keys_notice)
        return page

    def refresh_status(self) -> None:
        try:
            st = key_admin.status(self.app_session.core)
        except ClosePlanError as exc:
            self.status = None
            self.keys_notice.say(error_text(exc), "error")
            self._set_busy(False)
            return
        self.status = st
        self.backend.setText(st.backend)
        self._presence(self.db_key, st.db_key_present)
        self._presence(self.audit_key, st.audit_key_present)
        self.phi_table.setRowCount(len(st.phi_versions))
        for r, (version, state, rows, present) in enumerate(st.phi_versions):
            cells = (f"v{version}", STATE_LABELS.get(state, state), f"{rows:,}",
                     "Present" if present else "Missing")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if c == 3:
                    item.setIcon(icon("verify" if present else "warning",
                                      None if present else ERROR_COLOR))
                if state == "RETIRED":
                    item.setForeground(self.palette().brush(QPalette.ColorGroup.Disabled,
                                                            QPalette.ColorRole.Text))
                self.phi_table.setItem(r, c, item)
        if st.pending_rows:
            self.pending.setText(f"{st.pending_rows:,} deals still use an older key. "
                                 "Rotate PHI key finishes re-encrypting them.")
            self.pending.show()
        else:
            self.pending.hide()
        self._set_busy(self.task is not None)

    def _presence(self, label: QLabel, present: bool) -> None:
        label.setText("Present in the keyring" if present else
                      "Missing – import a recovery kit (closeplan-admin keys import-kit)")
        label.setStyleSheet("" if present else f"color: {ERROR_COLOR};")

    def _set_busy(self, busy: bool) -> None:
        for b in (self.rotate_phi_button, self.rotate_db_button, self.export_kit_button):
            b.setEnabled(not busy and self.status is not None)

    # ---- key actions ----------------------------------------------------------------

    def _start(self, title: str, fn: Any, on_done: Any, *, cancellable: bool = True) -> Task:
        """Run `fn(progress, cancel_token)` off the UI thread with a progress dialog."""
        self.keys_notice.say("")
        task = Task(self, title, fn)
        if task.dialog is not None:
            task.dialog.setObjectName("keysProgress")
            task.dialog.setWindowModality(Qt.WindowModality.WindowModal)
            if not cancellable:
                task.dialog.setCancelButton(None)  # type: ignore[arg-type]
        task.succeeded.connect(on_done)
        task.failed.connect(lambda message: self._failed(title, message))
        task.cancelled.connect(self._cancelled)
        task.finished.connect(self._finished)
        self.task = task
        self._set_busy(True)
        return task.start()

    def _finished(self) -> None:
        self.task = None
        self.refresh_status()
        if self._close_when_done:
            super().reject()

    def _failed(self, title: str, message: str) -> None:
        self.keys_notice.say(message, "error")
        if not self._close_when_done:
            show_error(self, title, message)

    def _cancelled(self) -> None:
        self.keys_notice.say("Cancelled. The deals done so far keep their new encryption; "
                             "the rotation will finish on the next open or the next "
                             "rotation.", "warn")

    def rotate_phi(self) -> None:
        if not confirm(self, "Rotate PHI key",
                       "Make a new PHI key and re-encrypt the PHI of every deal under it?\n\n"
                       "This can take a while for many deals. You can cancel; the rotation "
                       "then finishes on the next open or the next rotation.",
                       "Rotate PHI key"):
            return
        self.start_rotate_phi()

    def start_rotate_phi(self) -> Task:
        session = self.app_session.core
        return self._start("Re-encrypting PHI",
                           lambda progress, token: key_admin.rotate_phi(session, progress, token),
                           self._phi_rotated)

    def _phi_rotated(self, count: object) -> None:
        self.refresh_status()
        active = next((v for v, state, _, _ in (self.status.phi_versions if self.status
                                                 else []) if state == "ACTIVE"), None)
        n = int(count) if isinstance(count, int) else 0
        self.keys_notice.say(f"PHI key rotated{f' to v{active}' if active else ''}: "
                             f"{n:,} deal{'s' if n != 1 else ''} re-encrypted.")

    def rotate_db(self) -> None:
        if not confirm(self, "Rotate database key",
                       "Re-encrypt the whole database file under a new key?\n\nRecovery "
                       "kits exported before this stop opening the workspace: export a new "
                       "kit afterwards.", "Rotate database key"):
            return
        self.start_rotate_db()

    def start_rotate_db(self) -> Task:
        session = self.app_session.core
        return self._start("Rotating the database key",
                           lambda progress, token: key_admin.rotate_db(session),
                           self._db_rotated, cancellable=False)

    def _db_rotated(self, _result: object) -> None:
        self.keys_notice.say("Database key rotated. Export a new recovery kit now: older kits "
                             "no longer open this workspace.", "warn")
        if not self._close_when_done and confirm(
                self, "Export a new recovery kit",
                "The database key was rotated; recovery kits made before no longer open "
                "this workspace.\n\nExport a new recovery kit now?", "Export kit…"):
            self.export_kit()

    def export_kit(self) -> None:
        default = Path.home() / f"closeplan-recovery-kit-{date.today():%Y-%m-%d}.cpkit"
        name, _ = QFileDialog.getSaveFileName(self, "Export Recovery Kit", str(default),
                                              KIT_FILTER)
        if not name:
            return
        target = Path(name)
        dialog = PassphraseDialog(self.app_session.policy.password_min_length, target, self)
        self.active_dialog = dialog
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            passphrase = dialog.passphrase
            dialog.passphrase = ""
        finally:
            self.active_dialog = None
            dialog.deleteLater()
        self.start_export(target, passphrase)

    def start_export(self, target: Path, passphrase: str) -> Task:
        session = self.app_session.core
        return self._start("Exporting the recovery kit",
                           lambda progress, token: key_admin.export_kit(session, target,
                                                                        passphrase),
                           lambda _r: self.keys_notice.say(
                               f"Recovery kit written to {target}. Keep it and its passphrase "
                               "apart, somewhere safe."),
                           cancellable=False)

    # ---- Settings tab ---------------------------------------------------------------

    def _build_settings_tab(self) -> QWidget:
        page = QWidget()
        page.setObjectName("settingsTab")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(12)
        layout.addWidget(muted("Your settings on this computer. Settings your IT department "
                                "enforces are locked and show where they come from."))
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(10)
        grid.setColumnStretch(0, 1)
        self.locks: dict[str, LockBadge] = {}
        for row, (key, spec) in enumerate(settings.SETTINGS.items()):
            label = QLabel(spec.label)
            label.setWordWrap(True)
            label.setToolTip(f"{spec.help} ({key})")
            widget: QSpinBox | QLineEdit
            if spec.type is int:
                spin = QSpinBox()
                spin.setRange(int(spec.minimum or 0), int(spec.maximum or 0))
                spin.setSuffix(f" {spec.unit.symbol}" if spec.unit.symbol else "")
                spin.setFixedWidth(120)
                spin.setAlignment(Qt.AlignmentFlag.AlignRight)
                spin.valueChanged.connect(self._settings_changed)
                widget = spin
            else:
                line = QLineEdit()
                line.setPlaceholderText("https://closeplan.example.org")
                line.setMinimumWidth(220)
                line.textChanged.connect(self._settings_changed)
                widget = line
            widget.setObjectName(f"setting_{key}")
            widget.setAccessibleName(spec.label)
            widget.setAccessibleDescription(spec.help)
            label.setBuddy(widget)
            lock = LockBadge(f"lock_{key}")
            self.locks[key] = lock
            self.setting_widgets[key] = widget
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1, Qt.AlignmentFlag.AlignLeft
                           if isinstance(widget, QSpinBox) else Qt.AlignmentFlag(0))
            grid.addWidget(lock, row, 2)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.settings_notice = Notice("settingsNotice")
        layout.addWidget(self.settings_notice)
        row = QHBoxLayout()
        row.addStretch(1)
        self.revert_button = _button("settingsRevert", "Revert", "restore", "Revert settings",
                                     "Show the saved settings again")
        self.revert_button.clicked.connect(self.load_settings)
        self.save_button = _button("settingsSave", "Save settings", "verify", "Save settings",
                                   "Save the changed settings")
        self.save_button.clicked.connect(self.save_settings)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        return page

    def load_settings(self) -> None:
        """Show the effective policy (machine policy over user settings over defaults)."""
        try:
            current = policy.load_policy()
        except ClosePlanError as exc:
            self.settings_notice.say(error_text(exc), "error")
            for w in self.setting_widgets.values():
                w.setEnabled(False)
            self.save_button.setEnabled(False)
            return
        self._loaded = current
        for key, widget in self.setting_widgets.items():
            value = getattr(current, key)
            widget.blockSignals(True)
            if isinstance(widget, QSpinBox):
                widget.setValue(int(value))
            else:
                widget.setText(str(value))
            widget.blockSignals(False)
            enforced = current.is_enforced(key)
            widget.setEnabled(not enforced)
            reason = f"Enforced by IT ({current.enforced[key]})" if enforced else ""
            self.locks[key].set_reason(reason)
            widget.setToolTip(reason)
        self._update_settings_buttons()

    def _value(self, key: str) -> Any:
        widget = self.setting_widgets[key]
        return widget.value() if isinstance(widget, QSpinBox) else widget.text().strip()

    def changed_settings(self) -> dict[str, Any]:
        current = self._loaded
        if current is None:
            return {}
        return {key: self._value(key) for key in self.setting_widgets
                if not current.is_enforced(key) and self._value(key) != getattr(current, key)}

    def _settings_changed(self) -> None:
        self.settings_notice.say("")
        self._update_settings_buttons()

    def _update_settings_buttons(self) -> None:
        dirty = bool(self.changed_settings())
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    def save_settings(self) -> None:
        changes = self.changed_settings()
        saved = 0
        try:
            for key, value in changes.items():
                policy.save_user_setting(key, value)
                saved += 1
        except ClosePlanError as exc:
            show_error(self, "Cannot save settings", error_text(exc))
        try:
            self.app_session.ws.policy = self._loaded = policy.load_policy()
        except ClosePlanError as exc:
            show_error(self, "Cannot load settings", error_text(exc))
            return
        if saved == len(changes):
            self.load_settings()
            self.settings_notice.say(f"Saved {saved} setting{'s' if saved != 1 else ''}. "
                                     "Some take effect the next time you sign in.")
        else:
            self._update_settings_buttons()  # what was saved is no longer marked changed

    # ---- closing --------------------------------------------------------------------

    def reject(self) -> None:
        """Close, or while key work runs, cancel it and close once it has stopped."""
        if self.active_dialog is not None:
            self.active_dialog.reject()
        if self.task is not None:
            self._close_when_done = True
            self.task.token.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.task is not None:
            self.reject()
            event.ignore()
            return
        super().closeEvent(event)
