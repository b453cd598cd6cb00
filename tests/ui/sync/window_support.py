"""Helpers of the window's sync tests: a laptop's main window signed in and online, and
what the tests read off it."""

from __future__ import annotations

from laptop_support import Laptop
from pytestqt.qtbot import QtBot

from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

SAM_PASSWORD = "Marble-Kettle-Violin-77"
MAX_PASSWORD = "Quartz-Pelican-Harbor-58"
WAIT_MS = 20_000


def window_of(laptop: Laptop, qtbot: QtBot) -> MainWindow:
    """The laptop's main window, its user signed in, after its first sync round."""
    w = MainWindow(SignedIn(laptop.ws, laptop.session()))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.sync is not None
    qtbot.waitUntil(lambda: w.sync is not None and w.sync.state.online, timeout=WAIT_MS)
    return w


def titles(w: MainWindow) -> list[str]:
    return [d.title for d in w.deals.model.rows]


def count_phi_access(laptop: Laptop) -> int:
    return int(laptop.rows("SELECT count(*) FROM access_logs WHERE action = 'PHI_ACCESS' "
                           "AND success = 1")[0][0])


def tag_of(laptop: Laptop) -> str:
    """The email domain of the laptop's user: the tenant of its test."""
    return laptop.email.split("@")[1]
