"""House rules of the window's kit, checked in the source: one error colour, one way to
open a dialog, one unexpected-error text."""

from __future__ import annotations

import re

from support import ROOT

from closeplan_desktop.ui.kit import palette

UI = ROOT / "closeplan_desktop" / "ui"
APP = ROOT / "closeplan_desktop" / "app.py"


def sources(*skip: str) -> dict[str, str]:
    found = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
             for p in [*sorted(UI.rglob("*.py")), APP]}
    return {name: text for name, text in found.items() if not name.endswith(skip)}


def test_no_module_hard_codes_the_error_colour() -> None:
    colours = {c.lower() for pair in (palette._ERROR, ("#b91c1c", "#b3261e", "#ef8a80"))
               for c in pair}
    hits = [f"{name}: {c}" for name, text in sources("kit/palette.py").items()
            for c in colours if c in text.lower()]
    assert hits == []


def test_every_dialog_goes_through_the_kit() -> None:
    direct = re.compile(r"\bQ(MessageBox|FileDialog|InputDialog)\b")
    hits = [name for name, text in sources("kit/dialogs.py").items() if direct.search(text)]
    assert hits == []


def test_the_unexpected_error_text_exists_once() -> None:
    hits = [name for name, text in sources().items() if "Unexpected error" in text]
    assert hits == ["closeplan_desktop/ui/kit/dialogs.py"]
