"""Policy: settings IT enforces, over the user's own settings, over defaults.

Sources, strongest first:
1. the system policy, ALWAYS read: ``/etc/closeplan/policy.json`` on Linux, the managed
   preferences plist on macOS, ``HKLM\\Software\\Policies\\ClosePlan\\Desktop`` on Windows;
2. an added policy file named by ``CLOSEPLAN_POLICY_FILE``: it may only ADD keys the
   system policy does not set, and only if the user cannot write it (issue 13, finding 4:
   a user pointed the variable at a file of their own and switched IT's policy off);
3. the user's settings: ``settings.json`` in the user config directory;
4. the defaults of the settings registry (domain/settings).

Every value, whatever its source, is then clamped to the registry's secure floor. A key
set by a policy (1 or 2) is *enforced*: the UI shows it locked, with its source as the
reason. Each ignored or clamped value is reported once per process (a logged warning, which
closeplan-admin prints) and `doctor` lists the effective policy with each value's source.
"""

from __future__ import annotations

import json
import logging
import os
import plistlib
import stat
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..domain import paths, settings
from ..domain.errors import PolicyError

LINUX_POLICY_FILE = Path("/etc/closeplan/policy.json")
MACOS_POLICY_PLIST = Path("/Library/Managed Preferences/com.closeplan.desktop.plist")
ADDED_POLICY_VARIABLE = "CLOSEPLAN_POLICY_FILE"
WINDOWS_POLICY_KEY = r"Software\Policies\ClosePlan\Desktop"
DEFAULT_SOURCE = "default"

log = logging.getLogger(__name__)


@dataclass
class SystemPolicyOverride:
    """Tests only: where the system policy is read instead of the platform's store.
    Settable from code alone (tests/conftest.py), never from the environment, so a user
    cannot use it. `below_floors` lets the suite's system policy keep a cheap bcrypt cost."""

    path: Path | None = None
    below_floors: bool = False


SYSTEM_POLICY_OVERRIDE = SystemPolicyOverride()


@dataclass(frozen=True)
class Policy:
    """The effective settings, typed; one attribute per key of the settings registry,
    with its default (tests/core/domain/test_settings.py checks that they agree)."""

    idle_lock_minutes: int = settings.IDLE_LOCK_MINUTES.default
    lockout_threshold: int = settings.LOCKOUT_THRESHOLD.default
    lockout_minutes: int = settings.LOCKOUT_MINUTES.default
    password_min_length: int = settings.PASSWORD_MIN_LENGTH.default
    bcrypt_cost: int = settings.BCRYPT_COST.default
    phi_autohide_seconds: int = settings.PHI_AUTOHIDE_SECONDS.default
    clipboard_clear_seconds: int = settings.CLIPBOARD_CLEAR_SECONDS.default
    sync_server: str = settings.SYNC_SERVER.default
    offline_lease_days: int = settings.OFFLINE_LEASE_DAYS.default
    # key -> the policy (file, plist or registry key) that enforces it
    enforced: dict[str, str] = field(default_factory=dict, compare=False)
    # key -> where its value came from (a policy, the user's settings or "default")
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    # what was ignored or clamped, one sentence each
    notes: tuple[str, ...] = field(default=(), compare=False)

    def is_enforced(self, key: str) -> bool:
        return key in self.enforced


def _check_value(key: str, value: Any, source: Path) -> Any:
    spec = settings.SETTINGS[key]
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{source}: '{key}' must be a whole number "
                              f"({spec.minimum} to {spec.maximum}).")
        if not spec.minimum <= value <= spec.maximum:  # type: ignore[operator]
            raise PolicyError(f"{source}: '{key}' must be between {spec.minimum} and "
                              f"{spec.maximum}.")
        return value
    if not isinstance(value, str) or len(value) > settings.TEXT_MAX_LENGTH:
        raise PolicyError(f"{source}: '{key}' must be text.")
    if key == "sync_server" and value and not value.startswith("https://"):
        raise PolicyError(f"{source}: 'sync_server' must be an https:// URL.")
    return value


