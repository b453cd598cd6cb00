"""The Settings tab shows each setting as the settings registry declares it: its label,
its unit after the value, its range."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QLineEdit, QSpinBox
from support import Env

from closeplan_desktop.core.domain.settings import SETTINGS
from closeplan_desktop.ui.keys.dialog import KeysDialog
from closeplan_desktop.ui.signed_in import SignedIn


def test_each_setting_shows_its_declared_label_unit_and_range(qtbot: Any, env: Env) -> None:
    dialog = KeysDialog(SignedIn(env.ws, env.admin))
    qtbot.addWidget(dialog)
    dialog.show()
    labels = {label.buddy(): label for label in dialog.findChildren(QLabel)
              if label.buddy() is not None}
    for key, spec in SETTINGS.items():
        if not spec.in_dialog:
            continue
        widget = dialog.findChild(QSpinBox if spec.type is int else QLineEdit,
                                  f"setting_{key}")
        assert widget is not None, key
        assert labels[widget].text() == spec.label
        assert widget.accessibleName() == spec.label
        if isinstance(widget, QSpinBox):
            symbol = spec.unit.symbol
            assert widget.suffix() == (f" {symbol}" if symbol else ""), key
            assert (widget.minimum(), widget.maximum()) == (spec.minimum, spec.maximum)
    assert dialog.findChild(QSpinBox, "setting_idle_lock_minutes").suffix() == " min"
    assert dialog.findChild(QSpinBox, "setting_clipboard_clear_seconds").suffix() == " s"
    assert dialog.findChild(QSpinBox, "setting_password_min_length").suffix() == ""
    # Words a tenant admin knows, not the algorithm's name.
    assert "bcrypt" not in labels[dialog.findChild(QSpinBox, "setting_bcrypt_cost")].text()
