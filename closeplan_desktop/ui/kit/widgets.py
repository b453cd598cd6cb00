"""Small widget helpers every pane and dialog shares, so that they look alike."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ..icons import icon
from . import dialogs, palette
from .formatting import short_amount

# The role an amount cell's exact Decimal is read from.
AMOUNT_ROLE = Qt.ItemDataRole.UserRole + 1


class AmountDelegate(QStyledItemDelegate):
    """An amount cell that never cuts a number: the full amount when it fits, else its
    short form ("$1.2T"); the full one is in the cell's tooltip."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        value = index.data(AMOUNT_ROLE)
        if not isinstance(value, Decimal):
            return
        style = option.widget.style() if option.widget else None
        margin = (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1) * 2 \
            if style else 6
        if option.fontMetrics.horizontalAdvance(option.text) > option.rect.width() - margin:
            option.text = short_amount(value)


def heading(text: str, scale: float = 1.35) -> QLabel:
    """A bold title label, `scale` times the normal font size."""
    label = QLabel(text)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    label.setFont(font)
    return label


def muted(text: str = "") -> QLabel:
    """A wrapped, quieter label for explanations under a title or a control."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def button(text: str, icon_name: str, slot: Callable[[], object] | None = None, *,
           name: str, accessible: str | None = None, tip: str = "",
           icon_size: int | None = None) -> QPushButton:
    """A push button with an icon. Its accessible name defaults to its text without a
    trailing "…"; `slot` is called with no arguments when it is clicked."""
    b = QPushButton(icon(icon_name), text)
    b.setObjectName(name)
    b.setAccessibleName(accessible or text.rstrip("…"))
    if tip:
        b.setToolTip(tip)
    if icon_size:
        b.setIconSize(QSize(icon_size, icon_size))
    if slot is not None:
        b.clicked.connect(lambda _checked=False: slot())
    return b


def message_label(accessible: str = "", name: str = "") -> QLabel:
    """A hidden, wrapped line in the error colour for a message (core's validation, a
    refusal) under a field or a form; `set_message` shows and hides it."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.error_name()};")
    if accessible:
        label.setAccessibleName(accessible)
    if name:
        label.setObjectName(name)
    label.hide()
    return label


def set_message(label: QLabel, text: str) -> None:
    """Show `text` in `label`, or hide the label when `text` is empty."""
    label.setText(text)
    label.setVisible(bool(text))


def with_message(field: QWidget, message: QLabel) -> QWidget:
    """A field with its message line right under it (one row of a form)."""
    holder = QWidget()
    box = QVBoxLayout(holder)
    box.setContentsMargins(0, 0, 0, 0)
    box.setSpacing(2)
    box.addWidget(field)
    box.addWidget(message)
    return holder


# Below this available width a main window takes the whole width (less its frame): on a
# 1366x768 laptop the 8 % margin would cost the deals list a whole column of text.
SMALL_SCREEN_WIDTH = 1440
FRAME_ALLOWANCE = 16  # px; the window manager's frame, not known before the first show


def fit_to_screen(widget: QWidget, preferred: QSize, share: float = 0.92,
                  fill_small: bool = False) -> None:
    """Size a top-level window to `preferred`, or to `share` of its screen's available
    area (without panels and task bars) when that is smaller, and centre it there: a
    1366x768 laptop or 1920x1080 at 150 % (1280x720 logical) shows all of it. With
    `fill_small`, a screen narrower than SMALL_SCREEN_WIDTH gets the whole width."""
    area = available_area(widget)
    width = min(preferred.width(), round(area.width() * share))
    if fill_small and area.width() < SMALL_SCREEN_WIDTH:
        width = area.width() - FRAME_ALLOWANCE
    size = QSize(width, min(preferred.height(), round(area.height() * share)))
    widget.resize(size)
    widget.move(area.center().x() - size.width() // 2, area.center().y() - size.height() // 2)


def keep_on_screen(widget: QWidget) -> None:
    """Shrink and move a restored window back into its screen's available area (a
    geometry saved on a larger screen, or at a smaller scale)."""
    area = available_area(widget)
    frame = widget.frameGeometry()
    if area.contains(frame):
        return
    width = min(widget.width(), area.width() - (frame.width() - widget.width()))
    height = min(widget.height(), area.height() - (frame.height() - widget.height()))
    widget.resize(max(width, widget.minimumWidth()), max(height, widget.minimumHeight()))
    frame = widget.frameGeometry()
    widget.move(max(area.left(), min(frame.left(), area.right() - frame.width() + 1)),
                max(area.top(), min(frame.top(), area.bottom() - frame.height() + 1)))


def available_area(widget: QWidget) -> QRect:
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen else QRect(0, 0, 1280, 720)


def error_line(name: str = "") -> QLabel:
    """A wrapped line in the error colour that shows nothing while empty (a form's hint)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.error_name()};")
    if name:
        label.setObjectName(name)
    return label


def workspace_folder(start: str, name: str) -> tuple[QLineEdit, QWidget]:
    """A workspace folder's line and its "Change…" button, which puts a ClosePlan folder
    inside the folder picked; (the line, the row to add to a form)."""
    line = QLineEdit(start)
    line.setObjectName(name)
    line.setAccessibleName("Workspace folder")
    browse = QPushButton(icon("folder"), "Change…")

    def pick() -> None:
        folder = dialogs.choose_folder(row, "Workspace folder", line.text())
        if folder is not None:
            line.setText(str(folder / "ClosePlan"))

    browse.clicked.connect(lambda _c=False: pick())
    row = QWidget()
    box = QHBoxLayout(row)
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(line, 1)
    box.addWidget(browse)
    return line, row
