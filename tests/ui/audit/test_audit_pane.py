"""The Audit pane: it shows what core returns, filters through core, verifies and exports
off the UI thread."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QComboBox, QPushButton, QTableView
from pytestqt.qtbot import QtBot
from support import Env, FakeDialogs, sql

from closeplan_desktop.core.domain.errors import BreakGlassRequired
from closeplan_desktop.core.usecases import audit, deals
from closeplan_desktop.ui.audit.models import ACCESS_COLUMNS
from closeplan_desktop.ui.audit.pane import AuditPane
from closeplan_desktop.ui.signed_in import SignedIn

OUTCOME = ACCESS_COLUMNS.index("Outcome")
REASON = ACCESS_COLUMNS.index("Reason")


def make_pane(qtbot: QtBot, env: Env) -> AuditPane:
    pane = AuditPane(SignedIn(env.ws, env.admin))
    qtbot.addWidget(pane)
    pane.resize(1100, 650)
    pane.show()  # on screen: what core work changes is reloaded at once
    pane.reload()
    return pane


def outcomes(pane: AuditPane) -> list[str]:
    m = pane.access_model
    return [m.index(r, OUTCOME).data() for r in range(m.rowCount())]


def test_access_table_shows_the_rows_core_returns(qtbot: QtBot, env: Env) -> None:
    deal = deals.create_deal(env.user, "MRI upgrade", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, deal.id)
    pane = make_pane(qtbot, env)

    table = pane.findChild(QTableView, "accessTable")
    assert table is not None and table.model() is pane.access_model
    entries, total = audit.list_access(env.admin, limit=200)
    assert pane.access_model.rowCount() == total == len(entries) == 2
    m = pane.access_model
    actions = [m.index(r, ACCESS_COLUMNS.index("Action")).data() for r in range(m.rowCount())]
    assert [e.action for e in entries] == ["PHI_ACCESS", "DEAL_CREATE"]
    assert actions == ["Viewed PHI", "Created deal"]  # words, not codes
    assert outcomes(pane) == ["Allowed", "Allowed"]
    assert m.index(0, ACCESS_COLUMNS.index("Deal")).data() == "MRI upgrade"
    assert m.index(0, ACCESS_COLUMNS.index("User")).data() == "Bob Sales"
    assert pane.access_page.stack.currentWidget() is table


def test_outcome_filter_refused_shows_only_refused_rows(qtbot: QtBot, env: Env) -> None:
    theirs = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "10", {"mrn": "x"})
    mine = deals.create_deal(env.user, "Bob's deal", "ACTIVE", "10", {"mrn": "y"})
    deals.reveal_phi(env.user, mine.id)
    with pytest.raises(BreakGlassRequired):
        deals.reveal_phi(env.user, theirs.id)
    pane = make_pane(qtbot, env)
    assert set(outcomes(pane)) == {"Allowed", "Refused"}

    combo = pane.findChild(QComboBox, "filterOutcome")
    assert combo is not None
    combo.setCurrentText("Refused")
    assert outcomes(pane) == ["Refused"]
    _, total = audit.list_access(env.admin, audit.AuditFilter(success=False))
    assert pane.access_model.rowCount() == total == 1
    color = pane.access_model.index(0, OUTCOME).data(Qt.ItemDataRole.ForegroundRole)
    assert isinstance(color, QColor) and color.red() > color.green()

    combo.setCurrentText("Allowed")
    assert set(outcomes(pane)) == {"Allowed"}


def test_break_glass_rows_are_highlighted(qtbot: QtBot, env: Env) -> None:
    theirs = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, theirs.id, reason="Patient called about a delivery")
    pane = make_pane(qtbot, env)
    m = pane.access_model
    assert m.index(0, REASON).data() == "Patient called about a delivery"
    assert isinstance(m.index(0, 0).data(Qt.ItemDataRole.BackgroundRole), QColor)
    assert m.index(1, 0).data(Qt.ItemDataRole.BackgroundRole) is None  # the DEAL_CREATE row

    # The reveals tab: core marks the day unusual, the pane highlights it in bold.
    rm = pane.reveals_model
    assert rm.rowCount() == 1 and rm.rows[0].unusual
    assert isinstance(rm.index(0, 0).data(Qt.ItemDataRole.BackgroundRole), QColor)
    font = rm.index(0, 1).data(Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont) and font.bold()
    assert "break-glass" in pane.reveals_page.legend.text()


def test_empty_states(qtbot: QtBot, env: Env) -> None:
    pane = make_pane(qtbot, env)
    assert pane.reveals_page.stack.currentWidget() is pane.reveals_page.empty
    assert "No PHI has been revealed yet" in pane.reveals_page.empty.text()
    assert pane.access_page.stack.currentWidget() is pane.access_page.empty
    assert "No access has been logged yet" in pane.access_page.empty.text()
    assert pane.events_model.rowCount() > 0  # sign-ins and user creation
    pane.access_page.filter_outcome.setCurrentText("Refused")
    assert "No entries match" in pane.access_page.empty.text()


def test_user_filter_lists_the_tenants_users(qtbot: QtBot, env: Env) -> None:
    mine = deals.create_deal(env.user, "Bob's deal", "ACTIVE", "10", {"mrn": "y"})
    deals.reveal_phi(env.admin, mine.id)
    pane = make_pane(qtbot, env)
    combo = pane.findChild(QComboBox, "filterUser")
    assert combo is not None
    assert [combo.itemText(i) for i in range(combo.count())] == ["All users", "Ada Admin",
                                                                  "Bob Sales"]
    combo.setCurrentIndex(combo.findData(env.admin.user_id))
    assert pane.access_model.rowCount() == 1 and outcomes(pane) == ["Allowed"]


def test_verify_chain_reports_intact(qtbot: QtBot, env: Env,
                                     dialogs: FakeDialogs) -> None:
    deal = deals.create_deal(env.user, "Deal", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, deal.id)
    pane = make_pane(qtbot, env)
    assert pane.findChild(QPushButton, "verifyButton") is pane.verify_button
    pane.verify_chain()
    qtbot.waitUntil(lambda: bool(dialogs.messages) and pane.running_op is None, timeout=20000)
    kind, _title, text = dialogs.messages[0]
    assert kind == "information"
    assert text.startswith("Audit chain intact:") and "rows verified" in text
    # The verification is itself a security event, and the events tab shows it.
    types = [pane.events_model.index(r, 1).data() for r in range(pane.events_model.rowCount())]
    assert "Audit chain verified" in types


def test_verify_chain_names_the_bad_row(qtbot: QtBot, env: Env,
                                        dialogs: FakeDialogs) -> None:
    for i in range(3):
        d = deals.create_deal(env.admin, f"Deal {i}", "ACTIVE", "1", {"mrn": f"M{i}"})
        deals.reveal_phi(env.admin, d.id)
    env.ws.engine.dispose()
    rid = sql(env.path, "SELECT id FROM access_logs ORDER BY seq")[2][0]
    sql(env.path, "DROP TRIGGER access_logs_no_update")
    sql(env.path, f"UPDATE access_logs SET success=0 WHERE id='{rid}'")
    pane = make_pane(qtbot, env)
    pane.verify_chain()
    qtbot.waitUntil(lambda: bool(dialogs.messages) and pane.running_op is None, timeout=20000)
    kind, _title, text = dialogs.messages[0]
    assert kind == "warning"
    assert str(rid) in text and "changed" in text


def test_export_writes_csv(qtbot: QtBot, env: Env, tmp_path: Path,
                           dialogs: FakeDialogs) -> None:
    deal = deals.create_deal(env.user, "=HYPERLINK(\"x\")", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, deal.id)
    target = tmp_path / "audit.csv"
    dialogs.save = (target, "CSV (*.csv)")
    pane = make_pane(qtbot, env)
    assert pane.findChild(QPushButton, "exportButton") is pane.export_button
    pane.export_audit()
    qtbot.waitUntil(lambda: bool(dialogs.messages) and pane.running_op is None, timeout=20000)
    assert target.exists()
    rows = list(csv.reader(target.open(encoding="utf-8", newline="")))
    assert rows[0][:3] == ["kind", "id", "timestamp"]
    kind, _title, text = dialogs.messages[0]
    assert kind == "information"
    # The access log tab is on screen: its rows are exported, not the security events.
    assert f"Exported {len(rows) - 1:,} access-log entries" in text
    assert {r[0] for r in rows[1:]} == {"access"}
    assert len(rows) - 1 == pane.access_model.total


def test_export_fhir_uses_the_current_filter(qtbot: QtBot, env: Env, tmp_path: Path,
                                             dialogs: FakeDialogs) -> None:
    theirs = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "10", {"mrn": "x"})
    with pytest.raises(BreakGlassRequired):
        deals.reveal_phi(env.user, theirs.id)
    target = tmp_path / "audit"  # no extension: the chosen filter decides
    dialogs.save = (target, "FHIR R4 JSON (*.json)")
    pane = make_pane(qtbot, env)
    pane.access_page.filter_outcome.setCurrentText("Refused")
    pane.export_audit()
    qtbot.waitUntil(lambda: bool(dialogs.messages) and pane.running_op is None, timeout=20000)
    bundle = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    access = [e["resource"] for e in bundle["entry"]
              if e["resource"]["type"]["code"] == "rest"]
    assert len(access) == 1 and access[0]["outcome"] == "4"


def test_clear_sensitive_drops_rows(qtbot: QtBot, env: Env) -> None:
    theirs = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, theirs.id, reason="Patient called about a delivery")
    pane = make_pane(qtbot, env)
    assert pane.access_model.rowCount() and pane.reveals_model.rowCount()
    pane.clear_sensitive()
    assert pane.access_model.rowCount() == 0
    assert pane.events_model.rowCount() == 0
    assert pane.reveals_model.rowCount() == 0
    pane.reload()
    assert pane.access_model.rowCount() == 2


def test_object_names_and_accessible_names(qtbot: QtBot, env: Env) -> None:
    pane = make_pane(qtbot, env)
    assert pane.title == "Audit"
    for name in ("accessTable", "eventsTable", "revealsTable", "verifyButton", "exportButton",
                 "auditTabs", "filterUser", "filterAction", "filterOutcome"):
        widget = pane.findChild(object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name
    assert [pane.tabs.tabText(i) for i in range(3)] == ["Access log", "Security events",
                                                        "PHI reveals by UTC day"]
    action = pane.findChild(QComboBox, "filterAction")
    assert [action.itemText(i) for i in range(action.count())] == [
        "All", "Viewed PHI", "Created deal", "Changed deal", "Deleted deal"]


def test_double_click_narrows_to_a_deal(qtbot: QtBot, env: Env) -> None:
    one = deals.create_deal(env.user, "One", "ACTIVE", "10", {"mrn": "x"})
    two = deals.create_deal(env.user, "Two", "ACTIVE", "10", {"mrn": "y"})
    deals.reveal_phi(env.user, one.id)
    deals.reveal_phi(env.user, two.id)
    pane = make_pane(qtbot, env)
    m = pane.access_model
    row = next(r for r in range(m.rowCount()) if m.rows[r].deal_id == two.id)
    pane.access_page.narrow(m.index(row, ACCESS_COLUMNS.index("Deal")))
    assert pane.access_page.filter_deal.text() == "Two"  # the title, not the id
    assert pane.access_page.filter_deal.deal_id == two.id
    assert {e.deal_id for e in m.rows} == {two.id} and m.rowCount() == 2
    pane.access_page.clear_filters()
    assert m.rowCount() == 4


def test_a_reviewer_reads_words_titles_zones_and_whole_reasons(
        qtbot: QtBot, env: Env) -> None:
    deal = deals.create_deal(env.user, "Hip implants – Mercy", "ACTIVE", "10", {"mrn": "x"})
    deals.update_deal(env.user, deal.id, title="Hip implants – Mercy West", value="20",
                      phi={"mrn": "MRN-NEW-77"})
    theirs = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "10", {"mrn": "x"})
    reason = "Patient called about a delivery; " + "the chart was needed at once. " * 8
    deals.reveal_phi(env.user, theirs.id, reason=reason)
    pane = make_pane(qtbot, env)
    m = pane.access_model
    actions = [m.index(r, ACCESS_COLUMNS.index("Action")).data() for r in range(m.rowCount())]
    assert "Changed title, value; PHI changed" in actions
    assert "MRN-NEW-77" not in " ".join(actions)
    # Times carry their zone; the reveals tab says its days are UTC days.
    zone = m.rows[0].timestamp.astimezone().strftime("%Z")
    assert m.index(0, 0).data().endswith(zone)
    assert "UTC" in pane.tabs.tabText(pane.REVEALS)
    # The whole reason: in the detail view of the selected row, and a wrapping tooltip.
    row = next(r for r in range(m.rowCount()) if m.rows[r].reason)
    pane.access_page.view.selectRow(row)
    details = pane.access_page.details
    assert details.isVisible() and reason.strip() in details.text()
    assert details.wordWrap()
    tip = m.index(row, REASON).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("<p>") and "the chart was needed" in tip
    # Security events: words, and a deal named by its title, not its id.
    ev = pane.events_model
    texts = [(ev.index(r, 1).data(), ev.index(r, 3).data()) for r in range(ev.rowCount())]
    glass = next(detail for kind, detail in texts if kind == "Break-glass access")
    assert "Admin's deal" in glass and theirs.id not in glass


def test_the_deal_filter_is_picked_by_title(qtbot: QtBot, env: Env) -> None:
    one = deals.create_deal(env.user, "Cardiology rollout", "ACTIVE", "10", {"mrn": "x"})
    deals.create_deal(env.user, "MRI scanner", "ACTIVE", "10", None)
    deals.reveal_phi(env.user, one.id)
    pane = make_pane(qtbot, env)
    picker = pane.access_page.filter_deal
    picker.setFocus()
    qtbot.keyClicks(picker, "cardio")
    picker.refresh_choices()
    assert [picker.choices.item(r).text() for r in range(picker.choices.rowCount())] == [
        "Cardiology rollout"]
    assert pane.access_model.rowCount() == 3  # typing alone filters nothing yet
    qtbot.keyClick(picker, Qt.Key.Key_Return)
    assert picker.deal_id == one.id and picker.text() == "Cardiology rollout"
    assert {e.deal_id for e in pane.access_model.rows} == {one.id}
    assert pane.access_model.rowCount() == 2
    qtbot.keyClick(picker, Qt.Key.Key_End)
    qtbot.keyClick(picker, Qt.Key.Key_Backspace)  # editing un-picks: every deal again
    assert picker.deal_id is None and pane.access_model.rowCount() == 3


def test_a_deal_change_row_opens_the_deals_history(qtbot: QtBot, env: Env,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from closeplan_desktop.ui.deals.history import DealHistoryDialog
    deal = deals.create_deal(env.user, "Knee braces", "DRAFT", "10", {"mrn": "MRN-4242"})
    deals.update_deal(env.user, deal.id, status="ACTIVE", phi={"mrn": "MRN-4243"})
    deals.reveal_phi(env.user, deal.id)
    pane = make_pane(qtbot, env)
    page, m = pane.access_page, pane.access_model
    button = page.history_button
    reveal = next(r for r in range(m.rowCount()) if m.rows[r].action == "PHI_ACCESS")
    page.view.selectRow(reveal)
    assert not button.isEnabled()  # a reveal is not a change
    update = next(r for r in range(m.rowCount()) if m.rows[r].action == "DEAL_UPDATE")
    page.view.selectRow(update)
    assert button.isEnabled()
    opened: list[DealHistoryDialog] = []
    monkeypatch.setattr(DealHistoryDialog, "exec", lambda d: opened.append(d) or 0)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    (dialog,) = opened
    qtbot.addWidget(dialog)
    texts = dialog.entries_text()
    assert [t.splitlines()[1] for t in texts] == [
        "Changed: Status: Draft → Active; PHI changed",
        "Created: Title: Knee braces; Status: Draft; Value: $10.00; PHI changed"]
    # The row the audit entry recorded is the one selected; no PHI anywhere.
    assert dialog.list.currentRow() == 0
    assert "MRN-" not in " ".join(texts)
