"""The Keys dialog's "Rotate PHI key" on a connected laptop: done with the server (the
new version reaches every device at its sync; no deal is re-encrypted), and, when the
server cannot be reached, a clear message that it needs the server and nothing changed.
Real Qt widgets (offscreen), a real laptop and the real server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from laptop_support import Laptop, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb
from pytestqt.qtbot import QtBot
from support import FakeDialogs

from closeplan_desktop.core.store import db
from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.keys.dialog import KeysDialog
from closeplan_desktop.ui.signed_in import SignedIn

WAIT_MS = 60_000
VERSIONS = "SELECT version, state FROM phi_keys ORDER BY version"


@pytest.fixture
def ada(live: Api, server_db: ServerDb, tmp_path: Path) -> Iterator[Laptop]:
    tag = f"k{secrets.token_hex(4)}"
    new_tenant(server_db, f"K {tag}", f"ada@{tag}.example")
    laptop = connect_laptop(live, tmp_path / "ada", f"ada@{tag}.example")
    yield laptop
    laptop.close()


def dialog_of(laptop: Laptop, qtbot: QtBot) -> KeysDialog:
    dialog = KeysDialog(SignedIn(laptop.ws, laptop.session()))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_rotate_on_a_connected_laptop_goes_through_the_server(
        ada: Laptop, server_db: ServerDb, qtbot: QtBot, dialogs: FakeDialogs) -> None:
    d = deals.create_deal(ada.session(), "Renewal", "ACTIVE", "10", {"mrn": "Q-1"})
    ada.sync()
    dialog = dialog_of(ada, qtbot)
    op = dialog.start_rotate_phi()
    with qtbot.waitSignal(op.finished, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: "with the server" in dialog.keys_notice.text(), timeout=WAIT_MS)
    assert dialogs.errors == []
    assert "v2" in dialog.keys_notice.text()
    assert ada.rows(VERSIONS) == [(1, "DECRYPT_ONLY"), (2, "ACTIVE")]
    ((tenant_id,),) = ada.rows("SELECT tenant_id FROM sync_connection")
    assert server_rows(server_db, str(tenant_id), "SELECT version, state::text FROM "
                       "phi_keys WHERE tenant_id = %s ORDER BY version") == [
        (1, "DECRYPT_ONLY"), (2, "ACTIVE")]
    assert dialog.phi_table.rowCount() == 2
    assert deals.reveal_phi(dialog.signed_in.core, d.id) == {"mrn": "Q-1"}


def test_rotate_offline_says_it_needs_the_server(ada: Laptop, qtbot: QtBot,
                                                 dialogs: FakeDialogs) -> None:
    with db.write_session(ada.ws.engine) as s:  # the server is gone: nothing answers
        s.connection().exec_driver_sql("UPDATE sync_connection SET url = "
                                       "'http://127.0.0.1:9'")
    dialog = dialog_of(ada, qtbot)
    op = dialog.start_rotate_phi()
    with qtbot.waitSignal(op.finished, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: bool(dialogs.errors), timeout=WAIT_MS)
    ((_title, text),) = dialogs.errors
    assert "cannot be reached now" in text and "Nothing was changed" in text
    assert "cannot be reached now" in dialog.keys_notice.text()
    assert ada.rows(VERSIONS) == [(1, "ACTIVE")]
