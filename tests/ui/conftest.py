"""Fixtures of the window's tests. Every message box, question and file or text prompt
goes through `closeplan_desktop.ui.kit.dialogs`; `dialogs` (used by every test here)
replaces those functions with recorders that answer at once, so nothing blocks, and makes
a dialog opened any other way fail the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
from support import FakeDialogs

from closeplan_desktop.ui.kit import dialogs as kit_dialogs


def _around_the_kit(*_a: object, **_k: object) -> object:
    raise AssertionError("a dialog was opened around closeplan_desktop.ui.kit.dialogs")


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    """Each test starts as a first start: Qt keeps one settings file for the whole run,
    so a window state or a board mode saved by an earlier test would change the layout a
    later test measures."""
    from PySide6.QtCore import QSettings

    QSettings().clear()


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDialogs]:
    fake = FakeDialogs()

    def message(kind: str):  # type: ignore[no-untyped-def]
        def record(_parent: object, title: str, text: str) -> None:
            fake.shown.append((kind, title, text))
        return record

    def confirm(_parent: object, title: str, _text: str, _ok: str) -> bool:
        fake.confirms.append(title)
        return fake.answers.get(title, True)

    def ask_text(_parent: object, title: str, _label: str) -> str | None:
        fake.prompts.append(title)
        return fake.text

    def save_file(_parent: object, title: str, *_a: object) -> tuple[Path, str] | None:
        fake.prompts.append(title)
        return fake.save

    def open_file(_parent: object, title: str, *_a: object) -> Path | None:
        fake.prompts.append(title)
        return fake.open

    def choose_folder(_parent: object, title: str, *_a: object) -> Path | None:
        fake.prompts.append(title)
        return fake.folder

    for name, fn in (("show_error", message("error")), ("inform", message("information")),
                     ("warn", message("warning")), ("about", message("about")),
                     ("confirm", confirm), ("ask_text", ask_text), ("save_file", save_file),
                     ("open_file", open_file), ("choose_folder", choose_folder)):
        monkeypatch.setattr(kit_dialogs, name, fn)
    for cls, names in ((QMessageBox, ("exec", "information", "warning", "critical",
                                      "question", "about")),
                       (QFileDialog, ("getSaveFileName", "getOpenFileName",
                                      "getExistingDirectory")),
                       (QInputDialog, ("getMultiLineText", "getText"))):
        for name in names:
            monkeypatch.setattr(cls, name, _around_the_kit)
    yield fake
