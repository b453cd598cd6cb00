"""The Devices pane, for admins of a connected workspace: the tenant's laptops (name,
user, status, last seen), Approve a waiting one with the code its screen shows, Revoke
one (after a confirmation that says what happens: its sessions end and it wipes its
workspace at its next contact). The server's calls run off the UI thread; every rule is
the server's and core's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.sync import devices
from ...core.sync.devices import Device
from ...core.usecases import users
from ..kit import dialogs, formatting, palette
from ..kit.ops import Kind
from ..kit.widgets import button, heading, message_label, muted, set_message
from ..pane import Pane
from ..signed_in import SignedIn

COLUMNS = ("Name", "User", "Status", "Last seen", "Registered")
STATUS_WORDS = {"PENDING": "Waiting for approval", "ACTIVE": "Approved",
                "REVOKED": "Revoked"}


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


class DevicesPane(Pane):
    key = "devices"
    title = "Devices"
    icon_name = "devices"
    shortcut = "Ctrl+4"
    admin_only = True
    needs_server = True
    shows = frozenset({Kind.USERS})

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(signed_in, parent)
        self.setObjectName("devicesPane")
        self.rows: list[Device] = []
        self.note = ""  # what the last approve or revoke did, shown after the reload
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(10)
        layout.addWidget(heading("Devices"))
        layout.addWidget(muted(
            "The laptops connected to your organisation's server. A new laptop waits here "
            "until you approve it with the 6-digit code its screen shows; approving gives it "
            "the keys to open PHI."))
        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.approve_button = button("Approve…", "verify", self.approve,
                                     name="approveDevice", accessible="Approve device",
                                     tip="Approve the selected waiting laptop with its code")
        self.revoke_button = button("Revoke…", "delete", self.revoke, name="revokeDevice",
                                    accessible="Revoke device",
                                    tip="Revoke the selected laptop; it wipes itself")
        self.refresh_button = button("Refresh", "refresh", self.reload,
                                     name="refreshDevices")
        for b in (self.approve_button, self.revoke_button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        layout.addLayout(bar)
        self.message = message_label("Devices message", "devicesMessage")
        layout.addWidget(self.message)
        self.tree = QTreeWidget()
        self.tree.setObjectName("deviceList")
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setAccessibleName("Devices")
        self.tree.setStyleSheet("QTreeWidget::item { padding: 5px 4px; }")
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.itemSelectionChanged.connect(self._selected)
        layout.addWidget(self.tree, 1)
        self.status = QLabel()
        self.status.setObjectName("devicesStatus")
        layout.addWidget(self.status)
        self._selected()

    @property
    def transport(self) -> Any:
        service = self.signed_in.sync
        assert service is not None, "the Devices pane exists only in a connected window"
        return service.transport

    # ---- the list ---------------------------------------------------------------------

    def refresh(self) -> None:
        transport = self.transport
        self.status.setText("Loading the devices from the server…")
        self.start("Loading devices", lambda _p, _c: devices.list_devices(transport),
                   progress=False).on_success(self._show).on_failure(self._failed
                                                                     ).run_in_background()

    def _failed(self, text: str) -> None:
        self.status.setText("")
        set_message(self.message, text)

    def _show(self, found: list[Device]) -> None:
        set_message(self.message, "")
        session = self.signed_in.session_or_none()
        emails: dict[str, str] = {}
        if session is not None:
            listed = self.read("Devices", lambda: users.list_users(session)).value or []
            emails = {u.id: u.email for u in listed}
        order = {"PENDING": 0, "ACTIVE": 1, "REVOKED": 2}
        self.rows = sorted(found, key=lambda d: (order.get(d.status, 3), d.name.lower()))
        self.tree.clear()
        now_id = self.signed_in.ws.device_id
        for d in self.rows:
            seen, made = _when(d.last_seen_at), _when(d.created_at)
            name = d.name + (" (this laptop)" if d.id == now_id else "")
            item = QTreeWidgetItem([name, emails.get(d.user_id, d.user_id),
                                    STATUS_WORDS.get(d.status, d.status),
                                    formatting.local_minute(seen, "never"),
                                    formatting.local_day(made)])
            if seen is not None:
                item.setToolTip(3, formatting.local_second_zone(seen))
            if d.status == "PENDING":
                item.setForeground(2, palette_color(palette.warn_name()))
            elif d.status == "REVOKED":
                item.setForeground(2, palette_color(palette.muted_name()))
            item.setData(0, Qt.ItemDataRole.UserRole, d.id)
            self.tree.addTopLevelItem(item)
        for column in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        waiting = sum(d.status == "PENDING" for d in self.rows)
        self.status.setText(self.note or f"{len(self.rows):,} devices" + (
            f", {waiting:,} waiting for approval" if waiting else ""))
        self.note = ""
        self._selected()

    def current(self) -> Device | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        found = item.data(0, Qt.ItemDataRole.UserRole)
        return next((d for d in self.rows if d.id == found), None)

    def select(self, device_id: str) -> None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == device_id:
                self.tree.setCurrentItem(item)

    def _selected(self) -> None:
        d = self.current()
        self.approve_button.setEnabled(d is not None and d.status == "PENDING")
        self.revoke_button.setEnabled(d is not None and d.status != "REVOKED"
                                      and d.id != self.signed_in.ws.device_id)

    # ---- approve and revoke -----------------------------------------------------------

    def approve(self) -> None:
        d = self.current()
        if d is None or d.status != "PENDING":
            return
        code = dialogs.ask_text(self, "Approve device",
                                f"The 6-digit code shown on “{d.name}”:")
        if code is None:
            return
        ws, transport = self.signed_in.ws, self.transport
        self.start("Approving device",
                   lambda _p, _c: devices.approve(ws, transport, code.replace(" ", ""), d.id),
                   progress=False).on_success(lambda _d: self._after(
                       f"“{d.name}” is approved: it receives the keys and loads the data "
                       "now.")).on_failure(lambda t: set_message(self.message, t)
                                           ).run_in_background()

    def revoke(self) -> None:
        d = self.current()
        if d is None or d.status == "REVOKED":
            return
        if not dialogs.confirm(
                self, "Revoke device",
                f"Revoke “{d.name}”?\n\nIts sessions end at once and it can no longer sync "
                "or receive keys. At its next contact with the server it wipes its copy of "
                "the workspace, including changes it has not sent yet. This cannot be "
                "undone: the laptop must connect and be approved again.", "Revoke"):
            return
        transport = self.transport
        self.start("Revoking device", lambda _p, _c: devices.revoke(transport, d.id),
                   progress=False).on_success(lambda _r: self._after(
                       f"“{d.name}” is revoked; it wipes itself at its next contact.")
                   ).on_failure(lambda t: set_message(self.message, t)).run_in_background()

    def _after(self, text: str) -> None:
        self.note = text
        self.reload()


def palette_color(name: str) -> QBrush:
    return QBrush(QColor(name))
