"""Standalone workspaces for the tests of connecting one to the server (issue 12): an
admin, a rep, a deactivated user, deals of both (PHI on some, one deleted) and audit
rows, made through the use cases as a user would; and the operator's setup codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from laptop_support import PASSWORD
from pg_support import ServerDb

from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth, deals, users
from closeplan_desktop.server import adopt as server_adopt
from closeplan_desktop.server.api.routes.adopt import code_hash

REP_PASSWORD = "Marble-Kettle-Violin-77"
OTHER_PASSWORD = "Quartz-Harbour-Pillow-19"


def issue(server_db: ServerDb, code: str) -> None:
    """An operator's one-time setup code, as `closeplan-server setup-code` issues it."""
    server_adopt.issue_code(server_db.pool(max_size=1), code_hash(code), 1)


def standalone(path: Path, domain: str = "adopt.example") -> dict[str, Any]:
    """A standalone workspace with an admin, a rep, a deactivated user, deals of both
    (PHI on some, one deleted) and audit rows (reveals). Returns what it holds."""
    ws = workspace.create(path)
    try:
        tenant_id, admin_id = users.create_tenant(ws, "Adopt Health", domain,
                                                  f"ada@{domain}",
                                                  "Ada", "Admin", PASSWORD)
        admin = auth.sign_in(ws, f"ada@{domain}", PASSWORD)
        rep = users.add_user(admin, f"rex@{domain}", "Rex", "Rep",
                             "USER", REP_PASSWORD)
        old = users.add_user(admin, f"olga@{domain}", "Olga", "Old",
                             "USER", OTHER_PASSWORD)
        users.deactivate(admin, old.id)
        a1 = deals.create_deal(admin, "Northwind renewal", "ACTIVE", "1250.50",
                               {"mrn": "A-1", "notes": {"allergy": ["latex"]}})
        a2 = deals.create_deal(admin, "Gone deal", "CLOSED_LOST", "10")
        deals.delete_deal(admin, a2.id)
        r = auth.sign_in(ws, f"rex@{domain}", REP_PASSWORD)
        r1 = deals.create_deal(r, "Rex's clinic", "ACTIVE", "99.99", {"mrn": "R-7"})
        deals.create_deal(r, "Rex, no PHI", "CLOSED_WON", "5")
        assert deals.reveal_phi(r, r1.id) == {"mrn": "R-7"}
        assert deals.reveal_phi(admin, a1.id)["mrn"] == "A-1"
        return {"admin": f"ada@{domain}", "rep": f"rex@{domain}", "tenant_id": tenant_id,
                "admin_id": admin_id, "rep_id": rep.id, "old_id": old.id,
                "a1": a1.id, "a2": a2.id, "r1": r1.id}
    finally:
        ws.close()
