"""The Users pane and the Keys and Settings dialog, driven through their real widgets.

Modal dialogs are driven from a QTimer.singleShot that runs inside the dialog's own event
loop; message boxes are replaced by recorders so that nothing blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget
from support import ADMIN_EMAIL, USER_EMAIL, Env

from closeplan_desktop.core.domain.enums import UserRole
from closeplan_desktop.core.security import policy
from closeplan_desktop.core.usecases import auth, deal_list, deals, key_admin, users
from closeplan_desktop.ui import keys_dialog, users_pane
from closeplan_desktop.ui.keys_dialog import KeysDialog
from closeplan_desktop.ui.session import AppSession
from closeplan_desktop.ui.users_pane import (
    USER_ROLE,
    AddUserDialog,
    ResetPasswordDialog,
    RoleDialog,
    UsersPane,
)

NEW_PASSWORD = "a brand new long password"


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every show_error of the pane and the dialog, instead of a blocking message box."""
    seen: list[tuple[str, str]] = []

    def record(parent: object, title: str, message: str) -> None:
        seen.append((title, message))

    monkeypatch.setattr(users_pane, "show_error", record)
    monkeypatch.setattr(keys_dialog, "show_error", record)
    return seen


@pytest.fixture
def confirms(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer every confirm() with yes, and record its title."""
    seen: list[str] = []

    def yes(parent: object, title: str, text: str, ok: str) -> bool:
        seen.append(title)
        return True

    monkeypatch.setattr(users_pane, "confirm", yes)
    monkeypatch.setattr(keys_dialog, "confirm", yes)
    return seen


def make_pane(qtbot: Any, env: Env) -> UsersPane:
    pane = UsersPane(AppSession(env.ws, env.admin))
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
        qtbot: Any, env: Env, errors: list[tuple[str, str]], confirms: list[str]) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.admin.user_id)
    assert pane.deactivate_button.isEnabled()  # the rule is core's, not the pane's
    qtbot.mouseClick(pane.deactivate_button, Qt.MouseButton.LeftButton)
    assert confirms == ["Deactivate user"]
    assert len(errors) == 1
    assert "cannot deactivate your own account" in errors[0][1]
    me = next(u for u in users.list_users(env.admin) if u.id == env.admin.user_id)
    assert me.active


def test_deactivate_then_reactivate_another_user(
        qtbot: Any, env: Env, errors: list[tuple[str, str]], confirms: list[str]) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.user.user_id)
    assert not pane.reactivate_button.isEnabled()
    pane.deactivate_button.click()
    assert errors == []
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
        qtbot: Any, env: Env, errors: list[tuple[str, str]]) -> None:
    pane = make_pane(qtbot, env)
    assert pane.select_user(env.admin.user_id)

    def demote(d: RoleDialog) -> None:
        d.role.setCurrentIndex(d.role.findData("USER"))
        d.accept()

    problems = while_open(pane, RoleDialog, demote)
    pane.role_button.click()
    assert problems == []
    assert len(errors) == 1 and "last active administrator" in errors[0][1]
    assert users.list_users(env.admin)[0].role == UserRole.ADMIN

    # Promoting Bob works, and the table shows it.
    assert pane.select_user(env.user.user_id)

    def promote(d: RoleDialog) -> None:
        d.role.setCurrentIndex(d.role.findData("ADMIN"))
        d.accept()

    problems = while_open(pane, RoleDialog, promote)
    pane.change_role()
    assert problems == []
    assert len(errors) == 1
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
    pane = UsersPane(AppSession(env.ws, env.user))
    qtbot.addWidget(pane)
    assert pane.stack.currentWidget() is pane.empty
    assert pane.empty.text()
    assert pane.model.rowCount() == 0
    assert pane.selected_user() is None


def test_model_rows_carry_user_info(qtbot: Any, env: Env) -> None:
    pane = make_pane(qtbot, env)
    infos = {pane.proxy.index(r, 0).data(USER_ROLE).id for r in range(pane.proxy.rowCount())}
    assert infos == {env.admin.user_id, env.user.user_id}


# ---- Keys and Settings ------------------------------------------------------------------


def make_dialog(qtbot: Any, env: Env) -> KeysDialog:
    dialog = KeysDialog(AppSession(env.ws, env.admin))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_keys_tab_shows_core_status(qtbot: Any, env: Env) -> None:
    deals.create_deal(env.admin, "With PHI", "ACTIVE", "10", {"mrn": "K-1"})
    dialog = make_dialog(qtbot, env)
    assert dialog.objectName() == "keysDialog"
    assert dialog.windowTitle() == "Keys and Settings"
    table = dialog.findChild(QTableWidget, "phiKeysTable")
    assert table.rowCount() == 1
    assert [table.item(0, c).text() for c in range(4)] == [
        "v1", keys_dialog.STATE_LABELS["ACTIVE"], "1", "Present"]
    assert "SecretService" in dialog.backend.text()
    assert dialog.db_key.text().startswith("Present")
    for name in ("rotatePhiButton", "rotateDbButton", "exportKitButton"):
        button = dialog.findChild(QPushButton, name)
        assert button.isEnabled() and button.accessibleName(), name
    assert "import-kit" in dialog.import_note.text()


def test_rotate_phi_runs_off_the_ui_thread_and_reports(
        qtbot: Any, env: Env, errors: list[tuple[str, str]], confirms: list[str]) -> None:
    for n in range(3):
        deals.create_deal(env.admin, f"PHI {n}", "ACTIVE", "10", {"mrn": f"R-{n}"})
    dialog = make_dialog(qtbot, env)
    dialog.rotate_phi_button.click()
    assert confirms == ["Rotate PHI key"]
    task = dialog.task
    assert task is not None
    assert not dialog.rotate_phi_button.isEnabled()  # busy while it runs
    with qtbot.waitSignal(task.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: "re-encrypted" in dialog.keys_notice.text(), timeout=5000)
    assert errors == []
    assert "3 deals re-encrypted" in dialog.keys_notice.text()
    assert "v2" in dialog.keys_notice.text()
    st = key_admin.status(env.admin)
    assert [(v, state, rows) for v, state, rows, _ in st.phi_versions] == [
        (1, "RETIRED", 0), (2, "ACTIVE", 3)]
    assert dialog.phi_table.rowCount() == 2
    assert dialog.rotate_phi_button.isEnabled()
    first = deal_list.list_deals(env.admin)[0].id
    assert deals.reveal_phi(env.admin, first)["mrn"].startswith("R-")


def test_cancelled_rotation_says_it_will_finish_later(qtbot: Any, env: Env,
                                                      errors: list[tuple[str, str]]) -> None:
    deals.create_deal(env.admin, "PHI", "ACTIVE", "10", {"mrn": "C-1"})
    dialog = make_dialog(qtbot, env)
    task = dialog.start_rotate_phi()
    task.token.cancel()  # before the first batch: the new key exists, no row moved yet
    with qtbot.waitSignal(task.finished, timeout=30000):
        pass
    assert errors == []
    assert "next open or the next rotation" in dialog.keys_notice.text()
    assert dialog.pending.isVisibleTo(dialog)
    assert "1 deals still use an older key" in dialog.pending.text()


def test_export_kit_through_the_dialogs(qtbot: Any, env: Env, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        errors: list[tuple[str, str]]) -> None:
    target = tmp_path / "kit.cpkit"
    monkeypatch.setattr(keys_dialog.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), keys_dialog.KIT_FILTER))
    dialog = make_dialog(qtbot, env)
    problems: list[str] = []

    def act() -> None:
        d = dialog.active_dialog
        if not isinstance(d, keys_dialog.PassphraseDialog):
            problems.append(f"no passphrase dialog: {d!r}")
            return
        qtbot.keyClicks(d.fields.password, "tiny")
        if d.ok.isEnabled():
            problems.append("a short passphrase was accepted")
        d.fields.password.clear()
        qtbot.keyClicks(d.fields.password, "kit passphrase long enough")
        qtbot.keyClicks(d.fields.confirm, "kit passphrase long enough")
        qtbot.mouseClick(d.ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, act)
    dialog.export_kit_button.click()
    assert problems == []
    assert dialog.task is not None
    with qtbot.waitSignal(dialog.task.finished, timeout=30000):
        pass
    assert errors == []
    assert target.is_file() and target.stat().st_size > 0
    assert "Recovery kit written" in dialog.keys_notice.text()


def test_rotate_db_reminds_to_export_a_new_kit(qtbot: Any, env: Env,
                                               monkeypatch: pytest.MonkeyPatch,
                                               errors: list[tuple[str, str]]) -> None:
    asked: list[str] = []

    def answer(parent: object, title: str, text: str, ok: str) -> bool:
        asked.append(title)
        return title == "Rotate database key"  # decline the offer to export now

    monkeypatch.setattr(keys_dialog, "confirm", answer)
    deals.create_deal(env.admin, "Kept", "ACTIVE", "10", {"mrn": "D-1"})
    dialog = make_dialog(qtbot, env)
    before = env.ws.meta()["key_check"]
    dialog.rotate_db_button.click()
    assert dialog.task is not None
    with qtbot.waitSignal(dialog.task.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=5000)
    assert errors == []
    assert asked == ["Rotate database key", "Export a new recovery kit"]
    assert "Export a new recovery kit" in dialog.keys_notice.text()
    assert env.ws.meta()["key_check"] != before
    assert [d.title for d in deal_list.list_deals(env.admin)] == ["Kept"]


def test_settings_show_enforced_keys_locked(qtbot: Any, env: Env, _policy: Path) -> None:
    dialog = make_dialog(qtbot, env)
    dialog.tabs.setCurrentIndex(1)
    bcrypt = dialog.findChild(QSpinBox, "setting_bcrypt_cost")
    assert bcrypt is not None and not bcrypt.isEnabled()
    assert bcrypt.value() == 4
    assert bcrypt.toolTip() == f"Enforced by IT ({_policy})"
    lock = dialog.locks["bcrypt_cost"]
    assert lock.isVisibleTo(dialog) and lock.toolTip() == f"Enforced by IT ({_policy})"
    autohide = dialog.findChild(QSpinBox, "setting_phi_autohide_seconds")
    assert autohide.isEnabled() and not dialog.locks["phi_autohide_seconds"].isVisibleTo(dialog)
    assert autohide.minimum() == policy.SPECS["phi_autohide_seconds"].minimum
    assert autohide.maximum() == policy.SPECS["phi_autohide_seconds"].maximum
    assert isinstance(dialog.findChild(QLineEdit, "setting_sync_server"), QLineEdit)
    for key in policy.SPECS:
        assert dialog.findChild(object, f"setting_{key}") is not None, key


def test_saving_a_setting_changes_core_policy_and_the_running_app(
        qtbot: Any, env: Env, errors: list[tuple[str, str]]) -> None:
    dialog = make_dialog(qtbot, env)
    save = dialog.findChild(QPushButton, "settingsSave")
    assert not save.isEnabled()  # nothing changed yet
    spin = dialog.findChild(QSpinBox, "setting_phi_autohide_seconds")
    spin.setValue(45)
    assert save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert errors == []
    assert policy.load_policy().phi_autohide_seconds == 45
    assert env.ws.policy.phi_autohide_seconds == 45
    assert policy.load_policy().bcrypt_cost == 4
    assert not save.isEnabled()
    assert "Saved 1 setting" in dialog.settings_notice.text()


def test_a_bad_setting_shows_cores_message(qtbot: Any, env: Env,
                                           errors: list[tuple[str, str]]) -> None:
    dialog = make_dialog(qtbot, env)
    line = dialog.findChild(QLineEdit, "setting_sync_server")
    qtbot.keyClicks(line, "http://plain.example.org")
    dialog.save_button.click()
    assert len(errors) == 1 and "https://" in errors[0][1]
    assert policy.load_policy().sync_server == ""
    assert dialog.save_button.isEnabled()  # still unsaved


def test_enforced_setting_cannot_be_saved_even_if_the_widget_is_forced(
        qtbot: Any, env: Env, errors: list[tuple[str, str]]) -> None:
    dialog = make_dialog(qtbot, env)
    spin = dialog.findChild(QSpinBox, "setting_bcrypt_cost")
    spin.setEnabled(True)
    spin.setValue(12)
    assert "bcrypt_cost" not in dialog.changed_settings()
    assert policy.load_policy().bcrypt_cost == 4


def test_closing_while_key_work_runs_cancels_and_closes_when_stopped(
        qtbot: Any, env: Env, errors: list[tuple[str, str]]) -> None:
    deals.create_deal(env.admin, "PHI", "ACTIVE", "10", {"mrn": "Z-1"})
    dialog = make_dialog(qtbot, env)
    task = dialog.start_rotate_phi()
    dialog.reject()  # what the window does when it locks, or the user pressing Esc
    assert task.token.cancelled
    with qtbot.waitSignal(task.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert dialog.task is None
    assert errors == []
