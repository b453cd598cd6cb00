"""Hostile input to every endpoint, generated from the published OpenAPI by Schemathesis
(negative cases: wrong types, missing and extra fields, odd encodings; positive cases:
well-formed but random), with no token and with a live admin device token. Every
answer is below 500; every 4xx is the one JSON error shape with a message; and a
refused request writes nothing (no row, no version bump, no session, no batch).

CLOSEPLAN_HOSTILE_EXAMPLES raises the examples per endpoint, mode and token for a
longer campaign (default 12; the run stays bounded by it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_support import Api, serve
from hypothesis import HealthCheck, given, settings
from pg_support import ServerDb, Tenant
from schemathesis.generation import GenerationMode

from closeplan_desktop.server.api.app import create_app
from closeplan_desktop.server.config import ServerConfig

PASSWORD = "correct horse battery staple 42"
EXAMPLES = int(os.environ.get("CLOSEPLAN_HOSTILE_EXAMPLES", "12"))
SCHEMA = schemathesis.openapi.from_dict(create_app(ServerConfig(dsn="dbname=unused")).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _has_input(operation: Any) -> bool:
    return bool(operation.body or operation.query or operation.path_parameters
                or operation.headers)


# Negative cases need something to negate: an endpoint that takes nothing gets positive
# ones only.
CASES = [pytest.param(op, mode, id=f"{op.method.upper()} {op.path} {mode.value}")
         for op in OPERATIONS for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE)
         if mode is GenerationMode.POSITIVE or _has_input(op)]
# Everything a request could write, as one comparable value (every stamped write bumps
# its tenant's sync_version; sessions, batches and the directory are counted).
SNAPSHOT = """
SELECT (SELECT coalesce(sum(sync_version), 0) FROM tenants),
       (SELECT count(*) FROM tenants), (SELECT count(*) FROM email_directory),
       (SELECT count(*) FROM sessions), (SELECT count(*) FROM sessions WHERE revoked_at IS NULL),
       (SELECT count(*) FROM audit_batches), (SELECT count(*) FROM audit_receipts)
"""


class Target:
    def __init__(self, api: Api, db: ServerDb, tenant: Tenant, device: str) -> None:
        self.api, self.db, self.tenant, self.device = api, db, tenant, device

    def token(self) -> str:
        return str(self.api.sign_in(self.tenant.admin_email, PASSWORD, self.device)
                   ["access_token"])

    def snapshot(self) -> tuple[Any, ...]:
        with self.db.superuser() as su:
            row = su.execute(SNAPSHOT).fetchone()
        assert row is not None
        return tuple(row)


@pytest.fixture(scope="module")
def target(server_db: ServerDb) -> Iterator[Target]:
    t = server_db.tenant("Hostile", password=PASSWORD)
    server_db.deal(t, {"patient_name": "Pat Example"})
    device = server_db.device(t, t.admin_id)
    with serve(server_db) as api:
        yield Target(api, server_db, t, device)


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "admin-device"])
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_hostile_input_is_a_clear_4xx_and_writes_nothing(
        target: Target, operation: Any, mode: GenerationMode, with_token: bool) -> None:
    seen: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def attack(case: Any) -> None:
        headers = {"Authorization": f"Bearer {target.token()}"} if with_token else {}
        before = target.snapshot()
        response = case.call(base_url=target.api.live.url, headers=headers, timeout=30)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"}, body
            assert body["error"]["code"] and body["error"]["message"], body
            assert target.snapshot() == before, f"a refused {case.method} {case.path} wrote"

    attack()
    assert seen, "no request was sent"
