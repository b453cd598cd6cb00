"""A private PostgreSQL cluster in a folder: made with `initdb`, started and stopped with
its own `pg_ctl`, reached only through a Unix socket in that folder.

The tests start one per run; `closeplan-server dev` will keep one in the user data
folder. PostgreSQL refuses to run as root, so when we are root every server command runs
as the `postgres` OS user (`runuser -u postgres --`) and the folder is handed to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Debian's PostgreSQL 15 (postgresql-15); PG_BIN overrides it.
DEFAULT_BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_OS_USER = "postgres"
SUPERUSER = "postgres"

# For throw-away clusters only: a crash may lose the data, and that is fine there.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class ClusterError(RuntimeError):
    """A cluster that cannot be made, started or stopped; the message says why."""


def pg_bin() -> Path:
    """Where the PostgreSQL 15 server binaries are."""
    return Path(os.environ.get("PG_BIN", str(DEFAULT_BIN)))


def available() -> bool:
    """True when initdb and pg_ctl exist (the scripts install postgresql-15 when not)."""
    return all((pg_bin() / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


@dataclass
class Cluster:
    """A cluster whose data and socket live under `root` (data/, log, the socket)."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def _as_server_user(self) -> list[str]:
        return ["runuser", "-u", SERVER_OS_USER, "--"] if os.geteuid() == 0 else []

    def server_os_user(self) -> str:
        """The OS user the server runs as (it alone may read the escrow key file)."""
        return SERVER_OS_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def superuser(self) -> str:
        """The bootstrap superuser initdb made: named after the OS user that ran it."""
        return self.server_os_user()

    def give_to_server_user(self, path: Path) -> None:
        """Make `path` (a file or folder made here) belong to the server's OS user."""
        if os.geteuid() == 0:
            shutil.chown(path, SERVER_OS_USER, SERVER_OS_USER)

    def check_reachable(self) -> None:
        """Refuse, with a clear message, a folder the server's OS user cannot reach (as
        root, a cluster under /root cannot work: PostgreSQL runs as `postgres`)."""
        if os.geteuid() != 0:
            return
        parent = self.root.parent
        while not parent.exists():
            parent = parent.parent
        r = subprocess.run([*self._as_server_user(), "test", "-x", str(parent)],
                           capture_output=True, check=False, timeout=30)
        if r.returncode != 0:
            raise ClusterError(f"PostgreSQL runs as the '{SERVER_OS_USER}' OS user, which "
                               f"cannot reach {parent}: choose a folder it can (--data).")

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [*self._as_server_user(), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if r.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed ({r.returncode}): "
                               f"{(r.stderr or r.stdout).strip()[-2000:]}")

    def init(self, settings: dict[str, str] | None = None) -> None:
        """initdb into root/data (trust on the socket only: the folder is private),
        with `settings` appended to postgresql.conf."""
        if not available():
            raise ClusterError(f"PostgreSQL 15 is not installed (no initdb in {pg_bin()}); "
                               "install the Debian package postgresql-15.")
        self.check_reachable()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.give_to_server_user(self.root)
        self._run(str(pg_bin() / "initdb"), "-D", str(self.data), "-U", self.superuser(),
                  "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        conf = {"listen_addresses": "''", "unix_socket_directories": f"'{self.socket_dir}'",
                "unix_socket_permissions": "0700", **(settings or {})}
        lines = [f"{key} = {value}" for key, value in conf.items()]
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as f:
            f.write("\n# closeplan\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server with its own pg_ctl (fast: open sessions are ended)."""
        self._run(str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                  "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        """A libpq connection string to this cluster through its socket."""
        return f"host={self.socket_dir} dbname={dbname} user={user or self.superuser()}"
