"""Start-up as a new user sees it: first-run wizard, sign-in and lockout, error dialogs,
and the paging model over a large workspace."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from support import ADMIN_EMAIL, ADMIN_PASSWORD, USER_EMAIL, Env

from closeplan_desktop import app as app_module
from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth, deal_import, deal_list
from closeplan_desktop.ui.signin import SignInDialog
from closeplan_desktop.ui.wizard import FirstRunWizard


def test_first_run_wizard_creates_a_workspace(tmp_path: Path, qtbot: QtBot) -> None:
    target = tmp_path / "new-ws"
    wizard = FirstRunWizard(target, load_policy())
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == FirstRunWizard.CHOICE
    wizard.next()
    assert wizard.currentId() == FirstRunWizard.ORG
    org = wizard.org
    assert not org.isComplete()
    org.name.setText("Lakeview Children's Hospital")
    org.domain.setText("not a domain!")
    assert not org.isComplete() and "Domain" in org.hint.text()
    org.domain.setText("lakeview.example")
    assert org.isComplete() and org.path.text() == str(target)
    wizard.next()
    admin = wizard.admin
    admin.first.setText("Lena")
    admin.last.setText("Okafor")
    admin.email.setText("lena@lakeview.example")
    admin.password.setText("short")
    assert not admin.isComplete() and "too short" in admin.policy_hint.text()
    admin.password.setText("a long enough password")
    assert "✓" in admin.policy_hint.text()
    admin.confirm.setText("a different password")
    assert not admin.isComplete() and "differ" in admin.hint.text()
    admin.confirm.setText("a long enough password")
    assert admin.isComplete()
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert wizard.result() == 1 and wizard.path == target
    assert admin.password.text() == ""
    with workspace.open_workspace(target) as ws:
        assert auth.sign_in(ws, "lena@lakeview.example", "a long enough password").is_admin


def test_wizard_restore_reports_a_bad_kit(tmp_path: Path, qtbot: QtBot, env: Env) -> None:
    env.ws.close()
    kit = tmp_path / "kit.json"
    kit.write_text("{}")
    wizard = FirstRunWizard(env.path, load_policy())
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.choice.restore.setChecked(True)
    wizard.next()
    assert wizard.currentId() == FirstRunWizard.RESTORE
    wizard.restore.kit.setText(str(kit))
    wizard.restore.passphrase.setText("whatever passphrase")
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert wizard.isVisible() and "not a ClosePlan recovery kit" in wizard.restore.hint.text()


def test_sign_in_failure_and_lockout(env: Env, qtbot: QtBot) -> None:
    dialog = SignInDialog(env.ws)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.email.setText(USER_EMAIL)
    for _ in range(4):
        dialog.password.setText("not my password")
        dialog.button.click()
        assert dialog.error.text() == auth.BAD_CREDENTIALS and dialog.password.text() == ""
        assert dialog.session is None
    dialog.password.setText("not my password")
    dialog.button.click()
    assert "locked" in dialog.error.text() and "15 minutes" in dialog.error.text()
    dialog.email.setText("nobody@acme-health.example")
    dialog.password.setText("not my password")
    dialog.button.click()
    assert dialog.error.text() == auth.BAD_CREDENTIALS
    dialog.email.setText(ADMIN_EMAIL)
    dialog.password.setText(ADMIN_PASSWORD)
    dialog.button.click()
    assert dialog.session is not None and dialog.result() == 1


def test_demo_sign_in_shows_the_credentials(env: Env, qtbot: QtBot) -> None:
    dialog = SignInDialog(env.ws, demo_credentials=("demo@x.example", "Demo-Password-1"))
    qtbot.addWidget(dialog)
    banner = dialog.findChild(type(dialog.error), "demoBanner")
    assert banner is not None and "Demo-Password-1" in banner.text()
    assert dialog.email.text() == "demo@x.example"


ERROR_CASES = {"busy": "Workspace already open", "newer": "Workspace from a newer version",
               "missing-key": "Workspace key missing",
               "key-mismatch": "Workspace key does not match",
               "no-keyring": "No system keyring", "locked": "Keyring locked",
               "damaged": "Cannot open the workspace"}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_start_errors_are_dialogs_not_tracebacks(env: Env, case: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening runs after the first paint, off the UI thread; each failure still closes
    the sign-in window and shows its own dialog, and the app exits 1."""
    import keyring
    import keyring.backends.fail
    import keyring.errors

    from closeplan_desktop.core.security import crypto
    from closeplan_desktop.core.security.keyring_store import DB_SLOT, KeyringStore

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(app_module.Controller, "_error",
                        lambda self, title, text: shown.append((title, text)))
    if case != "busy":
        env.ws.close()
    if case == "newer":
        from support import sql

        sql(env.path, "UPDATE alembic_version SET version_num='9999'")
    if case == "missing-key":
        KeyringStore(env.ws.workspace_id).delete(DB_SLOT)
    if case == "key-mismatch":
        KeyringStore(env.ws.workspace_id).replace(DB_SLOT, crypto.new_key())
    if case == "no-keyring":
        monkeypatch.setattr(keyring, "get_keyring", keyring.backends.fail.Keyring)
    if case == "locked":
        def locked(*_a: object) -> None:
            raise keyring.errors.KeyringLocked("locked")

        monkeypatch.setattr(keyring, "get_password", locked)
    if case == "damaged":
        (env.path / "workspace.json").write_text("{ not json")
    assert app_module.main(["--workspace", str(env.path)]) == 1
    assert len(shown) == 1 and shown[0][0] == ERROR_CASES[case]
    assert "Traceback" not in shown[0][1]


