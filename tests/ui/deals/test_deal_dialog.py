"""The deal form: it opens without red, shows a field's problem once typed in, and a
message that appears does not move the fields."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.ui.deals.dialog import DealDialog
from closeplan_desktop.ui.signed_in import SignedIn


def test_a_new_deal_opens_without_errors_and_hints_do_not_move_fields(
        env: Env, qtbot: QtBot) -> None:
    dialog = DealDialog(SignedIn(env.ws, env.user))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled()
    assert dialog.title_hint.isHidden() and dialog.value_hint.isHidden()
    status_y = dialog.status.y()
    dialog.value.setText("12.345")
    assert not dialog.value_hint.isHidden() and "two decimal places" in dialog.value_hint.text()
    assert dialog.title_hint.isHidden()  # not typed in yet
    qtbot.wait(20)
    assert dialog.status.y() == status_y
    assert dialog.height() >= dialog.minimumSizeHint().height()
