"""The admin views on a real cluster: admins only, whole tenant, never another tenant,
never a password hash, paged by cursor with bounded pages, filters checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from device_support import (
    Device,
    access_rows,
    add_user,
    approved,
    batch,
    event_rows,
    first_admin_device,
    signing_key,
)
from pg_support import ServerDb

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.audit import views
from closeplan_desktop.server.audit.paging import MAX_LIMIT
from closeplan_desktop.server.audit.upload import upload
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.errors import ApiError


class World:
    """Two tenants; A with users, devices, uploaded logs, a conflict and a rejection."""

    def __init__(self, server_db: ServerDb, app_pool: Database, tmp: Any) -> None:
        self.key = signing_key(tmp)
        self.a, self.b = server_db.tenant("Acme"), server_db.tenant("Bravo")
        self.admin = first_admin_device(app_pool, self.a)
        self.users = [add_user(app_pool, self.a) for _ in range(4)]
        self.d1 = approved(app_pool, self.a, self.admin, self.users[0])
        self.d2 = approved(app_pool, self.a, self.admin, self.users[1])
        self.deal = new_id()
        self.start = datetime.now(UTC) - timedelta(hours=2)
        self._upload(app_pool, self.d1, access_rows(self.a, self.d1, 5, deal_id=self.deal,
                                              start=self.start))
        self._upload(app_pool, self.d2, access_rows(self.a, self.d2, 3, start=self.start
                                              + timedelta(hours=1)))
        self._upload(app_pool, self.d1, event_rows(self.a, self.d1, 2), "security_events")
        b_admin = first_admin_device(app_pool, self.b)
        self.b_device = approved(app_pool, self.b, b_admin, add_user(app_pool, self.b))
        rows = access_rows(self.b, self.b_device, 2)
        with app_pool.transaction(self.b.id) as conn:
            upload(conn, self.b_device.caller(self.b.id), self.key,
                   batch(self.b, self.b_device, "access_logs", rows))
        with app_pool.transaction(self.a.id) as conn:
            for resolved in (None, datetime.now(UTC)):
                conn.execute(
                    "INSERT INTO conflicts (tenant_id, id, table_name, row_id, field, "
                    "server_version, kept_value, losing_value, device_id, mutation_id, "
                    "resolved_at) VALUES (%s, %s, 'deals', %s, 'title', 3, %s, %s, %s, 1, %s)",
                    (self.a.id, new_id(), self.deal, json.dumps("A"), json.dumps("B"),
                     self.d1.id, resolved))
            conn.execute("INSERT INTO rejections (tenant_id, id, device_id, mutation_id, "
                         "table_name, row_id, op, code, message) VALUES (%s, %s, %s, 2, "
                         "'users', %s, 'update', 'last_admin', 'The last admin stays.')",
                         (self.a.id, new_id(), self.d1.id, self.a.admin_id))

    def _upload(self, app_pool: Database, d: Device, rows: list[dict[str, Any]],
                table: str = "access_logs") -> None:
        with app_pool.transaction(self.a.id) as conn:
            upload(conn, d.caller(self.a.id), self.key, batch(self.a, d, table, rows))

    def admin_caller(self) -> Caller:
        return self.admin.caller(self.a.id)


@pytest.fixture(scope="module")
def world(server_db: ServerDb, app_pool: Database,
          tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(server_db, app_pool, tmp_path_factory.mktemp("keys"))


def view(app_pool: Database, w: World, fn: Callable[..., dict[str, Any]],
         caller: Caller | None = None, **kw: Any) -> dict[str, Any]:
    with app_pool.transaction(w.a.id) as conn:
        return fn(conn, caller or w.admin_caller(), **kw)


ALL_VIEWS = (views.users, views.devices, views.open_conflicts, views.rejections,
             views.access_logs, views.security_events, views.reveals_by_day)


def test_a_user_is_refused_every_admin_view(app_pool: Database, world: World) -> None:
    user = world.d1.caller(world.a.id)
    for fn in ALL_VIEWS:
        with pytest.raises(ApiError) as e:
            view(app_pool, world, fn, user)
        assert (e.value.status, e.value.code) == (403, "admin_only"), fn.__name__


def test_users_never_carry_a_password_and_page_by_cursor(app_pool: Database, world: World) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = view(app_pool, world, views.users, limit=2, cursor=cursor)
        pages += 1
        assert len(page["items"]) <= 2
        for item in page["items"]:
            assert "password" not in item and not any("$2a$" in str(v) for v in item.values())
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([world.a.admin_id, *world.users])
    assert len(seen) == len(set(seen)) and pages == 3


def test_access_logs_cover_every_device_and_filter(app_pool: Database, world: World) -> None:
    everything = view(app_pool, world, views.access_logs)["items"]
    assert len(everything) == 8
    assert {r["device_id"] for r in everything} == {world.d1.id, world.d2.id}
    by_device = view(app_pool, world, views.access_logs, device_id=world.d2.id)["items"]
    assert len(by_device) == 3
    by_user = view(app_pool, world, views.access_logs, user_id=world.users[0])["items"]
    assert {r["device_id"] for r in by_user} == {world.d1.id}
    by_deal = view(app_pool, world, views.access_logs, deal_id=world.deal)["items"]
    assert len(by_deal) == 5
    window = view(app_pool, world, views.access_logs, since=world.start + timedelta(minutes=30),
                  until=world.start + timedelta(hours=3))["items"]
    assert {r["device_id"] for r in window} == {world.d2.id}
    times = [r["timestamp"] for r in everything]
    assert times == sorted(times)


def test_security_events_show_server_and_device_events(app_pool: Database, world: World) -> None:
    items = view(app_pool, world, views.security_events)["items"]
    kinds = {r["type"] for r in items}
    assert {"DEVICE_ENROLLED", "DEVICE_APPROVED", "KEY_GRANTED", "LOGIN_SUCCESS"} <= kinds
    from_device = view(app_pool, world, views.security_events, device_id=world.d1.id)["items"]
    assert [r["seq"] for r in from_device] == [1, 2]
    approvals = view(app_pool, world, views.security_events, type_="DEVICE_APPROVED")["items"]
    assert len(approvals) == 2


def test_devices_conflicts_and_rejections(app_pool: Database, world: World) -> None:
    devices = view(app_pool, world, views.devices)["items"]
    assert {d["id"] for d in devices} == {world.admin.id, world.d1.id, world.d2.id}
    conflicts = view(app_pool, world, views.open_conflicts)["items"]
    assert len(conflicts) == 1 and conflicts[0]["losing_value"] == "B"
    rejections = view(app_pool, world, views.rejections, unacknowledged=True)["items"]
    assert [r["code"] for r in rejections] == ["last_admin"]


def test_access_logs_newest_first_page_backwards_and_filter_action_and_outcome(
        app_pool: Database, world: World) -> None:
    """What the desktop's tenant-wide Audit pane asks: newest first, page after page,
    with its action and outcome filters."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = view(app_pool, world, views.access_logs, newest_first=True, limit=3,
                    cursor=cursor)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and len({r["id"] for r in seen}) == 8
    keys = [(r["timestamp"], r["id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    assert len(view(app_pool, world, views.access_logs, action="PHI_ACCESS")["items"]) == 8
    assert view(app_pool, world, views.access_logs, action="DEAL_DELETE")["items"] == []
    assert len(view(app_pool, world, views.access_logs, success=True)["items"]) == 8
    assert view(app_pool, world, views.access_logs, success=False)["items"] == []
    newest = view(app_pool, world, views.security_events, newest_first=True)["items"]
    assert [r["timestamp"] for r in newest] == sorted((r["timestamp"] for r in newest),
                                                      reverse=True)


def test_reveals_by_day_count_every_device_per_user_and_utc_day(
        app_pool: Database, world: World) -> None:
    items = view(app_pool, world, views.reveals_by_day)["items"]
    by_user = {}
    for r in items:
        by_user[r["user_id"]] = by_user.get(r["user_id"], 0) + r["reveals"]
        assert r["refused"] == 0 and r["break_glass"] == 0
        assert datetime.strptime(r["day"], "%Y-%m-%d")
    assert by_user == {world.users[0]: 5, world.users[1]: 3}
    later = view(app_pool, world, views.reveals_by_day,
                 since=datetime.now(UTC) + timedelta(hours=1))
    assert later == {"items": [], "more": False}
    with pytest.raises(ApiError) as e:
        view(app_pool, world, views.reveals_by_day, since=datetime.now(UTC),
             until=datetime.now(UTC) - timedelta(days=1))
    assert e.value.status == 400


def test_another_tenant_is_never_seen(app_pool: Database, world: World) -> None:
    b_ids = {world.b_device.id, world.b.admin_id, world.b_device.user_id}
    for fn in ALL_VIEWS:
        kw = {} if fn is views.reveals_by_day else {"limit": MAX_LIMIT}
        text = json.dumps(view(app_pool, world, fn, **kw))
        assert not any(i in text for i in b_ids), fn.__name__
    # Filtering by another tenant's device or user finds nothing.
    assert view(app_pool, world, views.access_logs, device_id=world.b_device.id)["items"] == []
    assert view(app_pool, world, views.devices, user_id=world.b_device.user_id)["items"] == []


def test_bad_paging_and_filters_are_400(app_pool: Database, world: World) -> None:
    for kw in ({"limit": 0}, {"limit": MAX_LIMIT + 1}, {"cursor": "not a cursor"},
               {"cursor": "W10"}, {"device_id": "x; DROP TABLE users"},
               {"since": datetime.now(UTC), "until": datetime.now(UTC) - timedelta(days=1)},
               {"deal_id": "d" * 101}, {"action": "PHI_ACCESS' OR 1=1 --"}):
        with pytest.raises(ApiError) as e:
            view(app_pool, world, views.access_logs, **kw)
        assert e.value.status == 400, kw
