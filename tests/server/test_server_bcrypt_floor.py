"""The desktop's bcrypt policy and the server's rule agree (issue 12, leftovers): a hash
a laptop makes for a user it pushes always has a cost the server takes (10 to 14), even
when a policy file asks for less; a cheaper hash is refused by the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import use_system_policy

from closeplan_desktop.core.domain import settings
from closeplan_desktop.core.security import passwords, policy
from closeplan_desktop.server.sync import push_users
from closeplan_desktop.server.sync.outcome import Rejected


def test_the_desktops_bcrypt_bounds_are_the_servers() -> None:
    floor = settings.BCRYPT_COST.floor
    assert floor is not None
    assert floor.limit == min(push_users.BCRYPT_COSTS) == 10
    assert settings.BCRYPT_COST.maximum == max(push_users.BCRYPT_COSTS)
    assert not floor.allows(9) and floor.allows(10)


def test_a_policy_below_the_floor_still_hashes_what_the_server_takes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"bcrypt_cost": 4}))
    use_system_policy(monkeypatch, path, below_floors=False)  # as on a real laptop
    cost = policy.load_policy().bcrypt_cost
    assert cost == 10
    made = passwords.hash_password("Long enough password 1", cost)
    assert passwords.hash_cost(made) == 10
    assert push_users._hash(made) == made  # the server takes it
    cheap = passwords.hash_password("Long enough password 1", 4)
    with pytest.raises(Rejected, match="between 10 and 14"):
        push_users._hash(cheap)
