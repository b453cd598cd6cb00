"""Issue 12's property test: a hypothesis state machine drives two admins' laptops and a
rep's laptop (real SQLCipher workspaces, the real keyring, each its own device) against
one real server on 127.0.0.1 over PostgreSQL. Rules: deal create, edit (title, status,
value, PHI), delete, restore, PHI reveal; an admin's user add, role change, deactivate,
reactivate and password reset; a sync round of one laptop at a random point, or a
long-poll pull; and faults in a round (the server unreachable, the answer lost after the
push was applied, a 5xx before or after it was applied, the laptop dying between push
and acknowledgement).

Checked after each sync round that ends well: the outbox is empty and every refused
change is shown, and this laptop's audit rows are on the server exactly once. At the end
of each run, after every laptop synced twice with no faults: every laptop holds the
server's deals (tombstones too) and users, no acknowledged write was lost (its value is
the server's, or a later arrival's), every audit row is on the server exactly once.

Bounded to run in a few minutes. `CLOSEPLAN_LONG=1` runs a longer campaign;
`CLOSEPLAN_SYNC_SEED=N` replays one (the seed is printed with the result); without a
seed the run is derandomized, so CI is reproducible.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api_support import Api
from fault_support import MODES, TARGETS, Arrivals, Crash, faulty_transport
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from laptop_support import PASSWORD, Laptop, connect_laptop, new_tenant
from pg_support import ServerDb
from sync_checks import (
    check_acknowledged_kept,
    check_an_admin_remains,
    check_audit_once,
    check_converged,
    check_outbox_shown,
)

from closeplan_desktop.core.domain.errors import ClosePlanError, SyncError
from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import deals, users
from closeplan_desktop.core.usecases.frame import AuthSession

LONG = os.environ.get("CLOSEPLAN_LONG") == "1"
EXAMPLES = int(os.environ.get("CLOSEPLAN_SYNC_EXAMPLES") or (150 if LONG else 15))
STEPS = 40 if LONG else 20
SEED = os.environ.get("CLOSEPLAN_SYNC_SEED") or (str(random.randrange(2**32)) if LONG
                                                 else None)
MAX_PASSWORD = "Quartz-Pelican-Harbor-58"
REP_PASSWORD = "Harbor-Mosaic-Falcon-64"
NEW_PASSWORD = "Lantern-Violet-Summit-73"
TITLES = st.sampled_from(["Renewal", "Expansion", "Pilot", "Imaging suite", "Lab upgrade"])
STATUSES = st.sampled_from(["DRAFT", "ACTIVE", "CLOSED_WON", "CLOSED_LOST"])
VALUES = st.sampled_from(["0.00", "10.00", "250.50", "1200.00", "99999.99"])
PHIS = st.one_of(st.none(), st.builds(lambda n: {"mrn": f"MRN-{n}"}, st.integers(1, 99)))
LAPTOP = st.integers(0, 2)
FAULTS = st.sampled_from([None, None, None, *MODES])


class Lap:
    """One laptop of the fleet: its workspace, its user signed in offline, its faults."""

    def __init__(self, laptop: Laptop, arrivals: Arrivals) -> None:
        self.laptop = laptop
        conn = engine.require_connected(laptop.ws)
        laptop.transport.close()
        laptop.transport, self.faults = faulty_transport(conn.url, laptop.ws.keyring,
                                                         laptop.ws.device_id, arrivals)
        arrivals.before[laptop.ws.device_id] = int(
            laptop.rows("SELECT coalesce(max(mid), 0) FROM outbox")[0][0])
        self.session: AuthSession = laptop.session()
        self.user_id = conn.user_id

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.laptop.rows(query, params)


class Fleet:
    """What every run of the machine shares: the live API, its database, a folder."""

    def __init__(self, live: Api, server_db: ServerDb, tmp_path: Path) -> None:
        self.live, self.server_db, self.tmp_path = live, server_db, tmp_path
        self.runs = itertools.count()


class SyncMachine(RuleBasedStateMachine):
    """Three laptops of one new tenant: Ada (admin), Max (admin), Rita (a rep)."""

    fleet: Fleet

    def __init__(self) -> None:
        super().__init__()
        n = next(self.fleet.runs)
        tag = f"prop{n}"
        self.folder = self.fleet.tmp_path / tag
        self.arrivals = Arrivals()
        self.users_made = itertools.count()
        self.tag = tag
        self.laps: list[Lap] = []
        made = new_tenant(self.fleet.server_db, f"Prop {n}", f"ada@{tag}.example")
        self.tenant_id = made.tenant_id
        live = self.fleet.live
        a = connect_laptop(live, self.folder / "a", f"ada@{tag}.example")
        laptops = [a]
        try:
            ada = a.session()
            users.add_user(ada, f"max@{tag}.example", "Max", "Admin", "ADMIN", MAX_PASSWORD)
            users.add_user(ada, f"rita@{tag}.example", "Rita", "Rep", "USER", REP_PASSWORD)
            a.sync()
            laptops.append(connect_laptop(live, self.folder / "b", f"max@{tag}.example",
                                          MAX_PASSWORD, approver=a))
            laptops.append(connect_laptop(live, self.folder / "c", f"rita@{tag}.example",
                                          REP_PASSWORD, approver=a))
            self.laps = [Lap(laptop, self.arrivals) for laptop in laptops]
        except BaseException:
            for laptop in laptops:
                laptop.close()
            raise
        self.owners = {lap.user_id for lap in self.laps}

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _try(work: Callable[[], object]) -> None:
        """A change as the user makes it; the laptop's own refusal (not an admin, the
        last admin, a deleted deal) changes nothing and is fine here."""
        try:
            work()
        except ClosePlanError:
            pass

    @staticmethod
    def _pick(data: st.DataObject, rows: list[tuple[Any, ...]]) -> Any:
        return data.draw(st.sampled_from(sorted(r[0] for r in rows))) if rows else None

    def _deal(self, lap: Lap, data: st.DataObject, where: str) -> str | None:
        return self._pick(data, lap.rows(f"SELECT id FROM deals WHERE {where}"))

    def _other_user(self, lap: Lap, data: st.DataObject, where: str = "1") -> str | None:
        rows = [r for r in lap.rows(f"SELECT id FROM users WHERE {where}")
                if r[0] not in self.owners]
        return self._pick(data, rows)

    # -- deals -----------------------------------------------------------------------

    @rule(i=LAPTOP, title=TITLES, status=STATUSES, value=VALUES, phi=PHIS)
    def create_deal(self, i: int, title: str, status: str, value: str,
                    phi: dict[str, str] | None) -> None:
        lap = self.laps[i]
        self._try(lambda: deals.create_deal(lap.session, title, status, value, phi))

    @rule(i=LAPTOP, data=st.data(), field=st.sampled_from(["title", "status", "value", "phi"]))
    def edit_deal(self, i: int, data: st.DataObject, field: str) -> None:
        lap = self.laps[i]
        deal_id = self._deal(lap, data, "deleted_at IS NULL")
        if deal_id is None:
            return
        strategy = {"title": TITLES, "status": STATUSES, "value": VALUES, "phi": PHIS}[field]
        change = {field: data.draw(strategy)}
        self._try(lambda: deals.update_deal(lap.session, deal_id, **change))

    @rule(i=LAPTOP, data=st.data())
    def delete_deal(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        deal_id = self._deal(lap, data, "deleted_at IS NULL")
        if deal_id is not None:
            self._try(lambda: deals.delete_deal(lap.session, deal_id))

    @rule(i=LAPTOP, data=st.data())
    def restore_deal(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        deal_id = self._deal(lap, data, "deleted_at IS NOT NULL")
        if deal_id is not None:
            self._try(lambda: deals.restore_deal(lap.session, deal_id))

    @rule(i=LAPTOP, data=st.data())
    def reveal_phi(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        deal_id = self._deal(lap, data, "deleted_at IS NULL AND phi IS NOT NULL")
        if deal_id is not None:  # a rep reveals another's deal by break-glass
            self._try(lambda: deals.reveal_phi(lap.session, deal_id, reason="Property test"))

    # -- users (admins) ----------------------------------------------------------------

    @rule(i=LAPTOP, role=st.sampled_from(["USER", "ADMIN"]))
    def add_user(self, i: int, role: str) -> None:
        lap = self.laps[i]
        n = next(self.users_made)
        self._try(lambda: users.add_user(lap.session, f"user{n}@{self.tag}.example",
                                         "Una", f"User{n}", role, PASSWORD))

    @rule(i=LAPTOP, data=st.data(), role=st.sampled_from(["USER", "ADMIN"]))
    def set_role(self, i: int, data: st.DataObject, role: str) -> None:
        lap = self.laps[i]
        user_id = self._pick(data, lap.rows("SELECT id FROM users"))
        self._try(lambda: users.set_role(lap.session, user_id, role))

    @rule(i=LAPTOP, data=st.data())
    def deactivate(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        user_id = self._other_user(lap, data, "deactivated_at IS NULL")
        if user_id is not None:
            self._try(lambda: users.deactivate(lap.session, user_id))

    @rule(i=LAPTOP, data=st.data())
    def reactivate(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        user_id = self._other_user(lap, data, "deactivated_at IS NOT NULL")
        if user_id is not None:
            self._try(lambda: users.reactivate(lap.session, user_id))

    @rule(i=LAPTOP, data=st.data())
    def reset_password(self, i: int, data: st.DataObject) -> None:
        lap = self.laps[i]
        user_id = self._other_user(lap, data, "deactivated_at IS NULL")
        if user_id is not None:
            self._try(lambda: users.reset_password(lap.session, user_id, NEW_PASSWORD))

    # -- sync ----------------------------------------------------------------------------

    @rule(i=LAPTOP, fault=FAULTS, where=st.sampled_from(TARGETS))
    def sync(self, i: int, fault: str | None, where: str) -> None:
        lap = self.laps[i]
        if fault is not None:
            lap.faults.arm(fault, "/" if fault == "down" else where)
        try:
            result = lap.laptop.sync()
        except (Crash, SyncError):
            # Only a fault that lasts the round, or a crash, may end it: a one-off lost
            # answer or 5xx is retried within the round.
            assert fault in ("down", "crash"), f"a round failed with fault {fault}"
            assert lap.faults.struck
            return
        finally:
            lap.faults.disarm()
            lap.faults.struck = 0
        self._after_round(lap, result)

    @rule(i=LAPTOP)
    def sync_clean(self, i: int) -> None:
        """A round with no fault (rounds are as frequent as edits in the app)."""
        self.sync(i, None, "/")

    @rule(i=LAPTOP)
    def long_poll(self, i: int) -> None:
        """A pull without a push, as the window's live updates make one (the laptop's
        own changes wait for the next round)."""
        lap = self.laps[i]
        engine.wait_for_changes(lap.laptop.ws, lap.laptop.transport, 0)

    def _after_round(self, lap: Lap, result: engine.SyncResult) -> None:
        check_outbox_shown(lap.laptop)
        if result.audit_rows is not None:
            check_audit_once(self.fleet.server_db, self.tenant_id, lap.laptop)

    # -- the end -------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.laps:
                self._converge_and_check()
        finally:
            for lap in self.laps:
                lap.laptop.close()

    def _converge_and_check(self) -> None:
        for lap in self.laps:
            lap.faults.disarm()
        for _ in range(2):
            for lap in self.laps:
                self._after_round(lap, lap.laptop.sync())
        laptops = [lap.laptop for lap in self.laps]
        check_converged(self.fleet.server_db, self.tenant_id, laptops)
        check_acknowledged_kept(self.fleet.server_db, self.tenant_id, laptops,
                                self.arrivals)
        check_an_admin_remains(self.fleet.server_db, self.tenant_id)


def _settings() -> settings:
    # CLOSEPLAN_SYNC_SHRINK=0 reports the first failing run as found (each run starts
    # three laptops, so shrinking takes minutes).
    phases = [p for p in Phase if p is not Phase.shrink
              or os.environ.get("CLOSEPLAN_SYNC_SHRINK") != "0"]
    return settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                    derandomize=SEED is None, database=None, print_blob=True,
                    phases=phases, suppress_health_check=list(HealthCheck))


def test_laptops_with_faults_converge_and_lose_nothing(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    print(f"sync property test: seed {SEED or 'derandomized'} "
          f"(replay with CLOSEPLAN_SYNC_SEED=N), {EXAMPLES} runs of {STEPS} steps")
    SyncMachine.fleet = Fleet(live, server_db, tmp_path)
    factory: Any = SyncMachine
    if SEED is not None:
        factory = seed(int(SEED))(lambda: SyncMachine())
    run_state_machine_as_test(factory, settings=_settings())
    assert next(SyncMachine.fleet.runs) > 0  # the machine ran
