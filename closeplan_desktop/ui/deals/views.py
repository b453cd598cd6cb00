"""The deals pane's saved views (issue 15): a combo of the built-in and the user's views,
a Views menu (Save, Save as…, Rename…, Delete…, Set as default) and the CSV export of
what the list shows. Core holds every rule (`core.usecases.views`, `deal_export`); this
widget only asks and shows.

The filter bar shows status, search, sort and deleted; any other field of a view's
query (owner, close dates, ... whatever DealQuery holds) is kept here and added to the
bar's query (`with_hidden`), so a view narrows the list, its count and the pipeline
exactly as saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QMenu, QToolButton, QWidget

from ...core.domain.progress import CancelToken, Progress
from ...core.usecases import deal_export, views
from ...core.usecases.deal_list import DealQuery
from ...core.usecases.views import View
from ..icons import icon
from ..kit import dialogs, ops
from ..kit.ops import Kind, Op
from ..signed_in import SignedIn

# The fields the pane's filter bar shows; the others a view holds are kept here.
BAR_FIELDS = frozenset({"status", "search", "sort", "descending", "deleted", "owner_id",
                        "close_from", "close_to", "overdue"})
CSV_FILTER = "CSV (*.csv)"
EXCEL_FILTER = "CSV for Excel, UTF-8 with BOM (*.csv)"
PHI_WARNING = ("The file will hold patient details (PHI) UNENCRYPTED on disk: anyone "
               "who can read the file can read them. Keep it safe and delete it when done.\n\n"
               "Only deals whose PHI you may reveal without break-glass get PHI columns; "
               "the others are listed as withheld. Each deal exported with PHI is logged.")


class ViewsBar(QWidget):
    """The view combo and the Views menu. `apply(query)` puts a view's filter on the
    pane; `current()` reads the pane's filter; `on_title` shows the header's text."""

    def __init__(self, signed_in: SignedIn, apply: Callable[[DealQuery], None],
                 current: Callable[[], DealQuery], on_title: Callable[[str, str], None],
                 start: Callable[..., Op], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self._start = start
        self.running: Op | None = None
        self._apply = apply
        self._current = current
        self._on_title = on_title
        self.views: list[View] = []
        self.active: View | None = None
        self.loaded = False

        self.combo = QComboBox()
        self.combo.setObjectName("viewCombo")
        self.combo.setAccessibleName("Saved view")
        self.combo.setToolTip("Choose a saved view (Ctrl+Shift+V)")
        self.combo.setMinimumContentsLength(18)
        self.combo.activated.connect(self._chosen)

        self.menu = QMenu("Views", self)
        self.menu.setObjectName("viewsMenu")
        # The shortcuts are on the window's menus (the pane's commands).
        self.save_action = self._add("&Save View", self.save, "save")
        self.save_as_action = self._add("Save View &As…", self.save_as, "saveAs")
        self.rename_action = self._add("&Rename View…", self.rename, "rename")
        self.delete_action = self._add("&Delete View…", self.delete, "deleteView")
        self.default_action = self._add("Set as &Default View", self.set_default, "default")
        self.menu.addSeparator()
        self.export_action = self._add("&Export View as CSV…", self.export, "export")
        self.export_phi_action = self._add("Export View with &PHI…",
                                           lambda: self.export(with_phi=True), "exportPhi")
        self.button = QToolButton()
        self.button.setObjectName("viewsButton")
        self.button.setText("Views")
        self.button.setAccessibleName("Views menu")
        self.button.setIcon(icon("filter"))
        self.button.setToolButtonStyle(self.button.toolButtonStyle().ToolButtonTextBesideIcon)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setMenu(self.menu)
        self.export_button = QToolButton()
        self.export_button.setObjectName("exportViewButton")
        self.export_button.setAccessibleName("Export view as CSV")
        self.export_button.setToolTip("Export what the list shows as CSV, no PHI "
                                      "(Ctrl+Shift+E)")
        self.export_button.setIcon(icon("export"))
        self.export_button.clicked.connect(lambda: self.export())

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo)
        row.addWidget(self.button)
        row.addWidget(self.export_button)

    def _add(self, text: str, run: Callable[[], object], name: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"view_{name}")
        action.triggered.connect(lambda _c=False: run())
        self.menu.addAction(action)
        return action

    # ---- the list of views ------------------------------------------------------------

    def load(self, choose_default: bool = False) -> None:
        """Read the views again (after a change, or a sync); with `choose_default`, make
        the user's default view the active one (at sign-in)."""
        session = self.signed_in.session_or_none()
        if session is None:
            return
        outcome = ops.read(lambda: views.list_views(session), parent=self,
                           title="Cannot list views")
        if not outcome.ok or not outcome.value:
            return
        self.views = outcome.value
        self.loaded = True
        name = self.active.name if self.active and not choose_default else None
        if name is None or all(v.name != name for v in self.views):
            found = next((v for v in self.views if v.is_default), self.views[0])
        else:
            found = next(v for v in self.views if v.name == name)
        self.combo.blockSignals(True)
        self.combo.clear()
        for v in self.views:
            self.combo.addItem(v.name + ("  (default)" if v.is_default else ""), v.name)
        self.combo.blockSignals(False)
        changed = self.active is None or choose_default or found.query != self.active.query
        self._activate(found, apply=changed)

    def _activate(self, view: View, *, apply: bool = True) -> None:
        self.active = view
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(max(0, self.combo.findData(view.name)))
        self.combo.blockSignals(False)
        if view.notes:
            dialogs.warn(self, "View changed", f"“{view.name}”: " + " ".join(view.notes))
        if apply:
            self._apply(view.query)
        self.update_state()

    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        found = next((v for v in self.views if v.name == name), None)
        if found is not None:
            self._activate(found)

    def choose(self, name: str) -> None:
        """Activate the view called `name` (as a click in the combo would)."""
        self._chosen(max(0, self.combo.findData(name)))

    def focus(self) -> None:
        self.combo.setFocus()
        self.combo.showPopup()

    # ---- what the pane shows ----------------------------------------------------------

    def with_hidden(self, shown: DealQuery) -> DealQuery:
        """The bar's query with the active view's other fields (owner, dates, ...)."""
        if self.active is None:
            return shown
        hidden = {f.name: getattr(self.active.query, f.name)
                  for f in dataclasses.fields(DealQuery) if f.name not in BAR_FIELDS}
        return dataclasses.replace(shown, **hidden)

    def modified(self) -> bool:
        """Whether the list's filter differs from the active view's saved one."""
        return self.active is not None and self._current() != self.active.query

    def update_state(self) -> None:
        """The header's text and which actions apply, after any filter change."""
        view = self.active
        own = view is not None and not view.builtin
        changed = self.modified()
        self.save_action.setEnabled(own and changed)
        self.rename_action.setEnabled(own)
        self.delete_action.setEnabled(own)
        self.default_action.setEnabled(view is not None and not view.is_default)
        if view is None:
            self._on_title("Deals", "")
            return
        marker = " (changed)" if changed else ""
        tip = ("The filter differs from the saved view: Save (Ctrl+S) keeps it, Save As… "
               "makes a new view." if changed else "")
        self._on_title(f"Deals · {view.name}{marker}", tip)

    # ---- changes ----------------------------------------------------------------------

    def _write(self, title: str, work: Callable[[], object]) -> object:
        session = self.signed_in.session_or_none()
        if session is None:
            return None
        # Views are the user's own and only this bar shows them: nothing to announce.
        outcome = ops.run_now(work, parent=self, title=title)
        return outcome.value if outcome.ok else None

    def _after(self, name: str | None) -> None:
        self.load()
        if name is not None:
            found = next((v for v in self.views if v.name.casefold() == name.casefold()),
                         None)
            if found is not None:
                self._activate(found, apply=False)

    def save(self) -> None:
        view = self.active
        session = self.signed_in.session_or_none()
        if view is None or view.builtin or session is None:
            return
        query = self._current()
        saved = self._write("Cannot save the view",
                            lambda: views.update_view(session, view.name, query))
        if isinstance(saved, View):
            self._after(saved.name)

    def save_as(self) -> None:
        session = self.signed_in.session_or_none()
        if session is None:
            return
        name = dialogs.ask_text(self, "Save view as", "Name of the new view:")
        if not name:
            return
        query = self._current()
        saved = self._write("Cannot save the view",
                            lambda: views.save_view(session, name, query))
        if isinstance(saved, View):
            self._after(saved.name)

    def rename(self) -> None:
        view = self.active
        session = self.signed_in.session_or_none()
        if view is None or view.builtin or session is None:
            return
        name = dialogs.ask_text(self, "Rename view", f"New name for “{view.name}”:")
        if not name:
            return
        saved = self._write("Cannot rename the view",
                            lambda: views.rename_view(session, view.name, name))
        if isinstance(saved, View):
            self._after(saved.name)

    def delete(self) -> None:
        view = self.active
        session = self.signed_in.session_or_none()
        if view is None or view.builtin or session is None:
            return
        if not dialogs.confirm(self, "Delete view", f"Delete the view “{view.name}”?\n\n"
                               "Only the saved filter goes; no deal is changed.", "Delete"):
            return

        self._write("Cannot delete the view", lambda: views.delete_view(session, view.name))
        self.active = None
        self.load(choose_default=True)

    def set_default(self) -> None:
        view = self.active
        session = self.signed_in.session_or_none()
        if view is None or session is None:
            return
        saved = self._write("Cannot set the default view",
                            lambda: views.set_default(session, view.name))
        if saved is not None:
            self._after(view.name)

    # ---- export -----------------------------------------------------------------------

    def export(self, with_phi: bool = False) -> None:
        """Export what the list shows (the bar's filter and the view's) as CSV, off the UI
        thread with progress and Cancel; with PHI only after the user confirms and gives
        a reason."""
        session = self.signed_in.session_or_none()
        if session is None:
            return
        name = (self.active.name if self.active else "deals").replace("/", "-")
        default = Path.home() / f"{name} {date.today():%Y-%m-%d}.csv"
        chosen = dialogs.save_file(self, "Export view as CSV", default,
                                   f"{CSV_FILTER};;{EXCEL_FILTER}", CSV_FILTER)
        if chosen is None:
            return
        target, kind = chosen
        if target.suffix.lower() != ".csv":
            target = target.with_name(target.name + ".csv")
        reason = None
        if with_phi:
            if not dialogs.confirm(self, "Export PHI unencrypted", PHI_WARNING,
                                   "Export with PHI"):
                return
            reason = dialogs.ask_text(self, "Reason for exporting PHI",
                                      "Why does this file need patient details? (logged)")
            if reason is None:
                return
        query = self._current()

        def work(progress: Progress, cancel: CancelToken) -> deal_export.ExportResult:
            return deal_export.export_deals(session, query, target, with_phi=with_phi,
                                            reason=reason, excel_bom=kind == EXCEL_FILTER,
                                            progress=progress, cancel=cancel)

        self.running = (self._start("Exporting deals", work, changes=(Kind.AUDIT,))
                        .on_success(lambda r: dialogs.inform(self, "Export finished",
                                                             r.summary()))
                        .on_failure(lambda m: dialogs.show_error(self, "Export failed", m))
                        .on_cancel(lambda: dialogs.inform(self, "Export cancelled",
                                                          "No file was written."))
                        .run_in_background())

