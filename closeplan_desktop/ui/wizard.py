"""First run: create a workspace (tenant, domain, first admin) or restore one from a
recovery kit. The password policy is shown as you type; every check is core's."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ..core.domain import validation
from ..core.domain.errors import ValidationError
from ..core.security.policy import Policy
from ..core.store import workspace
from ..core.usecases import key_admin, users
from .icons import icon
from .kit import dialogs, ops, palette
from .kit.strength import StrengthAdvice
from .kit.widgets import error_line, workspace_folder
from .sync.connect_pages import CodePage, Connected, ConnectPage


def _hint() -> QLabel:
    """A line in the error colour; it shows nothing while empty."""
    return error_line()


class ChoicePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Welcome to ClosePlan Desktop")
        self.setSubTitle("Your deals and their PHI stay encrypted on this computer; the keys "
                         "stay in your system keyring.")
        layout = QVBoxLayout(self)
        self.create = QRadioButton("Create a new workspace for my organisation")
        self.create.setObjectName("choiceCreate")
        self.restore = QRadioButton("Restore a workspace from a recovery kit")
        self.restore.setObjectName("choiceRestore")
        self.connect = QRadioButton("Connect to your organisation's server")
        self.connect.setObjectName("choiceConnect")
        self.create.setChecked(True)
        layout.addWidget(self.create)
        layout.addWidget(self.restore)
        layout.addWidget(self.connect)
        layout.addStretch(1)

    def nextId(self) -> int:
        if self.connect.isChecked():
            return FirstRunWizard.CONNECT
        return FirstRunWizard.ORG if self.create.isChecked() else FirstRunWizard.RESTORE


class OrgPage(QWizardPage):
    def __init__(self, default_path: Path) -> None:
        super().__init__()
        self.setTitle("Your organisation")
        self.setSubTitle("The tenant this workspace holds.")
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.name.setObjectName("tenantName")
        self.name.setAccessibleName("Organisation name")
        self.name.setPlaceholderText("e.g. Riverside Health Partners")
        self.domain = QLineEdit()
        self.domain.setObjectName("tenantDomain")
        self.domain.setAccessibleName("Organisation domain")
        self.domain.setPlaceholderText("riverside-health.org (optional)")
        self.hint = _hint()
        self.path, row = workspace_folder(str(default_path), "workspacePath")
        # Mnemonics clear of the wizard's own (&Next, &Back, &Finish, &Cancel).
        form.addRow("Na&me", self.name)
        form.addRow("&Domain", self.domain)
        form.addRow("Workspace folder", row)
        form.addRow("", self.hint)
        for w in (self.name, self.domain, self.path):
            w.textChanged.connect(self.completeChanged)

    def isComplete(self) -> bool:
        try:
            validation.text(self.name.text(), "Organisation name", max_len=200)
            validation.domain(self.domain.text())
            if not self.path.text().strip():
                raise ValidationError("Choose a workspace folder.")
        except ValidationError as exc:
            self.hint.setText(str(exc) if self.name.text() or self.domain.text() else "")
            return False
        self.hint.clear()
        return True


class AdminPage(QWizardPage):
    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy
        self.setTitle("First administrator")
        self.setSubTitle("You. Administrators manage users, keys and the audit.")
        form = QFormLayout(self)
        self.first = QLineEdit()
        self.first.setObjectName("adminFirst")
        self.last = QLineEdit()
        self.last.setObjectName("adminLast")
        self.email = QLineEdit()
        self.email.setObjectName("adminEmail")
        self.password = QLineEdit()
        self.password.setObjectName("adminPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setObjectName("adminConfirm")
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.policy_hint = QLabel()
        self.policy_hint.setObjectName("passwordPolicy")
        self.policy_hint.setWordWrap(True)
        self.hint = _hint()
        for label, w in (("F&irst name", self.first), ("&Last name", self.last),
                         ("&Email", self.email), ("&Password", self.password),
                         ("C&onfirm password", self.confirm)):
            w.setAccessibleName(label.replace("&", ""))
            form.addRow(label, w)
            w.textChanged.connect(self.completeChanged)
        form.addRow("", self.policy_hint)
        # Scored with what core's create_tenant counts as easy to guess.
        self.strength = StrengthAdvice(self.password, self._inputs, self)
        form.addRow("", self.strength.label)
        form.addRow("", self.hint)
        self.isComplete()

    def _inputs(self) -> tuple[str, ...]:
        wizard = self.wizard()
        org = wizard.org if isinstance(wizard, FirstRunWizard) else None
        names = (org.name.text(), org.domain.text()) if org is not None else ()
        return (self.email.text(), self.first.text(), self.last.text(), *names)

    def isComplete(self) -> bool:
        n = self.policy.password_min_length
        pw = self.password.text()
        try:
            validation.password(pw, n)
            self.policy_hint.setText(f"✓ Password: at least {n} characters, at most 72 bytes.")
            self.policy_hint.setStyleSheet(f"color: {palette.ok_name()};")
            pw_ok = True
        except ValidationError as exc:
            self.policy_hint.setText(str(exc) if pw else f"Password: at least {n} characters, "
                                     "at most 72 bytes.")
            self.policy_hint.setStyleSheet(f"color: {palette.error_name()};" if pw else "")
            pw_ok = False
        try:
            validation.person_name(self.first.text(), "First name")
            validation.person_name(self.last.text(), "Last name")
            validation.email(self.email.text())
            if pw_ok and pw != self.confirm.text():
                raise ValidationError("The two passwords differ.")
        except ValidationError as exc:
            touched = any(w.text() for w in (self.first, self.last, self.email, self.confirm))
            self.hint.setText(str(exc) if touched else "")
            return False
        self.hint.clear()
        return pw_ok

    def nextId(self) -> int:
        return -1  # the last page: Enter means Finish, never "go on to Restore"


class RestorePage(QWizardPage):
    def __init__(self, default_path: Path) -> None:
        super().__init__()
        self.setTitle("Restore from a recovery kit")
        self.setSubTitle("Choose the workspace folder copied from the old computer (or a "
                         "backup) and the recovery kit your administrator exported.")
        form = QFormLayout(self)
        self.path = QLineEdit(str(default_path))
        self.path.setObjectName("restorePath")
        self.kit = QLineEdit()
        self.kit.setObjectName("kitPath")
        self.passphrase = QLineEdit()
        self.passphrase.setObjectName("kitPassphrase")
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        browse_ws = QPushButton(icon("folder"), "Browse…")
        browse_ws.clicked.connect(lambda: self._pick_dir())
        browse_kit = QPushButton(icon("key"), "Browse…")
        browse_kit.clicked.connect(lambda: self._pick_kit())
        for label, w, b in (("Workspace folder", self.path, browse_ws),
                            ("Recovery kit", self.kit, browse_kit)):
            row = QHBoxLayout()
            row.addWidget(w, 1)
            row.addWidget(b)
            holder = QWidget()
            holder.setLayout(row)
            row.setContentsMargins(0, 0, 0, 0)
            w.setAccessibleName(label)
            form.addRow(label, holder)
        self.passphrase.setAccessibleName("Kit passphrase")
        form.addRow("Kit passphrase", self.passphrase)
        self.hint = _hint()
        form.addRow("", self.hint)
        for w in (self.path, self.kit, self.passphrase):
            w.textChanged.connect(self.completeChanged)

    def _pick_dir(self) -> None:
        folder = dialogs.choose_folder(self, "Workspace folder", self.path.text())
        if folder is not None:
            self.path.setText(str(folder))

    def _pick_kit(self) -> None:
        kit = dialogs.open_file(self, "Recovery kit", Path.home(),
                                "Recovery kits (*.json *.cpkit);;All files (*)")
        if kit is not None:
            self.kit.setText(str(kit))

    def isComplete(self) -> bool:
        return bool(self.path.text().strip() and self.kit.text().strip()
                    and self.passphrase.text())

    def nextId(self) -> int:
        return -1


class FirstRunWizard(QWizard):
    """Creates or restores the workspace; `path` holds its folder when accepted, and
    `created` is True when it is a new one (which has no recovery kit yet). After
    connecting to a server, `connected` holds the open workspace and the signed-in
    session (the app opens the main window with them)."""

    CHOICE, ORG, ADMIN, RESTORE, CONNECT, CODE = range(6)

    def __init__(self, default_path: Path, policy: Policy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up ClosePlan Desktop")
        self.setObjectName("firstRunWizard")
        self.setWindowIcon(icon("closeplan"))
        self.setMinimumSize(620, 460)
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setPixmap(QWizard.WizardPixmap.LogoPixmap, icon("closeplan").pixmap(48, 48))
        self.policy = policy
        self.path: Path | None = None
        self.admin_email = ""
        self.created = False
        self.connected: Connected | None = None
        self.choice = ChoicePage()
        self.org = OrgPage(default_path)
        self.admin = AdminPage(policy)
        self.restore = RestorePage(default_path)
        self.setPage(self.CHOICE, self.choice)
        self.setPage(self.ORG, self.org)
        self.setPage(self.ADMIN, self.admin)
        self.setPage(self.RESTORE, self.restore)
        self.connect_page = ConnectPage(default_path, self.CODE)
        self.code_page = CodePage(self.connect_page)
        self.setPage(self.CONNECT, self.connect_page)
        self.setPage(self.CODE, self.code_page)
        self.admin.setFinalPage(True)
        self.restore.setFinalPage(True)
        self.error = _hint()

    def accept(self) -> None:
        if self.currentId() == self.CODE:
            self.connected = self.code_page.connected()
            if self.connected is not None:
                self.path = self.connected.ws.path
        super().accept()

    def reject(self) -> None:
        """Cancel: stop a wait or a load and close what connecting opened."""
        self.code_page.cancel()
        for op in (self.connect_page.op, self.code_page.op, self.code_page.loading):
            if op is not None:
                op.wait()
        started = self.connect_page.started
        if started is not None:
            started[1].close()
            started[0].close()
            self.connect_page.started = None
        super().reject()

    def validateCurrentPage(self) -> bool:
        page = self.currentId()
        if page == self.ADMIN:
            return ops.run_now(self._create, parent=self, on_failure=self.admin.hint.setText).ok
        if page == self.CONNECT:
            return self.connect_page.validatePage()
        if page == self.RESTORE:
            return ops.run_now(self._restore, parent=self,
                               on_failure=self.restore.hint.setText).ok
        return True

    def _create(self) -> None:
        path = Path(self.org.path.text().strip()).expanduser()
        password = self.admin.password.text()
        with workspace.create(path) as ws:
            users.create_tenant(ws, self.org.name.text(), self.org.domain.text() or None,
                                self.admin.email.text(), self.admin.first.text(),
                                self.admin.last.text(), password)
        self.admin.password.clear()
        self.admin.confirm.clear()
        self.admin_email = validation.email(self.admin.email.text())
        self.path = path
        self.created = True

    def _restore(self) -> None:
        path = Path(self.restore.path.text().strip()).expanduser()
        data = key_admin.read_kit_file(Path(self.restore.kit.text().strip()).expanduser())
        key_admin.import_kit(path, data, self.restore.passphrase.text())
        self.restore.passphrase.clear()
        self.path = path
