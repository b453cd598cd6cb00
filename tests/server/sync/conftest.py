"""Fixtures of the sync client's end-to-end tests: the real API on 127.0.0.1 over this
module's database, and laptops that hash passwords as the server accepts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, serve
from pg_support import ServerDb
from support import use_system_policy


@pytest.fixture(autouse=True)
def _server_cost(_policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server takes bcrypt hashes of cost 10 and more only (the suite's own policy
    hashes at 4): the laptops here hash at 10."""
    policy = tmp_path / "policy-cost-10.json"
    policy.write_text('{"bcrypt_cost": 10}')
    use_system_policy(monkeypatch, policy)


@pytest.fixture(scope="module")
def live(server_db: ServerDb) -> Iterator[Api]:
    """The real API served on 127.0.0.1 over this module's database."""
    with serve(server_db) as api:
        yield api
