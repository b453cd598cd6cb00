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
from .core import demo, hardening, paths, workers, workspace
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
    p.add_argument("--self-test", action="store_true",
                   help="check this installation on a throwaway workspace (real keyring), "
                        "print each step, exit 0 on success or 1 with the reason")
    return p.parse_args(argv)


def error_title(exc: BaseException) -> str:
    for cls, title in ERROR_TITLES.items():
        if isinstance(exc, cls):
            return title
    return "Cannot open the workspace"


def main(argv: Sequence[str] | None = None) -> int:
    workers.enter_if_worker()
    args = parse_args(argv)
    hardening.apply()
    _configure_logging()
    if args.self_test:
        return self_test()
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


def _say(stream: object, text: str) -> None:
    """Print to a stream that may be missing (GUI builds on Windows have no console)."""
    if stream is not None:
        print(text, file=stream, flush=True)  # type: ignore[call-overload]


def _configure_logging() -> None:
    """Warnings go to stderr through the redacting filter (no PHI, keys or emails)."""
    import logging

    logging.basicConfig(level=logging.WARNING,
                        format="closeplan-desktop: %(levelname)s: %(message)s")
    hardening.install_log_redaction()


def self_test() -> int:
    """`--self-test`: core.selftest's steps, plus the Qt check over the throwaway
    workspace. Prints each step; 0 on success, 1 with a one-line reason (no traceback)."""
    import os

    from .core.selftest import run_self_test

    _say(sys.stdout, f"closeplan-desktop {__version__} self-test")
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # no display: nothing is shown anyway
    try:
        run_self_test(extra=_qt_check, extra_name="build the sign-in window (Qt)",
                      report=lambda step: _say(sys.stdout, f"  ok  {step}"))
    except ClosePlanError as exc:
        _say(sys.stderr, f"closeplan-desktop: {_one_line(str(exc))}")
        return 1
    except Exception as exc:  # never a traceback: the type and a redacted message
        text = hardening.redact(str(exc))
        _say(sys.stderr, f"closeplan-desktop: self-test failed: {exc.__class__.__name__}: "
                         f"{_one_line(text)}")
        return 1
    _say(sys.stdout, "Self-test passed.")
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _qt_check(ws: workspace.Workspace) -> str:
    """Build the sign-in window over the throwaway workspace (not shown): proves that the
    Qt platform plugin, the SVG image and icon plugins and resources/ are all there."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication, QIcon, QImageReader
    from PySide6.QtWidgets import QApplication

    from .ui.icons import resource_dir
    from .ui.signin import SignInDialog
    from .ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)  # type: ignore[arg-type]
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    if "svg" not in formats:
        raise ClosePlanError("Qt's SVG image plugin "
                             "(imageformats/qsvg) is missing from this installation.")
    svg = resource_dir() / "icons" / "closeplan.svg"
    if not svg.is_file():
        raise ClosePlanError(f"the app's resources are missing ({svg} not found).")
    if QIcon(str(svg)).pixmap(QSize(32, 32)).isNull():
        raise ClosePlanError("Qt's SVG icon engine "
                             "(iconengines/qsvgicon) could not draw the app icon.")
    dialog = SignInDialog(ws, f"Workspace: {ws.path}")
    try:
        if dialog.windowIcon().isNull():
            raise ClosePlanError("the sign-in window has no icon.")
    finally:
        dialog.deleteLater()
        dialog.close()
    return (f"built the sign-in window (Qt platform '{QGuiApplication.platformName()}', "
            f"SVG plugins, resources in {resource_dir()})")


BENCH_EXIT_ON_PAINT = "CLOSEPLAN_BENCH_EXIT_ON_PAINT"


def _bench_exit_on_paint(dialog: object) -> None:
    """For tests/benchmarks only: with CLOSEPLAN_BENCH_EXIT_ON_PAINT=1, print
    `closeplan-bench signin-painted UNIX_TIME` once the sign-in window has been painted,
    then exit (process start to painted sign-in window). Otherwise does nothing."""
    import os

    if os.environ.get(BENCH_EXIT_ON_PAINT) != "1":
        return
    import time

    from PySide6.QtCore import QEvent, QObject, QTimer

    def report() -> None:
        print(f"closeplan-bench signin-painted {time.time():.6f}", flush=True)
        os._exit(0)

    class _Painted(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                QTimer.singleShot(0, report)  # after this paint has been drawn
            return False

    watcher = _Painted(dialog)  # type: ignore[arg-type]
    dialog.installEventFilter(watcher)  # type: ignore[attr-defined]


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
        _bench_exit_on_paint(dialog)
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
