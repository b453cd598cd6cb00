"""Look: Fusion style over the system's light or dark palette, a teal accent, calm spacing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from .icons import icon
from .kit import focus
from .kit.palette import ACCENT

STYLE = """
QListWidget#navigation { border: none; padding-top: 8px; font-size: 11pt; }
QListWidget#navigation::item { padding: 6px 10px; border-radius: 6px; margin: 2px 8px; }
QListWidget#navigation::item:selected { background: palette(highlight);
    color: palette(highlighted-text); }
QTableView { gridline-color: transparent; }
QHeaderView::section { padding: 4px 6px; border: none;
    border-bottom: 1px solid palette(mid); font-weight: 600; }
QGroupBox { font-weight: 600; border: 1px solid palette(mid); border-radius: 6px;
    margin-top: 14px; padding: 10px 8px 8px 8px; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; }
QPushButton { padding: 5px 12px; }
QLineEdit, QComboBox { padding: 4px 6px; }
QLabel#dealsEmpty { color: palette(placeholder-text); font-size: 12pt; }
QLabel#phiMasked { letter-spacing: 2px; }
QStatusBar QLabel { padding: 0 8px; }
"""


def system_is_dark() -> bool:
    """True when the desktop asks for a dark scheme (before the app's palette is set)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        return scheme() == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(app: QApplication) -> None:
    """Follow the system's light or dark palette; add the accent, the style sheet and the
    keyboard focus ring."""
    app.setStyle("Fusion")
    palette = app.palette()
    if system_is_dark():
        palette = QPalette(QColor("#1f2327"))
        palette.setColor(QPalette.ColorRole.Base, QColor("#171a1d"))
        palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#22262b"))
        palette.setColor(QPalette.ColorRole.Text, QColor("#e6e8ea"))
        palette.setColor(QPalette.ColorRole.WindowText, QColor("#e6e8ea"))
        palette.setColor(QPalette.ColorRole.ButtonText, QColor("#e6e8ea"))
    # Greyed-out text must look greyed out: the dark palette above sets every group's text
    # alike, and some system palettes do too.
    dim = QColor("#7b828a") if system_is_dark() else QColor("#8a8f95")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        if palette.color(QPalette.ColorGroup.Disabled, role) == palette.color(
                QPalette.ColorGroup.Active, role):
            palette.setColor(QPalette.ColorGroup.Disabled, role, dim)
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Link, QColor(ACCENT))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)
    app.setWindowIcon(icon("closeplan"))
    focus.install(app)
