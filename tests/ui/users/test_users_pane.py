"""The Users pane and its dialogs, driven through their real widgets.

Modal dialogs are driven from a QTimer.singleShot that runs inside the dialog's own event
loop; message boxes and questions are answered by the `dialogs` fixture (conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton
from support import ADMIN_EMAIL, USER_EMAIL, Env, FakeDialogs

from closeplan_desktop.core.domain.enums import UserRole
from closeplan_desktop.core.usecases import auth, users
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.users.dialogs import AddUserDialog, ResetPasswordDialog, RoleDialog
from closeplan_desktop.ui.users.model import USER_ROLE
from closeplan_desktop.ui.users.pane import UsersPane

NEW_PASSWORD = "a brand new long password"


def make_pane(qtbot: Any, env: Env) -> UsersPane:
    pane = UsersPane(SignedIn(env.ws, env.admin))
    qtbot.addWidget(pane)
    pane.resize(1000, 600)
    pane.show()
    return pane


def while_open(pane: Any, kind: type[QDialog], action: Callable[[Any], None]) -> list[str]:
    """Run `action(dialog)` once the pane's modal dialog of `kind` is open."""
    problems: list[str] = []

    def step() -> None:
        dialog = pane.active_dialog
        if not isinstance(dialog, kind):
            problems.append(f"expected an open {kind.__name__}, got {dialog!r}")
            if dialog is not None:
                dialog.reject()
            return
        try:
            action(dialog)
        except AssertionError as exc:  # reported after exec() returns
            problems.append(str(exc))
            dialog.reject()

    QTimer.singleShot(0, step)
    return problems


def fill_add_user(qtbot: Any, d: AddUserDialog, email: str, password: str = NEW_PASSWORD,
                  confirm: str | None = None) -> None:
    qtbot.keyClicks(d.first_name, "Carol")
    qtbot.keyClicks(d.last_name, "Nurse")
    qtbot.keyClicks(d.email, email)
    d.role.setCurrentIndex(d.role.findData("ADMIN"))
    qtbot.keyClicks(d.new_password.password, password)
    qtbot.keyClicks(d.new_password.confirm, password if confirm is None else confirm)


# ---- Users pane -------------------------------------------------------------------------


