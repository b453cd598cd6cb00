"""Policy: settings IT enforces, over the user's own settings, over defaults.

Sources, strongest first:
1. the machine policy: ``/etc/closeplan/policy.json`` on Linux (``CLOSEPLAN_POLICY_FILE``
   names another file, for tests and for other platforms until their native stores land);
2. the user's settings: ``settings.json`` in the user config directory;
3. the defaults of the settings registry (domain/settings).

A key set by the machine policy is *enforced*: the UI shows it locked, with the file
it came from as the reason.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..domain import paths, settings
from ..domain.errors import PolicyError

LINUX_POLICY_FILE = Path("/etc/closeplan/policy.json")


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
    # key -> the file that enforces it
    enforced: dict[str, str] = field(default_factory=dict, compare=False)

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


def machine_policy_path() -> Path | None:
    override = os.environ.get("CLOSEPLAN_POLICY_FILE")
    if override:
        return Path(override)
    if sys.platform.startswith("linux"):
        return LINUX_POLICY_FILE
    return None


def user_settings_path() -> Path:
    return paths.config_dir() / "settings.json"


WINDOWS_POLICY_KEY = r"Software\Policies\ClosePlan\Desktop"


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
    """The effective policy: machine policy over user settings over defaults."""
    values: dict[str, Any] = {}
    values.update(read_policy_file(user_settings_path()))
    enforced: dict[str, str] = {}
    machine = machine_policy_path()
    if machine is not None:
        forced = read_policy_file(machine)
        values.update(forced)
        enforced = {k: str(machine) for k in forced}
    elif sys.platform == "win32":  # pragma: no cover - Windows only
        forced = read_windows_policy()
        values.update(forced)
        enforced = {k: f"HKLM\\{WINDOWS_POLICY_KEY}" for k in forced}
    names = {f.name for f in fields(Policy)}
    return Policy(**{k: v for k, v in values.items() if k in names}, enforced=enforced)


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
    paths.atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return load_policy()
