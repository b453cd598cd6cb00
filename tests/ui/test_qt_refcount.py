"""Regression: PySide6 6.12.0 dropped a reference to None on each call of a Qt method that
returns nothing, so a long session aborted ("none_dealloc"). The pinned Qt must not."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot


def test_qt_calls_keep_none_alive(qtbot: QtBot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(5000):
        label.setText("x")
    assert abs(sys.getrefcount(None) - before) < 50
