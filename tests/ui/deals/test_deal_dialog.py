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


def test_date_of_birth_is_a_date_field_picked_or_typed_as_yyyy_mm_dd(
        env: Env, qtbot: QtBot) -> None:
    from PySide6.QtCore import QDate

    from closeplan_desktop.core.usecases import deals
    from closeplan_desktop.ui.kit.date_field import DateField

    dialog = DealDialog(SignedIn(env.ws, env.user))
    qtbot.addWidget(dialog)
    dialog.show()
    dob = dialog.phi_fields["date_of_birth"]
    assert isinstance(dob, DateField) and dob.placeholderText() == "YYYY-MM-DD"
    dialog.title.setText("Hip implants – Mercy")
    dialog.value.setText("1000")
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    dob.setText("03/02/1950")  # a format the form does not take: it says which it does
    assert not save.isEnabled() and not dialog.dob_hint.isHidden()
    assert "YYYY-MM-DD" in dialog.dob_hint.text() and "03/02" not in dialog.dob_hint.text()
    # The calendar writes the format core's PHI holds dates in.
    dob.open_calendar()
    assert dob.popup.isVisible()
    dob.calendar.clicked.emit(QDate(1950, 2, 3))
    assert dob.text() == "1950-02-03" and not dob.popup.isVisible()
    assert save.isEnabled() and dialog.dob_hint.isHidden()
    dialog.save()
    assert dialog.result_deal is not None
    assert deals.reveal_phi(env.user, dialog.result_deal.id)["date_of_birth"] == "1950-02-03"


def test_an_imported_date_of_birth_is_kept_as_it_is_unless_changed(
        env: Env, qtbot: QtBot) -> None:
    from closeplan_desktop.core.usecases import deals

    made = deals.create_deal(env.user, "Imported deal", "ACTIVE", "10",
                             {"date_of_birth": "3 Feb 1950", "mrn": "MRN-1"})
    dialog = DealDialog(SignedIn(env.ws, env.user), made)
    qtbot.addWidget(dialog)
    dialog.load_phi()
    dob = dialog.phi_fields["date_of_birth"]
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert dob.text() == "3 Feb 1950" and save.isEnabled()
    dob.setText("3 Feb 195")
    assert not save.isEnabled() and "YYYY-MM-DD" in dialog.dob_hint.text()
