"""One way to tell the user something went wrong: a clear dialog, never a traceback."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from ..core.domain.errors import ClosePlanError


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("errorDialog")
    box.exec()


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ClosePlanError):
        return str(exc)
    return (f"Unexpected error ({type(exc).__name__}); nothing more was changed. Run "
            "'closeplan-admin doctor' and report this.")


def confirm(parent: QWidget | None, title: str, text: str, ok: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    yes = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(yes)
    box.exec()
    return box.clickedButton() is yes
