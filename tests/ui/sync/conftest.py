"""The window's sync tests run against the real server over a real PostgreSQL: the
server's fixtures (tests/server/conftest.py) and its laptop helpers are taken from there,
and the laptops' bcrypt cost is one the server takes."""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import use_system_policy

SERVER_TESTS = Path(__file__).resolve().parents[2] / "server"
sys.path[:0] = [str(SERVER_TESTS), str(SERVER_TESTS / "sync")]

_spec = importlib.util.spec_from_file_location("server_conftest", SERVER_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server)
pg = _server.pg
server_db = _server.server_db

from api_support import Api, serve  # noqa: E402  (after the path above)
from laptop_support import Laptop, connect_laptop, new_tenant  # noqa: E402
from pg_support import ServerDb  # noqa: E402
from window_support import MAX_PASSWORD, tag_of  # noqa: E402

from closeplan_desktop.core.usecases import users  # noqa: E402
from closeplan_desktop.ui.sync.service import SyncService  # noqa: E402


@pytest.fixture(scope="module")
def live(server_db: ServerDb) -> Iterator[Api]:
    with serve(server_db) as api:
        yield api


@pytest.fixture(autouse=True)
def _server_cost(_policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server takes bcrypt hashes of cost 10 and more only: the laptops hash at 10."""
    policy = tmp_path / "policy-cost-10.json"
    policy.write_text('{"bcrypt_cost": 10}')
    use_system_policy(monkeypatch, policy)


@pytest.fixture(autouse=True)
def _quick_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short long-polls and debounce, so that a window closes at once in a test."""
    monkeypatch.setattr(SyncService, "POLL_WAIT_S", 1.0)
    monkeypatch.setattr(SyncService, "POLL_RETRY_S", 0.5)
    monkeypatch.setattr(SyncService, "DEBOUNCE_MS", 200)


@pytest.fixture
def ada(live: Api, server_db: ServerDb, tmp_path: Path) -> Iterator[Laptop]:
    """The first admin's laptop of a tenant of this test's own (the tenant's first
    device: approved at once)."""
    tag = f"t{secrets.token_hex(4)}"
    new_tenant(server_db, f"T {tag}", f"ada@{tag}.example")
    laptop = connect_laptop(live, tmp_path / "ada", f"ada@{tag}.example")
    yield laptop
    laptop.close()


@pytest.fixture
def max_(ada: Laptop, live: Api, tmp_path: Path) -> Iterator[Laptop]:
    """A second admin's laptop of Ada's tenant, approved by Ada's."""
    users.add_user(ada.session(), f"max@{tag_of(ada)}", "Max", "Admin", "ADMIN",
                   MAX_PASSWORD)
    ada.sync()
    laptop = connect_laptop(live, tmp_path / "max", f"max@{tag_of(ada)}", MAX_PASSWORD,
                            approver=ada)
    yield laptop
    laptop.close()
