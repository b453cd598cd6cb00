"""`closeplan-server` as an operator runs it: real processes, a real cluster, HTTP on
127.0.0.1. Bad configuration is one line and exit status 2; `dev` makes, migrates,
serves and stops its own cluster; two `serve` processes share one database."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from api_support import Api, free_port
from pg_support import ServerDb

from closeplan_desktop.server.keys import signing

PASSWORD = "correct horse battery staple 42"
# Refused before anything binds: serving off loopback needs TLS.
ANY_ADDRESS = "0.0.0.0"  # noqa: S104


def server_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "closeplan_desktop.server.cli", *args]


KEY_DIR = Path(tempfile.mkdtemp(prefix="closeplan-signing-"))
SIGNING_KEY = str(KEY_DIR / "signing.key")


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "CLOSEPLAN_SIGNING_KEY": SIGNING_KEY}
    return subprocess.run(server_cmd(*args), input=stdin, capture_output=True, text=True,
                          timeout=120, check=False, env={**base, **(env or {})})


def wait_healthy(url: str, proc: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


@contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(server_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.mark.parametrize(("args", "env", "words"), [
    (("serve", "--host", ANY_ADDRESS, "--dsn", "dbname=x"), {}, "needs TLS"),
    (("serve", "--dsn", "dbname=x password=secret123"), {}, "command line"),
    (("serve",), {"CLOSEPLAN_SERVER_DSN": ""}, "No app database"),
    (("serve", "--dsn", "dbname=x"), {"CLOSEPLAN_SIGNING_KEY": ""}, "signing key"),
    (("serve", "--dsn", "host=/nonexistent dbname=x"), {}, "Cannot connect"),
    (("migrate", "--admin-dsn", "host=/nonexistent dbname=x"), {}, "Cannot connect"),
    (("serve", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key", "--host", ANY_ADDRESS,
      "--dsn", "dbname=x"), {}, "TLS file not found"),
])
def test_bad_configuration_is_one_clear_line(args: tuple[str, ...], env: dict[str, str],
                                             words: str) -> None:
    r = run(*args, env=env)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "secret123" not in r.stderr


def test_create_tenant_then_sign_in(api: Api, server_db: ServerDb) -> None:
    env = {"CLOSEPLAN_SERVER_DSN": server_db.app_dsn}
    r = run("create-tenant", "--name", "Lakeside Clinics", "--domain", "lakeside.example",
            "--admin-email", "Ops@Lakeside.example", "--first-name", "Olive",
            "--last-name", "Ops", "--password-stdin", stdin=PASSWORD + "\n", env=env)
    assert r.returncode == 0, r.stderr
    tenant_id = re.search(r"Created tenant (c[0-9a-z]{24})", r.stdout)
    assert tenant_id
    body = api.sign_in("ops@lakeside.example", PASSWORD)
    assert body["tenant_id"] == tenant_id.group(1) and body["role"] == "ADMIN"
    again = run("create-tenant", "--name", "Other", "--admin-email", "ops@lakeside.example",
                "--first-name", "A", "--last-name", "B", stdin=PASSWORD + "\n", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    weak = run("create-tenant", "--name", "Weak", "--admin-email", "weak@weak.example",
               "--first-name", "A", "--last-name", "B", stdin="password1234\n", env=env)
    assert weak.returncode == 2 and "password1234" not in weak.stderr + weak.stdout


def test_two_api_processes_share_one_database(api: Api, server_db: ServerDb) -> None:
    """The API keeps no state between requests: a token from one process works on the
    other, and signing out on one ends it on both."""
    t = server_db.tenant("TwoProcs", password=PASSWORD)
    signing.load_or_create(Path(SIGNING_KEY))  # one server identity for both processes
    env = {"CLOSEPLAN_SERVER_DSN": server_db.app_dsn, "CLOSEPLAN_SIGNING_KEY": SIGNING_KEY}
    ports = [free_port(), free_port()]
    with process("serve", "--port", str(ports[0]), env=env) as a, \
            process("serve", "--port", str(ports[1]), env=env) as b:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        wait_healthy(urls[0], a)
        wait_healthy(urls[1], b)
        signed = httpx.post(f"{urls[0]}/v1/auth/sign-in",
                            json={"email": t.admin_email, "password": PASSWORD}).json()
        headers = Api.auth(signed["access_token"])
        for url in urls * 2:
            assert httpx.get(f"{url}/v1/auth/me", headers=headers).json()["user_id"] == t.admin_id
        assert httpx.post(f"{urls[1]}/v1/auth/sign-out", headers=headers).status_code == 204
        for url in urls:
            assert httpx.get(f"{url}/v1/auth/me", headers=headers).status_code == 401
    assert a.returncode is not None and b.returncode is not None


def test_dev_makes_migrates_serves_and_stops_its_own_cluster() -> None:
    data = Path(tempfile.mkdtemp(prefix="closeplan-dev-"))
    data.chmod(0o755)  # the postgres OS user must reach the cluster inside it
    port = free_port()
    try:
        with process("dev", "--data", str(data), "--port", str(port)) as proc:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc, seconds=120)
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(3)]
            code = re.search(r"First-admin code: (\d{4}-\d{4}-\d{4})", "".join(lines))
            assert code, lines
            made = httpx.post(f"{url}/v1/setup/first-tenant", json={
                "code": code.group(1), "organisation": "Try Clinic", "email": "me@try.example",
                "first_name": "Me", "last_name": "Admin", "password": PASSWORD})
            assert made.status_code == 201, made.text
            assert (data / "cluster" / "data" / "postmaster.pid").exists()
        assert proc.returncode == 0
        assert not (data / "cluster" / "data" / "postmaster.pid").exists(), "cluster left running"
        # A second start reuses the cluster and prints no code: the first tenant exists.
        with process("dev", "--data", str(data), "--port", str(port)) as proc:
            wait_healthy(f"http://127.0.0.1:{port}", proc, seconds=120)
            assert proc.stdout is not None
            first = proc.stdout.readline() + proc.stdout.readline()
            assert "First-admin code" not in first and "Stop it with Ctrl+C" in first
            signed = httpx.post(f"http://127.0.0.1:{port}/v1/auth/sign-in",
                                json={"email": "me@try.example", "password": PASSWORD})
            assert signed.status_code == 200
    finally:
        shutil.rmtree(data, ignore_errors=True)