def test_pane_lists_the_tenants_users(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    table = pane.findChild(type(pane.table), "usersTable")
    assert table is pane.table
    emails = {pane.proxy.index(r, 1).data() for r in range(pane.proxy.rowCount())}
    assert emails == {ADMIN_EMAIL, USER_EMAIL}
    row = next(r for r in range(pane.proxy.rowCount())
               if pane.proxy.index(r, 1).data() == USER_EMAIL)
    assert [pane.proxy.index(row, c).data() for c in (0, 2, 3)] == ["Bob Sales", "User",
                                                                     "Active"]
    last = pane.proxy.index(row, 4).data()  # Bob signed in in the fixture
    assert len(last) == len("2026-01-31 09:30") and last[4] == "-" and last[13] == ":"
    never = users.add_user(env.admin, "new@acme-health.example", "New", "Person", "USER",
                           NEW_PASSWORD)
    pane.refresh()
    assert pane.select_user(never.id)
    row = pane.table.selectionModel().selectedRows()[0].row()
    assert pane.proxy.index(row, 4).data() == "Never"
    pane.table.clearSelection()
    # Nothing selected: only Add is possible.
    assert pane.add_button.isEnabled()
    for name in ("roleButton", "deactivateButton", "reactivateButton", "resetPasswordButton"):
        assert not pane.findChild(QPushButton, name).isEnabled(), name
    for widget in (pane.add_button, pane.role_button, pane.deactivate_button,
                   pane.reactivate_button, pane.reset_button, pane.search, pane.table):
        assert widget.accessibleName()


def test_search_filters_by_name_and_email(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    search = pane.findChild(QLineEdit, "usersSearch")
    qtbot.keyClicks(search, "bob@")
    assert pane.proxy.rowCount() == 1
    assert pane.proxy.index(0, 1).data() == USER_EMAIL
    search.clear()
    qtbot.keyClicks(search, "ADA")
    assert pane.proxy.rowCount() == 1
    assert pane.proxy.index(0, 1).data() == ADMIN_EMAIL
    search.clear()
    qtbot.keyClicks(search, "nobody-like-this")
    assert pane.proxy.rowCount() == 0
    assert pane.stack.currentWidget() is pane.empty
    assert "nobody-like-this" in pane.empty.text()


def test_add_user_through_the_dialog_creates_the_user_in_core(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)

    def act(d: AddUserDialog) -> None:
        assert not d.create_button.isEnabled()
        qtbot.keyClicks(d.email, "not-an-email")
        assert d.email_error.isVisibleTo(d)
        assert "Email is not a valid address" in d.email_error.text()
        d.email.clear()
        fill_add_user(qtbot, d, "carol@acme-health.example", confirm=NEW_PASSWORD + "x")
        assert "do not match" in d.new_password.confirm_error.text()
        assert not d.create_button.isEnabled()
        d.new_password.confirm.clear()
        qtbot.keyClicks(d.new_password.confirm, NEW_PASSWORD)
        assert not d.email_error.isVisibleTo(d)
        assert d.create_button.isEnabled()
        assert d.new_password.hint.text().startswith("✓")
        qtbot.mouseClick(d.create_button, Qt.MouseButton.LeftButton)

    problems = while_open(pane, AddUserDialog, act)
    pane.add_button.click()
    assert problems == []
    created = {u.email: u for u in users.list_users(env.admin)}
    assert "carol@acme-health.example" in created
    carol = created["carol@acme-health.example"]
    assert (carol.full_name, carol.role, carol.active) == ("Carol Nurse", UserRole.ADMIN, True)
    assert auth.sign_in(env.ws, "carol@acme-health.example", NEW_PASSWORD).is_admin
    # The pane shows and selects the new user.
    assert pane.selected_user() is not None and pane.selected_user().id == carol.id
    assert pane.active_dialog is None


def test_add_user_shows_cores_refusal_inline_and_stays_open(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    seen: dict[str, Any] = {}

    def act(d: AddUserDialog) -> None:
        fill_add_user(qtbot, d, USER_EMAIL.upper())  # taken (emails are case-insensitive)
        assert d.create_button.isEnabled()
        qtbot.mouseClick(d.create_button, Qt.MouseButton.LeftButton)
        seen["visible"] = d.isVisible()
        seen["error"] = d.findChild(QLabel, "dialogError").text()
        seen["password"] = d.new_password.password
        d.reject()

    problems = while_open(pane, AddUserDialog, act)
    pane.add_user()
    assert problems == []
    assert seen["visible"] is True
    assert "already exists" in seen["error"]
    assert seen["password"].text() == ""  # cleared when the dialog closed
    assert len(users.list_users(env.admin)) == 2


def test_deactivating_yourself_shows_cores_message_and_leaves_you_active(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.admin.user_id)
    assert pane.deactivate_button.isEnabled()  # the rule is core's, not the pane's
    qtbot.mouseClick(pane.deactivate_button, Qt.MouseButton.LeftButton)
    assert dialogs.confirms == ["Deactivate user"]
    assert len(dialogs.errors) == 1
    assert "cannot deactivate your own account" in dialogs.errors[0][1]
    me = next(u for u in users.list_users(env.admin) if u.id == env.admin.user_id)
    assert me.active


def test_deactivate_then_reactivate_another_user(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.user.user_id)
    assert not pane.reactivate_button.isEnabled()
    pane.deactivate_button.click()
    assert dialogs.errors == []
    bob = next(u for u in users.list_users(env.admin) if u.id == env.user.user_id)
    assert not bob.active
    # Still selected after the refresh; shown greyed, with the other button enabled.
    assert pane.selected_user() is not None and pane.selected_user().id == bob.id
    assert not pane.deactivate_button.isEnabled()
    assert pane.reactivate_button.isEnabled()
    index = pane.table.selectionModel().selectedRows()[0]
    assert pane.proxy.index(index.row(), 3).data() == "Deactivated"
    grey = QGuiApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    assert pane.proxy.index(index.row(), 0).data(Qt.ItemDataRole.ForegroundRole).color() == grey
    pane.reactivate_button.click()
    bob = next(u for u in users.list_users(env.admin) if u.id == env.user.user_id)
    assert bob.active
    assert pane.deactivate_button.isEnabled()


def test_change_role_of_the_last_admin_shows_cores_message(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.admin.user_id)

    def demote(d: RoleDialog) -> None:
        d.role.setCurrentIndex(d.role.findData("USER"))
        d.accept()

    problems = while_open(pane, RoleDialog, demote)
    pane.role_button.click()
    assert problems == []
    assert len(dialogs.errors) == 1 and "last active administrator" in dialogs.errors[0][1]
    assert users.list_users(env.admin)[0].role == UserRole.ADMIN

    # Promoting Bob works, and the table shows it.
    assert pane.select_user(env.user.user_id)

    def promote(d: RoleDialog) -> None:
        d.role.setCurrentIndex(d.role.findData("ADMIN"))
        d.accept()

    problems = while_open(pane, RoleDialog, promote)
    pane.change_role()
    assert problems == []
    assert len(dialogs.errors) == 1
    bob = next(u for u in users.list_users(env.admin) if u.id == env.user.user_id)
    assert bob.role == UserRole.ADMIN
    row = pane.table.selectionModel().selectedRows()[0].row()
    assert pane.proxy.index(row, 2).data() == "Admin"


def test_reset_password_through_the_dialog(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.user.user_id)

    def act(d: ResetPasswordDialog) -> None:
        assert not d.ok.isEnabled()
        qtbot.keyClicks(d.new_password.password, "short")
        assert "too short" in d.new_password.password_error.text()
        assert not d.ok.isEnabled()
        d.new_password.password.clear()
        qtbot.keyClicks(d.new_password.password, NEW_PASSWORD)
        qtbot.keyClicks(d.new_password.confirm, NEW_PASSWORD)
        assert d.ok.isEnabled()
        qtbot.mouseClick(d.ok, Qt.MouseButton.LeftButton)

    problems = while_open(pane, ResetPasswordDialog, act)
    pane.reset_button.click()
    assert problems == []
    assert auth.sign_in(env.ws, USER_EMAIL, NEW_PASSWORD).user_id == env.user.user_id


def test_clear_sensitive_closes_an_open_dialog_and_its_passwords(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    fields: dict[str, QLineEdit] = {}

    def act(d: AddUserDialog) -> None:
        fill_add_user(qtbot, d, "dave@acme-health.example")
        fields["password"], fields["confirm"] = d.new_password.password, d.new_password.confirm
        pane.clear_sensitive()  # what the window does when it locks

    problems = while_open(pane, AddUserDialog, act)
    pane.add_user()
    assert problems == []
    assert fields["password"].text() == "" and fields["confirm"].text() == ""
    assert pane.active_dialog is None
    assert len(users.list_users(env.admin)) == 2


def test_a_user_who_lost_admin_sees_cores_message_not_a_crash(qtbot: Any, env: Env) -> None:
    pane = UsersPane(SignedIn(env.ws, env.user))
    qtbot.addWidget(pane)
    assert pane.stack.currentWidget() is pane.empty
    assert pane.empty.text()
    assert pane.model.rowCount() == 0
    assert pane.selected_user() is None


def test_model_rows_carry_user_info(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    infos = {pane.proxy.index(r, 0).data(USER_ROLE).id for r in range(pane.proxy.rowCount())}
    assert infos == {env.admin.user_id, env.user.user_id}
