"""Small widget helpers every pane and dialog shares, so that they look alike."""

from __future__ import annotations

from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QLabel


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
