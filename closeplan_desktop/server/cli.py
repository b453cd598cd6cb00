"""`closeplan-server`: try the server locally, or run it in production.

- `dev`: a private PostgreSQL cluster in the user data folder (made when missing),
  migrated, the API on 127.0.0.1, and a one-time code for the first admin.
- `migrate`: bring a database to the current schema (a superuser DSN).
- `serve`: the API for a database (the app role's DSN), with TLS off loopback.
- `create-tenant`: a tenant and its first admin (the password is prompted, or read from
  stdin, never taken from the command line).
- `setup-code`: a one-time code with which an admin creates a tenant from their existing
  standalone workspace (`closeplan-admin connect` on it): the operator's authority,
  handed over once, without typing the admin's details or password.

Connection strings with a password are taken from the environment
(CLOSEPLAN_SERVER_DSN, CLOSEPLAN_ADMIN_DSN) or libpq's password file, never from argv,
where every user of the machine could read them. Bad configuration gets one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import ipaddress
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg

from ..core.domain import paths
from .config import ConfigError, ServerConfig
from .db import admin, cluster, migrate
from .errors import ApiError
from .keys import escrow

DEV_PORT = 8765
DEV_DATABASE = "closeplan"


class CommandError(Exception):
    """A problem the user can fix; printed as one line."""


def _dsn(given: str | None, env: str, what: str) -> str:
    dsn = given or os.environ.get(env, "")
    if not dsn:
        raise CommandError(f"No {what} database given: pass --dsn or set {env}.")
    if given and "password" in given.lower():
        raise CommandError(f"Do not put a database password on the command line (every user "
                           f"of this machine can read it): set {env} or use a libpq "
                           "password file (PGPASSFILE).")
    return dsn


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise CommandError(f"Port {port} on {host} is in use: pass --port with a free "
                               "one.") from None


def _unreachable(e: psycopg.OperationalError) -> CommandError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return CommandError(f"Cannot connect to the database: {first}")


def _check_database(dsn: str) -> None:
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            row = conn.execute("SELECT to_regprocedure('next_sync_version(text)')").fetchone()
    except psycopg.OperationalError as e:
        raise _unreachable(e) from None
    if not row or row[0] is None:
        raise CommandError("The database has no current ClosePlan schema: run "
                           "'closeplan-server migrate' first.")


def _serve(config: ServerConfig, host: str, port: int, cert: str | None = None,
           key: str | None = None) -> None:
    import uvicorn  # only the commands that serve need it loaded

    from .api.app import create_app
    from .api.routes.sync_pull import end_waits_on_shutdown

    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, ssl_certfile=cert,
                                           ssl_keyfile=key, log_level="info",
                                           server_header=False))
    end_waits_on_shutdown(server, app)  # a long-polling pull must not hold up a stop
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl+C is a clean stop
        server.run()


def cmd_serve(args: argparse.Namespace) -> None:
    dsn = _dsn(args.dsn, "CLOSEPLAN_SERVER_DSN", "app")
    if not _loopback(args.host) and not (args.tls_cert and args.tls_key):
        raise CommandError(f"Serving on {args.host} needs TLS: pass --tls-cert and --tls-key "
                           "(plain HTTP is only for 127.0.0.1).")
    for f in (args.tls_cert, args.tls_key):
        if f and not Path(f).is_file():
            raise CommandError(f"TLS file not found: {f}")
    signing_key = args.signing_key or os.environ.get("CLOSEPLAN_SIGNING_KEY")
    if not signing_key:
        # Without it no receipt, wipe order or enrolment could be signed: refuse to start
        # rather than answer 503 to the first device that needs one.
        raise CommandError("The server needs its signing key: pass --signing-key FILE or set "
                           "CLOSEPLAN_SIGNING_KEY (the file is made on first start; keep it "
                           "out of the database and back it up).")
    config = ServerConfig(dsn=dsn, pool_max=args.pool_size,
                          signing_key_file=Path(signing_key) if signing_key else None)
    _check_database(dsn)
    _port_free(args.host, args.port)
    _serve(config, args.host, args.port, args.tls_cert, args.tls_key)


def cmd_migrate(args: argparse.Namespace) -> None:
    dsn = _dsn(args.admin_dsn, "CLOSEPLAN_ADMIN_DSN", "superuser")
    try:
        admin.ensure_roles(dsn)
        migrate.upgrade(dsn)
    except psycopg.OperationalError as e:
        raise _unreachable(e) from None
    print(f"The database is at schema {migrate.current(dsn)}.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password for the first admin: ")
    if getpass.getpass("Again: ") != first:
        raise CommandError("The two passwords differ; nothing was created.")
    return first


def cmd_create_tenant(args: argparse.Namespace) -> None:
    from .db.pool import Database
    from .tenants import create_tenant

    dsn = _dsn(args.dsn, "CLOSEPLAN_SERVER_DSN", "app")
    _check_database(dsn)
    password = _read_password(args.password_stdin)
    with Database(dsn, min_size=1, max_size=1) as db:
        made = create_tenant(db, args.name, args.domain, args.admin_email, args.first_name,
                             args.last_name, password)
    print(f"Created tenant {made.tenant_id} with admin {made.admin_id} "
          f"({args.admin_email.strip().lower()}).")


def cmd_setup_code(args: argparse.Namespace) -> None:
    from .adopt import issue_code
    from .api.routes.adopt import code_hash
    from .db.pool import Database

    if not 1 <= args.hours <= 24 * 14:
        raise CommandError("--hours must be between 1 and 336 (14 days).")
    dsn = _dsn(args.dsn, "CLOSEPLAN_SERVER_DSN", "app")
    _check_database(dsn)
    code = "-".join(f"{secrets.randbelow(10**4):04d}" for _ in range(4))
    with Database(dsn, min_size=1, max_size=1) as db:
        expires = issue_code(db, code_hash(code), args.hours)
    print(f"Setup code: {code}  (creates one organisation from an admin's workspace, once; "
          f"valid until {expires:%Y-%m-%d %H:%M %Z})")


def dev_folder() -> Path:
    """Where `dev` keeps its cluster: the user data folder, or for root (whose home the
    `postgres` OS user cannot enter) a system folder."""
    if os.geteuid() == 0:
        return Path("/var/lib/closeplan-server")
    return paths.data_dir() / "server"


def cmd_dev(args: argparse.Namespace) -> None:
    root = Path(args.data) if args.data else dev_folder()
    pg = cluster.Cluster(root / "cluster")
    escrow_file = pg.root / "escrow.key"
    if not pg.data.exists():
        print(f"Creating a PostgreSQL cluster in {pg.root} ...", flush=True)
        pg.init({"closeplan.escrow_key_file": f"'{escrow_file}'"})
        escrow.write_key_file(escrow_file)
        pg.give_to_server_user(escrow_file)
    _port_free("127.0.0.1", args.port)
    started = not pg.running()
    if started:
        pg.start()
    try:
        admin.ensure_roles(pg.dsn())
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DEV_DATABASE,)).fetchone()
        if not exists:
            admin.create_database(pg.dsn(), DEV_DATABASE)
        migrate.upgrade(pg.dsn(DEV_DATABASE))
        with psycopg.connect(pg.dsn(DEV_DATABASE)) as conn:
            tenants = conn.execute("SELECT count(*) FROM tenants").fetchone()
        code = None
        if not tenants or tenants[0] == 0:
            code = "-".join(f"{secrets.randbelow(10**4):04d}" for _ in range(3))
        config = ServerConfig(dsn=pg.dsn(DEV_DATABASE, user=admin.APP_ROLE), pool_max=8,
                              signing_key_file=root / "signing.key",
                              setup_code_hash=hashlib.sha256(code.encode()).digest()
                              if code else None)
        url = f"http://127.0.0.1:{args.port}"
        print(f"ClosePlan server: {url}  (API documentation: {url}/docs)")
        if code:
            print(f"First-admin code: {code}  (creates the first organisation and its admin "
                  f"once: POST {url}/v1/setup/first-tenant)")
        print("Stop it with Ctrl+C.", flush=True)
        _serve(config, "127.0.0.1", args.port)
    finally:
        if started:
            pg.stop()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="closeplan-server", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = sub.add_parser("dev", help="run a local server to try ClosePlan (127.0.0.1)")
    dev.add_argument("--data", help="folder for the cluster (default: the user data folder)")
    dev.add_argument("--port", type=int, default=DEV_PORT)
    dev.set_defaults(run=cmd_dev)
    mig = sub.add_parser("migrate", help="migrate a database to the current schema")
    mig.add_argument("--admin-dsn", help="a superuser connection string (or "
                     "CLOSEPLAN_ADMIN_DSN)")
    mig.set_defaults(run=cmd_migrate)
    srv = sub.add_parser("serve", help="serve the API for a migrated database")
    srv.add_argument("--dsn", help="the closeplan_app role's connection string (or "
                     "CLOSEPLAN_SERVER_DSN)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8443)
    srv.add_argument("--tls-cert")
    srv.add_argument("--tls-key")
    srv.add_argument("--pool-size", type=int, default=16)
    srv.add_argument("--signing-key", help="the server's Ed25519 key file for receipts and "
                     "wipe orders, made there (mode 0600) when missing (or "
                     "CLOSEPLAN_SIGNING_KEY)")
    srv.set_defaults(run=cmd_serve)
    ct = sub.add_parser("create-tenant", help="create a tenant and its first admin")
    ct.add_argument("--dsn", help="the closeplan_app role's connection string (or "
                    "CLOSEPLAN_SERVER_DSN)")
    ct.add_argument("--name", required=True, help="the organisation's name")
    ct.add_argument("--domain")
    ct.add_argument("--admin-email", required=True)
    ct.add_argument("--first-name", required=True)
    ct.add_argument("--last-name", required=True)
    ct.add_argument("--password-stdin", action="store_true",
                    help="read the admin's password from the first line of stdin")
    ct.set_defaults(run=cmd_create_tenant)
    sc = sub.add_parser("setup-code", help="issue a one-time code that creates a tenant from "
                        "an admin's existing workspace")
    sc.add_argument("--dsn", help="the closeplan_app role's connection string (or "
                    "CLOSEPLAN_SERVER_DSN)")
    sc.add_argument("--hours", type=int, default=72, help="how long the code works "
                    "(default 72)")
    sc.set_defaults(run=cmd_setup_code)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The `closeplan-server` entry point; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        return 130
    except (CommandError, ConfigError, cluster.ClusterError, migrate.MigrationError) as e:
        print(f"closeplan-server: {e}", file=sys.stderr)
        return 2
    except ApiError as e:
        print(f"closeplan-server: {e.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
