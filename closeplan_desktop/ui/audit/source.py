"""Which audit the Audit pane shows: this laptop's own log, or the whole organisation's
from the server (an admin on a connected laptop). The switch and the line under it that
says where the rows come from, or why the organisation's audit cannot be shown."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from ...core.sync import audit_views
from ...core.sync.audit_views import OrgReveals
from ...core.sync.transport import Transport
from ...core.usecases.frame import AuthSession
from ..icons import icon
from ..kit import palette

LOCAL, ORG = "local", "org"


@dataclass(frozen=True)
class OrgContext:
    """What the organisation's view needs besides its pages: the device names and the
    reveal counts per user and day."""

    devices: dict[str, str]
    reveals: OrgReveals


def load_context(session: AuthSession, transport: Transport, own_device: str) -> OrgContext:
    """Read on a worker thread when the organisation's view (re)loads."""
    reveals = audit_views.reveals_by_day(session, transport)  # the admin check first
    return OrgContext(audit_views.device_names(transport, own=[own_device]), reveals)


class SourceSwitch(QFrame):
    """Two joined toggle buttons, "This laptop" and "Whole organisation"; `changed`
    says which was chosen (LOCAL or ORG)."""

    changed = Signal(str)

    def __init__(self, server: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditSource")
        self.setAccessibleName("Audit source")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}
        for key, text, icon_name, tip in (
                (LOCAL, "This laptop", "audit", "The audit log kept on this laptop"),
                (ORG, "Whole organisation", "sync",
                 f"Every laptop's audit and the server's, read from {server}")):
            b = QToolButton()
            b.setObjectName(f"auditSource_{key}")
            b.setText(text)
            b.setIcon(icon(icon_name))
            b.setIconSize(QSize(16, 16))
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setAccessibleName(text)
            self.group.addButton(b)
            self.buttons[key] = b
            row.addWidget(b)
        self.buttons[LOCAL].setChecked(True)
        self.setStyleSheet(_style())
        self.group.buttonClicked.connect(lambda b: self.changed.emit(self.source))

    @property
    def source(self) -> str:
        return ORG if self.buttons[ORG].isChecked() else LOCAL

    def choose(self, source: str) -> None:
        """Check `source` without saying so (the pane decided it)."""
        self.buttons[source].setChecked(True)


def _style() -> str:
    """The switch as one segmented control: the chosen half filled."""
    edge, fill = palette.muted_name(), palette.ok_name()
    return (f"QFrame#auditSource {{ border: 1px solid {edge}; border-radius: 5px; }}"
            "QFrame#auditSource QToolButton { border: none; padding: 4px 10px; }"
            f"QFrame#auditSource QToolButton:checked {{ background: {fill}; color: white; "
            "border-radius: 4px; }")


def source_line() -> QLabel:
    """The line under the header: where the rows come from, or what went wrong."""
    label = QLabel()
    label.setObjectName("auditSourceLine")
    label.setWordWrap(True)
    label.setAccessibleName("Audit source")
    label.hide()
    return label


def say(label: QLabel, text: str, *, problem: bool = False) -> None:
    """Show `text` on the source line, in the error colour for a problem."""
    color = palette.error_name() if problem else palette.muted_name()
    label.setStyleSheet(f"color: {color}; padding: 0 14px 6px 14px;")
    label.setText(text)
    label.setVisible(bool(text))
