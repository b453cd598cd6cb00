"""Health checks of a workspace, for `closeplan-admin doctor` and support."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ..domain.enums import PhiKeyState
from ..domain.errors import ClosePlanError
from ..domain.settings import SETTINGS
from ..security import keyring_store, policy
from ..security.keyring_store import AUDIT_SLOT, UNLOCK_SLOT, phi_slot
from ..store import audit_log, db, workspace
from ..store.models import KeyGrant, KeySlot, PhiKey


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def policy_checks() -> list[Check]:
    """The effective policy, one line per setting with where its value came from, and
    what was ignored or clamped (issue 13, finding 4): safe, so not a failure, but shown."""
    try:
        current = policy.load_policy()
    except ClosePlanError as exc:
        return [Check("policy", False, str(exc))]
    checks = []
    for key, spec in SETTINGS.items():
        value = getattr(current, key)
        shown = (f"{value} {spec.unit.symbol}".strip() if spec.type is int
                 else (value or "(none)"))
        checks.append(Check(f"policy {key}", True, f"{shown} from {current.sources[key]}"))
    for note in current.notes:
        checks.append(Check("policy note", True, note))
    return checks


def run(path: Path) -> list[Check]:
    """Run every check; never raises for a workspace problem (each becomes a failed check)."""
    checks: list[Check] = policy_checks()
    try:
        keyring_store.KeyringStore("doctor-probe").get("probe")
        checks.append(Check("keyring", True, keyring_store.backend_name()))
    except ClosePlanError as exc:
        checks.append(Check("keyring", False, str(exc)))
        return checks
    loose = workspace.loose_modes(path) if path.is_dir() else []
    try:
        ws = workspace.open_workspace(path)
    except ClosePlanError as exc:
        checks.append(Check("workspace", False, str(exc)))
        return checks
    checks.append(Check("file modes", not loose,
                        "the folder is 0700 and its files 0600" if not loose else
                        "others could read: " + ", ".join(loose) +
                        " (opening the workspace has now tightened them)"))
    with ws:
        checks.append(Check("workspace", True, f"{path} opens with the keyring's database key"))
        checks.append(Check("schema", workspace.schema_revision(ws.engine) ==
                            workspace.SCHEMA_HEAD,
                            f"revision {workspace.schema_revision(ws.engine)} "
                            f"(this app: {workspace.SCHEMA_HEAD})"))
        with ws.engine.connect() as conn:
            problems = [r[0] for r in conn.exec_driver_sql("PRAGMA cipher_integrity_check")]
            checks.append(Check("cipher_integrity_check", not problems,
                                "every page authenticates" if not problems
                                else f"{len(problems)} page(s) fail: {problems[0]}"))
            quick = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            checks.append(Check("integrity_check", quick == ["ok"],
                                "ok" if quick == ["ok"] else quick[0]))
        missing = []
        with db.read_session(ws.engine) as s:
            granted = set(s.scalars(select(KeyGrant.name)))
            for key in s.scalars(select(PhiKey)):
                slot = phi_slot(key.tenant_id, key.version)
                # Wrapped for the users' slots, or (an older workspace) still in the keyring.
                if key.state != PhiKeyState.RETIRED and slot not in granted and \
                        ws.keyring.get(slot) is None:
                    missing.append(f"PHI key v{key.version}")
            if s.scalar(select(KeySlot.user_id).limit(1)) is not None and \
                    ws.keyring.get(UNLOCK_SLOT) is None:
                missing.append("the keyring half of the sign-in slots")
        if ws.keyring.get(AUDIT_SLOT) is None:
            missing.append("audit key")
        checks.append(Check("keys", not missing, "all present" if not missing else
                            "missing: " + ", ".join(missing) +
                            " (import the recovery kit)"))
        try:
            report = audit_log.verify_workspace(ws)
            checks.append(Check("audit chain", report.ok,
                                f"{report.rows_checked:,} rows verified" if report.ok
                                else f"broken at {report.problem}"))
        except ClosePlanError as exc:
            checks.append(Check("audit chain", False, str(exc)))
    return checks
