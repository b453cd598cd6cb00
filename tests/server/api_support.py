"""The server's HTTP API for end-to-end tests: the real application served by uvicorn on
127.0.0.1 (a free port) in a thread of the test process, over the test module's own
database, and an httpx client that talks to it over TCP."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pg_support import ServerDb

from closeplan_desktop.core.sync.transport import refusal
from closeplan_desktop.server.api.app import create_app
from closeplan_desktop.server.api.routes.sync_pull import end_waits_on_shutdown
from closeplan_desktop.server.config import ServerConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """One uvicorn server on 127.0.0.1, started and stopped by the test."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        end_waits_on_shutdown(self.server, app)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test API server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class Api:
    """A client of a live server, with the sign-in step most tests need."""

    def __init__(self, live: LiveServer, db: ServerDb) -> None:
        self.live, self.db = live, db
        self.http = httpx.Client(base_url=live.url, timeout=30)

    def sign_in(self, email: str, password: str, device_id: str | None = None
                ) -> dict[str, Any]:
        r = self.http.post("/v1/auth/sign-in", json={"email": email, "password": password,
                                                      "device_id": device_id})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self.http.close()


@contextmanager
def serve(db: ServerDb, **settings: Any) -> Iterator[Api]:
    """A live API over `db` (settings: ServerConfig fields) for the length of the block;
    with a signing key of its own, as `closeplan-server dev` has, unless one is given."""
    with tempfile.TemporaryDirectory(prefix="closeplan-keys-") as keys:
        settings.setdefault("signing_key_file", Path(keys) / "signing.key")
        app = create_app(ServerConfig(dsn=db.app_dsn, pool_min=1, pool_max=8, **settings))
        live = LiveServer(app)
        live.start()
        api = Api(live, db)
        try:
            yield api
        finally:
            api.close()
            live.stop()


def poster(api: Api, token: str) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """The `post(path, json) -> dict` the desktop's sync code takes, over `api` with an
    access token: a refusal raises what the sync transport raises for it."""
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = api.http.post(path, json=body, headers=Api.auth(token))
        if r.status_code >= 400:
            raise refusal(r)  # the sync client's own reading of a refusal
        answer: dict[str, Any] = r.json()
        return answer
    return post
