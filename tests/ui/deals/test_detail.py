"""The detail panel keeps revealed PHI readable: it scrolls, shows values from their
start, wraps notes, orders fields as a chart does, and says what a copy did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.detail import DealDetail
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

PHI = {"notes": "Line one of the notes.\nLine two.\nLine three.",
       "date_of_birth": "1950-02-03",
       "diagnosis": "M17.11 Primary osteoarthritis, right knee, with a long description",
       "patient_name": "Winifred Okonkwo-Lindqvist",
       "insurance_id": "INS-1", "mrn": "MRN-55510"}


@pytest.fixture
def detail(env: Env, qtbot: QtBot) -> Iterator[DealDetail]:
    deals.create_deal(env.user, "A deal whose title is long enough to wrap over several "
                      "lines of the detail panel on a small laptop", "DRAFT", "10", PHI)
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.resize(1100, 600)
    w.show()
    qtbot.waitExposed(w)
    w.deals.table.selectRow(0)
    yield w.deals.detail
    w.close()


def test_fields_come_in_chart_order_and_keep_their_height(detail: DealDetail,
                                                           qtbot: QtBot) -> None:
    detail.reveal()
    form = detail.phi_form
    labels = [form.itemAt(i, form.ItemRole.LabelRole).widget().text()
              for i in range(form.rowCount())]
    assert labels == ["Patient name", "Medical record number", "Date of birth", "Diagnosis",
                      "Insurance member ID", "Clinical notes"]
    fields = [w for w in detail.findChildren(QLineEdit) if w.objectName().startswith("phi_")]
    # Never squeezed (the panel scrolls instead), once the layout has run.
    qtbot.waitUntil(lambda: all(w.height() >= w.sizeHint().height() for w in fields),
                    timeout=2000)
    assert detail.scroll.widgetResizable()


def test_long_values_show_their_start_and_notes_keep_their_lines(detail: DealDetail) -> None:
    detail.reveal()
    boxes = {w.objectName(): w for w in detail.findChildren(QPlainTextEdit)}
    assert boxes["phi_notes"].toPlainText() == PHI["notes"]
    assert boxes["phi_diagnosis"].toPlainText().startswith("M17.11")
    line = next(w for w in detail.findChildren(QLineEdit) if w.objectName() == "phi_mrn")
    assert line.cursorPosition() == 0
    assert sorted(detail.visible_phi_text()) == sorted(PHI.values())
    detail.hide_phi()
    assert detail.visible_phi_text() == []


def test_copy_says_what_it_did(detail: DealDetail) -> None:
    detail.reveal()
    detail.copy_field("mrn")
    assert not detail.copy_note.isHidden()
    assert detail.copy_note.text() == ("Medical record number copied; the clipboard clears "
                                       "in 20 s.")
    assert PHI["mrn"] not in detail.copy_note.text()
    detail.clear_sensitive()
    assert detail.copy_note.isHidden()
