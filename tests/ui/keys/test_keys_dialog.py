"""The Keys and Settings dialog, driven through its real widgets. Message boxes,
questions and the file prompt are answered by the `dialogs` fixture (conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLineEdit, QPushButton, QSpinBox, QTableWidget
from support import Env, FakeDialogs

from closeplan_desktop.core.domain import settings
from closeplan_desktop.core.security import policy
from closeplan_desktop.core.usecases import deal_list, deals, key_admin
from closeplan_desktop.ui.keys import dialog as keys_dialog
from closeplan_desktop.ui.keys.dialog import KeysDialog
from closeplan_desktop.ui.keys.widgets import PassphraseDialog
from closeplan_desktop.ui.signed_in import SignedIn


def make_dialog(qtbot: Any, env: Env) -> KeysDialog:
    dialog = KeysDialog(SignedIn(env.ws, env.admin))
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
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    for n in range(3):
        deals.create_deal(env.admin, f"PHI {n}", "ACTIVE", "10", {"mrn": f"R-{n}"})
    dialog = make_dialog(qtbot, env)
    dialog.rotate_phi_button.click()
    assert dialogs.confirms == ["Rotate PHI key"]
    op = dialog.running_op
    assert op is not None
    assert not dialog.rotate_phi_button.isEnabled()  # busy while it runs
    with qtbot.waitSignal(op.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: "re-encrypted" in dialog.keys_notice.text(), timeout=5000)
    assert dialogs.errors == []
    assert "3 deals re-encrypted" in dialog.keys_notice.text()
    assert "v2" in dialog.keys_notice.text()
    st = key_admin.status(env.admin)
    assert [(v, state, rows) for v, state, rows, _ in st.phi_versions] == [
        (1, "RETIRED", 0), (2, "ACTIVE", 3)]
    assert dialog.phi_table.rowCount() == 2
    # The retired key is deleted from the keyring on purpose: no warning for it.
    assert [dialog.phi_table.item(r, 3).text() for r in range(2)] == ["Deleted", "Present"]
    assert dialog.rotate_phi_button.isEnabled()
    first = deal_list.list_deals(env.admin)[0].id
    assert deals.reveal_phi(env.admin, first)["mrn"].startswith("R-")


def test_cancelled_rotation_says_it_will_finish_later(qtbot: Any, env: Env,
                                                      dialogs: FakeDialogs) -> None:
    deals.create_deal(env.admin, "PHI", "ACTIVE", "10", {"mrn": "C-1"})
    dialog = make_dialog(qtbot, env)
    op = dialog.start_rotate_phi()
    op.token.cancel()  # before the first batch: the new key exists, no row moved yet
    with qtbot.waitSignal(op.finished, timeout=30000):
        pass
    assert dialogs.errors == []
    assert "next open or the next rotation" in dialog.keys_notice.text()
    assert dialog.pending.isVisibleTo(dialog)
    assert "1 deals still use an older key" in dialog.pending.text()


def test_export_kit_through_the_dialogs(qtbot: Any, env: Env, tmp_path: Path,
                                        dialogs: FakeDialogs) -> None:
    target = tmp_path / "kit.cpkit"
    dialogs.save = (target, keys_dialog.KIT_FILTER)
    dialog = make_dialog(qtbot, env)
    problems: list[str] = []

    def act() -> None:
        d = dialog.active_dialog
        if not isinstance(d, PassphraseDialog):
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
    assert dialog.running_op is not None
    with qtbot.waitSignal(dialog.running_op.finished, timeout=30000):
        pass
    assert dialogs.errors == []
    assert target.is_file() and target.stat().st_size > 0
    assert "Recovery kit written" in dialog.keys_notice.text()


def test_rotate_db_reminds_to_export_a_new_kit(qtbot: Any, env: Env,
                                               dialogs: FakeDialogs) -> None:
    asked = dialogs.confirms
    dialogs.answers["Export a new recovery kit"] = False  # decline the offer to export now
    deals.create_deal(env.admin, "Kept", "ACTIVE", "10", {"mrn": "D-1"})
    dialog = make_dialog(qtbot, env)
    before = env.ws.meta()["key_check"]
    dialog.rotate_db_button.click()
    assert dialog.running_op is not None
    with qtbot.waitSignal(dialog.running_op.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=5000)
    assert dialogs.errors == []
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
    assert autohide.minimum() == settings.SETTINGS["phi_autohide_seconds"].minimum
    assert autohide.maximum() == settings.SETTINGS["phi_autohide_seconds"].maximum
    # The sync server does nothing until the desktop syncs: not offered.
    assert dialog.findChild(QLineEdit, "setting_sync_server") is None
    for key, spec in settings.SETTINGS.items():
        assert (dialog.findChild(object, f"setting_{key}") is not None) == spec.in_dialog, key


def test_saving_a_setting_changes_core_policy_and_the_running_app(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    dialog = make_dialog(qtbot, env)
    save = dialog.findChild(QPushButton, "settingsSave")
    assert not save.isEnabled()  # nothing changed yet
    spin = dialog.findChild(QSpinBox, "setting_phi_autohide_seconds")
    spin.setValue(45)
    assert save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialogs.errors == []
    assert policy.load_policy().phi_autohide_seconds == 45
    assert env.ws.policy.phi_autohide_seconds == 45
    assert policy.load_policy().bcrypt_cost == 4
    assert not save.isEnabled()
    assert "Saved 1 setting" in dialog.settings_notice.text()


def test_a_bad_setting_shows_cores_message(qtbot: Any, env: Env,
                                           dialogs: FakeDialogs) -> None:
    dialog = make_dialog(qtbot, env)
    spin = dialog.findChild(QSpinBox, "setting_idle_lock_minutes")
    spin.setMaximum(1000)  # past what the field allows: core's check answers
    spin.setValue(999)
    dialog.save_button.click()
    assert len(dialogs.errors) == 1 and "between 1 and 240" in dialogs.errors[0][1]
    assert policy.load_policy().idle_lock_minutes != 999
    assert dialog.save_button.isEnabled()  # still unsaved


def test_enforced_setting_cannot_be_saved_even_if_the_widget_is_forced(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    dialog = make_dialog(qtbot, env)
    spin = dialog.findChild(QSpinBox, "setting_bcrypt_cost")
    spin.setEnabled(True)
    spin.setValue(12)
    assert "bcrypt_cost" not in dialog.changed_settings()
    assert policy.load_policy().bcrypt_cost == 4


def test_closing_while_key_work_runs_cancels_and_closes_when_stopped(
        qtbot: Any, env: Env, dialogs: FakeDialogs) -> None:
    deals.create_deal(env.admin, "PHI", "ACTIVE", "10", {"mrn": "Z-1"})
    dialog = make_dialog(qtbot, env)
    op = dialog.start_rotate_phi()
    dialog.reject()  # what the window does when it locks, or the user pressing Esc
    assert op.token.cancelled
    with qtbot.waitSignal(op.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert dialog.running_op is None
    assert dialogs.errors == []
