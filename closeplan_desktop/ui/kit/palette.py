"""The window's colours, each defined once, for the light and the dark palette.

Colours that carry a meaning (an error, a success, a flag) are chosen for the palette in
use, so that they stay readable on a dark desktop theme too. Style sheets take their names
(`error_name()`); models and painters take the QColor.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

ACCENT = "#0f766e"
# (light palette, dark palette)
_ERROR = ("#b91c1c", "#f28b82")
_OK = ("#166534", "#6dd58c")  # 4.5:1 or more on either window colour
_WARN = ("#92400e", "#f2b35a")
# The keyboard focus ring: 3:1 or more on the window and field colours (WCAG 2.2 focus).
_FOCUS = ("#0f766e", "#2dd4bf")
_FLAG = ("#fff1cc", "#4a3a10")  # the background of flagged rows (break-glass, unusual days)
_FLAG_EDGE = ("#e0b84a", "#8a6d1e")
# The error banner: background, border, text.
_BANNER = (("#fdecea", "#f5c2bd", "#7a1c14"), ("#3a1f1d", "#7a2e28", "#f6c9c4"))


def is_dark() -> bool:
    """True when the application's palette is dark (after `theme.apply_theme`)."""
    if QGuiApplication.instance() is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128


def _pick(pair: tuple[str, str]) -> str:
    return pair[1] if is_dark() else pair[0]


def error_name() -> str:
    """The colour of error text: refusals, failures, validation messages."""
    return _pick(_ERROR)


def error() -> QColor:
    return QColor(error_name())


def ok_name() -> str:
    """The colour of a success (a satisfied password policy, a finished task)."""
    return _pick(_OK)


def warn_name() -> str:
    """The colour of a result that needs attention (a cancelled rotation)."""
    return _pick(_WARN)


def focus() -> QColor:
    """The colour of the keyboard focus ring."""
    return QColor(_pick(_FOCUS))


def flag() -> QColor:
    """The subtle background of flagged rows."""
    return QColor(_pick(_FLAG))


def flag_edge_name() -> str:
    return _pick(_FLAG_EDGE)


def banner_style(object_name: str) -> str:
    """A style sheet for an error banner frame named `object_name` and its labels."""
    background, border, text = _BANNER[1] if is_dark() else _BANNER[0]
    return (f"#{object_name} {{ background: {background}; border: 1px solid {border}; "
            f"border-radius: 4px; }} #{object_name} QLabel {{ color: {text}; }}")


def muted_name() -> str:
    """Secondary text: the text colour blended halfway into the window colour."""
    pal = QGuiApplication.palette()
    a, b = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
    mix = 0.45
    return QColor(round(a.red() * (1 - mix) + b.red() * mix),
                  round(a.green() * (1 - mix) + b.green() * mix),
                  round(a.blue() * (1 - mix) + b.blue() * mix)).name()
