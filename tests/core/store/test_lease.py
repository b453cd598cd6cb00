"""The offline lease (core.store.lease) with the real keyring: a connected workspace past
`offline_lease_days` without reaching its server refuses sign-in (core and command line)
with a clear message and keeps its outbox; setting the clock back does not bring the
lease back; a standalone workspace has none."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import ADMIN_EMAIL, ADMIN_PASSWORD, Env, run_cli, use_system_policy

from closeplan_desktop.core.domain.clock import utcnow
from closeplan_desktop.core.domain.enums import SecurityEventType as Ev
from closeplan_desktop.core.domain.errors import KeyringError, LeaseExpired, PolicyError
from closeplan_desktop.core.security import policy
from closeplan_desktop.core.security.keyring_store import LEASE_SLOT, KeyringStore
from closeplan_desktop.core.store import db, layout, lease
from closeplan_desktop.core.store.models import Outbox, SecurityEvent
from closeplan_desktop.core.usecases import auth, deals

DAY = timedelta(days=1)


def count(env: Env, model: type, *where: object) -> int:
    with db.read_session(env.ws.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_standalone_workspace_has_no_lease(env: Env) -> None:
    assert lease.load(env.ws.keyring) is None
    lease.check(env.ws.keyring, 1, utcnow() + 1000 * DAY)
    assert auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD).user_id == env.admin.user_id


def test_past_the_lease_sign_in_is_refused_and_the_outbox_kept(env: Env) -> None:
    deals.create_deal(env.admin, "Unsent", "ACTIVE", "10.00")
    unsent = count(env, Outbox)
    assert unsent >= 1
    lease.contact(env.ws.keyring, utcnow() - 15 * DAY)
    with pytest.raises(LeaseExpired) as e:
        auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert str(e.value) == ("This laptop has not reached your organisation's server for "
                            "15 days; connect and sign in online.")
    assert count(env, SecurityEvent, SecurityEvent.type == Ev.OFFLINE_LEASE_EXPIRED.value) == 1
    assert count(env, Outbox) == unsent
    lease.contact(env.ws.keyring)  # the server was reached again
    assert auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD).user_id == env.admin.user_id


def test_within_the_lease_sign_in_works(env: Env) -> None:
    lease.contact(env.ws.keyring, utcnow() - 13 * DAY)
    assert auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD).user_id == env.admin.user_id
    assert env.ws.policy.offline_lease_days == 14
    lease.check(env.ws.keyring, 30, utcnow() + 10 * DAY)  # a longer lease by policy
    with pytest.raises(LeaseExpired):
        lease.check(env.ws.keyring, 14, utcnow() + 10 * DAY)


def test_setting_the_clock_back_does_not_bring_the_lease_back(env: Env) -> None:
    now = utcnow()
    lease.contact(env.ws.keyring, now)
    with pytest.raises(LeaseExpired, match="20 days"):
        lease.check(env.ws.keyring, 14, now + 20 * DAY)  # the laptop saw this time
    fresh = KeyringStore(env.ws.workspace_id)  # as after a restart: read from the keyring
    with pytest.raises(LeaseExpired, match="20 days"):
        lease.check(fresh, 14, now + DAY)  # the clock set back
    with pytest.raises(LeaseExpired):
        auth.sign_in(env.ws, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_the_lease_lives_in_the_keyring_not_in_the_database(env: Env) -> None:
    lease.contact(env.ws.keyring, utcnow() - 20 * DAY)
    raw = KeyringStore(env.ws.workspace_id).get(LEASE_SLOT)
    assert raw is not None and json.loads(raw)["format"] == lease.LEASE_FORMAT
    blob = env.ws.db_path.read_bytes()  # a copy of the file carries no lease to put back
    assert b"closeplan/lease" not in blob


def test_a_damaged_lease_record_is_a_clear_error(env: Env) -> None:
    env.ws.keyring.replace(LEASE_SLOT, b"not json")
    with pytest.raises(KeyringError, match="last server contact is damaged"):
        lease.check(env.ws.keyring, 14)


def test_the_command_line_shows_the_lease_message(cli_ws: Path) -> None:
    keys = KeyringStore(layout.read_meta(cli_ws)["workspace_id"])
    lease.contact(keys, utcnow() - 20 * DAY)
    r = run_cli("audit", "verify", "--workspace", cli_ws, "--as", ADMIN_EMAIL,
                "--password-stdin", stdin=f"{ADMIN_PASSWORD}\n")
    assert r.code != 0
    assert "has not reached your organisation's server for 20 days" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("days", [0, 91, "14"])
def test_the_policy_bounds_offline_lease_days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              days: object) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"offline_lease_days": days}))
    use_system_policy(monkeypatch, path)
    with pytest.raises(PolicyError, match="offline_lease_days"):
        policy.load_policy()
