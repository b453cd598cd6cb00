"""Keys and Settings, for tenant admins: key status, PHI and database key rotation,
recovery-kit export (this module), and the user's settings under IT's enforced policy
(settings.py).

Long key work runs off the UI thread as kit.ops ops, with progress and Cancel. Every rule
(who may rotate, what a valid passphrase or setting is, what IT enforces) is core's; the
dialog calls core and shows its message.
"""

from __future__ import annotations

from collections.abc import Callable
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
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.progress import CancelToken, Progress
from ...core.security import policy
from ...core.sync import rotation
from ...core.usecases import key_admin
from ...core.usecases.key_admin import KeyStatus
from ..icons import icon
from ..kit import dialogs, ops, palette
from ..kit.ops import Kind, Op
from ..kit.widgets import button, muted
from ..signed_in import SignedIn
from .settings import SettingsSection
from .widgets import Notice, PassphraseDialog

STATE_LABELS = {"ACTIVE": "Active – encrypts new PHI", "DECRYPT_ONLY": "Decrypt only",
                "RETIRED": "Retired"}
KIT_FILTER = "ClosePlan recovery kit (*.cpkit);;All files (*)"
# Key work is logged as security events.
KEY_WRITES = frozenset({Kind.KEYS, Kind.AUDIT})


