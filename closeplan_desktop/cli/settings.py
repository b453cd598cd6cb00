"""closeplan-admin settings ...: the effective settings (IT's policy over your own over
the defaults), and setting your own. Which settings exist, their units and ranges come
from the settings registry (core/domain/settings.py)."""

from __future__ import annotations

from typing import Any

from ..core.domain.errors import ValidationError
from ..core.domain.settings import SETTINGS, Setting
from ..core.security import policy
from .context import EXIT_OK, Context
from .output import table
from .registry import arg, command, group

SETTINGS_GROUP = group("settings", help="show the settings; change your own")


def _shown(spec: Setting[Any], value: Any) -> str:
    if spec.type is str:
        return value or "-"
    return f"{value} {spec.unit.symbol}" if spec.unit.symbol else str(value)


@command(SETTINGS_GROUP, "list", help="each setting's value, default, range and source",
         acting=False, common=False)
def list_settings(ctx: Context) -> int:
    current = policy.load_policy()
    own = policy.read_policy_file(policy.user_settings_path())
    rows = []
    for key, spec in SETTINGS.items():
        if current.is_enforced(key):
            source = f"enforced by {current.enforced[key]}"
        else:
            source = "your setting" if key in own else "default"
        allowed = f"{spec.minimum}-{spec.maximum}" if spec.type is int else "https:// URL"
        rows.append([key, _shown(spec, getattr(current, key)), _shown(spec, spec.default),
                     allowed, source])
    ctx.print(table(rows, ["SETTING", "VALUE", "DEFAULT", "ALLOWED", "SOURCE"]))
    return EXIT_OK


@command(SETTINGS_GROUP, "set", help="change your own setting on this computer (not one "
         "IT enforces)", acting=False, common=False, args=[
             arg("key", choices=list(SETTINGS), metavar="KEY",
                 help=f"one of: {', '.join(SETTINGS)}"),
             arg("value", metavar="VALUE")])
def set_setting(ctx: Context) -> int:
    key, text = ctx.args.key, ctx.args.value
    spec = SETTINGS[key]
    value: int | str = text
    if spec.type is int:
        try:
            value = int(text)
        except ValueError:
            raise ValidationError(f"'{key}' must be a whole number ({spec.minimum} to "
                                  f"{spec.maximum}).") from None
    policy.save_user_setting(key, value)
    ctx.print(f"{key} is now {_shown(spec, value)} in your settings "
              f"({policy.user_settings_path()}).")
    return EXIT_OK
