"""The window's part of the outside review's findings (issue 13); the core's part is in
tests/core/security/test_review_findings.py. Names carry the finding's number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit
from pytestqt.qtbot import QtBot
from support import ADMIN_EMAIL, ADMIN_PASSWORD, USER_EMAIL, USER_PASSWORD, Env, sql

from closeplan_desktop.core.domain.errors import AccountLocked, AuthError
from closeplan_desktop.core.security import passwords
from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.core.usecases import auth, users
from closeplan_desktop.ui.kit.strength import StrengthAdvice
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.users.dialogs import AddUserDialog, ResetPasswordDialog
from closeplan_desktop.ui.users.pane import UsersPane
from closeplan_desktop.ui.wizard import FirstRunWizard

WEAK = "aaaaaaaaaaaa"  # long enough for the length rule, trivially guessed
STRONG = "quartz lantern orbit meadow"


def typed_verdict(qtbot: QtBot, field: QLineEdit, advice: StrengthAdvice, text: str) -> str:
    """Type `text` and wait until the strength line shows the verdict for it."""
    field.clear()
    with qtbot.waitSignal(advice.shown, timeout=10_000,
                          check_params_cb=lambda shown: bool(shown)):
        qtbot.keyClicks(field, text)
    return advice.label.text()


def check_advice(qtbot: QtBot, field: QLineEdit, advice: StrengthAdvice,
                 inputs: tuple[str, ...] = ()) -> None:
    shown = typed_verdict(qtbot, field, advice, WEAK)
    assert shown.startswith(passwords.strength(WEAK, inputs).message)
    assert WEAK not in shown  # the advice never repeats the password
    assert "Hard to guess" in typed_verdict(qtbot, field, advice, STRONG)
    with qtbot.waitSignal(advice.shown, timeout=10_000):
        field.clear()
    assert advice.label.text() == ""


def test_finding_12_password_advice_as_you_type_where_a_password_is_set(
        qtbot: QtBot, env: Env, tmp_path: Path) -> None:
    """Core's zxcvbn verdict shows under every new-password field (add user, reset
    password, the wizard's first admin): weak, with core's advice, or hard to guess."""
    signed_in = SignedIn(env.ws, env.admin)
    add = AddUserDialog(signed_in)
    qtbot.addWidget(add)
    add.show()
    fields = add.new_password
    assert fields.strength.label in add.findChildren(QLabel)
    check_advice(qtbot, fields.password, fields.strength)
    # The names typed in the form count as easy to guess, as core's add_user counts them.
    add.first_name.setText("Marigold")
    add.last_name.setText("Thistlewood")
    named = "marigoldthistlewood"
    assert passwords.strength(named).ok
    assert not passwords.strength(named, ("", "Marigold", "Thistlewood")).ok
    assert "too weak" in typed_verdict(qtbot, fields.password, fields.strength, named)

    info = users.list_users(env.admin)[0]
    reset = ResetPasswordDialog(signed_in, info)
    qtbot.addWidget(reset)
    reset.show()
    check_advice(qtbot, reset.new_password.password, reset.new_password.strength)

    wizard = FirstRunWizard(tmp_path / "ws", load_policy())
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.org.name.setText("Lakeview")
    wizard.next()
    admin = wizard.admin
    assert admin.strength.label.isVisibleTo(wizard)
    check_advice(qtbot, admin.password, admin.strength)


def test_finding_12_the_advice_shows_the_newest_text_only(qtbot: QtBot) -> None:
    """Typing on while a verdict is being computed: the shown verdict is the last text's."""
    field = QLineEdit()
    qtbot.addWidget(field)
    advice = StrengthAdvice(field)
    seen: list[Any] = []
    advice.shown.connect(seen.append)
    with qtbot.waitSignal(advice.shown, timeout=10_000,
                          check_params_cb=lambda s: "Hard to guess" in s):
        field.setText(WEAK)
        advice._score()  # scoring starts at once ...
        field.setText(STRONG)  # ... and the text changes under it
    assert all("too weak" not in s for s in seen)  # the stale verdict was never shown


def lock_out(env: Env) -> None:
    for _ in range(env.ws.policy.lockout_threshold):
        with pytest.raises(AuthError):
            auth.sign_in(env.ws, USER_EMAIL, "not the password 123")
    with pytest.raises(AccountLocked):
        auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)


def test_finding_10_the_users_pane_unlocks_a_locked_out_user(qtbot: QtBot, env: Env) -> None:
    """The Unlock button shows for a locked-out user only; clicking it lifts the lockout
    through core, which logs it; the user can sign in again and the button goes."""
    lock_out(env)
    pane = UsersPane(SignedIn(env.ws, env.admin))
    qtbot.addWidget(pane)
    pane.resize(1000, 600)
    pane.show()
    assert pane.select_user(env.admin.user_id)
    assert not pane.unlock_button.isVisible()  # the admin is not locked out
    assert pane.select_user(env.user.user_id)
    assert pane.unlock_button.isVisible()
    row = pane.table.selectionModel().selectedRows()[0].row()
    assert "locked out" in pane.proxy.index(row, 3).data()
    before = sql(env.path, "SELECT count(*) FROM security_events WHERE type='USER_UNLOCKED'")
    qtbot.mouseClick(pane.unlock_button, Qt.MouseButton.LeftButton)
    assert sql(env.path, "SELECT count(*) FROM security_events WHERE type='USER_UNLOCKED'"
               ) == [(before[0][0] + 1,)]
    assert auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD).user_id == env.user.user_id
    assert pane.selected_user() is not None and not pane.selected_user().locked
    assert not pane.unlock_button.isVisible()


def test_finding_1_the_windows_rollback_refusal_names_the_way_forward(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rolled-back copy is refused at start, in a dialog that names the admin command
    which accepts a restore made on purpose."""
    import shutil

    from closeplan_desktop import app as app_module
    from closeplan_desktop.core.store import layout, workspace

    env.ws.close()
    files = [env.path / f"{layout.DB_FILE}{x}" for x in ("", "-wal", "-shm")]
    saved = tmp_path / "old"
    saved.mkdir()
    for f in files:
        if f.exists():
            shutil.copyfile(f, saved / f.name)
    with workspace.open_workspace(env.path) as ws:
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        users.deactivate(admin, env.user.user_id)
    for f in files:
        f.unlink(missing_ok=True)
    for f in saved.iterdir():
        shutil.copyfile(f, env.path / f.name)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(app_module.Controller, "_error",
                        lambda self, title, text: shown.append((title, text)))
    assert app_module.main(["--workspace", str(env.path)]) == 1
    ((_title, text),) = shown
    assert "older than the last state" in text
    assert "closeplan-admin workspace accept-restore" in text and str(env.path) in text
