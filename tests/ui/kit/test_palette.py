"""Both palettes: greyed-out text looks greyed out, error text is readable (WCAG AA), and
the keyboard focus ring is clearly visible on buttons, fields and tables (a mouse click
on a button draws none)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateEdit,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from closeplan_desktop.ui import theme
from closeplan_desktop.ui.kit import focus, palette


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
    ring = qapp.findChild(focus.FocusRing)  # the other tests run without the theme
    if ring is not None:
        qapp.removeEventFilter(ring)
        ring.setParent(None)


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


@pytest.fixture
def form(themed: QPalette, qtbot: QtBot) -> Iterator[QWidget]:
    w = QWidget()
    box = QVBoxLayout(w)
    for widget in (QPushButton("Save"), QLineEdit(), QComboBox(), QDateEdit(),
                   QTableWidget(3, 2)):
        box.addWidget(widget)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def ring(app: QApplication) -> QWidget:
    found = focus.install(app).ring
    assert found is not None
    return found


def test_the_ring_colour_stands_out_in_both_palettes(themed: QPalette) -> None:
    for background in (themed.color(QPalette.ColorRole.Window),
                       themed.color(QPalette.ColorRole.Base),
                       themed.color(QPalette.ColorRole.Button)):
        assert contrast(palette.focus(), background) >= 3.0


@pytest.mark.parametrize("kind", [QPushButton, QLineEdit, QComboBox, QDateEdit, QTableWidget])
def test_keyboard_focus_draws_the_ring_on_the_widget(
        form: QWidget, qapp: QApplication, qtbot: QtBot, kind: type[QWidget]) -> None:
    target = form.findChild(kind)
    other = form.findChild(QTableWidget if kind is not QTableWidget else QLineEdit)
    assert target is not None and other is not None
    other.setFocus(Qt.FocusReason.TabFocusReason)  # (the window gave a widget focus)
    target.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: ring(qapp).isVisible())
    assert ring(qapp).geometry() == target.geometry()
    # The ring's pixels are there, in the focus colour, at the widget's left edge.
    image = form.grab().toImage()
    edge = image.pixelColor(QPoint(target.x() + 1, target.y() + target.height() // 2))
    assert contrast(edge, palette.focus()) < 1.3, (edge.name(), palette.focus().name())


def test_a_mouse_click_on_a_button_draws_no_ring_and_focus_elsewhere_moves_it(
        form: QWidget, qapp: QApplication, qtbot: QtBot) -> None:
    field = form.findChild(QLineEdit)
    button = form.findChild(QPushButton)
    assert field is not None and button is not None
    field.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: ring(qapp).isVisible())
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is button
    assert not ring(qapp).isVisible()
