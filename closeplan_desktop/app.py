"""closeplan-desktop: the GUI's composition root.

Opens the workspace (or runs the first-run wizard), signs in, shows the main window.
Every failure of opening (no keyring, locked keyring, missing or wrong key, newer cache,
already open) is a clear dialog, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .core import demo, hardening, paths, workspace
from .core.errors import ClosePlanError, KeyMismatch, KeyMissing, NewerWorkspace, WorkspaceBusy
from .core.keystore import KeyringLocked, NoKeyringBackend
from .core.policy import load_policy

ERROR_TITLES = {
    NoKeyringBackend: "No system keyring",
    KeyringLocked: "Keyring locked",
    KeyMissing: "Workspace key missing",
    KeyMismatch: "Workspace key does not match",
    NewerWorkspace: "Workspace from a newer version",
    WorkspaceBusy: "Workspace already open",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="closeplan-desktop",
                                description="ClosePlan Desktop: deals, users and audit.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--workspace", metavar="DIR", help="workspace folder to open")
    p.add_argument("--demo", action="store_true",
                   help="create or open the demo workspace and show its credentials")
    return p.parse_args(argv)


def error_title(exc: BaseException) -> str:
    for cls, title in ERROR_TITLES.items():
        if isinstance(exc, cls):
            return title
    return "Cannot open the workspace"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    hardening.apply()
    from PySide6.QtWidgets import QApplication

    from .ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("ClosePlan")
    app.setApplicationName("ClosePlan Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("closeplan-desktop")
    apply_theme(app)
    controller = Controller(args)
    if not controller.start():
        return 1
    return app.exec()


class Controller:
    """Runs the start: workspace, sign-in, main window; and sign-out back to sign-in."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws: workspace.Workspace | None = None
        self.window = None
        self.demo_credentials: tuple[str, str] | None = None

    def _error(self, title: str, message: str) -> None:
        from .ui.messages import show_error

        show_error(None, title, message)

    def start(self) -> bool:
        try:
            policy = load_policy()
            path = self._workspace_path(policy)
            if path is None:
                return False
            self.ws = workspace.open_workspace(path)
        except ClosePlanError as exc:
            self._error(error_title(exc), str(exc))
            return False
        return self.sign_in()

    def _workspace_path(self, policy: object) -> Path | None:
        if self.args.demo:
            from PySide6.QtCore import Qt
            from PySide6.QtWidgets import QApplication

            path = Path(self.args.workspace).expanduser() if self.args.workspace else None
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                info = demo.build(path)
            finally:
                QApplication.restoreOverrideCursor()
            self.demo_credentials = (info.admin_email, info.password)
            return info.path
        path = Path(self.args.workspace).expanduser() if self.args.workspace \
            else paths.default_workspace()
        if workspace.exists(path):
            return path
        from .ui.wizard import FirstRunWizard

        wizard = FirstRunWizard(path, policy)  # type: ignore[arg-type]
        if not wizard.exec() or wizard.path is None:
            return None
        return wizard.path

    def sign_in(self) -> bool:
        from .ui.main_window import MainWindow
        from .ui.session import AppSession
        from .ui.signin import SignInDialog

        assert self.ws is not None
        dialog = SignInDialog(self.ws, f"Workspace: {self.ws.path}", self.demo_credentials)
        if not dialog.exec() or dialog.session is None:
            self.ws.close()
            return False
        self.window = MainWindow(AppSession(self.ws, dialog.session))
        self.window.signed_out.connect(self._signed_out)
        self.window.show()
        return True

    def _signed_out(self) -> None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, self._after_sign_out)

    def _after_sign_out(self) -> None:
        from PySide6.QtWidgets import QApplication

        if self.window is not None:
            self.window.deleteLater()
            self.window = None
        if not self.sign_in():
            QApplication.quit()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
