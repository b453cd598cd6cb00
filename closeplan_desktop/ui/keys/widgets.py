"""The keys dialog's small parts: a result notice, the "Enforced by IT" badge, and the
passphrase dialog of a recovery kit."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..icons import icon
from ..kit import palette
from ..kit.dialogs import ok_cancel
from ..kit.password import NewPasswordFields
from ..kit.widgets import heading, muted


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
        color = {"ok": palette.ok_name, "warn": palette.warn_name,
                 "error": palette.error_name}[kind]()
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
        buttons, self.ok = ok_cancel(self, "Export kit", "export", "passphraseOk", self._accept)
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
