"""The settings registry: its declarations are consistent, and the typed `Policy` has
exactly its keys, types and defaults."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import get_type_hints

import pytest

from closeplan_desktop.core.domain import settings
from closeplan_desktop.core.domain.settings import SETTINGS, TEXT_MAX_LENGTH, Setting
from closeplan_desktop.core.security.policy import Policy


def test_policy_fields_are_the_registry() -> None:
    hints = get_type_hints(Policy)
    names = [f.name for f in fields(Policy) if f.name not in ("enforced", "sources", "notes")]
    assert names == list(SETTINGS)
    defaults = Policy()
    for key, spec in SETTINGS.items():
        assert hints[key] is spec.type, key
        assert getattr(defaults, key) == spec.default, key


def test_each_setting_is_consistent() -> None:
    for key, spec in SETTINGS.items():
        assert spec.key == key and re.fullmatch(r"[a-z]+(_[a-z]+)*", key)
        assert isinstance(spec.default, spec.type), key
        assert spec.label and not spec.label.endswith("."), key
        assert spec.help.endswith("."), key
        assert spec.unit.name, key
        if spec.type is int:
            assert spec.minimum is not None and spec.maximum is not None, key
            assert spec.minimum <= spec.default <= spec.maximum, key
        else:
            assert spec.type is str
            assert spec.minimum is spec.maximum is spec.floor is None, key
            assert not spec.unit.symbol and len(spec.default) <= TEXT_MAX_LENGTH


def test_floors_lie_in_the_range_and_the_defaults_are_secure() -> None:
    for key, spec in SETTINGS.items():
        if spec.floor is None:
            continue
        assert spec.type is int
        assert spec.minimum is not None and spec.maximum is not None
        assert spec.minimum <= spec.floor.limit <= spec.maximum, key
        assert spec.floor.allows(spec.default), key
        # The floor has a weaker side inside the range, or it would say nothing.
        weakest = spec.minimum if spec.floor.stronger == "higher" else spec.maximum
        assert not spec.floor.allows(weakest), key


@pytest.mark.parametrize("spec,text", [
    (settings.BCRYPT_COST, "at least 10"),
    (settings.LOCKOUT_THRESHOLD, "at most 10"),
    (settings.PASSWORD_MIN_LENGTH, "at least 12"),
    (settings.IDLE_LOCK_MINUTES, "at most 15"),
])
def test_the_named_floors(spec: Setting[int], text: str) -> None:
    assert spec.floor is not None and spec.floor.describe() == text


def test_floor_sides() -> None:
    assert settings.at_least(10).allows(10) and settings.at_least(10).allows(11)
    assert not settings.at_least(10).allows(9)
    assert settings.at_most(15).allows(15) and not settings.at_most(15).allows(16)


def test_units_are_declared_not_guessed() -> None:
    assert settings.IDLE_LOCK_MINUTES.unit is settings.MINUTES
    assert settings.PHI_AUTOHIDE_SECONDS.unit is settings.SECONDS
    assert settings.BCRYPT_COST.unit.symbol == ""