class KeysDialog(QDialog, SettingsSection):
    """Key status and key work, and the settings tab (SettingsSection)."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.setObjectName("keysDialog")
        self.setWindowTitle("Keys and Settings")
        self.setWindowIcon(icon("key"))
        self.setMinimumSize(720, 660)
        self.running_op: Op | None = None
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
        signed_in.changes.changed.connect(self._changed)

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
        row.addWidget(muted("Rotation makes a new key. Connected to a server, every device "
                             "receives it and new PHI uses it; standalone, every deal's PHI "
                             "is re-encrypted under it (it can be cancelled and resumes)."
                            ), 1)
        self.rotate_phi_button = button("Rotate PHI key…", "refresh", self.rotate_phi,
                                        name="rotatePhiButton",
                                        tip="Make a new PHI key and re-encrypt all PHI")
        row.addWidget(self.rotate_phi_button, 0, Qt.AlignmentFlag.AlignTop)
        phi_layout.addLayout(row)
        layout.addWidget(phi, 1)

        dbox = QGroupBox("Database key and recovery kit")
        dlayout = QVBoxLayout(dbox)
        dlayout.setSpacing(8)
        row = QHBoxLayout()
        row.addWidget(muted("Re-encrypt the database file under a new key. Older recovery "
                             "kits stop opening it: export a new kit afterwards."), 1)
        self.rotate_db_button = button("Rotate database key…", "lock", self.rotate_db,
                                       name="rotateDbButton",
                                       tip="Re-encrypt the database under a new key")
        row.addWidget(self.rotate_db_button, 0, Qt.AlignmentFlag.AlignTop)
        dlayout.addLayout(row)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        dlayout.addWidget(line)
        row = QHBoxLayout()
        row.addWidget(muted("A recovery kit holds every key of this workspace, sealed with a "
                             "passphrase. Without it, a lost keyring means lost data."), 1)
        self.export_kit_button = button("Export recovery kit…", "export", self.export_kit,
                                        name="exportKitButton",
                                        tip="Write all keys to a file sealed with a passphrase")
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
        session = self.signed_in.core
        found = ops.read(lambda: key_admin.status(session), parent=self,
                         on_failure=lambda text: self.keys_notice.say(text, "error"))
        if found.value is None:
            self.status = None
            self._set_busy(False)
            return
        st = found.value
        self.status = st
        self.backend.setText(st.backend)
        self._presence(self.db_key, st.db_key_present)
        self._presence(self.audit_key, st.audit_key_present)
        self.phi_table.setRowCount(len(st.phi_versions))
        for r, (version, state, rows, present) in enumerate(st.phi_versions):
            # A retired key is deleted from the keyring on purpose once no row uses it.
            deleted = state == "RETIRED" and not present
            cells = (f"v{version}", STATE_LABELS.get(state, state), f"{rows:,}",
                     "Present" if present else "Deleted" if deleted else "Missing")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if c == 3 and not deleted:
                    item.setIcon(icon("verify" if present else "warning",
                                      None if present else palette.error_name()))
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
        self._set_busy(self.running_op is not None)

    def _presence(self, label: QLabel, present: bool) -> None:
        label.setText("Present in the keyring" if present else
                      "Missing – import a recovery kit (closeplan-admin keys import-kit)")
        label.setStyleSheet("" if present else f"color: {palette.error_name()};")

    def _set_busy(self, busy: bool) -> None:
        for b in (self.rotate_phi_button, self.rotate_db_button, self.export_kit_button):
            b.setEnabled(not busy and self.status is not None)

    # ---- key actions ----------------------------------------------------------------

    def _changed(self, kinds: frozenset[Kind]) -> None:
        if Kind.KEYS in kinds:
            self.refresh_status()

    def _start(self, title: str, work: Callable[[Progress, CancelToken], Any],
               on_done: Callable[[Any], object], *, cancellable: bool = True) -> Op:
        """Run key work off the UI thread with a progress dialog over this one."""
        self.keys_notice.say("")
        op = Op(self, title, work, changes=KEY_WRITES, hub=self.signed_in.changes,
                cancellable=cancellable, dialog_name="keysProgress", window_modal=True)
        op.on_finished(self._finished).on_success(on_done).on_cancel(self._cancelled)
        op.on_failure(lambda message: self._failed(title, message))
        self.running_op = op
        self._set_busy(True)
        return op.run_in_background()

    def _finished(self) -> None:
        self.running_op = None
        self._set_busy(False)  # the announcement that follows refreshes the status
        if self._close_when_done:
            super().reject()

    def _failed(self, title: str, message: str) -> None:
        self.keys_notice.say(message, "error")
        if not self._close_when_done:
            dialogs.show_error(self, title, message)

    def _cancelled(self) -> None:
        self.keys_notice.say("Cancelled. The deals done so far keep their new encryption; "
                             "the rotation will finish on the next open or the next "
                             "rotation.", "warn")

    def rotate_phi(self) -> None:
        # A connected laptop rotates with the server (core.sync.rotation): nothing is
        # re-encrypted there, so the question says what will happen.
        question = ("Make a new PHI key for the whole organisation?\n\nEvery device "
                    "receives it at its next sync; new PHI is sealed with it, and deals keep "
                    "the key they were sealed with. This needs the server."
                    if self.signed_in.sync is not None else
                    "Make a new PHI key and re-encrypt the PHI of every deal under it?\n\n"
                    "This can take a while for many deals. You can cancel; the rotation "
                    "then finishes on the next open or the next rotation.")
        if not dialogs.confirm(self, "Rotate PHI key", question, "Rotate PHI key"):
            return
        self.start_rotate_phi()

    def start_rotate_phi(self) -> Op:
        session = self.signed_in.core
        return self._start("Re-encrypting PHI",
                           lambda progress, token: rotation.rotate_phi(session, progress, token),
                           self._phi_rotated)

    def _phi_rotated(self, done: object) -> None:
        self.refresh_status()
        if not isinstance(done, rotation.Rotated):
            return
        if done.online:
            self.keys_notice.say(f"PHI key rotated to v{done.version} with the server: every "
                                 "device receives it at its next sync. Deals keep the key "
                                 "they were sealed with; new PHI uses the new one.")
            return
        n = done.reencrypted
        self.keys_notice.say(f"PHI key rotated to v{done.version}: "
                             f"{n:,} deal{'s' if n != 1 else ''} re-encrypted.")

    def rotate_db(self) -> None:
        if not dialogs.confirm(self, "Rotate database key",
                       "Re-encrypt the whole database file under a new key?\n\nRecovery "
                       "kits exported before this stop opening the workspace: export a new "
                       "kit afterwards.", "Rotate database key"):
            return
        self.start_rotate_db()

    def start_rotate_db(self) -> Op:
        session = self.signed_in.core
        return self._start("Rotating the database key",
                           lambda progress, token: key_admin.rotate_db(session),
                           self._db_rotated, cancellable=False)

    def _db_rotated(self, _result: object) -> None:
        self.keys_notice.say("Database key rotated. Export a new recovery kit now: older kits "
                             "no longer open this workspace.", "warn")
        if not self._close_when_done and dialogs.confirm(
                self, "Export a new recovery kit",
                "The database key was rotated; recovery kits made before no longer open "
                "this workspace.\n\nExport a new recovery kit now?", "Export kit…"):
            self.export_kit()

    def export_kit(self) -> None:
        default = Path.home() / f"closeplan-recovery-kit-{date.today():%Y-%m-%d}.cpkit"
        chosen = dialogs.save_file(self, "Export Recovery Kit", default, KIT_FILTER)
        if chosen is None:
            return
        target = chosen[0]
        dialog = PassphraseDialog(self.signed_in.policy.password_min_length, target, self)
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

    def start_export(self, target: Path, passphrase: str) -> Op:
        session = self.signed_in.core
        return self._start("Exporting the recovery kit",
                           lambda progress, token: key_admin.export_kit(session, target,
                                                                        passphrase),
                           lambda _r: self.keys_notice.say(
                               f"Recovery kit written to {target}. Keep it and its passphrase "
                               "apart, somewhere safe."),
                           cancellable=False)

    # ---- closing --------------------------------------------------------------------

    def reject(self) -> None:
        """Close, or while key work runs, cancel it and close once it has stopped."""
        if self.active_dialog is not None:
            self.active_dialog.reject()
        if self.running_op is not None:
            self._close_when_done = True
            self.running_op.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running_op is not None:
            self.reject()
            event.ignore()
            return
        super().closeEvent(event)
