"""Run something once a widget has been painted for the first time."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class _FirstPaint(QObject):
    def __init__(self, widget: QWidget, fn: Callable[[], None]) -> None:
        super().__init__(widget)
        self.fn = fn
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            # A zero timer runs after this paint has been drawn and flushed.
            QTimer.singleShot(0, self.fn)
        return False


def after_first_paint(widget: QWidget, fn: Callable[[], None]) -> None:
    """Call `fn` on the UI thread just after `widget`'s next paint has been drawn."""
    _FirstPaint(widget, fn)
