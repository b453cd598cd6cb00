"""A sync round carries the audit and the server's verdict on the device (issue 12): the
laptop's log rows reach the server exactly once, signed with the device key that only a
signed-in user unlocks; a revoked laptop's round carries out the signed wipe order; each
round that reaches the server renews the offline lease."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api
from fault_support import Arrivals, faulty_transport
from laptop_support import Laptop, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb
from sync_checks import check_audit_once

from closeplan_desktop.core.domain.errors import DeviceWiped
from closeplan_desktop.core.store import lease
from closeplan_desktop.core.sync import devices, engine
from closeplan_desktop.core.usecases import auth, deals

LOCAL_LOGS = "SELECT count(*) FROM access_logs WHERE device_id = ?"
SERVER_LOGS = ("SELECT count(*), count(*) FILTER (WHERE action::text = 'PHI_ACCESS') "
               "FROM access_logs WHERE tenant_id = %s AND device_id = %s")


def _first(live: Api, server_db: ServerDb, tmp_path: Path, tag: str) -> tuple[str, Laptop]:
    made = new_tenant(server_db, f"Audit {tag}", f"ada@{tag}.example")
    return made.tenant_id, connect_laptop(live, tmp_path / tag, f"ada@{tag}.example")


def test_a_round_uploads_the_audit_once_and_only_when_signed_in(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    tenant_id, a = _first(live, server_db, tmp_path, "upload")
    try:
        admin = a.session()
        made = deals.create_deal(admin, "Audited deal", "ACTIVE", "10", {"mrn": "MRN-1"})
        assert deals.reveal_phi(admin, made.id) == {"mrn": "MRN-1"}
        first = a.sync()
        assert first.audit_rows
        device = a.ws.device_id
        local = a.rows(LOCAL_LOGS, (device,))[0][0]
        assert server_rows(server_db, tenant_id, SERVER_LOGS, (device,)) == [(local, 1)]
        assert a.sync().audit_rows == 0  # nothing twice
        assert server_rows(server_db, tenant_id, SERVER_LOGS, (device,)) == [(local, 1)]

        auth.sign_out(admin)  # the device key leaves memory: nothing can sign a batch
        assert a.sync().audit_rows is None
        assert server_rows(server_db, tenant_id, SERVER_LOGS, (device,))[0][0] == local
        assert lease.load(a.ws.keyring) is not None  # a round that reached the server
    finally:
        a.close()


def test_a_revoked_laptops_next_round_wipes_it(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    _tenant_id, a = _first(live, server_db, tmp_path, "revoke")
    try:
        a.session()
        b = connect_laptop(live, tmp_path / "revoke-b", "ada@revoke.example", approver=a)
        devices.revoke(a.transport, b.ws.device_id, "Laptop lost")
        with pytest.raises(DeviceWiped, match="revoked this laptop"):
            b.sync()
        assert not (tmp_path / "revoke-b").exists()
        b.transport.close()
    finally:
        a.close()


def test_an_audit_answer_lost_once_is_sent_again_in_the_same_round(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    # Found by the property test: push and pull retried a dropped answer, the audit
    # upload ended the round.
    tenant_id, a = _first(live, server_db, tmp_path, "lostaudit")
    try:
        admin = a.session()
        made = deals.create_deal(admin, "Audited deal", "ACTIVE", "10", {"mrn": "MRN-2"})
        deals.reveal_phi(admin, made.id)
        url = engine.require_connected(a.ws).url
        a.transport.close()
        a.transport, faults = faulty_transport(url, a.ws.keyring, a.ws.device_id, Arrivals())
        faults.arm("lost_answer", "/v1/audit/")
        result = a.sync()  # the batch reached the server; its receipt comes on the retry
        assert faults.struck == 1 and result.audit_rows
        check_audit_once(server_db, tenant_id, a)
        assert a.sync().audit_rows == 0
    finally:
        a.close()
