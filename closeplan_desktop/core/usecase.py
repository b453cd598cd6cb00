"""The frame every use case runs in: one transaction, and denials that stay logged.

A denied attempt must leave its log row even though the use case fails. Use cases raise
`Denied` with the error to show and the log row to write; the frame rolls the work back,
writes the row in a transaction of its own, and raises the error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from . import db
from .errors import ClosePlanError

if TYPE_CHECKING:
    from .auth import AuthSession


class Denied(Exception):
    """Raised inside a use case: `error` is shown, `record` writes the denial log row."""

    def __init__(self, error: ClosePlanError, record: Callable[[Session], None]) -> None:
        super().__init__(str(error))
        self.error = error
        self.record = record


@contextmanager
def run(session: AuthSession, *, write: bool = True) -> Iterator[Session]:
    """A use case's transaction (the write lock is held from BEGIN when `write`)."""
    engine = session.ws.engine
    try:
        with (db.write_session(engine) if write else db.read_session(engine)) as s:
            yield s
    except Denied as denied:
        with db.write_session(engine) as s:
            denied.record(s)
        raise denied.error from None
