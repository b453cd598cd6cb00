"""Create and edit a deal, with inline validation from core and PHI as named fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain import money, phi_value, validation
from ...core.domain.enums import DealStatus
from ...core.domain.errors import ValidationError
from ...core.domain.phi_value import Phi
from ...core.usecases import deals
from ...core.usecases.deal_list import DealSummary
from ..icons import icon
from ..kit import ops
from ..kit.date_field import DateField
from ..kit.formatting import amount_field
from ..kit.ops import Kind
from ..kit.widgets import message_label, set_message
from ..signed_in import SignedIn
from .model import STATUS_LABELS


def _reserve_line(hint: QLabel) -> None:
    """Keep a line for the hint while it is hidden: a message that appears does not move
    the fields below it (under the mouse)."""
    policy = hint.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    hint.setSizePolicy(policy)
    hint.setMinimumHeight(hint.fontMetrics().lineSpacing())


@dataclass
class Draft:
    """An unsaved deal form, held in memory only while the window is locked."""

    deal: DealSummary | None
    title: str
    status_index: int
    value: str
    phi: dict[str, str] | None  # None when the PHI was never loaded to edit
    extra_phi: Phi
    touched: set[str]
    loaded_dob: str = ""

    def clear(self) -> None:
        self.phi = None
        self.extra_phi = {}
        self.loaded_dob = ""


class DealDialog(QDialog):
    """New deal when `deal` is None; otherwise edit it. Existing PHI is only loaded (and
    logged) when the user asks to edit it."""

    def __init__(self, signed_in: SignedIn, deal: DealSummary | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.deal = deal
        self.result_deal: DealSummary | None = None
        self.phi_loaded = deal is None or not deal.has_phi
        self.setWindowTitle("New Deal" if deal is None else "Edit Deal")
        self.setObjectName("dealDialog")
        self.setMinimumWidth(520)
        # Fields a user has typed in (or all, after Save): only they show their problem;
        # a new form does not open in red.
        self.touched: set[str] = set()
        self.tried = False
        self._filling = False  # set while the form fills itself (loaded PHI)
        layout = QVBoxLayout(self)
        self.restored_note = QLabel()
        self.restored_note.setObjectName("restoredNote")
        self.restored_note.setWordWrap(True)
        self.restored_note.hide()
        layout.addWidget(self.restored_note)
        # Never smaller than its contents: nothing clipped, whatever the font and scale.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)

        form = QFormLayout()
        self.title = QLineEdit(deal.title if deal else "")
        self.title.setAccessibleName("Title")
        self.title.setPlaceholderText("e.g. MRI scanner upgrade – St. Mary's")
        self.title_hint = message_label()
        self.status = QComboBox()
        self.status.setAccessibleName("Status")
        for st in DealStatus:
            self.status.addItem(STATUS_LABELS[st], st)
        if deal:
            self.status.setCurrentIndex(list(DealStatus).index(deal.status))
        self.value = QLineEdit(amount_field(deal.value) if deal else "")
        self.value.setAccessibleName("Value")
        self.value.setPlaceholderText("0.00")
        self.value_hint = message_label()
        form.addRow("&Title", self.title)
        form.addRow("", self.title_hint)
        form.addRow("&Status", self.status)
        form.addRow("&Value (USD)", self.value)
        form.addRow("", self.value_hint)
        layout.addLayout(form)

        self.phi_box = QGroupBox("Protected health information (encrypted)")
        phi_layout = QVBoxLayout(self.phi_box)
        self.phi_note = QLabel()
        self.phi_note.setWordWrap(True)
        phi_layout.addWidget(self.phi_note)
        self.load_phi_button = QPushButton(icon("reveal"), "Load current PHI to edit (logged)")
        self.load_phi_button.setAccessibleName("Load current PHI")
        self.load_phi_button.clicked.connect(self.load_phi)
        phi_layout.addWidget(self.load_phi_button)
        phi_form = QFormLayout()
        self.phi_fields: dict[str, QLineEdit | QPlainTextEdit] = {}
        self.dob_hint = message_label("Date of birth problem")
        # A date of birth loaded as the deal holds it (an import's own format) is kept as
        # it is unless the user changes it.
        self.loaded_dob = ""
        for key, label in validation.STANDARD_PHI_FIELDS:
            widget: QLineEdit | QPlainTextEdit
            if key == "date_of_birth":
                widget = DateField(QDate.currentDate().addYears(-50))
                widget.textChanged.connect(lambda _t: self._touch("phi"))
            elif key == "notes":
                widget = QPlainTextEdit()
                widget.setFixedHeight(70)
                widget.setTabChangesFocus(True)
                widget.textChanged.connect(lambda: self._touch("phi"))
            else:
                widget = QLineEdit()
                widget.textChanged.connect(lambda _t: self._touch("phi"))
            widget.setAccessibleName(label)
            widget.setObjectName(f"phiEdit_{key}")
            self.phi_fields[key] = widget
            phi_form.addRow(label, widget)
            if key == "date_of_birth":
                phi_form.addRow("", self.dob_hint)
        # Loaded PHI the form has no field for, or holds as more than text (the seed's
        # free JSON from the organisation's system): saved back exactly as loaded.
        self.extra_phi: Phi = {}
        phi_layout.addLayout(phi_form)
        self.phi_hint = message_label()
        phi_layout.addWidget(self.phi_hint)
        layout.addWidget(self.phi_box)

        self.error = message_label()
        self.error.setObjectName("dialogError")
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save |
                                        QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.title.textChanged.connect(lambda _t: self._touch("title"))
        self.value.textChanged.connect(lambda _t: self._touch("value"))
        for hint in (self.title_hint, self.value_hint, self.phi_hint, self.dob_hint):
            _reserve_line(hint)
        self._set_phi_editable(self.phi_loaded)
        self.validate()

    # ---- PHI ------------------------------------------------------------------------

    def _kept_as_is(self, key: str) -> bool:
        """A field of the form whose loaded value is not text: it is kept, not edited."""
        return key in self.extra_phi and not phi_value.is_form_field(key, self.extra_phi[key])

    def _set_phi_editable(self, editable: bool) -> None:
        for key, w in self.phi_fields.items():
            w.setEnabled(editable and not self._kept_as_is(key))
        self.load_phi_button.setVisible(not editable)
        if editable:
            kept = [k for k, v in self.extra_phi.items() if not phi_value.is_form_field(k, v)]
            more = (f" Kept unchanged: {', '.join(kept)} (from your organisation's records; "
                    "shown in the deal's details)." if kept else "")
            self.phi_note.setText("Fill in only what the deal needs. PHI is encrypted and "
                                  "masked in lists; every view is logged." + more)
        else:
            self.phi_note.setText("This deal holds PHI. It stays unchanged unless you load "
                                  "it to edit (loading is logged like a reveal).")

    def load_phi(self) -> None:
        assert self.deal is not None
        session = self.signed_in.core
        reason = None
        if deals.needs_break_glass(session, self.deal.owner_id):
            self.show_problem("Only the deal's owner or an administrator can edit it.")
            return
        deal_id = self.deal.id
        done = self._run(lambda: deals.reveal_phi(session, deal_id, reason), {Kind.AUDIT})
        if not done.ok or done.value is None:
            return
        self._filling = True
        form, kept = phi_value.split(done.value)
        self.extra_phi.update(kept)
        for key, value in form.items():
            widget = self.phi_fields.get(key)
            if widget is None:
                self.extra_phi[key] = value
            elif isinstance(widget, QPlainTextEdit):
                widget.setPlainText(value)
            else:
                widget.setText(value)
        self.loaded_dob = form.get("date_of_birth", "")
        self._filling = False
        self.phi_loaded = True
        self._set_phi_editable(True)

    def phi_value(self) -> Phi | None:
        data = dict(self.extra_phi)
        for key, w in self.phi_fields.items():
            if not self._kept_as_is(key):
                data[key] = w.toPlainText() if isinstance(w, QPlainTextEdit) else w.text()
        return validation.phi(data)

    # ---- validation and saving ------------------------------------------------------

    def _touch(self, field: str) -> None:
        if not self._filling:
            self.touched.add(field)
        self.validate()

    def _check(self, field: str, fn: Any, value: Any, hint: QLabel) -> bool:
        try:
            fn(value)
        except ValidationError as exc:
            hint.setText(str(exc))
            hint.setVisible(self.tried or field in self.touched)
            return False
        hint.hide()
        return True

    def validate(self) -> bool:
        ok = self._check("title", validation.title, self.title.text(), self.title_hint)
        ok = self._check("value", money.parse, self.value.text(), self.value_hint) and ok
        if self.phi_loaded:
            ok = self._check("phi", lambda _: self.phi_value(), None, self.phi_hint) and ok
            dob = self.phi_fields["date_of_birth"]
            assert isinstance(dob, QLineEdit)
            if dob.text() != self.loaded_dob:
                ok = self._check("phi", validation.birth_date, dob.text(), self.dob_hint) and ok
            else:
                self.dob_hint.hide()
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(ok)
        return ok

    def save(self) -> None:
        self.tried = True
        if not self.validate():
            return
        session = self.signed_in.core
        status = self.status.currentData()
        if self.deal is None:
            title, value, phi = self.title.text(), self.value.text(), self.phi_value()
            done = self._run(lambda: deals.create_deal(session, title, status, value, phi),
                             {Kind.DEALS, Kind.AUDIT})
        else:
            kwargs: dict[str, Any] = {"title": self.title.text(), "status": status,
                                      "value": self.value.text()}
            # PHI is written (and logged as changed) only when the user typed in it.
            if self.phi_loaded and "phi" in self.touched:
                kwargs["phi"] = self.phi_value()
            deal_id = self.deal.id
            done = self._run(lambda: deals.update_deal(session, deal_id, **kwargs),
                             {Kind.DEALS, Kind.AUDIT})
        if not done.ok:
            return
        self.result_deal = done.value
        self.accept()

    def _run(self, work: Any, changes: set[Kind]) -> ops.Outcome[Any]:
        """Core work whose refusal shows in the dialog's message line (it stays open)."""
        return ops.run_now(work, parent=self, on_failure=self.show_problem, changes=changes,
                           hub=self.signed_in.changes)

    # ---- a draft kept through a lock -----------------------------------------------

    def has_changes(self) -> bool:
        """True when the user typed something (what a lock must not silently drop)."""
        return bool(self.touched)

    def draft(self) -> Draft:
        """What the form holds, for the window to keep in memory (never on disk) while it
        is locked; the widgets are cleared when the dialog closes."""
        phi = {k: (w.toPlainText() if isinstance(w, QPlainTextEdit) else w.text())
               for k, w in self.phi_fields.items()}
        return Draft(self.deal, self.title.text(), self.status.currentIndex(),
                     self.value.text(), phi if self.phi_loaded else None,
                     dict(self.extra_phi), set(self.touched), self.loaded_dob)

    def restore(self, draft: Draft) -> None:
        """Fill the form from a draft kept through a lock, and say so."""
        self.title.setText(draft.title)
        self.status.setCurrentIndex(draft.status_index)
        self.value.setText(draft.value)
        if draft.phi is not None:
            self.extra_phi = dict(draft.extra_phi)
            self.loaded_dob = draft.loaded_dob
            for key, text in draft.phi.items():
                w = self.phi_fields[key]
                if isinstance(w, QPlainTextEdit):
                    w.setPlainText(text)
                else:
                    w.setText(text)
            self.phi_loaded = True
            self._set_phi_editable(True)
        self.touched = set(draft.touched)
        self.validate()
        self.restored_note.setText("The window locked while you were editing: your unsaved "
                                   "changes are back. Save them or cancel.")
        self.restored_note.show()

    def show_problem(self, text: str) -> None:
        set_message(self.error, text)

    def done(self, result: int) -> None:
        # PHI typed or loaded here must not outlive the dialog.
        for w in self.phi_fields.values():
            w.clear()
        self.extra_phi = {}
        self.loaded_dob = ""
        super().done(result)
