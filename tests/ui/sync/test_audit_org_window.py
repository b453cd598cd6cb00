"""The Audit pane's "Whole organisation" view, end to end: an admin's window on a
connected laptop reads every laptop's audit from the real server (pages by fetchMore off
the UI thread, a device column, the pane's filters), reveals by day tenant-wide, no PHI
on screen; offline, a line says so and this laptop's audit stays."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from api_support import Api
from laptop_support import Laptop, connect_laptop
from pytestqt.qtbot import QtBot
from window_support import SAM_PASSWORD, WAIT_MS, tag_of, window_of

from closeplan_desktop.core.sync import audit_views
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import deals, users
from closeplan_desktop.ui.audit.models import PagingModel
from closeplan_desktop.ui.audit.pane import AuditPane
from closeplan_desktop.ui.audit.source import LOCAL, ORG
from closeplan_desktop.ui.main_window import MainWindow

PHI = {"patient_name": "Rosalind Achterberg", "mrn": "MRN-246810"}


@pytest.fixture
def sam(ada: Laptop, live: Api, tmp_path: object) -> Iterator[Laptop]:
    """Sam's laptop: he revealed PHI three times there and uploaded his audit."""
    admin = ada.session()
    users.add_user(admin, f"sam@{tag_of(ada)}", "Sam", "Sales", "USER", SAM_PASSWORD)
    deals.create_deal(admin, "Ada's deal", "ACTIVE", "5.00")  # a row of Ada's laptop
    ada.sync()
    laptop = connect_laptop(live, tmp_path / "sams-laptop", f"sam@{tag_of(ada)}",  # type: ignore[operator]
                            SAM_PASSWORD, approver=ada)
    session = laptop.session()
    deal = deals.create_deal(session, "Sam's clinic", "ACTIVE", "10.00", PHI)
    for _ in range(3):
        assert deals.reveal_phi(session, deal.id) == PHI
    laptop.sync()
    yield laptop
    laptop.close()


def audit_pane(w: MainWindow) -> AuditPane:
    w.show_pane("audit")
    pane = w.pane("audit")
    assert isinstance(pane, AuditPane)
    return pane


def shown(model: PagingModel[object]) -> list[list[str]]:
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def test_an_admin_reads_every_laptops_audit_page_by_page(
        ada: Laptop, sam: Laptop, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_views, "PAGE", 3)  # several pages of a small audit
    w = window_of(ada, qtbot)
    pane = audit_pane(w)
    assert pane.switch is not None and pane.switch.isVisible()
    assert pane.switch.source == LOCAL
    local_rows = len(pane.access_model.rows)
    assert all(e.user_id != sam.session().user_id for e in pane.access_model.rows)

    pane.switch.buttons[ORG].click()
    model = pane.access_model
    qtbot.waitUntil(lambda: model.remote is not None and model.rowCount() >= 3,
                    timeout=WAIT_MS)
    assert model.columns[-1] == "Device" and pane.events_model.columns[-1] == "Device"
    assert not pane.export_button.isEnabled()
    assert "whole organisation" in pane.source_line.text().lower()
    # The view scrolls: fetchMore asks the server for the next page, off the UI thread.
    while model.canFetchMore() or model.busy:
        if model.canFetchMore():
            model.fetchMore()
        qtbot.waitUntil(lambda: not model.busy, timeout=WAIT_MS)
    rows = shown(model)
    assert len(rows) > local_rows
    sams = [r for r in rows if r[1] == "Sam Sales"]
    assert len(sams) >= 3 and {r[-1].split(" · ")[0] for r in sams
                               if r[2] == "Viewed PHI"} == {"sams-laptop"}
    assert any(r[-1].startswith("This laptop") for r in rows)
    assert "Showing" not in pane.access_page.count.text()

    # The pane's filters go to the server: Sam only.
    sam_id = sam.session().user_id
    pane.access_page.filter_user.setCurrentIndex(pane.access_page.filter_user.findData(sam_id))
    qtbot.waitUntil(lambda: not model.busy and model.rowCount() > 0
                    and all(e.user_id == sam_id for e in model.rows), timeout=WAIT_MS)

    # PHI reveals by day: counted on the server, Sam's laptop included.
    reveals = pane.reveals_model.rows
    assert any(r.user_id == sam_id and r.reveals == 3 for r in reveals)

    # No PHI anywhere on screen.
    text = json.dumps([shown(model), shown(pane.events_model), pane.source_line.text(),
                       [repr(r) for r in reveals]])
    for value in PHI.values():
        assert value not in text

    # Back to this laptop: its own rows, Export again.
    pane.switch.buttons[LOCAL].click()
    qtbot.waitUntil(lambda: model.remote is None, timeout=WAIT_MS)
    assert model.columns[-1] == "Device / Seq" and pane.export_button.isEnabled()
    assert not pane.source_line.isVisible()
    w.close()


def test_offline_the_organisations_audit_says_so_and_the_local_view_stays(
        ada: Laptop, qtbot: QtBot) -> None:
    deals.create_deal(ada.session(), "Ada's deal", "ACTIVE", "5.00")
    w = window_of(ada, qtbot)
    assert w.sync is not None
    w.sync.pause()
    w.sync.transport = Transport("http://127.0.0.1:9", ada.ws.keyring)  # nothing there
    pane = audit_pane(w)
    local = shown(pane.access_model)
    assert local
    assert pane.switch is not None
    pane.switch.buttons[ORG].click()
    qtbot.waitUntil(lambda: pane.source == LOCAL and pane.source_line.isVisible(),
                    timeout=60_000)
    line = pane.source_line.text()
    assert "cannot be shown" in line and "cannot be reached" in line
    assert "This laptop's audit is shown instead" in line and "Traceback" not in line
    assert pane.switch.source == LOCAL and pane.access_model.remote is None
    assert shown(pane.access_model) == local
    w.sync.transport.close()
    w.close()
