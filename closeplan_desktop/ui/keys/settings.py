"""The Settings tab of Keys and Settings: the user's settings under IT's enforced policy.

A part of `KeysDialog` (it uses the dialog's widgets and notice), kept in its own module
because it is its own concern: what a valid setting is and what IT enforces are core's
(`core.security.policy`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.domain import settings
from ...core.domain.errors import ClosePlanError
from ...core.security import policy
from ..kit import dialogs
from ..kit.ops import Kind
from ..kit.widgets import button, muted
from ..signed_in import SignedIn
from .widgets import LockBadge, Notice


class SettingsSection:
    """The settings tab's widgets and behaviour, mixed into KeysDialog."""

    signed_in: SignedIn
    setting_widgets: dict[str, QSpinBox | QLineEdit]
    locks: dict[str, LockBadge]
    settings_notice: Notice
    revert_button: QPushButton
    save_button: QPushButton
    _loaded: policy.Policy | None

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
        shown = [(k, spec) for k, spec in settings.SETTINGS.items() if spec.in_dialog]
        for row, (key, spec) in enumerate(shown):
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
        self.revert_button = button("Revert", "restore", name="settingsRevert",
                                    accessible="Revert settings",
                                    tip="Show the saved settings again")
        self.revert_button.clicked.connect(self.load_settings)
        self.save_button = button("Save settings", "verify", name="settingsSave",
                                  tip="Save the changed settings")
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
            self.settings_notice.say(dialogs.error_text(exc), "error")
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
            dialogs.show_error(self, "Cannot save settings", dialogs.error_text(exc))
        try:
            self.signed_in.ws.policy = self._loaded = policy.load_policy()
        except ClosePlanError as exc:
            dialogs.show_error(self, "Cannot load settings", dialogs.error_text(exc))
            return
        if saved:
            self.signed_in.changes.announce({Kind.SETTINGS})
        if saved == len(changes):
            self.load_settings()
            self.settings_notice.say(f"Saved {saved} setting{'s' if saved != 1 else ''}. "
                                     "Some take effect the next time you sign in.")
        else:
            self._update_settings_buttons()  # what was saved is no longer marked changed
