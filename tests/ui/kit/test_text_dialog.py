"""The break-glass reason: OK only once a reason is typed."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from closeplan_desktop.ui.kit.dialogs import text_dialog


def test_ok_needs_a_reason(qtbot: QtBot) -> None:
    dialog = text_dialog(None, "Break-glass access", "Reason:")
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.setTextValue("   ")
    assert not ok.isEnabled()
    dialog.setTextValue("Patient on the phone")
    assert ok.isEnabled()
