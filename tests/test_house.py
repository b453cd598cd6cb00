"""The house rules that a reviewer would otherwise check by eye: ruff is clean, mypy is
clean on core, the command line and the server, and no module of core or the server
grows past about 500 lines without its docstring saying why."""

from __future__ import annotations

import ast
import subprocess
import sys

from support import ROOT

MAX_LINES = 520  # "about 500"
# A module over the limit must say why in its docstring, with this word.
REASON_MARK = "long because"


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_core_and_the_command_line() -> None:
    # The packages it checks are named in pyproject.toml ([tool.mypy]).
    result = _tool("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_no_module_is_long_without_a_reason() -> None:
    long = []
    for folder in ("closeplan_desktop/core", "closeplan_desktop/ui",
                   "closeplan_desktop/server"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines <= MAX_LINES or "migrations" in path.parts:
                continue
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            if REASON_MARK not in doc:
                long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, ("split these, or say in the docstring why they are "
                      f"'{REASON_MARK} ...':\n" + "\n".join(long))
