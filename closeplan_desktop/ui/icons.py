"""The icon set in resources/icons, tinted to the palette so it reads in light and dark."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parent.parent.parent / "resources"
ICONS = RESOURCES / "icons"


def resource_dir() -> Path:
    """resources/ beside the package (checkout) or inside it (frozen builds)."""
    bundled = Path(__file__).resolve().parent.parent / "resources"
    return bundled if bundled.is_dir() else RESOURCES


def _tint() -> str:
    app = QGuiApplication.instance()
    if app is None:
        return "#333333"
    return QGuiApplication.palette().color(QPalette.ColorRole.WindowText).name()


@cache
def _svg(name: str) -> bytes:
    return (resource_dir() / "icons" / f"{name}.svg").read_bytes()


def icon(name: str, color: str | None = None) -> QIcon:
    """An icon from resources/icons/NAME.svg drawn in `color` (default: the text color),
    rendered sharp at each size the widget asks for (high-DPI clean)."""
    return _icon(name, color or _tint())


@cache
def _icon(name: str, color: str) -> QIcon:
    # Drawn once per name and color (QIcon is shared by value): building the main window
    # asks for the same few icons dozens of times.
    data = _svg(name).replace(b"currentColor", color.encode())
    result = QIcon()
    for size in (16, 20, 24, 32, 48, 64):
        pm = QPixmap(QSize(size, size))
        pm.fill(Qt.GlobalColor.transparent)
        renderer = QSvgRenderer(QByteArray(data))
        painter = QPainter(pm)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pm)
    return result
