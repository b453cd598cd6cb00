"""Policy: machine policy over user settings over defaults; clear errors naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import use_system_policy

from closeplan_desktop.core.domain.errors import PolicyError
from closeplan_desktop.core.security import policy


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_layers_and_enforcement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = write(tmp_path / "policy.json", {"idle_lock_minutes": 5})
    use_system_policy(monkeypatch, machine)
    user = policy.user_settings_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    write(user, {"idle_lock_minutes": 30, "phi_autohide_seconds": 60})
    p = policy.load_policy()
    assert p.idle_lock_minutes == 5 and p.phi_autohide_seconds == 60
    assert p.lockout_threshold == 5 and p.bcrypt_cost == 10 and p.password_min_length == 12
    assert p.is_enforced("idle_lock_minutes") and not p.is_enforced("phi_autohide_seconds")
    with pytest.raises(PolicyError, match="enforced by"):
        policy.save_user_setting("idle_lock_minutes", 10)
    assert policy.save_user_setting("clipboard_clear_seconds", 45).clipboard_clear_seconds == 45


@pytest.mark.parametrize("content,fragment", [
    ({"idle_lok_minutes": 5}, "unknown key 'idle_lok_minutes'"),
    ({"idle_lock_minutes": "5"}, "'idle_lock_minutes' must be a whole number"),
    ({"idle_lock_minutes": 0}, "'idle_lock_minutes' must be between"),
    ({"bcrypt_cost": 99}, "'bcrypt_cost' must be between"),
    ({"lockout_threshold": True}, "'lockout_threshold' must be a whole number"),
    ({"sync_server": "http://plain"}, "'sync_server' must be an https"),
    ([1, 2], "JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_policy_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  content: object, fragment: str) -> None:
    use_system_policy(monkeypatch, write(tmp_path / "p.json", content))
    with pytest.raises(PolicyError, match=fragment):
        policy.load_policy()


def test_missing_policy_file_means_defaults(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    use_system_policy(monkeypatch, tmp_path / "absent.json")
    assert policy.load_policy() == policy.Policy()
