"""Both palettes: greyed-out text looks greyed out, and error text is readable (WCAG AA)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from closeplan_desktop.ui import theme
from closeplan_desktop.ui.kit import palette


def luminance(c: QColor) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.fixture(params=[False, True], ids=["light", "dark"])
def themed(request: pytest.FixtureRequest, qapp: QApplication,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[QPalette]:
    before, sheet = qapp.palette(), qapp.styleSheet()
    monkeypatch.setattr(theme, "system_is_dark", lambda: request.param)
    theme.apply_theme(qapp)
    assert palette.is_dark() == request.param
    yield qapp.palette()
    qapp.setPalette(before)
    qapp.setStyleSheet(sheet)


def test_disabled_text_differs_from_enabled(themed: QPalette) -> None:
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        enabled = themed.color(QPalette.ColorGroup.Active, role)
        disabled = themed.color(QPalette.ColorGroup.Disabled, role)
        assert contrast(enabled, disabled) > 1.8, role


def test_error_and_ok_text_are_readable(themed: QPalette) -> None:
    for background in (themed.color(QPalette.ColorRole.Window),
                       themed.color(QPalette.ColorRole.Base)):
        assert contrast(palette.error(), background) >= 4.5
        assert contrast(QColor(palette.ok_name()), background) >= 4.5
        assert contrast(QColor(palette.warn_name()), background) >= 4.5
