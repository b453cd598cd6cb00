"""kit.ops: core work off the UI thread or on it, errors shown one way, and the Changes
hub that tells panes what changed."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from support import Env, FakeDialogs

from closeplan_desktop.core.domain.errors import ClosePlanError
from closeplan_desktop.core.domain.progress import CancelToken, Progress
from closeplan_desktop.ui.kit import dialogs as kit_dialogs
from closeplan_desktop.ui.kit import ops
from closeplan_desktop.ui.kit.ops import Changes, Kind, Op
from closeplan_desktop.ui.pane import Pane
from closeplan_desktop.ui.signed_in import SignedIn

PHI_TEXT = "Winifred Okonkwo-Lindqvist MRN-55510"


def heard(hub: Changes) -> list[frozenset[Kind]]:
    seen: list[frozenset[Kind]] = []
    hub.changed.connect(seen.append)
    return seen


def run(qtbot: QtBot, op: Op) -> None:
    with qtbot.waitSignal(op.finished, timeout=10000):
        op.run_in_background()


def test_success_returns_the_value_and_announces_the_changes(qtbot: QtBot,
                                                              dialogs: FakeDialogs) -> None:
    hub = Changes()
    seen = heard(hub)
    results: list[Any] = []
    op = Op(None, "Adding up", lambda _p, _t: 40 + 2, changes={Kind.DEALS}, hub=hub,
            progress=False).on_success(results.append)
    run(qtbot, op)
    qtbot.waitUntil(lambda: results == [42], timeout=3000)
    assert seen == [frozenset({Kind.DEALS})] and dialogs.shown == []


def test_a_closeplan_error_is_shown_as_it_is(qtbot: QtBot, dialogs: FakeDialogs) -> None:
    def work(_p: Progress, _t: CancelToken) -> None:
        raise ClosePlanError("The deal was changed by someone else.")

    op = Op(None, "Saving the deal", work, progress=False, failure_title="Cannot save")
    run(qtbot, op)
    qtbot.waitUntil(lambda: bool(dialogs.errors), timeout=3000)
    assert dialogs.errors == [("Cannot save", "The deal was changed by someone else.")]


def test_an_unexpected_error_is_shown_without_its_text(qtbot: QtBot, dialogs: FakeDialogs,
                                                       caplog: Any) -> None:
    def work(_p: Progress, _t: CancelToken) -> None:
        raise RuntimeError(PHI_TEXT)  # an exception's text may hold PHI

    failures: list[str] = []
    op = Op(None, "Importing deals", work, progress=False).on_failure(failures.append)
    run(qtbot, op)
    qtbot.waitUntil(lambda: bool(failures), timeout=3000)
    assert failures == [kit_dialogs.UNEXPECTED.format(kind="RuntimeError")]
    assert isinstance(op.error, RuntimeError)
    assert PHI_TEXT not in caplog.text and dialogs.shown == []
    # Short work on the UI thread says the same, in the default error dialog.
    done = ops.run_now(lambda: (_ for _ in ()).throw(ValueError(PHI_TEXT)), title="Cannot")
    assert not done.ok and dialogs.errors == [
        ("Cannot", kit_dialogs.UNEXPECTED.format(kind="ValueError"))]
    assert PHI_TEXT not in str(dialogs.shown)


def test_cancel_stops_the_work_and_announces_what_it_kept(qtbot: QtBot,
                                                          dialogs: FakeDialogs) -> None:
    hub = Changes()
    seen = heard(hub)
    started: list[bool] = []

    def work(progress: Progress, token: CancelToken) -> None:
        started.append(True)
        for i in range(1000):
            token.check()
            progress(i, 1000)
            time.sleep(0.01)

    cancelled: list[bool] = []
    parent = QWidget()
    qtbot.addWidget(parent)
    op = Op(parent, "Rotating", work, changes={Kind.KEYS}, hub=hub)
    op.on_cancel(lambda: cancelled.append(True))
    with qtbot.waitSignal(op.finished, timeout=10000):
        op.run_in_background()
        qtbot.waitUntil(lambda: bool(started), timeout=3000)
        assert op.dialog is not None
        op.dialog.canceled.emit()  # what its Cancel button sends
    qtbot.waitUntil(lambda: bool(cancelled), timeout=3000)
    assert seen == [frozenset({Kind.KEYS})] and dialogs.shown == []


def test_run_now_shows_failures_where_asked(qtbot: QtBot, dialogs: FakeDialogs) -> None:
    hub = Changes()
    seen = heard(hub)
    shown: list[str] = []

    def refuse() -> None:
        raise ClosePlanError("You cannot deactivate your own account.")

    done = ops.run_now(refuse, on_failure=shown.append, changes={Kind.USERS, Kind.AUDIT},
                       hub=hub)
    assert not done.ok and shown == ["You cannot deactivate your own account."]
    assert dialogs.shown == []
    assert seen == [frozenset({Kind.USERS, Kind.AUDIT})]  # a refusal is logged
    assert ops.run_now(lambda: 7, hub=hub).value == 7


class CountingPane(Pane):
    key = "counting"
    title = "Counting"
    shows = frozenset({Kind.DEALS})

    def __init__(self, signed_in: SignedIn) -> None:
        super().__init__(signed_in)
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1


def test_a_pane_on_screen_refreshes_at_once_for_the_kinds_it_shows(qtbot: QtBot,
                                                                   env: Env) -> None:
    signed_in = SignedIn(env.ws, env.admin)
    pane = CountingPane(signed_in)
    qtbot.addWidget(pane)
    pane.show()
    pane.shown()
    assert pane.refreshes == 1
    signed_in.changes.announce({Kind.USERS})  # not shown here
    assert pane.refreshes == 1
    signed_in.changes.announce({Kind.DEALS, Kind.AUDIT})
    assert pane.refreshes == 2 and not pane.stale
    pane.shown()  # nothing changed since
    assert pane.refreshes == 2


def test_a_hidden_pane_refreshes_once_when_next_shown(qtbot: QtBot, env: Env) -> None:
    signed_in = SignedIn(env.ws, env.admin)
    pane = CountingPane(signed_in)
    qtbot.addWidget(pane)
    pane.show()
    pane.shown()
    pane.hide()
    for _ in range(3):
        signed_in.changes.announce({Kind.DEALS})
    assert pane.refreshes == 1 and pane.stale
    pane.show()
    pane.shown()
    assert pane.refreshes == 2
    pane.shown()
    assert pane.refreshes == 2
