"""Sync > "Connect this workspace to a server…" (an admin of a standalone workspace): the
organisation is created on the server from this workspace (`core.sync.adopt`), with the
setup code the server's operator gave. The form asks; core does everything, off the UI
thread with progress; a failure leaves the workspace standalone and is shown here."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ...core.sync import adopt
from ...core.sync.transport import Transport
from ..kit import palette
from ..kit.dialogs import ok_cancel
from ..kit.ops import Kind, Op
from ..kit.widgets import error_line
from ..signed_in import SignedIn


class ConnectWorkspaceDialog(QDialog):
    """Server address, the admin's password again and the setup code; `adopted` holds
    what was done once the dialog is accepted."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.adopted: adopt.Adopted | None = None
        self.op: Op | None = None
        self.setWindowTitle("Connect this workspace to a server")
        self.setObjectName("connectWorkspaceDialog")
        about = QLabel("The organisation is created on your server from this workspace: its "
                       "users, deals and audit keep their ids, and this laptop becomes its "
                       "first device. Ask the server's operator for a setup code "
                       "(closeplan-server setup-code).")
        about.setWordWrap(True)
        self.url = QLineEdit()
        self.url.setObjectName("adoptServerUrl")
        self.url.setPlaceholderText("https://closeplan.your-organisation.org")
        self.email = QLineEdit(signed_in.core.email)
        self.email.setReadOnly(True)
        self.password = QLineEdit()
        self.password.setObjectName("adoptPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.code = QLineEdit()
        self.code.setObjectName("adoptCode")
        self.code.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        for label, w in (("Ser&ver address", self.url), ("&Email", self.email),
                         ("Your &password", self.password), ("&Setup code", self.code)):
            w.setAccessibleName(label.replace("&", ""))
            form.addRow(label, w)
        self.outcome = error_line("adoptOutcome")
        buttons, self.ok = ok_cancel(self, "Connect", "sync", "adoptConnect", self._start)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.outcome)
        layout.addWidget(buttons)

    def _start(self) -> None:
        if self.op is not None:
            return
        url, password, code = self.url.text().strip(), self.password.text(), self.code.text()
        if not (url and password and code.strip()):
            self._failed("Fill in the server address, your password and the setup code.")
            return
        ws, email = self.signed_in.ws, self.signed_in.core.email
        self.ok.setEnabled(False)
        self.outcome.setStyleSheet(f"color: {palette.muted_name()};")
        self.outcome.setText("Creating the organisation on the server…")
        self.op = (Op(self, "Connecting this workspace",
                      lambda p, c: adopt.connect_open(ws, url, email, password, code,
                                                      progress=p, cancel=c),
                      changes={Kind.DEALS, Kind.USERS, Kind.KEYS},
                      hub=self.signed_in.changes, dialog_name="adoptProgress")
                   .on_success(self._done).on_failure(self._failed)
                   .on_cancel(lambda: self._failed("Stopped: the workspace is still "
                                                   "standalone; connect again to finish."))
                   .run_in_background())

    def _done(self, result: tuple[Transport, adopt.Adopted]) -> None:
        transport, self.adopted = result
        transport.close()  # the window's sync opens its own
        self.op = None
        self.accept()

    def _failed(self, text: str) -> None:
        self.op = None
        self.ok.setEnabled(True)
        self.outcome.setStyleSheet(f"color: {palette.error_name()};")
        self.outcome.setText(text)
