"""The deal form's owner, expected close date and probability (issue 15), and how the
detail panel shows them. None of them is PHI: the form says which fields are."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QWidget

from ...core.domain import deal_words, probability, validation
from ...core.domain.enums import DealStatus
from ...core.domain.errors import ValidationError
from ...core.usecases.deal_list import DealSummary
from ...core.usecases.owners import OwnerChoice
from ..kit.date_field import DateField
from ..kit.widgets import message_label

NOT_PHI_NOTE = ("Title, status, value, owner, close date and probability are not PHI: "
                "everyone in your organisation sees them, unencrypted. Patient details go "
                "only in the encrypted PHI section.")
NO_PROBABILITY = -1  # the spin box's "default for status"


def show_plan(close: QLabel, chance: QLabel, deal: DealSummary) -> None:
    """The detail panel's close date (with "overdue") and probability of `deal`."""
    text = deal_words.day_text(deal.expected_close_date)
    close.setText(text + (" — overdue" if deal.is_overdue() else ""))
    close.setObjectName("overdueDate" if deal.is_overdue() else "")
    close.setStyleSheet("color: #b42318; font-weight: 600;" if deal.is_overdue() else "")
    chance.setText(f"{deal.effective_probability}%" +
                   ("" if deal.probability is not None else " (default for status)"))


class PlanFields(QWidget):
    """Owner (active users, the signed-in user by default), expected close date (may
    stay empty) and probability (empty: "default for status"), added to a form."""

    edited = Signal()

    def __init__(self, choices: list[OwnerChoice], me: str, status: QComboBox,
                 deal: DealSummary | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.owner = QComboBox()
        self.owner.setObjectName("ownerCombo")
        self.owner.setAccessibleName("Owner")
        current = deal.owner_id if deal else me
        for c in choices:
            self.owner.addItem(c.name + (" (me)" if c.id == me else ""), c.id)
        if self.owner.findData(current) < 0 and deal is not None:
            # A deactivated owner stays shown until someone else is chosen.
            self.owner.addItem(f"{deal.owner_name} (deactivated)", current)
        self.owner.setCurrentIndex(max(0, self.owner.findData(current)))
        self.close_date = DateField(QDate.currentDate())
        self.close_date.setObjectName("closeDateEdit")
        self.close_date.setAccessibleName("Expected close date")
        self.close_date.calendar.setMinimumDate(QDate(2000, 1, 1))
        self.close_date.calendar.setMaximumDate(QDate(2999, 12, 31))
        self.close_date.setToolTip("When the deal is expected to close (YYYY-MM-DD, or pick "
                                   "it: F4). Leave empty when not known.")
        if deal and deal.expected_close_date:
            self.close_date.setText(deal.expected_close_date.isoformat())
        self.close_hint = message_label("Close date problem")
        self.probability = QSpinBox()
        self.probability.setObjectName("probabilitySpin")
        self.probability.setAccessibleName("Probability")
        self.probability.setRange(NO_PROBABILITY, 100)
        self.probability.setSuffix(" %")
        self.probability.setValue(NO_PROBABILITY if deal is None or deal.probability is None
                                  else deal.probability)
        self._show_default()
        status.currentIndexChanged.connect(lambda _i: self._show_default())
        for signal in (self.owner.currentIndexChanged, self.probability.valueChanged,
                       self.close_date.textChanged):
            signal.connect(lambda *_a: self.edited.emit())

    def _show_default(self) -> None:
        st = self.status.currentData()
        pct = probability.DEFAULTS[DealStatus(st)] if st is not None else 0
        self.probability.setSpecialValueText(f"Default for status ({pct}%)")

    def add_rows(self, form: QFormLayout) -> None:
        """The three fields as rows of the deal form."""
        form.addRow("&Owner", self.owner)
        form.addRow("Expected &close", self.close_date)
        form.addRow("", self.close_hint)
        form.addRow("&Probability", self.probability)

    def check(self, show: bool) -> bool:
        """Whether the close date is a date (or empty); its problem shown when `show`."""
        try:
            validation.close_date(self.close_date.text())
        except ValidationError as exc:
            self.close_hint.setText(str(exc))
            self.close_hint.setVisible(show)
            return False
        self.close_hint.hide()
        return True

    def values(self) -> dict[str, Any]:
        """The use case's owner_id, expected_close_date and probability."""
        chance = self.probability.value()
        close: date | None = validation.close_date(self.close_date.text())
        return {"owner_id": self.owner.currentData(), "expected_close_date": close,
                "probability": None if chance == NO_PROBABILITY else chance}

    def state(self) -> tuple[int, str, int]:
        """What a draft kept through a lock holds of these fields."""
        return (self.owner.currentIndex(), self.close_date.text(), self.probability.value())

    def restore(self, state: tuple[int, str, int]) -> None:
        self.owner.setCurrentIndex(state[0])
        self.close_date.setText(state[1])
        self.probability.setValue(state[2])
