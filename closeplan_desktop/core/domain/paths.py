"""Where things live on disk, and the one way to write a file safely."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import platformdirs

from .errors import ValidationError

APP_NAME = "ClosePlan"
APP_AUTHOR = "ClosePlan"


def data_dir() -> Path:
    """The platform's user data directory for ClosePlan (XDG_DATA_HOME on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def default_workspace() -> Path:
    """`CLOSEPLAN_HOME` if set, else the default workspace under the user data directory."""
    env = os.environ.get("CLOSEPLAN_HOME")
    if env:
        return Path(env).expanduser()
    return data_dir() / "workspace"


def demo_workspace() -> Path:
    env = os.environ.get("CLOSEPLAN_HOME")
    if env:
        return Path(env).expanduser()
    return data_dir() / "demo"


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def read_user_file(path: Path, limit: int = 512 * 1024 * 1024) -> bytes:
    """The bytes of a file the user chose to import, or a clear ValidationError."""
    try:
        if path.stat().st_size > limit:
            raise ValidationError(f"{path} is too large (at most {limit // (1024 * 1024)} MiB).")
        return path.read_bytes()
    except IsADirectoryError:
        raise ValidationError(f"{path} is a folder; give a file.") from None
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist.") from None
    except OSError as exc:
        raise ValidationError(f"Cannot read {path} ({exc.strerror}).") from None
