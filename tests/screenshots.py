"""Write screenshots of every pane and dialog of the demo workspace to a folder.

    .venv/bin/python tests/screenshots.py [OUT_DIR]      (default: screenshots/)

The main window is 1360x820, or CLOSEPLAN_SCREENSHOT_SIZE=WxH (e.g. 1366x768; for
1920x1080 at 150 %, QT_SCALE_FACTOR=1.5 and 1280x690, the logical size less a task bar).
CLOSEPLAN_SCREENSHOT_THEME=dark renders the dark palette a dark desktop gets.
CLOSEPLAN_SCREENSHOT_SYNC=1 adds the sync screens (connect with its approval code, the
status bar, devices, conflicts, the whole organisation's audit, signed out of the server
with its sign-in dialog) against a private `closeplan-server dev` on 127.0.0.1
(PostgreSQL must be installed: tests/run.sh installs it). Runs
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
from typing import Any

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
    # Its timeline (issue 15): a few activities and a change, newest first.
    from datetime import timedelta

    from closeplan_desktop.core.domain.clock import local_today
    from closeplan_desktop.core.usecases import activities, deals
    from closeplan_desktop.ui.deals.tasks import TasksDueDialog
    shown_deal = pane.selected_deal()
    activities.add_activity(rep, shown_deal.id, "call", "Called the buyer: budget approved "
                            "for Q1, wants a site visit first.")
    activities.add_activity(rep, shown_deal.id, "task", "Send the revised quote",
                            due=local_today() - timedelta(days=2))
    deals.update_deal(rep, shown_deal.id, status="ACTIVE", value="48250.00")
    activities.add_activity(rep, shown_deal.id, "next step", "Site visit with the chief "
                            "radiologist", due=local_today())
    pane.refresh_and_select(shown_deal.id)
    pane.detail.timeline.body.setPlainText("Met the procurement lead")
    settle()
    pane.detail.scroll.ensureWidgetVisible(pane.detail.timeline.list)
    grab(window, "deals-timeline")
    pane.detail.timeline.body.clear()
    tasks = TasksDueDialog(window.signed_in, pane.refresh_and_select, window)
    shot_dialog(tasks, "tasks-due")
    # Issue 15: "My deals" on, the Owner and Close date columns, the forecast line.
    from PySide6.QtCore import Qt

    from closeplan_desktop.ui.deals.model import COLUMNS
    filters = pane.owner_filters
    filters.mine.setChecked(True)
    filters.close.setCurrentIndex(filters.close.findData("quarter"))
    pane.table.sortByColumn(COLUMNS.index("Closes"), Qt.SortOrder.AscendingOrder)
    grab(window, "my-deals")
    filters.mine.setChecked(False)
    filters.close.setCurrentIndex(0)
    pane.table.sortByColumn(COLUMNS.index("Updated"), Qt.SortOrder.DescendingOrder)
    # The board (issue 15): the same deals by status, the timeline's deal selected; a few
    # of the rep's deals with a close date (one of them overdue).
    from closeplan_desktop.core.usecases.deal_list import DealQuery, list_deals

    for i, d in enumerate(list_deals(rep, DealQuery(owner_id=rep.user_id), limit=8)):
        deals.update_deal(rep, d.id, expected_close_date=local_today() + timedelta(
            days=-6 if i == 2 else 9 + 11 * i))
    pane.board.action.setChecked(True)
    settle()
    pane.board.view.select(shown_deal.id, deals.get_deal(rep, shown_deal.id).status)
    grab(window, "deals-board")
    pane.board.action.setChecked(False)
    # A saved view (issue 15): the rep's active deals, biggest first; its name in the
    # header, its count and pipeline.
    from closeplan_desktop.core.domain.enums import DealStatus
    from closeplan_desktop.core.usecases import views
    from closeplan_desktop.core.usecases.deal_list import DealQuery
    views.save_view(rep, "My active deals", DealQuery(status=DealStatus.ACTIVE, sort="value",
                                                      owner_id=rep.user_id))
    pane.views.load()
    pane.views.choose("My active deals")
    grab(window, "deals-saved-view")
    pane.views.choose(views.ALL_DEALS)
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
    import_shots(window, grab, settle, tmp)
    window.close()
    ws.close()
    if os.environ.get("CLOSEPLAN_SCREENSHOT_SYNC") == "1":
        sync_shots(tmp, grab, settle, width, height)
    print(f"usable after sign-in: {usable_ms:.0f} ms")
    print(f"{len(shots)} screenshots in {out}:")
    for name in shots:
        print(f"  {name}")


def import_shots(window: Any, grab: Callable[..., None], settle: Callable[[], None],
                 tmp: Path) -> None:
    """The import wizard on a made-up HubSpot-shaped export (issue 15): the mapping step,
    the stage values and the check."""
    from closeplan_desktop.core.tools import demo

    maria, james, priya = (e for e, *_ in demo.DEMO_USERS)
    export = tmp / "hubspot-deals-export.csv"
    export.write_text(
        "Record ID,Deal Name,Deal Stage,Amount,Close Date,Deal owner,Pipeline,"
        "Deal probability,Deal Description,Patient MRN\r\n"
        f"5101,MRI scanner fleet upgrade – Mercy West,appointmentscheduled,\"412,000.00\","
        f"2026-03-31 00:00,{maria},Hospital sales,0.2,Demo booked with radiology,MRN-20931\r\n"
        f"5102,Infusion pump replacement – St. Anne's,qualifiedtobuy,$86500,04/15/2026,"
        f"{james},Hospital sales,0.4,Needs biomed sign-off,\r\n"
        f"5103,PACS imaging archive – Lakeside Clinic,contractsent,128000,2026-02-27,"
        f"{priya},Hospital sales,0.8,Legal reviewing the MSA,\r\n"
        f"5104,EHR integration services – North Valley,closedwon,\"240,000\",01/30/2026,"
        f"{maria},Hospital sales,1,,MRN-55102\r\n"
        f"5105,Telehealth platform licence – Harbor Health,closedlost,39900,2026-01-12,"
        f"{james},Hospital sales,0,Chose an incumbent vendor,\r\n"
        f"5106,Surgical robotics service contract – Bayview,pilotphase,310000,2026-06-30,"
        f"{priya},Hospital sales,0.3,Three-month pilot first,\r\n", encoding="utf-8")

    def wait(done: Callable[[], bool]) -> None:
        for _ in range(500):
            settle()
            if done():
                return

    window.deals.import_csv()
    wiz = window.deals.import_wizard
    wiz.file_page.path.setText(str(export))
    grab(wiz, "import-file")
    wiz.next()
    wait(lambda: wiz.file_page.op is None)
    page = wiz.mapping_page
    page.combos["Patient MRN"].setCurrentIndex(page.combos["Patient MRN"].findData(
        "phi_patient_mrn"))
    page.combos["Deal Description"].setCurrentIndex(page.combos["Deal Description"].findData(
        "note"))
    grab(wiz, "import-mapping")
    wiz.next()
    grab(wiz, "import-stages")
    wiz.next()
    wait(lambda: wiz.check_page.op is None)
    grab(wiz, "import-check")
    wiz.reject()


def sync_shots(tmp: Path, grab: Callable[..., None], settle: Callable[[], None], width: int,
               height: int) -> None:
    """The sync screens, with two laptops of one organisation against a private server."""
    import re
    import socket

    import httpx

    from closeplan_desktop.core.security.policy import load_policy
    from closeplan_desktop.core.sync import connect, engine
    from closeplan_desktop.core.usecases import auth, deals, users
    from closeplan_desktop.ui.main_window import MainWindow
    from closeplan_desktop.ui.signed_in import SignedIn
    from closeplan_desktop.ui.sync.conflicts import ConflictsDialog
    from closeplan_desktop.ui.wizard import FirstRunWizard

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A folder the 'postgres' OS user can reach when we are root (the cluster runs as it).
    data = Path(tempfile.mkdtemp(prefix="closeplan-shots-server-"))
    data.chmod(0o755)
    server = subprocess.Popen(
        [sys.executable, "-m", "closeplan_desktop.server.cli", "dev", "--data",
         str(data), "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        code = None
        for line in server.stdout:
            found = re.search(r"First-admin code: (\S+)", line)
            code = found.group(1) if found else code
            if line.startswith("Stop it"):
                break
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):  # the server listens a moment after it printed its address
            try:
                httpx.get(f"{url}/v1/server/keys", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise RuntimeError("closeplan-server dev stopped (see above)") from None
                time.sleep(0.1)
        password = "Tangerine-Orbit-Ladder-42"
        r = httpx.post(f"{url}/v1/setup/first-tenant", json={
            "code": code, "organisation": "Lakeview Children's Hospital",
            "domain": "lakeview.example", "email": "lena@lakeview.example",
            "first_name": "Lena", "last_name": "Okafor", "password": password}, timeout=60)
        r.raise_for_status()
        ws, transport, _e = connect.start(tmp / "lena", url, "lena@lakeview.example",
                                          password, name="Lena's MacBook")
        connect.finish(ws, transport)
        lena = auth.sign_in(ws, "lena@lakeview.example", password)
        users.add_user(lena, "omar@lakeview.example", "Omar", "Haddad", "ADMIN", password)
        made = [deals.create_deal(lena, title, status, value, {"mrn": "MRN-100"})
                for title, status, value in (("Cath lab expansion", "ACTIVE", "1250000"),
                                             ("Infusion pump fleet", "ACTIVE", "384500"),
                                             ("Sleep lab pilot", "DRAFT", "42000"))]
        engine.sync_once(ws, transport)

        # The second laptop: the connect window with its code.
        wizard = FirstRunWizard(tmp / "omar", load_policy())
        wizard.resize(660, 500)
        wizard.show()
        wizard.choice.connect.setChecked(True)
        wizard.next()
        page = wizard.connect_page
        page.url.setText(url)
        page.email.setText("omar@lakeview.example")
        page.password.setText(password)
        grab(wizard, "connect-server")
        wizard.next()
        while wizard.currentId() != FirstRunWizard.CODE:
            settle()
        grab(wizard, "connect-approval-code")
        started = page.started
        assert started is not None
        omar_ws, omar_transport, enrolment = started

        # Lena's window: the Devices pane with Omar's laptop waiting, then approved.
        window = MainWindow(SignedIn(ws, lena))
        window.resize(width, height)
        window.show()
        window.show_pane("devices")
        pane = window.panes["devices"]
        while not getattr(pane, "rows", None) or len(pane.rows) < 2:
            settle()
        pane.select(omar_ws.device_id)
        grab(window, "devices-waiting")
        from closeplan_desktop.core.sync import devices

        devices.approve(ws, transport, str(enrolment.approval_code), omar_ws.device_id)
        while wizard.isVisible():
            settle()
        omar = wizard.connected
        assert omar is not None
        pane.reload()
        while any(d.status == "PENDING" for d in pane.rows):
            settle()
        grab(window, "devices-approved")

        # A conflict: both change the same deal's title and PHI offline.
        while not omar.page.loaded:
            settle()
        deal_id = made[0].id
        deals.update_deal(omar.session, deal_id, title="Cath lab expansion (phase 2)",
                          phi={"mrn": "MRN-200"})
        deals.update_deal(lena, deal_id, title="Cath lab expansion, 2027",
                          phi={"mrn": "MRN-300"})
        engine.sync_once(omar.ws, omar_transport)
        engine.sync_once(ws, transport)
        deals.create_deal(lena, "Dialysis chairs", "DRAFT", "18000")
        window.show_pane("deals")
        assert window.sync is not None
        window.sync.refresh_counts()
        grab(window, "sync-status-bar")
        dialog = ConflictsDialog(window.signed_in, window)
        dialog.show()
        grab(dialog, "sync-conflicts")
        dialog.reject()
        org_audit_shots(window, omar, omar_transport, ws, transport, [d.id for d in made],
                        grab, settle)
        window.close()
        omar_transport.close()
        omar.ws.close()
        transport.close()
        ws.close()
    finally:
        server.terminate()
        server.wait(60)
        import shutil

        shutil.rmtree(data, ignore_errors=True)


def org_audit_shots(window: Any, omar: Any, omar_transport: Any, ws: Any, transport: Any,
                    deal_ids: list[str], grab: Callable[..., None],
                    settle: Callable[[], None]) -> None:
    """The Audit pane's whole-organisation view (Omar's reveals on his laptop, seen from
    Lena's), then the server ending Lena's session: the status bar and its dialog."""
    from closeplan_desktop.core.sync import engine
    from closeplan_desktop.core.usecases import deals
    from closeplan_desktop.ui.audit.source import ORG
    from closeplan_desktop.ui.sync.sign_in_again import SignInAgainDialog

    for deal_id in deal_ids:
        for _ in range(2):
            deals.reveal_phi(omar.session, deal_id)
    engine.sync_once(omar.ws, omar_transport)
    engine.sync_once(ws, transport)
    window.show_pane("audit")
    pane = window.panes["audit"]
    pane.switch.buttons[ORG].click()
    model = pane.access_model
    while model.remote is None or model.busy or not model.rowCount():
        settle()
    pane.access_page.view.selectRow(0)
    grab(window, "audit-organisation")
    pane.tabs.setCurrentIndex(pane.REVEALS)
    grab(window, "audit-organisation-reveals")
    pane.tabs.setCurrentIndex(pane.ACCESS)

    # The server ends this laptop's session (a sign-out elsewhere): "Sign in" appears.
    window.show_pane("deals")
    transport.call("POST", "/v1/auth/sign-out")
    sync = window.sync
    sync.sync_now()
    while not sync.state.signed_out or sync.op is not None:
        settle()
    grab(window, "sync-signed-out")
    dialog = SignInAgainDialog(window.signed_in, sync, window)
    dialog.show()
    dialog.password.setText("not the password")
    grab(dialog, "sync-sign-in-again")
    dialog.reject()


if __name__ == "__main__":
    main()
