"""PHI as the seed stores it is free JSON (issue 12): nested values, numbers, lists and
names that are not snake_case, as an organisation's system sends them, are shown as JSON
text and survive an edit through the form unchanged; no field is ever dropped."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.dialog import DealDialog
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

FREE = {"PatientID": "P-0077", "vitals": {"bp": [120, 80], "ok": True, "note": None},
        "allergies": ["penicillin", {"severity": 2.5}], "visits": 3,
        "date_of_birth": {"year": 1950, "month": 2}}


def test_the_detail_panel_shows_every_free_field_as_text(env: Env, qtbot: QtBot) -> None:
    deals.create_deal(env.user, "Free PHI deal", "ACTIVE", "10", {**FREE, "mrn": "MRN-9"})
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    w.deals.table.selectRow(0)
    detail = w.deals.detail
    detail.reveal()
    shown = {x.objectName()[4:]: x.text() for x in detail.findChildren(QLineEdit)
             if x.objectName().startswith("phi_")}
    shown |= {x.objectName()[4:]: x.toPlainText() for x in detail.findChildren(QPlainTextEdit)
              if x.objectName().startswith("phi_")}
    assert set(shown) == {*FREE, "mrn"}
    assert shown["vitals"] == '{"bp": [120, 80], "ok": true, "note": null}'
    assert shown["visits"] == "3" and shown["mrn"] == "MRN-9"
    form = detail.phi_form
    labels = {form.itemAt(i, form.ItemRole.LabelRole).widget().text()
              for i in range(form.rowCount())}
    assert "PatientID" in labels  # a foreign name is shown as it is, not "Patientid"
    w.close()


def test_an_edit_through_the_form_keeps_free_fields_unchanged(env: Env, qtbot: QtBot) -> None:
    made = deals.create_deal(env.user, "Free PHI deal", "ACTIVE", "10",
                             {**FREE, "mrn": "MRN-9"})
    dialog = DealDialog(SignedIn(env.ws, env.user), made)
    qtbot.addWidget(dialog)
    dialog.load_phi()
    dob = dialog.phi_fields["date_of_birth"]
    assert not dob.isEnabled() and dob.text() == ""  # held as an object: kept, not edited
    assert "date_of_birth" in dialog.phi_note.text() and "vitals" in dialog.phi_note.text()
    dialog.phi_fields["mrn"].setText("MRN-10")
    dialog.title.setText("Free PHI deal, renamed")
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert save.isEnabled()
    dialog.save()
    assert dialog.result_deal is not None
    assert deals.reveal_phi(env.user, made.id) == {**FREE, "mrn": "MRN-10"}
