"""What every pane of the main window offers the window."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from .session import AppSession


class Pane(QWidget):
    """A page of the main window. Panes hold no business rules: they call core."""

    title = ""

    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app_session = app_session

    def refresh(self) -> None:
        """Reload what the pane shows from core."""

    def clear_sensitive(self) -> None:
        """Drop any decrypted PHI from widgets and models (on lock and sign-out)."""
