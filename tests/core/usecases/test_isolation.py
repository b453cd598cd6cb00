"""Tenant isolation, by property: random operations by users of two tenants in one
database never show one tenant's rows to the other, and every attempt by id is logged
as denied. A workspace now holds one tenant (issue 13, finding 2); these two are made as
older versions could, and must still be kept apart."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from support import add_legacy_tenant

from closeplan_desktop.core.domain.errors import NotFoundError
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import audit, auth, deal_list, deals, users
from closeplan_desktop.core.usecases.deal_list import DealQuery
from closeplan_desktop.core.usecases.frame import AuthSession

TENANTS = ("alpha", "beta")
WORDS = ("mri", "pump", "robot", "lab", "bed")


class TwoTenants(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.ws = workspace.create(self.tmp / "ws")
        self.sessions: dict[str, list[AuthSession]] = {}
        self.owned: dict[str, set[str]] = {t: set() for t in TENANTS}
        self.titles: dict[str, set[str]] = {t: set() for t in TENANTS}
        self.denied_expected: dict[str, int] = {t: 0 for t in TENANTS}
        for t in TENANTS:
            add_legacy_tenant(self.ws, f"Tenant {t}", f"{t}.example", f"admin@{t}.example",
                              "Ad", "Min", f"{t} admin password")
            admin = auth.sign_in(self.ws, f"admin@{t}.example", f"{t} admin password")
            users.add_user(admin, f"rep@{t}.example", "Re", "P", "USER", f"{t} rep password")
            rep = auth.sign_in(self.ws, f"rep@{t}.example", f"{t} rep password")
            self.sessions[t] = [admin, rep]

    def teardown(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()

    @rule(tenant=st.sampled_from(TENANTS), who=st.integers(0, 1),
          word=st.sampled_from(WORDS), n=st.integers(0, 10**6))
    def create(self, tenant: str, who: int, word: str, n: int) -> None:
        title = f"{tenant}-{word}-{n}"
        d = deals.create_deal(self.sessions[tenant][who], title, "ACTIVE", str(n),
                              {"mrn": f"{tenant}-secret-{n}"})
        self.owned[tenant].add(d.id)
        self.titles[tenant].add(title)

    @rule(attacker=st.sampled_from(TENANTS), who=st.integers(0, 1), data=st.data(),
          op=st.sampled_from(["get", "reveal", "update", "delete", "restore"]))
    def touch_other_tenants_deal(self, attacker: str, who: int, data: st.DataObject,
                                 op: str) -> None:
        victim = TENANTS[1 - TENANTS.index(attacker)]
        if not self.owned[victim]:
            return
        deal_id = data.draw(st.sampled_from(sorted(self.owned[victim])))
        s = self.sessions[attacker][who]
        call = {"get": lambda: deals.get_deal(s, deal_id),
                "reveal": lambda: deals.reveal_phi(s, deal_id, "curious"),
                "update": lambda: deals.update_deal(s, deal_id, title="mine"),
                "delete": lambda: deals.delete_deal(s, deal_id),
                "restore": lambda: deals.restore_deal(s, deal_id)}[op]
        with pytest.raises(NotFoundError) as exc:
            call()
        assert victim not in str(exc.value)
        if op != "get":  # a refused plain read is a security event, not an access row
            self.denied_expected[attacker] += 1

    @rule(tenant=st.sampled_from(TENANTS), who=st.integers(0, 1),
          word=st.sampled_from((*WORDS, *TENANTS)))
    def search(self, tenant: str, who: int, word: str) -> None:
        s = self.sessions[tenant][who]
        for q in (DealQuery(search=word), DealQuery(), DealQuery(deleted=True)):
            for d in deal_list.list_deals(s, q, limit=1000):
                assert d.id in self.owned[tenant]
                assert d.title.startswith(tenant)

    @rule(tenant=st.sampled_from(TENANTS), who=st.integers(0, 1))
    def users_of_other_tenant_are_missing(self, tenant: str, who: int) -> None:
        other = TENANTS[1 - TENANTS.index(tenant)]
        s = self.sessions[tenant][0]
        with pytest.raises(NotFoundError):
            users.find_user_id(s, f"rep@{other}.example")
        assert all(u.email.endswith(f"@{tenant}.example") for u in users.list_users(s))
        del who

    @invariant()
    def audit_and_exports_stay_in_their_tenant(self) -> None:
        if not hasattr(self, "ws"):
            return
        for t in TENANTS:
            other = TENANTS[1 - TENANTS.index(t)]
            admin = self.sessions[t][0]
            entries, _ = audit.list_access(admin, limit=1000)
            for e in entries:
                assert e.user_email.endswith(f"@{t}.example")
                assert not e.deal_title.startswith(other)
            denied = [e for e in entries if not e.success and e.deal_id in self.owned[other]]
            assert len(denied) == self.denied_expected[t]
            events, _ = audit.list_events(admin, limit=1000)
            assert all(e.user_email is None or e.user_email.endswith(f"@{t}.example")
                       for e in events)
            out = self.tmp / f"{t}.csv"
            audit.export(admin, out, "csv")
            text = out.read_text()
            assert f"{other}-secret" not in text and f"@{other}.example" not in text
            assert not any(title in text for title in self.titles[other])
            with out.open(newline="") as fh:
                assert all(r["kind"] in ("access", "security") for r in csv.DictReader(fh))
            totals = deal_list.pipeline(admin)
            assert sum(p.count for p in totals) == len(self.owned[t])


TwoTenants.TestCase.settings = settings(
    max_examples=12, stateful_step_count=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])
test_two_tenants_never_see_each_other = TwoTenants.TestCase

