"""A real PostgreSQL 15 cluster for the server's tests.

One cluster per test run (initdb as the `postgres` OS user when we are root, a Unix
socket in its private temp folder, fsync off), migrated once into a template database;
each test module gets its own database copied from the template. The cluster is stopped
with its own pg_ctl at the end. tests/run.sh installs PostgreSQL when it is missing.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, serve
from pg_support import Pg, ServerDb

from closeplan_desktop.server.db import admin, cluster, migrate
from closeplan_desktop.server.keys import escrow

TEMPLATE = "closeplan_template"


@pytest.fixture(scope="session")
def pg() -> Iterator[Pg]:
    if not cluster.available():
        pytest.fail(f"PostgreSQL 15 is not installed (no initdb in {cluster.pg_bin()}): run "
                    "the tests with 'bash tests/run.sh', which installs it.")
    root = Path(tempfile.mkdtemp(prefix="closeplan-pg-"))
    c = cluster.Cluster(root)
    key_file = root / "escrow.key"
    try:
        c.init({**cluster.FAST_SETTINGS, "closeplan.escrow_key_file": f"'{key_file}'"})
        escrow_public = escrow.write_key_file(key_file)
        c.give_to_server_user(key_file)
        c.start()
        try:
            admin.ensure_roles(c.dsn())
            admin.create_database(c.dsn(), TEMPLATE)
            migrate.upgrade(c.dsn(TEMPLATE))
            yield Pg(c, key_file, escrow_public)
        finally:
            c.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server_db(pg: Pg, request: pytest.FixtureRequest) -> Iterator[ServerDb]:
    """A database of this test module's own, migrated (a copy of the template)."""
    stem = re.sub(r"\W", "_", request.module.__name__.rpartition(".")[2])[-40:]
    name = f"{stem}_{secrets.token_hex(3)}"
    admin.create_database(pg.cluster.dsn(), name, template=TEMPLATE)
    db = ServerDb(pg, name)
    try:
        yield db
    finally:
        db.close()
        admin.drop_database(pg.cluster.dsn(), name)


@pytest.fixture(scope="module")
def api(server_db: ServerDb) -> Iterator[Api]:
    """The real API served on 127.0.0.1 over this module's database."""
    with serve(server_db) as live:
        yield live
