"""The HTTP API: `create_app(config)` builds the FastAPI application.

Endpoints are plain (synchronous) functions: FastAPI runs them in its thread pool, each
with a pooled psycopg connection for one transaction under the caller's tenant context.
Every router lives in `routes/` and is listed in ROUTERS (one place to see the API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..auth.signin import Throttle
from ..config import ConfigError, ServerConfig
from ..db.pool import Database
from ..devices.registry import wipe_order
from ..keys import signing
from . import errors
from .limits import BodyLimit
from .routes import (
    admin,
    adopt,
    audit,
    auth,
    chain,
    devices,
    health,
    keys,
    setup,
    sync_pull,
    sync_push,
    sync_rows,
)

VERSION = "1"
ROUTERS = (health.router, auth.router, setup.router, adopt.router, chain.router, keys.router,
           devices.router, audit.router, admin.router, sync_push.router,
           sync_pull.router, sync_rows.router)


def create_app(config: ServerConfig, db: Database | None = None) -> FastAPI:
    """The ASGI application for `config` (a given `db` is used and left open; otherwise
    the app opens its pool at start-up and closes it at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = db is None
        app.state.db = db or Database(config.dsn, min_size=config.pool_min,
                                      max_size=config.pool_max)
        sync_pull.start(app, config.dsn)  # this process's LISTEN for long-polling pulls
        try:
            yield
        finally:
            sync_pull.stop(app)
            if own:
                app.state.db.close()

    app = FastAPI(title="ClosePlan server", version=VERSION, lifespan=lifespan,
                  description="The system of record behind ClosePlan Desktop: sign-in, "
                  "devices, sync (push, pull, bootstrap), audit upload and admin views. Every "
                  "request acts inside the caller's tenant, taken from the session.")
    app.state.config = config
    app.state.throttle = Throttle()
    app.state.setup_done = False
    # The key that signs receipts and wipe orders (made on first start); a revoked
    # device's 401 carries its wipe order (deps.session).
    app.state.signing_key = _signing_key(config)
    app.state.wipe_order = wipe_order
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app


def _signing_key(config: ServerConfig) -> signing.SigningKey | None:
    if config.signing_key_file is None:
        return None
    try:
        return signing.load_or_create(config.signing_key_file)
    except (ValueError, OSError) as e:
        raise ConfigError(f"The signing key cannot be used: {e}") from None
