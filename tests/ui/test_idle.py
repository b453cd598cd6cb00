"""Screen lock as the desktop reports it over D-Bus locks the window."""

from __future__ import annotations

from PySide6.QtDBus import QDBusConnection, QDBusMessage
from pytestqt.qtbot import QtBot

from closeplan_desktop.ui.idle import IdleWatcher, SessionSignals


def test_screensaver_signal_requests_a_lock(qtbot: QtBot) -> None:
    bus = QDBusConnection.sessionBus()
    assert bus.isConnected()
    assert bus.registerService("org.freedesktop.ScreenSaver")
    try:
        signals = SessionSignals()
        assert "org.freedesktop.ScreenSaver.ActiveChanged" in signals.connected
        msg = QDBusMessage.createSignal("/org/freedesktop/ScreenSaver",
                                        "org.freedesktop.ScreenSaver", "ActiveChanged")
        msg.setArguments([False])
        with qtbot.assertNotEmitted(signals.lock_requested, wait=300):
            bus.send(msg)
        msg = QDBusMessage.createSignal("/org/freedesktop/ScreenSaver",
                                        "org.freedesktop.ScreenSaver", "ActiveChanged")
        msg.setArguments([True])
        with qtbot.waitSignal(signals.lock_requested, timeout=3000):
            bus.send(msg)
    finally:
        bus.unregisterService("org.freedesktop.ScreenSaver")


def test_idle_watcher_restarts_on_input(qtbot: QtBot) -> None:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent

    watcher = IdleWatcher(0.5)
    assert watcher.timer.interval() == 30_000
    watcher.start()
    qtbot.wait(1000)
    assert watcher.timer.remainingTime() < 29_300
    event = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier)
    watcher.eventFilter(watcher, event)
    assert watcher.timer.remainingTime() > 29_800  # restarted at the full policy time
