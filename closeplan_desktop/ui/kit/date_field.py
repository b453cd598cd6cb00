"""A date field: typed as YYYY-MM-DD (its placeholder says so) or picked from a calendar
(the field's calendar button, F4 or Alt+Down). It is a QLineEdit, so a form reads and
fills it as text, in the one format PHI holds dates in (`validation.DATE_FORMAT`)."""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QCalendarWidget, QLineEdit, QMenu, QWidget, QWidgetAction

from ...core.domain import validation
from ..icons import icon

QT_FORMAT = "yyyy-MM-dd"  # validation.DATE_FORMAT in Qt's notation


class DateField(QLineEdit):
    """A YYYY-MM-DD date, typed or picked; `default_day` is where an empty field's
    calendar opens (a date of birth: some decades back, not today)."""

    def __init__(self, default_day: QDate | None = None, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.default_day = default_day or QDate.currentDate()
        self.setPlaceholderText(validation.DATE_FORMAT)
        self.setMaxLength(10)
        self.setToolTip(f"Type the date as {validation.DATE_FORMAT} or pick it from the "
                        "calendar (F4).")
        self.calendar = QCalendarWidget()
        self.calendar.setObjectName("dateFieldCalendar")
        self.calendar.setGridVisible(True)
        self.calendar.setMaximumDate(QDate.currentDate())
        self.calendar.setMinimumDate(QDate(1900, 1, 1))
        self.calendar.clicked.connect(self._picked)
        self.calendar.activated.connect(self._picked)  # Enter on a day
        self.popup = QMenu(self)
        holder = QWidgetAction(self.popup)
        holder.setDefaultWidget(self.calendar)
        self.popup.addAction(holder)
        self.pick_action = self.addAction(icon("calendar"),
                                          QLineEdit.ActionPosition.TrailingPosition)
        self.pick_action.setToolTip("Pick from a calendar (F4)")
        self.pick_action.triggered.connect(self.open_calendar)
        for keys in ("F4", "Alt+Down"):
            key = QAction(self)
            key.setShortcut(QKeySequence(keys))
            key.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            key.triggered.connect(self.open_calendar)
            self.addAction(key)

    def day(self) -> QDate | None:
        """The typed day, or None when the text is not a YYYY-MM-DD date."""
        found = QDate.fromString(self.text().strip(), QT_FORMAT)
        return found if found.isValid() else None

    def open_calendar(self) -> None:
        if not self.isEnabled() or self.isReadOnly():
            return
        self.calendar.setSelectedDate(self.day() or self.default_day)
        self.popup.popup(self.mapToGlobal(self.rect().bottomLeft()))
        self.calendar.setFocus()

    def _picked(self, day: QDate) -> None:
        self.setText(day.toString(QT_FORMAT))
        self.popup.close()
        self.setFocus()
