"""Owner and close date in the deals pane (issue 15): the "My deals" toggle, the owner
and close-date filters of the filter bar, and the forecast line under the pipeline
(weighted forecast, closing this month and this quarter, following the filter)."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from ...core.domain import deal_words
from ...core.domain.clock import local_today
from ...core.domain.probability import DEFAULTS
from ...core.usecases.deal_list import DealQuery
from ...core.usecases.forecast import Forecast, month_range, quarter_range
from ...core.usecases.owners import OwnerChoice
from ..icons import icon
from ..kit.formatting import amount, short_amount

# The close-date filter's choices: (label, key).
CLOSE_CHOICES = (("Any close date", None), ("Closing this month", "month"),
                 ("Closing this quarter", "quarter"), ("Overdue", "overdue"))


class OwnerFilters(QWidget):
    """"My deals" (one click), an owner filter and a close-date filter; `changed` when
    any of them changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.me: str | None = None
        self.mine = QPushButton(icon("user"), "My deals")
        self.mine.setObjectName("myDealsToggle")
        self.mine.setCheckable(True)
        self.mine.setAccessibleName("Show only my deals")
        self.mine.setToolTip("Only the deals you own")
        self.owner = QComboBox()
        self.owner.setObjectName("ownerFilter")
        self.owner.setAccessibleName("Owner filter")
        self.owner.addItem("Any owner", None)
        self.close = QComboBox()
        self.close.setObjectName("closeFilter")
        self.close.setAccessibleName("Close date filter")
        for label, key in CLOSE_CHOICES:
            self.close.addItem(label, key)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mine)
        layout.addWidget(self.owner)
        layout.addWidget(self.close)
        self.mine.toggled.connect(self._mine_toggled)
        self.owner.currentIndexChanged.connect(self._owner_chosen)
        self.close.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def load_owners(self, choices: list[OwnerChoice], me: str) -> None:
        """The active users to filter by (the current choice kept when still there)."""
        self.me = me
        current = self.owner.currentData()
        self.owner.blockSignals(True)
        self.owner.clear()
        self.owner.addItem("Any owner", None)
        for c in choices:
            self.owner.addItem(c.name + (" (me)" if c.id == me else ""), c.id)
            self.owner.setItemData(self.owner.count() - 1, c.email, 3)  # tooltip role
        found = self.owner.findData(current)
        self.owner.setCurrentIndex(max(0, found))
        self.owner.blockSignals(False)

    def _mine_toggled(self, on: bool) -> None:
        self.owner.blockSignals(True)
        found = self.owner.findData(self.me) if on else 0
        self.owner.setCurrentIndex(max(0, found))
        self.owner.blockSignals(False)
        self.changed.emit()

    def _owner_chosen(self, _index: int) -> None:
        self.mine.blockSignals(True)
        self.mine.setChecked(self.owner.currentData() is not None
                             and self.owner.currentData() == self.me)
        self.mine.blockSignals(False)
        self.changed.emit()

    def set_fields(self, query: DealQuery, today: date | None = None) -> None:
        """Show a saved view's owner and close-date fields (a range that is not this
        month or quarter gets a choice of its own, so that applying the view keeps it)."""
        day = today or local_today()
        self.mine.setChecked(query.owner_id is not None and query.owner_id == self.me)
        self.owner.setCurrentIndex(max(0, self.owner.findData(query.owner_id)))
        for i in range(self.close.count() - 1, len(CLOSE_CHOICES) - 1, -1):
            self.close.removeItem(i)  # an earlier view's own range
        span = (query.close_from, query.close_to)
        if query.overdue:
            key: Any = "overdue"
        elif span == (None, None):
            key = None
        elif span == month_range(day):
            key = "month"
        elif span == quarter_range(day):
            key = "quarter"
        else:
            key = span
            self.close.addItem("Closing " + " – ".join(
                d.isoformat() if d is not None else "…" for d in span), span)
        self.close.setCurrentIndex(max(0, self.close.findData(key)))

    def query_fields(self, today: date | None = None) -> dict[str, Any]:
        """The DealQuery fields these filters set."""
        day = today or local_today()
        owner = self.me if self.mine.isChecked() else self.owner.currentData()
        out: dict[str, Any] = {"owner_id": owner}
        key = self.close.currentData()
        if key == "overdue":
            out["overdue"] = True
        elif isinstance(key, tuple):
            out["close_from"], out["close_to"] = key
        elif key in ("month", "quarter"):
            out["close_from"], out["close_to"] = (month_range(day) if key == "month"
                                                  else quarter_range(day))
        return out

    def describe(self) -> str:
        """What the filters keep, in words (for the empty list's message)."""
        parts = []
        if self.owner.currentData() is not None:
            parts.append("my deals" if self.mine.isChecked() else self.owner.currentText())
        if self.close.currentData() is not None:
            parts.append(self.close.currentText().lower())
        return ", ".join(parts)


class ForecastLine(QLabel):
    """The weighted forecast and closing this month / quarter of what the list shows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("forecastLine")
        self.setAccessibleName("Forecast")
        self.setWordWrap(True)
        self.forecast: Forecast | None = None

    def set_forecast(self, forecast: Forecast | None, *, filtered: bool = False) -> None:
        """Show `forecast` (None: nothing to show, as while locked)."""
        self.forecast = forecast
        if forecast is None:
            self.clear()
            return
        f = forecast
        quarter = f"Q{(f.quarter.month - 1) // 3 + 1}"
        scope = "Filtered forecast" if filtered else "Weighted forecast"
        # Short amounts keep the line on one row at 1366 px; the tooltip has them exact.
        self.setText(
            f"<b>{scope}: {short_amount(f.open.weighted)}</b> of {short_amount(f.open.total)}"
            f" open ({f.open.count:,} deals) &nbsp;·&nbsp; Closing in {f.month:%B}: "
            f"{f.this_month.count:,} deals, {short_amount(f.this_month.total)} "
            f"({short_amount(f.this_month.weighted)} weighted) &nbsp;·&nbsp; {quarter}: "
            f"{f.this_quarter.count:,} deals, {short_amount(f.this_quarter.total)} "
            f"({short_amount(f.this_quarter.weighted)} weighted)")
        exact = (f"{scope}: {amount(f.open.weighted)} of {amount(f.open.total)} open. "
                 f"Closing in {f.month:%B}: {amount(f.this_month.total)} "
                 f"({amount(f.this_month.weighted)} weighted). {quarter}: "
                 f"{amount(f.this_quarter.total)} ({amount(f.this_quarter.weighted)} "
                 "weighted).\n")
        defaults = ", ".join(f"{deal_words.status_word(st)} {pct}%"
                             for st, pct in DEFAULTS.items())
        self.setToolTip(exact + "Weighted: each open deal's value times its probability (a deal "
                        f"without one takes its status default: {defaults}).")

