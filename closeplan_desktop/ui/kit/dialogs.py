"""Every message box, question and file or text prompt of the window goes through here.

One way to tell the user something: a clear dialog, never a traceback. A ClosePlanError's
text is shown as it is (core writes it for people and keeps PHI out of it); any other
exception is shown as the one "unexpected error" text, which names only its type, since
an exception's own text may hold PHI.

Callers use these functions through the module (`dialogs.show_error(...)`), so that the
tests replace them in one place (tests/ui/conftest.py) and nothing blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QWidget,
)

from ...core.domain.errors import ClosePlanError
from ..icons import icon

UNEXPECTED = ("Unexpected error ({kind}); nothing more was changed. Run "
              "'closeplan-admin doctor' and report this.")


def error_text(exc: BaseException) -> str:
    """What the user is told about `exc`: core's message, or the unexpected-error text."""
    if isinstance(exc, ClosePlanError):
        return str(exc)
    return UNEXPECTED.format(kind=type(exc).__name__)


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """A warning box with one OK button."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("errorDialog")
    box.exec()


def inform(parent: QWidget | None, title: str, message: str) -> None:
    """A result the user should read: an import finished, the chain is intact."""
    QMessageBox.information(parent, title, message)


def warn(parent: QWidget | None, title: str, message: str) -> None:
    """A result that needs attention (not an error of the window): the chain is broken."""
    QMessageBox.warning(parent, title, message)


def about(parent: QWidget | None, title: str, html: str) -> None:
    QMessageBox.about(parent, title, html)


def confirm(parent: QWidget | None, title: str, text: str, ok: str) -> bool:
    """Ask before doing `ok`; True when the user chose it (Cancel is the other button)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    yes = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(yes)
    box.exec()
    return box.clickedButton() is yes


def ask_text(parent: QWidget | None, title: str, label: str) -> str | None:
    """Several lines of text (a break-glass reason); None when cancelled. OK stays
    disabled until something other than spaces is typed (no refusal box afterwards)."""
    dialog = text_dialog(parent, title, label)
    ok = dialog.exec() == QDialog.DialogCode.Accepted
    text = dialog.textValue()
    dialog.deleteLater()
    return text if ok else None


def text_dialog(parent: QWidget | None, title: str, label: str) -> QInputDialog:
    """The dialog `ask_text` shows (apart for tests): OK only with some text."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)
    buttons = dialog.findChild(QDialogButtonBox)
    if buttons is not None:
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)

        def follow(text: str) -> None:
            ok.setEnabled(bool(text.strip()))

        dialog.textValueChanged.connect(follow)
        follow("")
    return dialog


def open_file(parent: QWidget | None, title: str, folder: Path, filters: str) -> Path | None:
    """A file to read; None when cancelled."""
    name, _ = QFileDialog.getOpenFileName(parent, title, str(folder), filters)
    return Path(name) if name else None


def save_file(parent: QWidget | None, title: str, default: Path, filters: str,
              chosen: str = "") -> tuple[Path, str] | None:
    """A file to write and the filter the user chose; None when cancelled."""
    name, selected = QFileDialog.getSaveFileName(parent, title, str(default), filters, chosen)
    return (Path(name), selected) if name else None


def choose_folder(parent: QWidget | None, title: str, start: str) -> Path | None:
    """A folder; None when cancelled."""
    folder = QFileDialog.getExistingDirectory(parent, title, start)
    return Path(folder) if folder else None


def ok_cancel(dialog: QDialog, text: str, icon_name: str, name: str,
              on_ok: Callable[[], object]) -> tuple[QDialogButtonBox, QPushButton]:
    """A form dialog's buttons: the default action `text` (object name `name`) that calls
    `on_ok`, and Cancel, which rejects `dialog`."""
    buttons = QDialogButtonBox()
    ok = buttons.addButton(text, QDialogButtonBox.ButtonRole.AcceptRole)
    ok.setObjectName(name)
    ok.setAccessibleName(text)
    ok.setIcon(icon(icon_name))
    ok.setDefault(True)
    buttons.addButton(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
    buttons.accepted.connect(on_ok)
    buttons.rejected.connect(dialog.reject)
    return buttons, ok
