"""The first-run window's way to a server: "Connect to your organisation's server".

`ConnectPage` takes the server's address, the user's email and password and signs in and
enrols this laptop off the UI thread (`core.sync.connect.start`). `CodePage` shows the
6-digit approval code large, in words for the user to pass on, waits (cancellable) for an
admin's approval, then loads the server's data with progress; as soon as the first screen
is there (users and the newest deals), the user is signed in and the wizard ends: the
main window opens while the rest arrives (`Connected.loading` still runs). Every failure
is core's message in words (unreachable server, wrong password, refused)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ...core.domain import validation
from ...core.domain.errors import ValidationError
from ...core.domain.progress import CancelToken
from ...core.store.workspace import Workspace
from ...core.sync import connect
from ...core.sync.connect import Enrolment
from ...core.sync.transport import Transport
from ...core.usecases import auth
from ...core.usecases.frame import AuthSession
from ..icons import icon
from ..kit import dialogs, palette
from ..kit.ops import Op
from ..kit.widgets import error_line, workspace_folder


@dataclass
class Connected:
    """What the wizard hands the app: the open workspace, the signed-in session, and the
    page whose first load may still run (`when_loaded`)."""

    ws: Workspace
    session: AuthSession
    transport: Transport
    page: CodePage

    @property
    def loading(self) -> bool:
        return not self.page.loaded

    def when_loaded(self, fn: Callable[[], object]) -> None:
        """Call `fn` once the first load has ended (now, if it has)."""
        if self.page.loaded:
            fn()
        else:
            self.page.load_ended.connect(fn)


def spaced(code: str) -> str:
    """ "123456" as "123 456": easier to read out."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def approval_parts(code_name: str, words_name: str, status_name: str, bar_name: str,
                   scale: float) -> tuple[QLabel, QLabel, QLabel, QProgressBar]:
    """What a screen waiting for approval shows: the code large (`scale` x the font),
    the words to pass on, the status, and a busy progress bar (the first load's)."""
    code = QLabel()
    code.setObjectName(code_name)
    code.setAlignment(Qt.AlignmentFlag.AlignCenter)
    code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    font = QFont(code.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 4)
    code.setFont(font)
    code.setAccessibleName("Approval code")
    words, status = QLabel(), QLabel()
    for label, name in ((words, words_name), (status, status_name)):
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    bar = QProgressBar()
    bar.setObjectName(bar_name)
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    return code, words, status, bar