def _controller(path: Path, demo: bool = False) -> app_module.Controller:
    return app_module.Controller(argparse.Namespace(workspace=str(path), demo=demo))


def test_sign_in_window_is_painted_before_the_workspace_is_opened(
        env: Env, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from PySide6.QtCore import QEvent, QObject

    from closeplan_desktop.ui import signin

    env.ws.close()
    painted: list[bool] = []
    seen: dict[str, object] = {}
    real_open = workspace.open_workspace

    def open_(path: Path) -> workspace.Workspace:
        seen["painted"] = bool(painted)
        seen["worker"] = threading.current_thread() is not threading.main_thread()
        return real_open(path)

    monkeypatch.setattr(workspace, "open_workspace", open_)

    class Painted(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(True)
            return False

    watch = Painted()

    def fake_exec(self: SignInDialog) -> int:
        self.installEventFilter(watch)
        assert self.ws is None and not self.button.isEnabled()
        assert self.status.text() == signin.OPENING
        self.show()
        qtbot.waitUntil(lambda: bool(painted), timeout=5000)
        # Usable while the workspace opens.
        self.email.setText(ADMIN_EMAIL)
        self.password.setText(ADMIN_PASSWORD)
        qtbot.waitUntil(lambda: self.button.isEnabled(), timeout=10000)
        assert self.status.isHidden()
        seen["dialog_ws"] = self.ws
        self.reject()
        return 0

    monkeypatch.setattr(SignInDialog, "exec", fake_exec)
    controller = _controller(env.path)
    assert controller.start() is False
    assert seen["painted"] is True and seen["worker"] is True
    assert seen["dialog_ws"] is not None
    # Closing the sign-in window closed the workspace again (its lock is free).
    assert controller.ws is None
    workspace.open_workspace(env.path).close()


def test_start_imports_no_database_stack() -> None:
    """What closeplan-desktop imports before its first paint: Qt and light modules."""
    import subprocess
    import sys

    code = ("import sys; import closeplan_desktop.app, closeplan_desktop.ui.signin, "
            "closeplan_desktop.ui.paint, closeplan_desktop.ui.theme; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', "
            "'sqlcipher3', 'keyring', 'bcrypt', 'cryptography', 'alembic', 'filelock'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_sign_in_pressed_before_the_workspace_is_open_is_kept(
        env: Env, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import Qt

    from closeplan_desktop.ui import signin

    env.ws.close()
    seen: dict[str, object] = {}

    def fake_exec(self: SignInDialog) -> int:
        self.show()
        self.email.setText(ADMIN_EMAIL)
        self.password.setText(ADMIN_PASSWORD)
        qtbot.keyClick(self.password, Qt.Key.Key_Return)  # at once: still opening
        seen["queued"] = self.queued and self.status.text() == signin.QUEUED
        qtbot.waitUntil(lambda: self.session is not None, timeout=10000)
        return self.result()

    monkeypatch.setattr(SignInDialog, "exec", fake_exec)
    controller = _controller(env.path)
    assert controller.start() is True
    window = controller.window
    qtbot.addWidget(window)
    assert seen["queued"] is True and not window.signed_in.is_locked
    assert window.deals.model.total == 0 and window.isVisible()
    window.close()
    controller.warm_up.wait()
    controller.ws.close()


def test_admin_panes_are_built_when_first_opened(env: Env, qtbot: QtBot) -> None:
    from closeplan_desktop.ui.main_window import MainWindow
    from closeplan_desktop.ui.signed_in import SignedIn

    window = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(window)
    window.show()
    assert window.pane_keys == ["deals", "users", "audit"] and list(window.panes) == ["deals"]
    window.show_pane("users")
    assert window.current_pane_key() == "users" and "users" in window.panes
    assert window.stack.currentWidget() is window.panes["users"]
    assert window.panes["users"].model.rowCount() == 2  # refreshed when shown
    window.show_pane("audit")
    assert window.stack.currentWidget() is window.panes["audit"]
    users_pane = window.panes["users"]
    window.show_pane("users")  # built once
    assert window.panes["users"] is users_pane and window.stack.count() == 4  # + lock
    window.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with 100,000 deals, made through the import path."""
    import json

    from closeplan_desktop.core.security import policy
    from closeplan_desktop.core.tools import demo
    from closeplan_desktop.core.usecases import users

    policy_file = tmp_path_factory.mktemp("p") / "policy.json"
    policy_file.write_text(json.dumps({"bcrypt_cost": 4}))
    old = policy.SYSTEM_POLICY_OVERRIDE
    policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(policy_file, below_floors=True)
    path = tmp_path_factory.mktemp("big") / "ws"
    try:
        with workspace.create(path) as ws:
            users.create_tenant(ws, "Big Health", None, ADMIN_EMAIL, "Ada", "Admin",
                                ADMIN_PASSWORD)
            s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
            deal_import.import_deals(s, demo.demo_rows(100_000))
    finally:
        policy.SYSTEM_POLICY_OVERRIDE = old
    return path, ADMIN_EMAIL


def test_model_reads_only_the_rows_the_view_shows(big: tuple[Path, str], qtbot: QtBot,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from closeplan_desktop.ui.deals.pane import DealsPane
    from closeplan_desktop.ui.signed_in import SignedIn

    path, email = big
    calls: list[tuple[int, int]] = []
    real = deal_list.list_deals

    def counting(session: object, query: object = deal_list.DealQuery(), *, offset: int = 0,
                 limit: int = 100) -> object:
        calls.append((offset, limit))
        return real(session, query, offset=offset, limit=limit)  # type: ignore[arg-type]

    monkeypatch.setattr("closeplan_desktop.ui.deals.model.deal_list.list_deals", counting)
    with workspace.open_workspace(path) as ws:
        pane = DealsPane(SignedIn(ws, auth.sign_in(ws, email, ADMIN_PASSWORD)))
        qtbot.addWidget(pane)
        pane.resize(1200, 700)
        pane.show()
        qtbot.waitExposed(pane)
        pane.refresh()
        model = pane.model
        assert model.total == 100_000
        assert len(model.rows) == 200 and calls == [(0, 200)]
        # Scrolling to the end of what is loaded pulls exactly one more page.
        pane.table.scrollToBottom()
        qtbot.waitUntil(lambda: len(model.rows) == 400, timeout=3000)
        assert calls == [(0, 200), (200, 200)]
        assert len(model.rows) < model.total


def test_demo_start_opens_the_window_after_sign_in(tmp_path: Path, qtbot: QtBot,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from closeplan_desktop.core.tools import demo

    shown: list[tuple[str, str] | None] = []

    def fake_exec(self: SignInDialog) -> int:
        shown.append(self.findChild(type(self.error), "demoBanner").text())
        self.show()
        self.password.setText(demo.DEMO_PASSWORD)
        qtbot.waitUntil(lambda: self.button.isEnabled(), timeout=10000)
        self.button.click()
        return self.result()

    monkeypatch.setattr(SignInDialog, "exec", fake_exec)
    controller = _controller(tmp_path / "demo", demo=True)
    assert controller.start() is True
    window = controller.window
    qtbot.addWidget(window)
    assert demo.DEMO_PASSWORD in str(shown[0])
    assert all(email in str(shown[0]) for email, *_ in demo.DEMO_USERS)
    assert window.isVisible() and window.deals.model.total == 3000
    assert window.pane_keys == ["deals", "users", "audit"]
    window.close()
    controller.warm_up.wait()
    controller.ws.close()



def test_the_first_demo_start_shows_progress_while_it_builds(
        tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QProgressDialog

    from closeplan_desktop.core.tools import demo

    real_build = demo.build
    monkeypatch.setattr(demo, "build", lambda path, progress: real_build(path, 300, progress))
    seen: list[str] = []

    def look() -> None:
        seen.extend(w.windowTitle() for w in QApplication.topLevelWidgets()
                    if isinstance(w, QProgressDialog) and w.isVisible())
        if not seen:
            QTimer.singleShot(50, look)

    QTimer.singleShot(50, look)
    controller = _controller(tmp_path / "demo", demo=True)
    info = controller._build_demo(tmp_path / "demo")  # the UI stays live meanwhile
    assert info.created and info.deals == 300
    assert "Preparing the demo workspace" in seen
