"""The installation self-test (``closeplan-desktop --self-test``).

It proves, on the machine where the app is installed, that the parts a real workspace
needs all work together: the OS keyring, SQLCipher, the Alembic migrations, bcrypt,
the PHI crypto and the audit chain. It makes a throwaway workspace in a temporary
folder with the real keyring, creates a tenant and its admin (with a random password),
signs in, adds a deal with PHI, reveals it, verifies the audit chain, then removes the
folder and every keyring entry it made.

No Qt here: the GUI adds its own check (the sign-in window over the throwaway
workspace) through the ``extra`` callback, before the cleanup.
"""

from __future__ import annotations

import secrets
import shutil
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from ..domain.errors import ClosePlanError
from ..security import crypto
from ..security.hardening import redact
from ..security.keyring_store import (
    ANCHOR_SLOT,
    AUDIT_SLOT,
    DB_PENDING_SLOT,
    DB_SLOT,
    DEVICE_ID_SLOT,
    UNLOCK_SLOT,
    KeyringStore,
    phi_slot,
)
from ..store import audit_log, layout, workspace
from ..store.models import PhiKey
from ..usecases import audit, auth, deals, users

TENANT_NAME = "ClosePlan self-test"
ADMIN_EMAIL = "self-test@closeplan-selftest.invalid"
_ALPHABET = string.ascii_letters + string.digits + "-_.!@#%+="


class SelfTestError(ClosePlanError):
    """A step of the self-test failed; the message names the step and the cause."""


def random_password(length: int) -> str:
    """A random password of `length` characters (at least one of each character class)."""
    length = max(length, 8)
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                and any(c.isdigit() for c in value)):
            return value


def _fail(step: str, exc: BaseException) -> SelfTestError:
    if isinstance(exc, ClosePlanError):
        cause = str(exc)
    else:  # a library error: keep its type; redact anything shaped like a secret
        cause = f"{exc.__class__.__name__}: {redact(str(exc))}".rstrip(": ")
    return SelfTestError(f"Self-test failed at '{step}': {cause}")


def run_self_test(extra: Callable[[workspace.Workspace], str] | None = None,
                  report: Callable[[str], None] | None = None,
                  extra_name: str | None = None) -> list[str]:
    """Run the self-test; return the description of each step that passed.

    `extra`, when given, is called with the open throwaway workspace after the core
    steps and before the cleanup; it returns the description of its own step (the GUI
    uses it to build its sign-in window); `extra_name` names that step in an error.
    `report`, when given, is called with each step's description as soon as it passes.

    Raises SelfTestError (a ClosePlanError) naming the failed step. The workspace folder
    and the keyring entries are removed whether the steps pass or fail; a failed cleanup
    is itself an error. (One gap: if creating the tenant fails after its PHI key was
    stored, that one entry stays, since the tenant's id never came back.)
    """
    steps: list[str] = []

    def done(text: str) -> None:
        steps.append(text)
        if report is not None:
            report(text)

    tmp = Path(tempfile.mkdtemp(prefix="closeplan-selftest-"))
    path = tmp / "workspace"
    ws: workspace.Workspace | None = None
    workspace_id: str | None = None
    tenant_id: str | None = None
    phi_versions: set[int] = {1}
    step = "create the workspace"
    failure: SelfTestError | None = None
    try:
        ws = workspace.create(path)
        workspace_id = ws.workspace_id
        done(f"created a throwaway workspace in {path} (keys in the OS keyring, "
             f"schema {workspace.SCHEMA_HEAD})")

        step = "create a tenant and its admin"
        password = random_password(max(ws.policy.password_min_length, 24))
        tenant_id, _ = users.create_tenant(ws, TENANT_NAME, None, ADMIN_EMAIL, "Self",
                                           "Test", password)
        done(f"created a tenant and its admin (bcrypt cost {ws.policy.bcrypt_cost})")

        step = "sign in"
        session = auth.sign_in(ws, ADMIN_EMAIL, password)
        done("signed in as the admin")

        step = "add a deal with PHI"
        phi = {"patient_name": "Self Test", "mrn": f"ST-{secrets.token_hex(4)}"}
        deal = deals.create_deal(session, "Self-test deal", "ACTIVE", "1234.56", phi)
        done("added a deal with PHI (AES-256-GCM)")

        step = "reveal the PHI"
        if deals.reveal_phi(session, deal.id) != phi:
            raise SelfTestError("the revealed PHI differs from what was stored")
        done("revealed the PHI and checked its value (the reveal is logged)")

        step = "verify the audit chain"
        result = audit.verify(session)
        if not result.ok:
            raise SelfTestError(f"the audit chain does not verify ({result.problem})")
        if result.rows_checked < 1:
            raise SelfTestError("the audit chain holds no rows")
        done(f"verified the audit chain ({result.rows_checked} rows)")

        step = "verify the audit chain in worker processes"
        split = audit_log.verify_workspace(ws, parallel_from=2)
        if split.ranges_in_workers < 1:
            raise SelfTestError("worker processes could not be started to check the audit "
                                "chain; long logs are checked in one pass instead (slower)")
        if not split.ok or split.rows_checked < result.rows_checked:
            raise SelfTestError("the audit chain checked in ranges by worker processes "
                                f"does not verify ({split.problem})")
        done("verified it again in ranges, in worker processes (as long logs are)")

        step = "prepare the sync client"
        done(_sync_client_check())

        if extra is not None:
            step = extra_name or "run the extra check"
            done(extra(ws))
    except BaseException as exc:
        failure = _fail(step, exc)
        if not isinstance(exc, Exception):  # KeyboardInterrupt and the like: clean, re-raise
            _cleanup_quietly(ws, tmp, workspace_id, tenant_id, phi_versions)
            raise
    if ws is not None and tenant_id is not None:
        try:  # every PHI key version the tenant has (only v1, unless something rotated)
            with ws.engine.connect() as conn:
                phi_versions |= set(conn.scalars(
                    select(PhiKey.version).where(PhiKey.tenant_id == tenant_id)))
        except Exception:  # noqa: S110 - v1 is still deleted; cleanup checks what is left
            pass
    try:
        cleanup(ws, tmp, workspace_id, tenant_id, phi_versions)
    except Exception as exc:
        if failure is None:
            failure = _fail("clean up", exc)
    if failure is not None:
        raise failure
    done("removed the workspace folder and its keyring entries")
    return steps


