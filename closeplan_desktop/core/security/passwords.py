"""Password hashing (bcrypt at the policy's cost) and strength (zxcvbn, offline).

Hashes made by the ClosePlan server (bcryptjs, ``$2a$``) verify; callers refuse
passwords over 72 bytes before they get here (`validation.password`), never cut them.
A new password must also be hard to guess: `strength` scores it with zxcvbn's local
lists of common passwords, names, words and patterns (NIST 800-63B asks for such a
check), and says why and what to do, for a form to show as the user types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import bcrypt

from ..domain.errors import ValidationError

# zxcvbn's score 3: "safely unguessable" against an online attack and moderate against
# an offline one (10^8 guesses or more).
MIN_SCORE = 3

BCRYPT_RE = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


def hash_password(password: str, cost: int) -> str:
    """A bcrypt hash of a password that has passed `validation.password`."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


def hash_cost(hashed: str) -> int | None:
    """The cost a bcrypt hash was made with, or None if it is not a bcrypt hash."""
    m = BCRYPT_RE.match(hashed)
    return int(m.group(1)) if m else None


def is_bcrypt_hash(value: object) -> bool:
    """Whether `value` is a bcrypt hash string."""
    return isinstance(value, str) and bool(BCRYPT_RE.match(value))


def dummy_hash(cost: int) -> str:
    """A well-formed bcrypt hash that no password matches, at `cost`: checking a password
    against it costs what checking a real hash of that cost costs. Nothing is hashed to
    make it, so the first use in a process costs no more than the next."""
    return f"$2b${cost:02d}${'.' * 53}"


def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches the bcrypt hash (False for anything not a hash)."""
    if not is_bcrypt_hash(hashed):
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


@dataclass(frozen=True)
class Strength:
    """How hard a password is to guess: zxcvbn's score (0 to 4), and advice to show."""

    score: int
    warning: str
    suggestions: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.score >= MIN_SCORE

    @property
    def message(self) -> str:
        """One line for a form or an error: why, and what to do (never the password)."""
        why = self.warning.rstrip(".") if self.warning else "It is too easy to guess"
        advice = " ".join(self.suggestions) or "Add more words that are not common phrases."
        return f"Password is too weak: {why[0].lower()}{why[1:]}. {advice}"


def strength(password: str, user_inputs: Iterable[str] = ()) -> Strength:
    """Score a password offline; `user_inputs` (email, names, organisation) count as
    easy to guess too."""
    from zxcvbn import zxcvbn  # imported when a password is set, not at start-up

    words = [w for text in user_inputs if text for w in re.split(r"[\s@.\-_]+", text) if w]
    result = zxcvbn(password, user_inputs=words)
    feedback = result.get("feedback") or {}
    return Strength(int(result["score"]), str(feedback.get("warning") or ""),
                    tuple(str(s) for s in feedback.get("suggestions") or ()))


def require_strong(password: str, user_inputs: Iterable[str] = ()) -> str:
    """`password` if it is hard enough to guess; otherwise ValidationError with advice."""
    found = strength(password, user_inputs)
    if not found.ok:
        raise ValidationError(found.message)
    return password
