"""The detail panel of the selected deal, with its PHI masked until revealed.

Reveal asks core (which logs it) and shows the fields for the policy's seconds, then hides
them again. Copy puts one field on the clipboard and clears it after the policy's seconds
if it is still there. For another user's deal, Reveal first asks for a break-glass reason.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain import phi_value, validation
from ...core.domain.phi_value import Phi
from ...core.usecases import deals
from ...core.usecases.deal_list import DealSummary
from ..icons import icon
from ..kit import dialogs, ops
from ..kit.formatting import amount, local_minute
from ..kit.ops import Kind
from ..signed_in import SignedIn
from .model import STATUS_LABELS
from .plan_fields import show_plan
from .timeline import TimelineBox

MASK = "••••••••"
FIELD_LABELS = dict(validation.STANDARD_PHI_FIELDS)
# Revealed fields in the order people read a chart (name first), not the keys' order.
FIELD_ORDER = {key: i for i, (key, _label) in enumerate(validation.STANDARD_PHI_FIELDS)}
# Longer single-line values wrap in a text box rather than hide their end.
WRAP_FROM_CHARS = 40


def ordered_fields(revealed: Phi) -> list[tuple[str, str]]:
    """Revealed fields as text (free JSON values as JSON text, never dropped), standard ones
    in the chart's order, then the others by key."""
    return sorted(((k, phi_value.as_text(v)) for k, v in revealed.items()),
                  key=lambda kv: (FIELD_ORDER.get(kv[0], len(FIELD_ORDER)), kv[0]))


def field_label(key: str) -> str:
    if not phi_value.FORM_FIELD_RE.match(key):
        return key  # a name from the organisation's own system, shown as it is
    return FIELD_LABELS.get(key, key.replace("_", " ").capitalize())


