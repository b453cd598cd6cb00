"""closeplan-desktop: the GUI's composition root.

Paints the sign-in window first, then opens the workspace off the UI thread and warms
up while the user types (docs/benchmarks.md), signs in, shows the main window. So this
module imports only what the sign-in window needs at start: no SQLAlchemy, SQLCipher or
keyring (`core.layout` tells whether a workspace exists). The first-run wizard and
`--demo` still build or open their workspace before the sign-in window.
Every failure of opening (no keyring, locked keyring, missing or wrong key, newer cache,
already open) is a clear dialog and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .core.domain import paths
from .core.domain.errors import (
    ClosePlanError,
    KeyMismatch,
    KeyMissing,
    KeyringLocked,
    NewerWorkspace,
    NoKeyringBackend,
    WorkspaceBusy,
)
from .core.security import hardening
from .core.security.policy import load_policy
from .core.store import layout, processes

if TYPE_CHECKING:
    from .core.store.workspace import Workspace
    from .ui.kit.ops import Op
    from .ui.signin import SignInDialog
    from .ui.warmup import WarmUp

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


def error_title(exc: BaseException | None) -> str:
    for cls, title in ERROR_TITLES.items():
        if isinstance(exc, cls):
            return title
    return "Cannot open the workspace"


def main(argv: Sequence[str] | None = None) -> int:
    processes.enter_if_worker()
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

    from .core.tools.selftest import run_self_test

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


def _qt_check(ws: Workspace) -> str:
    """Build the sign-in window over the throwaway workspace (not shown): proves that the
    Qt platform plugin, the SVG image and icon plugins and resources/ are all there; and
    that Babel's locale data (the list's short amounts) is."""
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
    dialog = SignInDialog(ws, where=ws.path)
    try:
        if dialog.windowIcon().isNull():
            raise ClosePlanError("the sign-in window has no icon.")
    finally:
        dialog.deleteLater()
        dialog.close()
    from .ui.kit.formatting import check_locale_data

    numbers = check_locale_data()
    return (f"built the sign-in window (Qt platform '{QGuiApplication.platformName()}', "
            f"SVG plugins, resources in {resource_dir()}); {numbers}")


BENCH_EXIT_ON_PAINT = "CLOSEPLAN_BENCH_EXIT_ON_PAINT"


def _bench_report(stage: str) -> None:
    """For tests/benchmarks only. CLOSEPLAN_BENCH_EXIT_ON_PAINT=1: at the sign-in window's
    first paint, print `closeplan-bench signin-painted UNIX_TIME` and exit.
    CLOSEPLAN_BENCH_EXIT_ON_PAINT=ready: print that line, then `closeplan-bench ready
    UNIX_TIME` once the workspace is open and warmed up, and exit. Otherwise nothing."""
    import os

    mode = os.environ.get(BENCH_EXIT_ON_PAINT)
    if mode not in ("1", "ready"):
        return
    import time

    print(f"closeplan-bench {stage} {time.time():.6f}", flush=True)
    if stage == "ready" or mode == "1":
        os._exit(0)


class Controller:
    """Runs the start: workspace, sign-in, main window; and sign-out back to sign-in."""

    # How the workspace is opened; the benchmark's unencrypted baseline replaces it.
    opener: Callable[[Path], Workspace] | None = None
    # Open anyway if the sign-in window has not been painted by then (not exposed).
    OPEN_AT_THE_LATEST_MS = 500

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.path: Path | None = None
        self.ws: Workspace | None = None
        self.window: Any = None
        self.demo_credentials: tuple[str, str] | None = None
        self.demo_users: tuple[str, ...] = ()  # the demo's sales users, shown beside
        self.dialog: SignInDialog | None = None
        self.opening: Op | None = None  # opens the workspace, after the first paint
        self.warm_up: WarmUp | None = None  # once the workspace is open
        self.open_error: tuple[str, str] | None = None  # (title, message)
        self.offer_kit = False  # the wizard made a new workspace: offer a recovery kit
        self.connected: Any = None  # the wizard connected to a server (ui.sync.Connected)
        self.wizard: Any = None

    def _error(self, title: str, message: str) -> None:
        from .ui.kit import dialogs

        dialogs.show_error(None, title, message)

    def start(self) -> bool:
        try:
            policy = load_policy()
            self.path = self._workspace_path(policy)
            if self.path is None:
                return False
        except ClosePlanError as exc:
            self._error(error_title(exc), str(exc))
            return False
        if self.connected is not None:
            return self._open_connected()
        return self.sign_in()

    def _workspace_path(self, policy: object) -> Path | None:
        if self.args.demo:
            path = Path(self.args.workspace).expanduser() if self.args.workspace else None
            info = self._build_demo(path)
            self.demo_credentials = (info.admin_email, info.password)
            from .core.tools import demo

            self.demo_users = tuple(email for email, *_ in demo.DEMO_USERS)
            return info.path
        path = Path(self.args.workspace).expanduser() if self.args.workspace \
            else paths.default_workspace()
        if layout.exists(path):
            return path
        from .ui.wizard import FirstRunWizard

        wizard = FirstRunWizard(path, policy)  # type: ignore[arg-type]
        if not wizard.exec() or wizard.path is None:
            return None
        self.offer_kit = wizard.created
        self.connected = wizard.connected
        if wizard.connected is not None:
            self.wizard = wizard  # its first load still runs: kept until it ends
        return wizard.path

    def _build_demo(self, path: Path | None) -> Any:
        """Build (or find) the demo workspace off the UI thread: the first start shows a
        progress window while its deals are made (seconds), instead of nothing."""
        from PySide6.QtCore import QEventLoop

        from .core.tools import demo
        from .ui.kit.ops import Op

        found: list[Any] = []
        loop = QEventLoop()
        op = Op(None, "Preparing the demo workspace",
                lambda progress, _cancel: demo.build(path, progress=progress),
                cancellable=False)
        op.on_success(found.append).on_failure(lambda _m: None).on_finished(loop.quit)
        op.run_in_background()
        if op.dialog is not None and not layout.exists(path or demo.workspace_path()):
            op.dialog.show()  # a first start: the window at once, not after a blank wait
        loop.exec()
        if not found:
            raise op.error or RuntimeError("the demo workspace was not built")
        return found[0]

    # ---- opening, after the first paint -------------------------------------------------

    def _open_workspace(self) -> None:
        """Open the workspace on a worker thread (keyring, key check, migrations)."""
        from .ui.kit.ops import Op

        if self.opening is not None or self.dialog is None:  # started, or nobody waits
            return
        path = self.path
        assert path is not None
        opener = type(self).opener

        def work(_progress: object, _cancel: object) -> Workspace:
            if opener is not None:
                return opener(path)
            from .core.store import workspace

            return workspace.open_workspace(path)

        self.opening = (Op(None, "Opening workspace", work, progress=False)
                        .on_success(self._opened).on_failure(self._open_failed)
                        .run_in_background())

    def _opened(self, ws: Workspace) -> None:
        from .ui.warmup import WarmUp

        self.ws = ws
        if self.dialog is None:  # the sign-in window was closed meanwhile
            return
        self.warm_up = WarmUp(ws)
        self.warm_up.done.connect(lambda _ms: _bench_report("ready"))
        self.warm_up.start()
        self.dialog.set_workspace(ws)

    def _open_failed(self, message: str) -> None:
        assert self.opening is not None
        self.open_error = (error_title(self.opening.error), message)
        if self.dialog is not None:
            self.dialog.reject()

    def _stop_opening(self) -> None:
        """The sign-in window was closed: let the worker threads return, then close the
        workspace they opened (if any) so that its lock is released."""
        if self.ws is None and self.opening is not None:
            self.opening.wait()
            from PySide6.QtCore import QCoreApplication

            QCoreApplication.processEvents()  # deliver `succeeded`, so self.ws is set
        if self.warm_up is not None:
            self.warm_up.wait()
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    # ---- sign-in ------------------------------------------------------------------------

    def sign_in(self) -> bool:
        from .ui.paint import after_first_paint
        from .ui.signin import SignInDialog

        dialog = self.dialog = SignInDialog(self.ws, "", self.demo_credentials,
                                            demo_users=self.demo_users, where=self.path)
        after_first_paint(dialog, lambda: _bench_report("signin-painted"))
        if self.ws is None:
            from PySide6.QtCore import QTimer

            # Paint first: the database stack is imported and opened after this paint.
            after_first_paint(dialog, self._open_workspace)
            QTimer.singleShot(self.OPEN_AT_THE_LATEST_MS, self._open_workspace)
        accepted = dialog.exec()
        self.dialog = None
        if self.open_error is not None:
            self._stop_opening()
            self._error(*self.open_error)
            return False
        if not accepted or dialog.session is None:
            self._stop_opening()
            return False
        from .ui.main_window import MainWindow
        from .ui.signed_in import SignedIn

        assert self.ws is not None
        self.window = MainWindow(SignedIn(self.ws, dialog.session))
        self.window.signed_out.connect(self._signed_out)
        self.window.reopen_requested.connect(self._reopen)
        self.window.show()
        if self.offer_kit:  # a new workspace: its keys are only in this keyring
            from PySide6.QtCore import QTimer

            self.offer_kit = False
            QTimer.singleShot(0, self.window.offer_recovery_kit)
        return True

    def _open_connected(self) -> bool:
        """After connecting in the wizard: the main window at once, signed in, while the
        first load finishes; its sync starts when the load is done."""
        from .ui.kit.ops import Kind
        from .ui.main_window import MainWindow
        from .ui.signed_in import SignedIn

        connected, self.connected = self.connected, None
        self.ws = connected.ws
        loading = connected.loading
        self.window = window = MainWindow(SignedIn(connected.ws, connected.session),
                                          sync_later=loading)
        window.signed_out.connect(self._signed_out)
        window.show()
        def loaded() -> None:
            connected.transport.close()  # the window's sync has its own
            self.wizard = None
            if loading:
                window.signed_in.changes.announce({Kind.DEALS, Kind.USERS, Kind.KEYS})
                if window.sync is not None and not window.sync.stopped:
                    window.sync.start()

        connected.when_loaded(loaded)
        return True

    def _reopen(self) -> None:
        """Finish connecting made the workspace a connected one: a new window on the same
        session (with its sync), then the old one closes."""
        from .ui.main_window import MainWindow
        from .ui.signed_in import SignedIn

        old = self.window
        if old is None or self.ws is None:
            return
        self.window = MainWindow(SignedIn(self.ws, old.signed_in.core))
        self.window.signed_out.connect(self._signed_out)
        self.window.reopen_requested.connect(self._reopen)
        self.window.show()
        old.close()
        old.deleteLater()

    def _signed_out(self) -> None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, self._after_sign_out)

    def _after_sign_out(self) -> None:
        from PySide6.QtWidgets import QApplication

        quit_app = self.window is not None and self.window.quit_after_sign_out
        if self.window is not None:
            self.window.deleteLater()
            self.window = None
        if quit_app or not self.sign_in():
            QApplication.quit()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
