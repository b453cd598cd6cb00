"""Child processes of the benchmark that measure real widgets (offscreen).

    python gui_child.py signin WS [PLAIN_DB]   sign-in (bcrypt cost 10) to first painted page,
                                               after the app's warm-up (its time printed too)
    python gui_child.py rss WS [PLAIN_DB]      peak RSS, window open, table scrolled to the end
    python gui_child.py start WS PLAIN_DB      start to painted sign-in window, over PLAIN_DB

The email and password come on standard input, one line each. Each prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _open(ws_path: Path, plain_db: str | None):  # type: ignore[no-untyped-def]
    from closeplan_desktop.core.store import workspace

    if plain_db:
        from plain import open_plain

        return open_plain(ws_path, Path(plain_db))
    return workspace.open_workspace(ws_path)


def _app():  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from closeplan_desktop.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("ClosePlanBench")
    app.setApplicationName("ClosePlan Desktop Bench")
    apply_theme(app)
    return app


def _painted_after(widget, app, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    """Wait for `widget`'s next paint to finish (the app's own `after_first_paint`);
    returns its perf_counter time."""
    from closeplan_desktop.ui.paint import after_first_paint

    done: list[float] = []
    after_first_paint(widget, lambda: done.append(time.perf_counter()))
    end = time.perf_counter() + timeout
    while not done and time.perf_counter() < end:
        app.processEvents()
    if not done:
        raise SystemExit("no paint")
    return done[0]


def _warmed_up(ws, app, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    """Run the app's warm-up (ui.warmup.WarmUp, as Controller does once the workspace is
    open) to its end: a person takes seconds to type a password. Returns its ms."""
    from closeplan_desktop.ui.warmup import WarmUp

    warm = WarmUp(ws)
    warm.start()
    end = time.perf_counter() + timeout
    while warm.ms is None and time.perf_counter() < end:
        app.processEvents()
    if warm.ms is None:
        raise SystemExit("warm-up did not finish")
    return warm.ms


def _signed_in_window(ws, email: str, password: str, app):  # type: ignore[no-untyped-def]
    """(window, sign-in to first painted page in ms, warm-up in ms), as Controller runs
    them: the sign-in window, the warm-up while the password is typed, then Sign in."""
    from closeplan_desktop.ui.signin import SignInDialog

    dialog = SignInDialog(ws, where=ws.path)
    dialog.email.setText(email)
    dialog.password.setText(password)
    dialog.show()
    _painted_after(dialog, app)
    warm_ms = _warmed_up(ws, app)
    t0 = time.perf_counter()
    dialog.submit()
    assert dialog.session is not None
    from closeplan_desktop.ui.main_window import MainWindow  # imported by the warm-up
    from closeplan_desktop.ui.signed_in import SignedIn

    window = MainWindow(SignedIn(ws, dialog.session))
    window.resize(1280, 800)
    dialog.hide()
    window.show()
    t1 = _painted_after(window.deals.table.viewport(), app)
    return window, (t1 - t0) * 1000, warm_ms


def main() -> None:
    mode, ws_path = sys.argv[1], Path(sys.argv[2])
    plain_db = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == "start":
        from closeplan_desktop import app as app_module

        # Opened the app's way (after the first paint, off the UI thread), over PLAIN_DB.
        app_module.Controller.opener = lambda _p: _open(ws_path, plain_db)
        sys.exit(app_module.main(["--workspace", str(ws_path)]))
    email = sys.stdin.readline().strip()
    password = sys.stdin.readline().rstrip("\n")
    app = _app()
    ws = _open(ws_path, plain_db)
    window, ms, warm_ms = _signed_in_window(ws, email, password, app)
    if mode == "signin":
        print(json.dumps({"ms": ms, "warm_up_ms": warm_ms}), flush=True)
    elif mode == "rss":
        model = window.deals.model
        table = window.deals.table
        t0 = time.perf_counter()
        while len(model.rows) < model.total:
            table.scrollToBottom()
            app.processEvents()
        table.viewport().repaint()
        scroll_s = time.perf_counter() - t0
        status = Path("/proc/self/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmHWM:"))
        print(json.dumps({"rss_mb": hwm / 1024, "rows": len(model.rows),
                          "scroll_s": scroll_s}), flush=True)
    window.close()
    ws.close()


if __name__ == "__main__":
    main()
