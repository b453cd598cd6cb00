"""The focus ring: a clearly visible 2 px ring, in the palette's focus colour, on the
button, field or table that has the keyboard focus (Fusion's own hint is a faint line).

One `FocusRing` per application watches focus changes and draws a ring widget over the
focused widget (inside its edge, so that no parent clips it). A button clicked with the
mouse gets no ring: it only says where the keyboard is."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFocusEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from shiboken6 import isValid

from . import palette

RING_WIDTH = 2
FIELDS = (QLineEdit, QComboBox, QAbstractSpinBox, QPlainTextEdit, QTextEdit)
_MOVES = (QEvent.Type.Move, QEvent.Type.Resize)


class _Ring(QWidget):
    """The ring itself: drawn over the focused widget, transparent to the mouse."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("focusRing")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(palette.focus())
        pen.setWidth(RING_WIDTH)
        painter.setPen(pen)
        half = RING_WIDTH / 2
        painter.drawRoundedRect(self.rect().toRectF().adjusted(half, half, -half, -half), 4, 4)


# Focus that did not come from the keyboard: a button or a list needs no ring for it (a
# click shows where it went; a window coming back to the front is no move of the user's).
_NOT_KEYBOARD = (Qt.FocusReason.MouseFocusReason, Qt.FocusReason.ActiveWindowFocusReason,
                 Qt.FocusReason.PopupFocusReason)


def ring_target(widget: QWidget, reason: Qt.FocusReason) -> QWidget | None:
    """The widget that shows the ring for a focus change, or None: the field around an
    inner line edit (a spin box's, a combo box's); a field always (it is where typing
    goes); a button or a table when the keyboard brought the focus there."""
    parent = widget.parentWidget()
    if isinstance(widget, QLineEdit) and isinstance(parent, (QAbstractSpinBox, QComboBox)):
        return parent
    if isinstance(widget, FIELDS):
        return widget
    if isinstance(widget, (QAbstractButton, QAbstractItemView)):
        return None if reason in _NOT_KEYBOARD else widget
    return None


class FocusRing(QObject):
    """Draws the ring for `app` (install once, after the palette is set)."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.ring: _Ring | None = None
        self.target: QWidget | None = None
        app.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.FocusIn and isinstance(obj, QWidget):
            assert isinstance(event, QFocusEvent)
            target = ring_target(obj, event.reason())
            if target is not None:
                self.show_on(target)
            elif obj is not self.target:
                self.hide()
        elif obj is self.target and self.target is not None:
            if kind in _MOVES:
                self._place()
            elif kind in (QEvent.Type.FocusOut, QEvent.Type.Hide):
                # An inner line edit losing focus to its own field keeps the ring.
                focus = QApplication.focusWidget()
                if focus is None or (focus is not obj and not obj.isAncestorOf(focus)):
                    self.hide()
        return False

    def show_on(self, target: QWidget) -> None:
        parent = target.parentWidget()
        if parent is None:  # a top-level widget: nothing to draw over it from
            self.hide()
            return
        if self.ring is None or not isValid(self.ring) or self.ring.parentWidget() is not parent:
            if self.ring is not None and isValid(self.ring):
                self.ring.deleteLater()
            self.ring = _Ring(parent)
        self.target = target
        self._place()
        self.ring.show()
        self.ring.raise_()

    def _place(self) -> None:
        if self.ring is not None and isValid(self.ring) and self.target is not None \
                and isValid(self.target):
            self.ring.setGeometry(self.target.geometry())

    def hide(self) -> None:
        if self.ring is not None and isValid(self.ring):
            self.ring.hide()
        self.target = None


def install(app: QApplication) -> FocusRing:
    """The application's focus ring, made on first call."""
    found = app.findChild(FocusRing)
    return found if isinstance(found, FocusRing) else FocusRing(app)