class ClipboardGuard:
    """Clears PHI from the clipboard after a timeout, if the user has not replaced it."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.clear)
        self._text: str | None = None

    def copy(self, text: str, seconds: int) -> None:
        QGuiApplication.clipboard().setText(text)
        self._text = text
        self.timer.start(seconds * 1000)

    def clear(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if self._text is not None and clipboard.text() == self._text:
            clipboard.clear()
        self._text = None
        self.timer.stop()


class DealDetail(QWidget):
    """The selected deal's facts, and its PHI masked until revealed."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.deal: DealSummary | None = None
        self.revealed: Phi = {}
        self.clipboard = ClipboardGuard()
        self.hide_timer = QTimer(self)
        self.hide_timer.setSingleShot(True)
        self.hide_timer.timeout.connect(self.hide_phi)
        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self._tick)
        self.copy_note_timer = QTimer(self)
        self.copy_note_timer.setSingleShot(True)
        self.copy_note_timer.timeout.connect(lambda: self.copy_note.hide())
        self.setMinimumWidth(280)  # at 1366x768 beside the admin's navigation, whole titles

        # The panel scrolls: revealed fields keep their full height however many there
        # are (a squeezed field would make the user reveal, and log, again).
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("detailScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its buttons and fields take it
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.scroll)
        body = QWidget()
        self.scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 6, 8)  # the width goes to the timeline
        self.title = QLabel("Select a deal")
        self.title.setObjectName("detailTitle")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        self.facts = QWidget()
        form = QFormLayout(self.facts)
        form.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel()
        self.value = QLabel()
        self.owner = QLabel()
        self.close_date = QLabel()
        self.probability = QLabel()
        self.created = QLabel()
        self.updated = QLabel()
        for name, w in (("Status", self.status), ("Value", self.value), ("Owner", self.owner),
                        ("Expected close", self.close_date),
                        ("Probability", self.probability),
                        ("Created", self.created), ("Updated", self.updated)):
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(name, w)
        layout.addWidget(self.facts)

        self.phi_box = QGroupBox("Protected health information")
        self.phi_box.setObjectName("phiBox")
        phi_layout = QVBoxLayout(self.phi_box)
        self.phi_note = QLabel()
        self.phi_note.setWordWrap(True)
        self.phi_note.setObjectName("phiNote")
        phi_layout.addWidget(self.phi_note)
        self.phi_form = QFormLayout()
        # Labels above values: PHI values get the panel's whole width.
        self.phi_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        phi_layout.addLayout(self.phi_form)
        buttons = QHBoxLayout()
        self.reveal_button = QPushButton(icon("reveal"), "Reveal")
        self.reveal_button.setAccessibleName("Reveal PHI")
        self.reveal_button.setToolTip("Show the PHI (this access is logged)")
        self.reveal_button.clicked.connect(self.reveal)
        self.hide_button = QPushButton(icon("hide"), "Hide")
        self.hide_button.setAccessibleName("Hide PHI")
        self.hide_button.clicked.connect(self.hide_phi)
        buttons.addWidget(self.reveal_button)
        buttons.addWidget(self.hide_button)
        buttons.addStretch(1)
        phi_layout.addLayout(buttons)
        # What the last copy did: the user cannot see the clipboard.
        self.copy_note = QLabel()
        self.copy_note.setObjectName("copyNote")
        self.copy_note.setWordWrap(True)
        self.copy_note.hide()
        phi_layout.addWidget(self.copy_note)
        layout.addWidget(self.phi_box)
        self.timeline = TimelineBox(signed_in)
        layout.addWidget(self.timeline, 1)
        layout.addStretch(0)
        self.show_deal(None)

    # ---- showing --------------------------------------------------------------------

    def show_deal(self, deal: DealSummary | None) -> None:
        if self.deal is None or deal is None or deal.id != self.deal.id:
            self.hide_phi()
        self.deal = deal
        if deal is None:
            self.title.setText("Select a deal to see its details")
            self.facts.hide()
            self.phi_box.hide()
            self.timeline.hide()
            self.timeline.show_deal(None)
            return
        self.facts.show()
        self.title.setText(deal.title)
        self.status.setText(STATUS_LABELS[deal.status] +
                            ("  (deleted)" if deal.deleted_at else ""))
        self.value.setText(amount(deal.value))
        self.owner.setText(deal.owner_name)
        show_plan(self.close_date, self.probability, deal)
        self.created.setText(local_minute(deal.created_at) +
                             ("" if deal.created_by_id == deal.owner_id
                              else f" by {deal.created_by_name}"))
        self.updated.setText(local_minute(deal.updated_at))
        self.phi_box.setVisible(True)
        self._render_phi()
        self.timeline.show()
        self.timeline.show_deal(deal)

    def open_timeline(self) -> None:
        """Put the keyboard on the shown deal's timeline (a card opened on the board)."""
        if self.deal is not None:
            self.timeline.list.setFocus()

    def _clear_phi_form(self) -> None:
        while self.phi_form.rowCount():
            self.phi_form.removeRow(0)

    def _render_phi(self) -> None:
        self._clear_phi_form()
        deal = self.deal
        if deal is None:
            return
        if not deal.has_phi:
            self.phi_note.setText("This deal holds no PHI.")
            self.reveal_button.setEnabled(False)
            self.hide_button.setEnabled(False)
            return
        if not self.revealed:
            session = self.signed_in.core
            glass = deals.needs_break_glass(session, deal.owner_id)
            self.phi_note.setText(
                "Masked. Reveal shows it for "
                f"{self.signed_in.policy.phi_autohide_seconds} seconds; the access is logged."
                + (" This is another user's deal: you will be asked for a reason "
                   "(break-glass)." if glass else ""))
            masked = QLabel(MASK)
            masked.setObjectName("phiMasked")
            self.phi_form.addRow("PHI", masked)
            self.reveal_button.setEnabled(True)
            self.hide_button.setEnabled(False)
            return
        self._tick()
        seconds = self.signed_in.policy.clipboard_clear_seconds
        for key, value in ordered_fields(self.revealed):
            label = field_label(key)
            row = QHBoxLayout()
            field = self._value_widget(value)
            field.setObjectName(f"phi_{key}")
            field.setProperty("phi_key", key)
            # Ctrl+C copies through the guard (cleared later); no context menu copy
            # that would leave PHI on the clipboard.
            field.installEventFilter(self)
            field.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
            field.setAccessibleName(label)
            copy = QToolButton()
            copy.setIcon(icon("copy"))
            copy.setToolTip(f"Copy {label} (cleared from the clipboard after {seconds} s)")
            copy.setAccessibleName(f"Copy {label}")
            copy.clicked.connect(lambda _=False, k=key: self.copy_field(k))
            row.addWidget(field, 1)
            row.addWidget(copy, 0, Qt.AlignmentFlag.AlignTop)
            holder = QWidget()
            holder.setLayout(row)
            row.setContentsMargins(0, 0, 0, 0)
            self.phi_form.addRow(label, holder)
        self.reveal_button.setEnabled(False)
        self.hide_button.setEnabled(True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+C (the platform's Copy) in a revealed field copies the whole value with
        the clipboard guard, not the selection without it."""
        key = watched.property("phi_key") if isinstance(watched, QWidget) else None
        if key and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            assert isinstance(event, QKeyEvent)
            if event.matches(QKeySequence.StandardKey.Copy):
                if event.type() == QEvent.Type.KeyPress:
                    self.copy_field(str(key))
                event.accept()
                return True
        return super().eventFilter(watched, event)

    @staticmethod
    def _value_widget(value: str) -> QWidget:
        """A read-only field showing a value from its start; several lines or a long
        value wrap in a box as tall as its text."""
        if "\n" not in value and len(value) <= WRAP_FROM_CHARS:
            line = QLineEdit(value)
            line.setReadOnly(True)
            line.setCursorPosition(0)  # the start ("M17.11 …"), not the end
            return line
        box = QPlainTextEdit(value)
        box.setReadOnly(True)
        box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        box.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        box.setTabChangesFocus(True)
        lines = max(2, min(8, value.count("\n") + 1 + len(value) // WRAP_FROM_CHARS))
        box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 14)
        return box

    def _tick(self) -> None:
        left = max(0, self.hide_timer.remainingTime() // 1000)
        self.phi_note.setText(f"Revealed (logged). Hides again in {left} s.")

    # ---- actions --------------------------------------------------------------------

    def reveal(self) -> None:
        deal = self.deal
        if deal is None or not deal.has_phi or self.revealed:
            return
        session = self.signed_in.core
        reason = None
        if deals.needs_break_glass(session, deal.owner_id):
            reason = dialogs.ask_text(
                self, "Break-glass access",
                f"This deal belongs to {deal.owner_name}. Revealing its PHI is an "
                "emergency access: it is logged with your reason and flagged for review.\n\n"
                "Reason:")
            if reason is None:
                return
        # A reveal writes its access-log row (and a break-glass event) before the PHI.
        done = ops.run_now(lambda: deals.reveal_phi(session, deal.id, reason), parent=self,
                           title="Cannot reveal PHI", changes={Kind.AUDIT},
                           hub=self.signed_in.changes)
        if not done.ok or done.value is None:
            return
        self.revealed = done.value
        seconds = self.signed_in.policy.phi_autohide_seconds
        self.hide_timer.start(seconds * 1000)
        self.countdown.start()
        self._render_phi()

    def hide_phi(self) -> None:
        self.hide_timer.stop()
        self.countdown.stop()
        self.revealed = {}
        self._render_phi()

    def copy_field(self, key: str) -> None:
        value = phi_value.as_text(self.revealed[key]) if key in self.revealed else None
        if value is not None:
            seconds = self.signed_in.policy.clipboard_clear_seconds
            self.clipboard.copy(value, seconds)
            self.copy_note.setText(f"{field_label(key)} copied; the clipboard clears in "
                                   f"{seconds} s.")
            self.copy_note.show()
            self.copy_note_timer.start(seconds * 1000)

    def clear_sensitive(self) -> None:
        self.hide_phi()
        self.clipboard.clear()
        self.copy_note.hide()

    def visible_phi_text(self) -> list[str]:
        """Every PHI text a widget of this panel holds (for tests and the lock check)."""
        lines = [w.text() for w in self.findChildren(QLineEdit)
                 if w.objectName().startswith("phi_")]
        boxes = [w.toPlainText() for w in self.findChildren(QPlainTextEdit)
                 if w.objectName().startswith("phi_")]
        return lines + boxes