def read_policy_file(path: Path) -> dict[str, Any]:
    """Read and check one policy or settings file; a missing file is empty."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot be read ({exc.__class__.__name__}); fix its "
                          "permissions or encoding.") from None
    return _parse_policy(raw, path)


def _parse_policy(raw: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise PolicyError(f"{path}: is not valid JSON; fix the file or remove it.") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: must hold a JSON object of settings.")
    known = ", ".join(settings.SETTINGS)
    for key, value in data.items():
        if key not in settings.SETTINGS:
            raise PolicyError(f"{path}: unknown key '{key}' (known keys: {known}).")
        _check_value(key, value, path)
    return data


def _system_policy() -> tuple[dict[str, Any], str]:
    """The system policy's values and a name for where they came from."""
    if SYSTEM_POLICY_OVERRIDE.path is not None:
        path = SYSTEM_POLICY_OVERRIDE.path
        return read_policy_file(path), str(path)
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return read_windows_policy(), f"HKLM\\{WINDOWS_POLICY_KEY}"
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return read_policy_plist(MACOS_POLICY_PLIST), str(MACOS_POLICY_PLIST)
    return read_policy_file(LINUX_POLICY_FILE), str(LINUX_POLICY_FILE)


def read_policy_plist(path: Path) -> dict[str, Any]:
    """Read and check the macOS managed preferences plist; a missing file is empty."""
    try:
        with path.open("rb") as f:
            data = plistlib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        raise PolicyError(f"{path}: cannot be read ({exc.__class__.__name__}); ask IT to "
                          "fix the managed preferences.") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: must hold a dictionary of settings.")
    # A configuration profile adds keys of its own (PayloadUUID and the like): skip them.
    return {k: _check_value(k, v, path) for k, v in data.items() if k in settings.SETTINGS}


def _weakness(st: os.stat_result, what: str, uid: int) -> str | None:
    if st.st_uid == uid and uid != 0:
        return f"its {what} belongs to you, so you could change it"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"its {what} is writable by others"
    return None


def untrusted_reason(path: Path, uid: int | None = None) -> str | None:
    """Why a policy file the user named cannot be trusted, or None when it can: the file
    and its folder must be owned by root or by another user than `uid` (the current user
    by default) and be writable by nobody else (no group or other write)."""
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows: the registry is the policy
        return "on Windows the policy comes from the registry only"
    uid = os.getuid() if uid is None else uid
    real = path.resolve()
    for what, target in (("file", real), ("folder", real.parent)):
        try:
            st = target.stat()
        except OSError:
            return f"its {what} cannot be examined"
        if (why := _weakness(st, what, uid)) is not None:
            return why
    return None


def _read_added(path: Path) -> tuple[str | None, str]:
    """The added policy file's text, or None and why it is not trusted. The file is
    checked through the descriptor it is read from, so it cannot be swapped in between."""
    why = untrusted_reason(path)
    if why is not None:
        return None, why
    real = path.resolve()
    try:
        with real.open("rb") as f:
            st = os.fstat(f.fileno())
            why = _weakness(st, "file", os.getuid()) or \
                ("" if stat.S_ISREG(st.st_mode) else "it is not a regular file")
            if why:
                return None, why
            raw = f.read(1024 * 1024)
    except OSError:
        return None, "it cannot be read"
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "it is not UTF-8 text"


def _added_policy(system: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any], str]:
    """The values of the file CLOSEPLAN_POLICY_FILE names, where they may add to IT's."""
    named = os.environ.get(ADDED_POLICY_VARIABLE)
    if not named:
        return {}, ""
    path = Path(named)
    if not path.exists():
        return {}, ""
    source = f"{path} ({ADDED_POLICY_VARIABLE})"
    raw, reason = _read_added(path)
    if raw is None:
        notes.append(f"{ADDED_POLICY_VARIABLE} names {path}, which is ignored: {reason}. "
                     "Ask IT to place policy files where only administrators can write.")
        return {}, ""
    data = _parse_policy(raw, path)
    overlap = sorted(k for k in data if k in system)
    for key in overlap:
        notes.append(f"{source} may not change '{key}', which the system policy sets; "
                     "the system policy's value is used.")
    return {k: v for k, v in data.items() if k not in system}, source


