"""The deal form: it opens without red, shows a field's problem once typed in, and a
message that appears does not move the fields."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox, QLabel
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


def test_a_lock_keeps_the_unsaved_form_in_memory_and_brings_it_back(
        env: Env, qtbot: QtBot) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from support import USER_PASSWORD

    from closeplan_desktop.ui.main_window import MainWindow

    window = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(window)
    window.show()
    dialog = DealDialog(window.signed_in, None, window)
    dialog.show()
    dialog.title.setText("Half-typed deal")
    dialog.value.setText("1200")
    dialog.phi_fields["mrn"].setText("MRN-TYPED-9")
    window.signed_in.lock()
    assert not dialog.isVisible() and dialog.phi_fields["mrn"].text() == ""
    texts = [w.text() for w in window.findChildren(QLabel) if w.isVisibleTo(window)]
    assert "MRN-TYPED-9" not in " ".join(texts)
    assert not window.lock_screen.draft_note.isHidden()
    reopened: list[DealDialog] = []

    def look() -> None:  # runs inside the reopened form's own event loop
        found = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, DealDialog) and w.isVisible()]
        for w in found:
            reopened.append(w)
            w.reject()

    timer = QTimer()
    timer.timeout.connect(look)
    timer.start(20)
    window.signed_in.unlock(USER_PASSWORD)
    qtbot.waitUntil(lambda: bool(reopened), timeout=3000)
    timer.stop()
    again = reopened[0]
    assert again.title.text() == "Half-typed deal" and again.value.text() == "1200"
    assert not again.restored_note.isHidden()
    assert window._drafts == []
    window.close()
