"""When to lock: idle time, and the desktop's screen lock and sleep (over D-Bus)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusConnection

log = logging.getLogger(__name__)

_INPUT_EVENTS = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                 QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.ShortcutOverride}


class IdleWatcher(QObject):
    """Emits `idle` after `minutes` without keyboard, mouse or touch input in the app."""

    idle = Signal()

    def __init__(self, minutes: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)  # a lock must not come late
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(1, int(minutes * 60_000)))
        self.timer.timeout.connect(self.idle)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT_EVENTS and self.timer.isActive():
            self.timer.start()
        return False


class SessionSignals(QObject):
    """Screen lock and sleep, as the desktop reports them: logind's PrepareForSleep and
    Lock on the system bus; the freedesktop and GNOME screensavers on the session bus."""

    lock_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.connected: list[str] = []
        system = QDBusConnection.systemBus()
        session = QDBusConnection.sessionBus()
        wiring = [
            (system, "org.freedesktop.login1", "/org/freedesktop/login1",
             "org.freedesktop.login1.Manager", "PrepareForSleep", "on_sleep(bool)"),
            (system, "org.freedesktop.login1", "", "org.freedesktop.login1.Session", "Lock",
             "on_lock()"),
            (session, "org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver",
             "org.freedesktop.ScreenSaver", "ActiveChanged", "on_screensaver(bool)"),
            (session, "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver",
             "org.gnome.ScreenSaver", "ActiveChanged", "on_screensaver(bool)"),
        ]
        for bus, service, path, interface, name, slot in wiring:
            if not bus.isConnected():
                continue
            if bus.connect(service, path, interface, name, self, f"1{slot}"):
                self.connected.append(f"{interface}.{name}")
        log.debug("lock signals: %s", self.connected)

    @Slot(bool)
    def on_sleep(self, going_to_sleep: bool) -> None:
        if going_to_sleep:
            self.lock_requested.emit()

    @Slot()
    def on_lock(self) -> None:
        self.lock_requested.emit()

    @Slot(bool)
    def on_screensaver(self, active: bool) -> None:
        if active:
            self.lock_requested.emit()
