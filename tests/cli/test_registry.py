"""closeplan-admin's command registry: every declared command is reachable by its name,
each group's help lists its commands, and the registry refuses a second declaration.
Also the settings commands, which read the settings registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import run_cli

from closeplan_desktop.cli import main, registry
from closeplan_desktop.core.domain.settings import SETTINGS
from closeplan_desktop.core.security import policy


def test_every_module_registers_and_the_top_level_order_is_complete() -> None:
    main.build_parser()
    top = {c.path[0] for c in registry.COMMANDS}
    assert sorted(main.TOP_LEVEL) == sorted(top)
    assert {c.handler.__module__ for c in registry.COMMANDS} == {
        m.__name__ for m in main.COMMAND_MODULES}


# Importing cli.main registered every command, so the lists are complete here.
@pytest.mark.parametrize("name", [c.name for c in registry.COMMANDS])
def test_each_command_is_reachable_by_its_name(name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (cmd,) = (c for c in registry.COMMANDS if c.name == name)
    assert run_cli(*cmd.path, "--help").code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: closeplan-admin {name} [-h]")
    if cmd.acting:
        assert "--as EMAIL" in out and "--password-stdin" in out


@pytest.mark.parametrize("group", sorted(registry.GROUPS))
def test_group_help_lists_its_commands(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(group, "--help").code == 0
    out = capsys.readouterr().out
    cmds = [c for c in registry.COMMANDS if c.path[0] == group]
    assert cmds
    assert re.findall(r"^    (\S+)", out, re.MULTILINE) == [c.path[1] for c in cmds]
    for c in cmds:
        assert c.help in " ".join(out.split())


def test_top_level_help_lists_groups_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--help").code == 0
    out = capsys.readouterr().out
    assert re.findall(r"^    (\S+)", out, re.MULTILINE) == list(main.TOP_LEVEL)
    for name, text in registry.GROUPS.items():
        assert text in out, name


def test_a_second_declaration_is_refused() -> None:
    before = list(registry.COMMANDS)
    with pytest.raises(ValueError, match="twice"):
        registry.command("deals", "list", help="again")(lambda ctx: 0)
    with pytest.raises(ValueError, match="twice"):
        registry.group("deals", help="something else")
    with pytest.raises(ValueError, match="declared group"):
        registry.command("nogroup", "x", help="x")
    with pytest.raises(ValueError, match="declared group"):
        registry.command("deals", help="a group is not a command")
    assert registry.COMMANDS == before


def test_settings_list_shows_each_setting_and_its_source() -> None:
    r = run_cli("settings", "list")
    assert r.code == 0, r.err
    rows = {line.split()[0]: line for line in r.out.splitlines()[2:]}
    assert list(rows) == list(SETTINGS)
    assert "enforced by" in rows["bcrypt_cost"]  # the suite's machine policy sets it
    assert rows["idle_lock_minutes"].split()[1:6] == ["15", "min", "15", "min", "1-240"]
    assert rows["idle_lock_minutes"].rstrip().endswith("default")


def test_settings_set_saves_checks_and_respects_the_policy(
        capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli("settings", "set", "phi_autohide_seconds", "45")
    assert r.code == 0 and "45 s" in r.out, r.err
    assert policy.load_policy().phi_autohide_seconds == 45
    assert "your setting" in run_cli("settings", "list").out
    saved = json.loads(Path(policy.user_settings_path()).read_text())
    assert saved == {"phi_autohide_seconds": 45}
    for args, code, fragment in [
        (["phi_autohide_seconds", "soon"], 1, "whole number (5 to 600)"),
        (["phi_autohide_seconds", "4"], 1, "between 5 and 600"),
        (["sync_server", "http://plain.example.org"], 1, "https://"),
        (["bcrypt_cost", "12"], 1, "enforced by"),
        (["no_such_key", "1"], 2, "invalid choice"),
    ]:
        r = run_cli("settings", "set", *args)
        err = r.err + capsys.readouterr().err  # argparse writes usage errors to sys.stderr
        assert r.code == code and fragment in err, (args, err)
        if code == 1:
            assert len(r.err.strip().splitlines()) == 1
    assert json.loads(Path(policy.user_settings_path()).read_text()) == saved
