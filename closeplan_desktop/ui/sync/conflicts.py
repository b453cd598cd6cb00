"""The conflicts view: what sync could not merge, in words. Each conflict names the
record, the field, the value kept and the value that lost; a losing PHI value stays
hidden until revealed (the reveal is logged, like any PHI). Below, the changes the server
refused, with its reason."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.sync import review
from ..kit import formatting, ops
from ..kit.ops import Kind
from ..kit.widgets import button, heading, muted
from ..signed_in import SignedIn

CONFLICT_COLUMNS = ("Record", "Field", "Value kept", "Value that lost", "When")
REJECTION_COLUMNS = ("Record", "Change", "When", "The server's reason")
ROW_STYLE = "QTreeWidget::item { padding: 4px 2px; }"


def _tree(name: str, columns: tuple[str, ...], widths: tuple[int, ...]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setObjectName(name)
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.setHeaderLabels(list(columns))
    tree.setStyleSheet(ROW_STYLE)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    tree.header().setStretchLastSection(True)
    for column, width in enumerate(widths):
        tree.setColumnWidth(column, width)
    return tree


class ConflictsDialog(QDialog):
    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.setObjectName("conflictsDialog")
        self.setWindowTitle("Sync conflicts and rejections")
        self.resize(900, 560)
        self.conflict_rows: list[review.ConflictView] = []
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Conflicts", 1.2))
        layout.addWidget(muted(
            "Another laptop changed the same field before this one's change arrived. The "
            "server kept one value (the later change); the other is kept here so that "
            "nothing is lost. A PHI value stays hidden until you reveal it (logged)."))
        self.conflicts = _tree("conflictList", CONFLICT_COLUMNS, (250, 70, 200, 200))
        self.conflicts.itemSelectionChanged.connect(self._selected)
        layout.addWidget(self.conflicts, 3)
        actions = QHBoxLayout()
        self.reveal = button("Reveal the lost PHI value", "reveal", self.reveal_selected,
                             name="revealLosingPhi",
                             tip="Decrypt the PHI value that lost; the view is logged")
        self.reveal.setEnabled(False)
        actions.addWidget(self.reveal)
        actions.addStretch(1)
        layout.addLayout(actions)
        layout.addWidget(heading("Rejected changes", 1.2))
        layout.addWidget(muted("Changes the server refused; this laptop shows the server's "
                               "version of these records again."))
        self.rejections = _tree("rejectionList", REJECTION_COLUMNS, (250, 80, 130))
        layout.addWidget(self.rejections, 2)
        self.empty = QLabel()
        self.empty.setObjectName("conflictsEmpty")
        layout.addWidget(self.empty)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        signed_in.changes.changed.connect(self._changed)
        self.reload()

    def _changed(self, kinds: frozenset[Kind]) -> None:
        if Kind.SYNC in kinds or Kind.DEALS in kinds:
            self.reload()

    def reload(self) -> None:
        session = self.signed_in.session_or_none()
        if session is None:
            return
        conflicts = ops.read(lambda: review.list_conflicts(session), parent=self,
                             title="Conflicts").value or []
        rejections = ops.read(lambda: review.list_rejections(session), parent=self,
                              title="Conflicts").value or []
        self.conflict_rows = conflicts
        self.conflicts.clear()
        for c in conflicts:
            item = QTreeWidgetItem([c.what, c.field, c.kept,
                                    "Hidden PHI (reveal to see it)" if c.is_phi else
                                    (c.losing or ""), formatting.local_minute(c.at)])
            item.setToolTip(4, formatting.local_second_zone(c.at))
            for column in (0, 2, 3):
                item.setToolTip(column, item.text(column))
            self.conflicts.addTopLevelItem(item)
        self.rejections.clear()
        for r in rejections:
            item = QTreeWidgetItem([r.what, r.op, formatting.local_minute(r.at), r.reason])
            item.setToolTip(3, r.reason)
            item.setToolTip(2, formatting.local_second_zone(r.at))
            self.rejections.addTopLevelItem(item)
        self.empty.setText("" if conflicts or rejections else
                           "Nothing to look at: every change was merged.")
        self._selected()

    def _current(self) -> review.ConflictView | None:
        row = self.conflicts.indexOfTopLevelItem(self.conflicts.currentItem()) \
            if self.conflicts.currentItem() is not None else -1
        return self.conflict_rows[row] if 0 <= row < len(self.conflict_rows) else None

    def _selected(self) -> None:
        found = self._current()
        self.reveal.setEnabled(found is not None and found.is_phi)

    def reveal_selected(self) -> None:
        found = self._current()
        session = self.signed_in.session_or_none()
        if found is None or not found.is_phi or session is None:
            return
        outcome = ops.run_now(lambda: review.reveal_losing_phi(session, found.id),
                              parent=self, title="Reveal the lost PHI value",
                              changes={Kind.AUDIT}, hub=self.signed_in.changes)
        if outcome.ok:
            value = outcome.value or {}
            text = "; ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "(empty)"
            item = self.conflicts.currentItem()
            item.setText(3, text)
            item.setToolTip(3, text)

    def clear_sensitive(self) -> None:
        """Lock and sign-out: drop a revealed value."""
        self.conflicts.clear()
        self.conflict_rows = []