def _clamp(key: str, value: Any, source: str, notes: list[str]) -> Any:
    """`value`, or its secure floor if it lies on the weaker side."""
    floor = settings.SETTINGS[key].floor
    if floor is None or floor.allows(value):
        return value
    if SYSTEM_POLICY_OVERRIDE.below_floors and source == str(SYSTEM_POLICY_OVERRIDE.path):
        return value
    notes.append(f"'{key}' = {value} from {source} is past its secure floor "
                 f"({floor.describe()}); {floor.limit} is used.")
    return floor.limit


_reported: set[str] = set()


def _report(notes: list[str]) -> None:
    """Log each note once per process (the loader runs at every open and settings view)."""
    for note in notes:
        if note not in _reported:
            _reported.add(note)
            log.warning("policy: %s", note)


def user_settings_path() -> Path:
    """The user's own settings file."""
    return paths.config_dir() / "settings.json"


def read_windows_policy() -> dict[str, Any]:  # pragma: no cover - Windows only
    r"""Values under HKLM\Software\Policies\ClosePlan\Desktop (set by the ADMX templates),
    checked like the policy file."""
    if sys.platform != "win32":
        return {}
    import winreg

    source = Path("HKLM") / WINDOWS_POLICY_KEY
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, WINDOWS_POLICY_KEY)
    except OSError:
        return {}
    data: dict[str, Any] = {}
    with key:
        index = 0
        while True:
            try:
                name, value, _kind = winreg.EnumValue(key, index)
            except OSError:
                break
            index += 1
            if name not in settings.SETTINGS:
                raise PolicyError(f"{source}: unknown value '{name}' (known keys: "
                                  f"{', '.join(settings.SETTINGS)}).")
            data[name] = _check_value(name, value, source)
    return data


def load_policy() -> Policy:
    """The effective policy: the system policy, over an added policy file (new keys
    only), over the user's settings, over defaults; every value clamped to its floor."""
    notes: list[str] = []
    system, system_source = _system_policy()
    added, added_source = _added_policy(system, notes)
    user_path = user_settings_path()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for data, source in ((read_policy_file(user_path), f"your settings ({user_path})"),
                         (added, added_source), (system, system_source)):
        values.update(data)
        sources.update(dict.fromkeys(data, source))
    enforced = {k: s for k, s in sources.items() if k in system or k in added}
    for key in values:
        values[key] = _clamp(key, values[key], sources[key], notes)
    _report(notes)
    names = {f.name for f in fields(Policy)}
    sources = {k: sources.get(k, DEFAULT_SOURCE) for k in settings.SETTINGS}
    return Policy(**{k: v for k, v in values.items() if k in names}, enforced=enforced,
                  sources=sources, notes=tuple(notes))


def save_user_setting(key: str, value: Any) -> Policy:
    """Store one user setting (refused when the machine policy enforces the key)."""
    if key not in settings.SETTINGS:
        raise PolicyError(f"Unknown setting '{key}' (known: {', '.join(settings.SETTINGS)}).")
    current = load_policy()
    if current.is_enforced(key):
        raise PolicyError(f"'{key}' is enforced by {current.enforced[key]}; ask IT to change it.")
    path = user_settings_path()
    data = read_policy_file(path)
    data[key] = _check_value(key, value, path)
    floor = settings.SETTINGS[key].floor
    if floor is not None and not floor.allows(data[key]):
        raise PolicyError(f"'{key}' must be {floor.describe()}: past that it would weaken "
                          "security (the secure floor).")
    paths.atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return load_policy()
