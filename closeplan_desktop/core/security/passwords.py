"""Password hashing: bcrypt at the policy's cost.

Hashes made by the ClosePlan server (bcryptjs, ``$2a$``) verify; callers refuse
passwords over 72 bytes before they get here (`validation.password`), never cut them.
"""

from __future__ import annotations

import re

import bcrypt

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
