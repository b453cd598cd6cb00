"""Account > Change password…: the signed-in user changes their own password in the
window, with core's length rule and strength advice as they type; a wrong current
password is refused in the dialog; the new password unlocks the window."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot
from support import USER_PASSWORD, Env, sql

from closeplan_desktop.ui.account import ChangePasswordDialog
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

NEW = "lantern orbit walnut 93"


def test_the_account_menu_changes_the_signed_in_users_password(env: Env,
                                                               qtbot: QtBot) -> None:
    window = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(window)
    menus = {m.title(): m for m in window.menuBar().findChildren(QMenu)}
    assert "Change &Password…" in [a.text() for a in menus["&Account"].actions()]

    dialog = ChangePasswordDialog(window.signed_in, window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.new.password.setText("password12345")
    dialog.new.confirm.setText("password12345")
    dialog.current.setText(USER_PASSWORD)
    # Long enough, but core would refuse it: its advice shows, the button waits.
    assert "too weak" in dialog.new.password_error.text()
    assert not dialog.ok.isEnabled()
    dialog.new.password.setText(NEW)
    dialog.new.confirm.setText(NEW)
    dialog.current.setText("not my password at all")
    assert dialog.ok.isEnabled()
    dialog.submit()
    assert dialog.isVisible() and "current password is incorrect" in dialog.error.text()
    dialog.current.setText(USER_PASSWORD)
    dialog.submit()
    assert dialog.changed and not dialog.isVisible()
    assert dialog.current.text() == "" and dialog.new.value() == ""  # not kept
    assert sql(env.ws.path, "SELECT count(*) FROM security_events "
                            "WHERE type='PASSWORD_CHANGED'") == [(1,)]
    window.signed_in.lock()
    window.signed_in.unlock(NEW)
    assert not window.signed_in.is_locked
    window.close()
