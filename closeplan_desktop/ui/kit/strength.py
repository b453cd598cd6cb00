"""Password advice as you type: core's verdict on a new password (zxcvbn, through
`core.security.passwords.strength`), shown under the field (issue 13, finding 12).

The window holds no rule: the score, whether it is enough and the advice are core's, with
the same user inputs the use case will pass (email, names, organisation). zxcvbn takes up
to about 100 ms for 72 characters and loads its lists on first use, so it runs off the UI
thread (`ops.Op`), a short pause after the last key; only the newest text's verdict shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QLineEdit

from ...core.security import passwords
from . import palette
from .ops import Op

# A pause after the last key before scoring, so fast typing scores once.
PAUSE_MS = 150


class StrengthAdvice(QObject):
    """Shows core's strength verdict on `field`'s text in `label` (put it in a form)."""

    shown = Signal(str)  # the text now shown, once per verdict

    def __init__(self, field: QLineEdit, inputs: Callable[[], Iterable[str]] = tuple,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.inputs = inputs
        self.label = QLabel()
        self.label.setObjectName("passwordStrength")
        self.label.setAccessibleName("Password strength")
        self.label.setWordWrap(True)
        self.op: Op | None = None
        self._again = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(PAUSE_MS)
        self.timer.timeout.connect(self._score)
        field.textChanged.connect(self.timer.start)

    def _score(self) -> None:
        if self.op is not None:  # one at a time; the newest text is scored next
            self._again = True
            return
        text = self.field.text()
        if not text:
            self._show("", "")
            return
        inputs = tuple(self.inputs())
        self.op = (Op(None, "Password strength",
                      lambda _p, _c: (text, passwords.strength(text, inputs)), progress=False)
                   .on_success(self._done).on_failure(self._failed).run_in_background())

    def _done(self, result: tuple[str, passwords.Strength]) -> None:
        self.op = None
        text, verdict = result
        if self._again or text != self.field.text():
            self._again = False
            self._score()
            return
        if verdict.ok:
            self._show(f"✓ Hard to guess (strength {verdict.score} of 4).", palette.ok_name())
        else:
            self._show(f"{verdict.message} (Strength {verdict.score} of 4.)",
                       palette.error_name())

    def _failed(self, _text: str) -> None:
        self.op = None
        self._show("", "")  # advice only: core still checks when the form is sent

    def _show(self, text: str, colour: str) -> None:
        self.label.setText(text)
        self.label.setStyleSheet(f"color: {colour};" if colour else "")
        self.shown.emit(text)

    def wait(self) -> None:
        """Block until a scoring in flight has returned (for a dialog that closes)."""
        if self.op is not None:
            self.op.wait()

