"""Write screenshots of every pane and dialog of the demo workspace to a folder.

    .venv/bin/python tests/screenshots.py [OUT_DIR]      (default: screenshots/)

The main window is 1360x820, or CLOSEPLAN_SCREENSHOT_SIZE=WxH (e.g. 1366x768; for
1920x1080 at 150 %, QT_SCALE_FACTOR=1.5 and 1280x690, the logical size less a task bar).
CLOSEPLAN_SCREENSHOT_THEME=dark renders the dark palette a dark desktop gets. Runs
offscreen (or on QT_QPA_PLATFORM's platform) with a private keyring (it starts one when
none is running) and a fresh demo workspace, as a new user would see them. Not part of
the test suite's pass/fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _reexec_in_keyring_session() -> None:
    if os.environ.get("CLOSEPLAN_SCREENSHOTS_INNER"):
        return
    # Offscreen unless a platform is named (QT_QPA_PLATFORM=xcb on a real X display).
    env = dict(os.environ, CLOSEPLAN_SCREENSHOTS_INNER="1",
               QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM") or "offscreen")
    code = subprocess.call(["dbus-run-session", "--", str(ROOT / "packaging/with-keyring.sh"),
                            sys.executable, __file__, *sys.argv[1:]], env=env)
    sys.exit(code)


def main() -> None:
    _reexec_in_keyring_session()
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots").resolve()
    width, height = (int(n) for n in os.environ.get("CLOSEPLAN_SCREENSHOT_SIZE",
                                                    "1360x820").split("x"))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="closeplan-shots-"))
    (tmp / "policy.json").write_text(json.dumps({}))
    from closeplan_desktop.core.security import policy

    # The defaults, whatever this machine's policy says (set from code: see policy.py).
    policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(tmp / "policy.json")
    os.environ.pop(policy.ADDED_POLICY_VARIABLE, None)

    from PySide6.QtWidgets import QApplication, QDialog, QInputDialog, QWidget

    from closeplan_desktop.core.security.policy import load_policy
    from closeplan_desktop.core.store import workspace
    from closeplan_desktop.core.tools import demo
    from closeplan_desktop.core.usecases import auth
    from closeplan_desktop.ui.deals.dialog import DealDialog
    from closeplan_desktop.ui.main_window import MainWindow
    from closeplan_desktop.ui.signed_in import SignedIn
    from closeplan_desktop.ui.signin import SignInDialog
    from closeplan_desktop.ui.theme import apply_theme
    from closeplan_desktop.ui.wizard import FirstRunWizard

    app = QApplication.instance() or QApplication([])
    app.setOrganizationName("ClosePlanScreenshots")
    app.setApplicationName("ClosePlan Desktop")
    if os.environ.get("CLOSEPLAN_SCREENSHOT_THEME") == "dark":
        from closeplan_desktop.ui import theme

        theme.system_is_dark = lambda: True  # as on a desktop in a dark scheme
    apply_theme(app)
    shots: list[str] = []

    def settle() -> None:
        for _ in range(6):
            app.processEvents()
            time.sleep(0.01)

    def grab(widget: QWidget, name: str) -> None:
        settle()
        path = out / f"{len(shots) + 1:02d}-{name}.png"
        widget.grab().save(str(path))
        shots.append(path.name)

    def shot_dialog(dialog: QDialog, name: str, prepare: Callable[[], None] | None = None
                    ) -> None:
        dialog.show()
        if prepare:
            prepare()
        grab(dialog, name)
        dialog.reject()

    # First run.
    wizard = FirstRunWizard(tmp / "new", load_policy())
    wizard.resize(660, 500)
    wizard.show()
    grab(wizard, "first-run-welcome")
    wizard.next()
    wizard.org.name.setText("Lakeview Children's Hospital")
    wizard.org.domain.setText("lakeview.example")
    grab(wizard, "first-run-organisation")
    wizard.next()
    wizard.admin.first.setText("Lena")
    wizard.admin.last.setText("Okafor")
    wizard.admin.email.setText("lena@lakeview.example")
    wizard.admin.password.setText("short")
    grab(wizard, "first-run-admin-password-policy")
    wizard.reject()

    # Demo workspace and sign-in.
    info = demo.build(tmp / "demo")
    ws = workspace.open_workspace(info.path)
    signin = SignInDialog(ws, "", (info.admin_email, info.password), where=ws.path,
                          demo_users=tuple(e for e, *_ in demo.DEMO_USERS))
    signin.show()
    grab(signin, "sign-in-demo")
    signin.password.setText("wrong password")
    signin.submit()
    grab(signin, "sign-in-failed")
    signin.reject()

    # A sales user's window: deals.
    t0 = time.perf_counter()
    rep = auth.sign_in(ws, demo.DEMO_USERS[0][0], demo.DEMO_PASSWORD)
    window = MainWindow(SignedIn(ws, rep))
    window.resize(width, height)
    window.show()
    settle()
    usable_ms = (time.perf_counter() - t0) * 1000
    grab(window, "deals-sales-user")
    pane = window.deals
    own = next(i for i, d in enumerate(pane.model.rows)
               if d.has_phi and d.created_by_id == rep.user_id and i > 2)
    pane.table.selectRow(own)
    grab(window, "deals-phi-masked")
    pane.detail.reveal()
    grab(window, "deals-phi-revealed")
    pane.detail.hide_phi()
    pane.search.setText("mri st mary")
    pane.apply_filters()
    grab(window, "deals-search")
    pane.search.clear()
    pane.apply_filters()
    shot_dialog(DealDialog(window.signed_in, None, window), "deal-new")
    pane.table.selectRow(own)
    shot_dialog(DealDialog(window.signed_in, pane.selected_deal(), window), "deal-edit")
    other = next(i for i, d in enumerate(pane.model.rows)
                 if d.has_phi and d.created_by_id != rep.user_id)
    pane.table.selectRow(other)
    glass = QInputDialog(window)
    glass.setWindowTitle("Break-glass access")
    glass.setLabelText(f"This deal belongs to {pane.selected_deal().created_by_name}. "
                       "Revealing its PHI is an emergency access: it is logged with your "
                       "reason and flagged for review.\n\nReason:")
    glass.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)
    shot_dialog(glass, "deal-break-glass")
    pane.deleted_action.setChecked(True)
    grab(window, "deals-deleted-empty")
    pane.deleted_action.setChecked(False)
    window.signed_in.lock()
    grab(window, "locked")
    window.signed_in.unlock(demo.DEMO_PASSWORD)
    window.close()

    # The admin's window: users, audit, keys and settings.
    admin = auth.sign_in(ws, info.admin_email, info.password)
    window = MainWindow(SignedIn(ws, admin))
    window.resize(width, height)
    window.show()
    grab(window, "deals-admin")
    for key in ("users", "audit"):
        if key in window.pane_keys:
            window.show_pane(key)
            grab(window, key)
    audit_pane = window.panes.get("audit")
    access = getattr(audit_pane, "access_page", None)
    if access is not None:  # a break-glass row selected: its whole reason below
        rows = access.model.rows
        glass = next((i for i, e in enumerate(rows) if e.reason), None)
        if glass is not None:
            access.view.selectRow(glass)
            grab(window, "audit-break-glass-detail")
    tabs = getattr(audit_pane, "tabs", None) or (audit_pane.findChild(QWidget, "auditTabs")
                                                  if audit_pane else None)
    if tabs is not None:
        for i in range(1, tabs.count()):
            tabs.setCurrentIndex(i)
            grab(window, f"audit-tab-{i + 1}")
    try:
        from closeplan_desktop.ui.keys.dialog import KeysDialog

        keys_dialog = KeysDialog(window.signed_in, window)
        keys_dialog.show()
        grab(keys_dialog, "keys")
        tab_widget = keys_dialog.findChild(QWidget, "keysTabs") or next(
            (w for w in keys_dialog.findChildren(QWidget) if w.metaObject().className() ==
             "QTabWidget"), None)
        if tab_widget is not None:
            tab_widget.setCurrentIndex(1)
            grab(keys_dialog, "settings")
        keys_dialog.reject()
    except ImportError:
        pass
    from closeplan_desktop.ui.account import ChangePasswordDialog

    shot_dialog(ChangePasswordDialog(window.signed_in, window), "account-change-password")
    window.close()
    ws.close()
    print(f"usable after sign-in: {usable_ms:.0f} ms")
    print(f"{len(shots)} screenshots in {out}:")
    for name in shots:
        print(f"  {name}")


if __name__ == "__main__":
    main()
