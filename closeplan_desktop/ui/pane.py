"""What every pane of the main window declares and offers the window.

A pane class declares, once, its key, title, icon, View shortcut, whether only admins
have it, the kinds of data it shows, and its menu commands; `MainWindow` builds the
navigation list, the menus and the shortcuts from these declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from .kit import ops
from .kit.ops import Kind, Op, Outcome, Work
from .signed_in import SignedIn


@dataclass(frozen=True)
class Command:
    """A menu entry of a pane. `run(pane)` is called with the pane (built on first use)
    unless the window is locked. `own_action(pane)` instead names a stateful QAction the
    pane already holds (a checkable toggle); only for a pane built at start."""

    menu: str  # "file", "edit", "view" or "tools"
    text: str
    run: Callable[[Any], object] | None = None
    shortcut: QKeySequence.StandardKey | str | None = None
    icon: str | None = None
    separator_before: bool = False
    own_action: Callable[[Any], QAction] | None = None


class Pane(QWidget):
    """A page of the main window. Panes hold no business rules: they call core."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    icon_name: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""  # the View menu's shortcut
    admin_only: ClassVar[bool] = False
    needs_server: ClassVar[bool] = False  # only in a workspace connected to a server
    shows: ClassVar[frozenset[Kind]] = frozenset()
    commands: ClassVar[tuple[Command, ...]] = ()

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        # Nothing loaded yet: the first `shown()` loads.
        self.stale = True
        signed_in.changes.changed.connect(self._changed)

    # ---- what the pane shows --------------------------------------------------------

    def refresh(self) -> None:
        """Reload what the pane shows from core."""

    def reload(self) -> None:
        """Refresh now, and no longer stale."""
        self.stale = False
        self.refresh()

    def shown(self) -> None:
        """The window made this pane current: refresh if something changed meanwhile."""
        if self.stale and not self.signed_in.is_locked:
            self.reload()

    def _changed(self, kinds: frozenset[Kind]) -> None:
        if not kinds & self.shows:
            return
        if self.isVisible() and not self.signed_in.is_locked:
            self.reload()
        else:
            self.stale = True

    def clear_sensitive(self) -> None:
        """Drop any decrypted PHI from widgets and models (on lock and sign-out)."""

    # ---- running core work ----------------------------------------------------------

    def run_now(self, title: str, work: Callable[[], Any], *, changes: Iterable[Kind] = (),
                on_failure: Callable[[str], None] | None = None) -> Outcome[Any]:
        """Short core work on the UI thread (kit.ops.run_now), announced on this window."""
        return ops.run_now(work, parent=self, title=title, on_failure=on_failure,
                           changes=changes, hub=self.signed_in.changes)

    def read(self, title: str, work: Callable[[], Any], *,
             on_failure: Callable[[str], None] | None = None) -> Outcome[Any]:
        """A short read for what the pane shows (kit.ops.read)."""
        return ops.read(work, parent=self, title=title, on_failure=on_failure)

    def start(self, title: str, work: Work, *, changes: Iterable[Kind] = (),
              **options: Any) -> Op:
        """Long core work off the UI thread (kit.ops.Op), announced on this window; set
        its handlers, then `run_in_background()`."""
        return Op(self, title, work, changes=changes, hub=self.signed_in.changes, **options)