class ConnectPage(QWizardPage):
    def __init__(self, default_path: Path, code_id: int) -> None:
        super().__init__()
        self.code_id = code_id  # the wizard's id of the CodePage
        self.setTitle("Connect to your organisation's server")
        self.setSubTitle("Sign in with the account your administrator made for you. This "
                         "laptop keeps an encrypted copy and works offline.")
        form = QFormLayout(self)
        self.url = QLineEdit()
        self.url.setObjectName("serverUrl")
        self.url.setPlaceholderText("https://closeplan.your-organisation.org")
        self.email = QLineEdit()
        self.email.setObjectName("connectEmail")
        self.password = QLineEdit()
        self.password.setObjectName("connectPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.path, row = workspace_folder(str(default_path), "connectPath")
        for label, w in (("Ser&ver address", self.url), ("&Email", self.email),
                         ("&Password", self.password)):
            w.setAccessibleName(label.replace("&", ""))
            form.addRow(label, w)
            w.textChanged.connect(self.completeChanged)
        form.addRow("Workspace folder", row)
        self.hint = error_line("connectHint")  # what is wrong with the form, as you type
        form.addRow("", self.hint)
        self.outcome = error_line("connectOutcome")  # the server's answer, in words
        form.addRow("", self.outcome)
        self.op: Op | None = None
        self.started: tuple[Workspace, Transport, Enrolment] | None = None

    def isComplete(self) -> bool:
        try:
            if not self.url.text().strip():
                raise ValidationError("")
            validation.email(self.email.text())
        except ValidationError as exc:
            self.hint.setText(str(exc) if self.email.text() and str(exc) else "")
            return False
        self.hint.clear()
        return bool(self.password.text() and self.path.text().strip()) and self.op is None

    def validatePage(self) -> bool:
        if self.started is not None:
            return True
        if self.op is not None:
            return False
        path = Path(self.path.text().strip()).expanduser()
        url, email, password = self.url.text().strip(), self.email.text(), \
            self.password.text()
        self.outcome.setStyleSheet(f"color: {palette.muted_name()};")
        self.outcome.setText("Signing in and registering this laptop…")
        self.op = (Op(self, "Connecting to the server",
                      lambda _p, _c: connect.start(path, url, email, password),
                      cancellable=False, dialog_name="connectProgress")
                   .on_success(self._started).on_failure(self._failed)
                   .run_in_background())
        self.completeChanged.emit()
        return False

    def _started(self, started: tuple[Workspace, Transport, Enrolment]) -> None:
        self.op = None
        self.started = started
        self.outcome.clear()
        self.wizard().next()

    def _failed(self, text: str) -> None:
        self.op = None
        self.outcome.setStyleSheet(f"color: {palette.error_name()};")
        self.outcome.setText(text)
        self.completeChanged.emit()

    def nextId(self) -> int:
        return self.code_id


class _Bridge(QObject):
    """Signals from the loading worker to the page (queued to the UI thread)."""

    progress = Signal(int, int)
    first_screen = Signal()


class CodePage(QWizardPage):
    """The approval code, the wait, the first load."""

    load_ended = Signal()

    def __init__(self, connect_page: ConnectPage) -> None:
        super().__init__()
        self.connect_page = connect_page
        self.setTitle("Approve this laptop")
        self.setSubTitle("Your administrator approves each new laptop before it receives "
                         "your organisation's data.")
        layout = QVBoxLayout(self)
        layout.setSpacing(14)
        self.code, self.words, self.status, self.bar = approval_parts(
            "approvalCode", "approvalWords", "connectStatus", "loadProgress", 3.2)
        self.retry = QPushButton(icon("refresh"), "Wait again")
        self.retry.setObjectName("waitAgain")
        self.retry.clicked.connect(self._wait)
        self.retry.hide()
        self.hint = error_line("codeHint")
        layout.addStretch(1)
        for w in (self.code, self.words, self.bar, self.status, self.hint):
            layout.addWidget(w)
        layout.addWidget(self.retry, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(2)
        self.op: Op | None = None
        self.loading: Op | None = None
        self.session: AuthSession | None = None
        self.loaded = False  # the first load ended (done or failed)
        self.bridge = _Bridge()
        self.bridge.progress.connect(self._progress)
        self.bridge.first_screen.connect(self._first_screen)

    # ---- the wait ---------------------------------------------------------------------

    def initializePage(self) -> None:
        started = self.connect_page.started
        assert started is not None
        _ws, _transport, enrolment = started
        code = spaced(enrolment.approval_code or "")
        self.code.setText(code)
        if enrolment.first_device:
            self.words.setText("This is the first laptop of your organisation: it is "
                               "approved already.")
            self._load()
        else:
            self.words.setText(f"Ask an administrator to approve this laptop with code "
                               f"<b>{code}</b> in their Devices pane.")
            self._wait()

    def _wait(self) -> None:
        started = self.connect_page.started
        assert started is not None
        ws, transport, _enrolment = started
        self.retry.hide()
        self.hint.clear()
        self.status.setText("Waiting for an administrator's approval… (you can leave this "
                            "window open; Cancel stops waiting)")
        self.bar.setRange(0, 0)
        self.op = (Op(self, "Waiting for approval",
                      lambda _p, token: connect.wait_for_approval(transport, ws.device_id,
                                                                  cancel=token),
                      progress=False)
                   .on_success(self._approved).on_failure(self._wait_failed)
                   .run_in_background())

    def _approved(self, approved: bool) -> None:
        self.op = None
        if not approved:
            self.status.setText("")
            self.hint.setText("No administrator approved this laptop yet. Ask them to open "
                              "Devices, select this laptop and approve it with the code "
                              "above; then wait again.")
            self.retry.show()
            return
        self.words.setText("Approved.")
        self._load()

    def _wait_failed(self, text: str) -> None:
        self.op = None
        self.status.setText("")
        self.hint.setText(text)
        self.retry.show()

    # ---- the first load ---------------------------------------------------------------

    def _load(self) -> None:
        started = self.connect_page.started
        assert started is not None
        ws, transport, _enrolment = started
        bridge = self.bridge
        self.status.setText("Loading your organisation's data…")

        def work(_progress: object, token: CancelToken) -> Any:
            return connect.finish(ws, transport, progress=lambda d, t: bridge.progress.emit(
                d, t or 0), cancel=token, on_first_screen=bridge.first_screen.emit)

        self.loading = (Op(self, "Loading data", work, progress=False)
                        .on_success(lambda _c: self._loaded())
                        .on_failure(self._load_failed).on_finished(self._ended)
                        .run_in_background())

    def _ended(self) -> None:
        self.loaded = True
        self.load_ended.emit()

    def _progress(self, done: int, total: int) -> None:
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        self.status.setText(f"Loading your organisation's data… {done:,} records")

    def _first_screen(self) -> None:
        if self.session is not None:
            return
        started = self.connect_page.started
        assert started is not None
        ws = started[0]
        page = self.connect_page
        try:
            self.session = auth.sign_in(ws, validation.email(page.email.text()),
                                        page.password.text())
        except Exception as exc:  # shown in words; the load goes on
            self.hint.setText(dialogs.error_text(exc))
            return
        page.password.clear()
        self.wizard().accept()

    def _loaded(self) -> None:
        self._first_screen()  # a small organisation: the whole load was the first screen
        self.loading = None

    def _load_failed(self, text: str) -> None:
        self.loading = None
        if self.session is None:
            self.status.setText("")
            self.hint.setText(text + " Close this window and start ClosePlan again to "
                              "resume; what was loaded is kept.")

    def cancel(self) -> None:
        """The wizard's Cancel: stop waiting or loading."""
        for op in (self.op, self.loading):
            if op is not None:
                op.cancel()

    def isComplete(self) -> bool:
        return False  # the page moves on by itself

    def connected(self) -> Connected | None:
        started = self.connect_page.started
        if started is None or self.session is None:
            return None
        return Connected(started[0], self.session, started[1], self)
