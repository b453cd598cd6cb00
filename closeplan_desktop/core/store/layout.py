"""The files of a workspace folder and its public facts (workspace.json).

Nothing here imports SQLAlchemy, SQLCipher or the keyring: the window checks that a
workspace exists, and paints its sign-in window, before the database stack is imported
(docs/benchmarks.md). `workspace` re-exports these names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..domain import paths
from ..domain.errors import NewerWorkspace, NotAWorkspace

DB_FILE = "closeplan.db"
META_FILE = "workspace.json"
LOCK_FILE = ".lock"
FORMAT = "closeplan-workspace"
FORMAT_VERSION = 1
PLAIN_SQLITE_HEADER = b"SQLite format 3\x00"


def exists(path: Path) -> bool:
    return (path / META_FILE).exists()


def is_plain_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == PLAIN_SQLITE_HEADER
    except OSError:
        return False


def read_meta(path: Path) -> dict[str, Any]:
    """The public facts of the workspace at `path`, or NotAWorkspace."""
    meta_path = path / META_FILE
    if not path.exists():
        raise NotAWorkspace(f"There is no workspace at {path}. Create one with "
                            "'closeplan-admin init' or choose another with --workspace.")
    if not path.is_dir():
        raise NotAWorkspace(f"{path} is a file, not a ClosePlan workspace directory.")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or not isinstance(data.get("workspace_id"), str):
            raise ValueError
    except FileNotFoundError:
        raise NotAWorkspace(f"{path} is not a ClosePlan workspace (no {META_FILE}). Create one "
                            "with 'closeplan-admin init' or choose another with "
                            "--workspace.") from None
    except (ValueError, UnicodeDecodeError, AttributeError, OSError):
        raise NotAWorkspace(f"{path} is not a ClosePlan workspace ({META_FILE} is damaged). "
                            "Restore it from a backup of the workspace folder.") from None
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise NewerWorkspace(f"The workspace at {path} was made by a newer ClosePlan Desktop; "
                             "update the app to open it.")
    db_file = path / DB_FILE
    if not db_file.is_file():
        raise NotAWorkspace(f"{path} is not a usable workspace: its database {DB_FILE} is "
                            "missing. Restore the folder from a backup.")
    if is_plain_sqlite(db_file):
        raise NotAWorkspace(f"{db_file} is an unencrypted SQLite file, not a ClosePlan "
                            "workspace database.")
    return dict(data)


def write_meta(path: Path, data: dict[str, Any]) -> None:
    paths.atomic_write_text(path / META_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")
