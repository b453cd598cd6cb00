"""The Audit pane (admins): the access log, security events and PHI reveals by day, with
Verify chain and Export.

Everything shown comes from core's admin use cases (`audit.list_access`, `list_events`,
`audit_stats.reveals_per_user_day`); the tabs (tabs.py) only filter, page and colour.
Which days are unusual is decided in core. Verify and Export run off the UI thread as
kit.ops ops, and announce the security events they log.

On a connected laptop the admin switches between this laptop's audit and the whole
organisation's (source.py): the same tabs and filters over the server's admin views
(`core.sync.audit_views`, read off the UI thread), a device column, and reveals by day
counted tenant-wide. Offline, or when the server refuses, a line says so and this
laptop's audit stays on screen. Export and Verify act on this laptop's log.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.enums import AccessAction
from ...core.domain.progress import CancelToken, Progress
from ...core.store.chain import ChainReport
from ...core.sync import audit_views
from ...core.usecases import audit, audit_stats, users
from ...core.usecases.audit import AuditFilter
from ...core.usecases.frame import AuthSession
from ..icons import icon
from ..kit import dialogs, palette
from ..kit.ops import Kind, Op
from ..kit.widgets import button
from ..pane import Command, Pane
from ..signed_in import SignedIn
from . import source
from .source import LOCAL, ORG, OrgContext, SourceSwitch
from .tabs import AccessTab, EventsTab, RevealsTab

CSV_FILTER, FHIR_FILTER = "CSV (*.csv)", "FHIR R4 JSON (*.json)"


class AuditPane(Pane):
    """Admins: who saw which PHI and when, security events, unusual reveal days;
    verify the hash chain and export the audit."""

    key = "audit"
    title = "Audit"
    icon_name = "audit"
    shortcut = "Ctrl+3"
    admin_only = True
    shows = frozenset({Kind.AUDIT, Kind.USERS})  # users: the names and the user filters
    commands = (
        Command("tools", "&Verify Audit Chain", lambda p: p.verify_chain(), None, "verify"),
        Command("tools", "E&xport Audit…", lambda p: p.export_audit(), None, "export"),
    )
    ACCESS, EVENTS, REVEALS = range(3)

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(signed_in, parent)
        self.setObjectName("auditPane")
        self.running_op: Op | None = None
        self.last_message = ""
        self._session = signed_in.session_or_none
        # The organisation's audit: offered on a connected laptop (its sync's transport).
        self.source = LOCAL
        self.context_op: Op | None = None
        self.switch: SourceSwitch | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._header())
        self.source_line = source.source_line()
        layout.addWidget(self.source_line)
        self.error_banner = self._error_banner()
        layout.addWidget(self.error_banner)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("auditTabs")
        self.tabs.setAccessibleName("Audit views")
        self.tabs.setDocumentMode(True)
        self.access_page = AccessTab(self._session)
        self.events_page = EventsTab(self._session)
        self.reveals_page = RevealsTab()
        self.access_model = self.access_page.model
        self.events_model = self.events_page.model
        self.reveals_model = self.reveals_page.model
        self.tabs.addTab(self.access_page, icon("audit"), "Access log")
        self.tabs.addTab(self.events_page, icon("lock"), "Security events")
        self.tabs.addTab(self.reveals_page, icon("reveal"), "PHI reveals by UTC day")
        self.tabs.setTabToolTip(self.ACCESS, "Every view of PHI and every change to a deal")
        self.tabs.setTabToolTip(self.EVENTS, "Sign-ins, lockouts, user and key changes, "
                                "exports, break-glass")
        self.tabs.setTabToolTip(self.REVEALS, "PHI reveals per user and UTC day (the log's "
                                "times show their zone), unusual days highlighted")
        body = QVBoxLayout()
        body.setContentsMargins(12, 0, 12, 0)
        body.addWidget(self.tabs, 1)
        layout.addLayout(body, 1)
        for model in (self.access_model, self.events_model):
            model.failed.connect(self._show_failure)
            model.remote_failed.connect(self._org_failed)

    # ---- construction ---------------------------------------------------------------

    def _header(self) -> QWidget:
        box = QWidget()
        box.setObjectName("auditHeader")
        row = QHBoxLayout(box)
        row.setContentsMargins(14, 14, 12, 10)
        text = QVBoxLayout()
        text.setSpacing(2)
        heading = QLabel("Audit")
        heading.setObjectName("paneTitle")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        heading.setFont(font)
        sub = QLabel("Every view of PHI, every change to a deal and every security event. "
                     "The log is append-only and hash-chained.")
        sub.setObjectName("paneSubtitle")
        sub.setStyleSheet(f"color: {palette.muted_name()};")
        sub.setWordWrap(True)
        text.addWidget(heading)
        text.addWidget(sub)
        row.addLayout(text, 1)
        self.verify_button = button("Verify chain", "verify", self.verify_chain,
                                    name="verifyButton", icon_size=18,
                                    tip="Check that no audit row was changed, removed, "
                                        "inserted or reordered")
        self.export_button = button("Export…", "export", self.export_audit,
                                    name="exportButton", icon_size=18,
                                    tip="Save what the current tab lists (its filters) "
                                        "as CSV or FHIR R4 JSON")
        self.refresh_button = button("Refresh", "refresh", self.reload, name="refreshButton",
                                     icon_size=18, tip="Reload the audit")
        sync = self.signed_in.sync
        if sync is not None:
            self.switch = SourceSwitch(sync.transport.url)
            self.switch.changed.connect(self.set_source)
            row.addWidget(self.switch, 0, Qt.AlignmentFlag.AlignTop)
            row.addSpacing(8)
        for b in (self.verify_button, self.export_button, self.refresh_button):
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        return box

    def _error_banner(self) -> QWidget:
        wrapper = QWidget()
        outer = QVBoxLayout(wrapper)
        outer.setContentsMargins(12, 0, 12, 8)
        frame = QFrame()
        frame.setObjectName("auditError")
        frame.setStyleSheet(palette.banner_style("auditError"))
        row = QHBoxLayout(frame)
        row.setContentsMargins(10, 6, 10, 6)
        pic = QLabel()
        pic.setPixmap(icon("warning", palette.error_name()).pixmap(QSize(18, 18)))
        self.error_text = QLabel()
        self.error_text.setWordWrap(True)
        self.error_text.setAccessibleName("Audit error")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Dismiss error")
        close.clicked.connect(lambda _checked=False: wrapper.hide())
        row.addWidget(pic)
        row.addWidget(self.error_text, 1)
        row.addWidget(close)
        outer.addWidget(frame)
        wrapper.hide()
        return wrapper

    # ---- loading --------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload users, the access log, security events and reveal statistics (this
        laptop's, or the organisation's)."""
        session = self._session()
        if session is None:
            return
        self._hide_failure()
        self._load_users(session)
        if self.source == ORG:
            self._load_org(session)
            return
        self.access_model.set_filter(self.access_page.filter())
        self.events_model.set_filter(self.events_page.filter())
        found = self.read("Cannot load the audit",
                          lambda: audit_stats.reveals_per_user_day(session),
                          on_failure=self._show_failure)
        self.reveals_page.set_rows(found.value or [])

    # ---- the organisation's audit -------------------------------------------------------

    def set_source(self, chosen: str) -> None:
        """Show this laptop's audit (LOCAL) or the whole organisation's (ORG)."""
        if chosen == self.source or (chosen == ORG and self.signed_in.sync is None):
            return
        self.source = chosen
        if self.switch is not None:
            self.switch.choose(chosen)
        org = chosen == ORG
        self.export_button.setEnabled(not org and self.running_op is None)
        self.export_button.setToolTip(
            "Export works on this laptop's audit: switch to This laptop to export"
            if org else "Save what the current tab lists (its filters) as CSV or FHIR R4 "
            "JSON")
        if not org:
            self.context_op = None
            for model in (self.access_model, self.events_model):
                model.set_remote(None)
            source.say(self.source_line, "")
        self.reload()

    def _load_org(self, session: AuthSession) -> None:
        """Device names and reveal counts first (one worker), then the pages."""
        sync = self.signed_in.sync
        assert sync is not None
        transport, own = sync.transport, self.signed_in.ws.device_id
        source.say(self.source_line, f"Reading the organisation's audit from "
                   f"{transport.url}…")
        op = self.context_op = Op(
            None, "Reading the organisation's audit",
            lambda _p, _c: source.load_context(session, transport, own), progress=False)
        op.on_success(lambda found: self._org_ready(op, found)) \
            .on_failure(lambda text: self._org_failed(text) if self.context_op is op
                        else None).run_in_background()

    def _org_ready(self, op: Op, found: OrgContext) -> None:
        if op is not self.context_op or self.source != ORG:
            return  # switched back, or reloaded again meanwhile
        self.context_op = None
        sync = self.signed_in.sync
        assert sync is not None
        transport = sync.transport
        self.access_model.set_remote(
            lambda s, f, c: audit_views.access_page(s, transport, f, c), found.devices)
        self.events_model.set_remote(
            lambda s, f, c: audit_views.events_page(s, transport, f, c), found.devices)
        self.access_model.set_filter(self.access_page.filter())
        self.events_model.set_filter(self.events_page.filter())
        self.reveals_page.set_rows(found.reveals.stats)
        laptops = sum(1 for d in found.devices if d)
        more = (" Reveals by day show the newest days only: narrow the dates for older "
                "ones." if found.reveals.more else "")
        source.say(self.source_line, f"The whole organisation: the audit of every laptop "
                   f"({laptops:,} devices) and of the server, read from {transport.url}."
                   f"{more}")

    def _org_failed(self, text: str) -> None:
        """Offline or refused: say so, and show this laptop's audit instead."""
        if self.source != ORG:
            return
        self.set_source(LOCAL)
        source.say(self.source_line, f"The organisation's audit cannot be shown: {text} "
                   "This laptop's audit is shown instead.", problem=True)

    def _load_users(self, session: AuthSession) -> None:
        found = self.read("Cannot load the audit", lambda: users.list_users(session),
                          on_failure=self._show_failure)
        if found.value is None:
            return
        self.access_model.names = self.events_model.names = {
            u.id: u.full_name for u in found.value}
        people = [(u.id, u.full_name if u.active else f"{u.full_name} (deactivated)", u.email)
                  for u in found.value]
        self.access_page.set_users(people)
        self.events_page.set_users(people)

    def _show_failure(self, message: str) -> None:
        self.error_text.setText(message)
        self.error_banner.setVisible(True)

    def _hide_failure(self) -> None:
        self.error_banner.setVisible(False)

    def clear_sensitive(self) -> None:
        """The audit holds no PHI, but break-glass reasons are free text: drop all rows."""
        self.context_op = None  # the organisation's view loads again when unlocked
        self.access_page.filter_deal.timer.stop()
        self.access_model.clear()
        self.events_model.clear()
        self.reveals_page.model.set_rows([])
        self.reveals_page.count.setText("")

    # ---- verify and export ----------------------------------------------------------

    def _run(self, title: str, work: Any, done: Any) -> None:
        if self.running_op is not None or self._session() is None:
            return
        self.verify_button.setEnabled(False)
        self.export_button.setEnabled(False)
        # Verifying and exporting are logged as security events.
        self.running_op = (self.start(title, work, changes={Kind.AUDIT})
                           .on_finished(self._op_finished).on_success(done)
                           .run_in_background())

    def _op_finished(self) -> None:
        self.running_op = None
        self.verify_button.setEnabled(True)
        self.export_button.setEnabled(self.source == LOCAL)

    @staticmethod
    def _cancellable(progress: Progress, token: CancelToken) -> Progress:
        def report(done: int, total: int | None) -> None:
            token.check()
            progress(done, total)
        return report

    def verify_chain(self) -> None:
        """Verify the audit hash chains (off the UI thread) and say what core found."""
        session = self._session()
        if session is None:
            return

        def work(progress: Progress, token: CancelToken) -> ChainReport:
            return audit.verify(session, self._cancellable(progress, token))

        self._run("Verifying the audit chain", work, self._verified)

    def _verified(self, report: ChainReport) -> None:
        if report.ok:
            self.last_message = f"Audit chain intact: {report.rows_checked:,} rows verified."
            dialogs.inform(self, "Audit chain intact", self.last_message)
        else:
            self.last_message = (f"The audit chain is broken after {report.rows_checked:,} "
                                 f"good rows.\n\n{report.problem}\n\nKeep this workspace as it "
                                 "is and tell your security officer.")
            dialogs.warn(self, "Audit chain broken", self.last_message)

    def export_scope(self) -> tuple[AuditFilter, tuple[str, ...], str]:
        """What Export writes: what the current tab lists, with its filters (the filter,
        the logs, and those words for the message). The reveals tab counts the access
        log's reveals: its export is those rows."""
        index = self.tabs.currentIndex()
        if index == self.EVENTS:
            return self.events_page.filter(), (audit.EVENTS,), "security events"
        if index == self.REVEALS:
            return (AuditFilter(action=AccessAction.PHI_ACCESS), (audit.ACCESS,),
                    "PHI reveals")
        return self.access_page.filter(), (audit.ACCESS,), "access-log entries"

    def export_audit(self) -> None:
        """Ask where and in which format, then export what the current tab lists."""
        session = self._session()
        if session is None or self.running_op is not None or self.source == ORG:
            return
        default = Path.home() / f"closeplan-audit-{date.today():%Y-%m-%d}.csv"
        chosen_file = dialogs.save_file(self, "Export audit", default,
                                        f"{CSV_FILTER};;{FHIR_FILTER}", CSV_FILTER)
        if chosen_file is None:
            return
        target, chosen = chosen_file
        suffix = target.suffix.lower()
        if suffix == ".json" or (suffix != ".csv" and chosen == FHIR_FILTER):
            fmt = "fhir"
        else:
            fmt = "csv"
        if suffix not in (".csv", ".json"):
            target = target.with_name(target.name + (".json" if fmt == "fhir" else ".csv"))
        f, logs, what = self.export_scope()

        def work(progress: Progress, token: CancelToken) -> int:
            return audit.export(session, target, fmt, f, self._cancellable(progress, token),
                                logs)

        def done(count: int) -> None:
            kind = "FHIR R4 JSON" if fmt == "fhir" else "CSV"
            scope = "with the filters on screen" if f != AuditFilter() else "all of them"
            self.last_message = (f"Exported {count:,} {what} ({scope}) to {target} "
                                 f"({kind}).")
            dialogs.inform(self, "Audit exported", self.last_message)

        self._run("Exporting the audit", work, done)