def _sync_client_check() -> str:
    """The parts of sync a frozen build could miss: an HPKE key grant opened as a device
    opens one, and the HTTPS client with its certificate store (nothing is sent)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from ..sync.transport import Transport

    device = X25519PrivateKey.generate()
    key = crypto.new_key()
    wrapped = crypto.wrap_key(device.public_key().public_bytes_raw(), "selftest", 1, key)
    if crypto.unwrap_key(device, "selftest", 1, wrapped) != key:
        raise SelfTestError("a PHI key grant did not open to the key it wraps")
    Transport("https://selftest.invalid").close()
    return "opened an HPKE key grant and set up the HTTPS client (sync)"


def cleanup(ws: workspace.Workspace | None, tmp: Path, workspace_id: str | None,
            tenant_id: str | None, phi_versions: set[int]) -> None:
    """Close the workspace, delete its keyring entries and remove `tmp`; check both."""
    if ws is not None:
        ws.close()
    if workspace_id is None:
        # workspace.create failed before it returned: its id, if it got that far, is in
        # workspace.json.
        try:
            workspace_id = layout.read_meta(tmp / "workspace")["workspace_id"]
        except ClosePlanError:
            workspace_id = None
    if workspace_id is not None:
        slots = [DB_SLOT, DB_PENDING_SLOT, AUDIT_SLOT, ANCHOR_SLOT, UNLOCK_SLOT, DEVICE_ID_SLOT]
        if tenant_id is not None:
            slots += [phi_slot(tenant_id, v) for v in sorted(phi_versions)]
        store = KeyringStore(workspace_id)
        for slot in slots:
            store.delete(slot)
        check = KeyringStore(workspace_id)
        left = [slot for slot in slots if check.get(slot) is not None]
        if left:
            raise SelfTestError(f"keyring entries were left behind: {', '.join(left)}")
    shutil.rmtree(tmp, ignore_errors=True)
    if tmp.exists():
        raise SelfTestError(f"the temporary folder {tmp} could not be removed")


def _cleanup_quietly(ws: workspace.Workspace | None, tmp: Path, workspace_id: str | None,
                     tenant_id: str | None, phi_versions: set[int]) -> None:
    try:
        cleanup(ws, tmp, workspace_id, tenant_id, phi_versions)
    except Exception:  # noqa: S110 - best effort while an interrupt propagates
        pass


__all__ = ["SelfTestError", "cleanup", "random_password", "run_self_test"]
