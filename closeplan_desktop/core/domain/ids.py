"""Collision-resistant ids in the cuid format the ClosePlan server uses.

Ids are made on the device (docs/architecture.md, "Layout and design"), so that rows
created offline keep their identity when they sync. A cuid is 25 characters: ``c``, a
base36 timestamp, a counter, a host fingerprint and random blocks.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import socket
import threading
import time

_BASE = 36
_BLOCK = 4
_DISCRETE = _BASE**_BLOCK
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count(secrets.randbelow(_DISCRETE))
_lock = threading.Lock()

CUID_RE = re.compile(r"^c[0-9a-z]{24}$")


def _b36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, _BASE)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def _pad(s: str, size: int) -> str:
    return s.rjust(size, "0")[-size:]


def _fingerprint() -> str:
    pid = _pad(_b36(os.getpid()), 2)
    host = socket.gethostname()
    acc = len(host) + _BASE
    for ch in host:
        acc += ord(ch)
    return pid + _pad(_b36(acc), 2)


_FINGERPRINT = _fingerprint()


# Every two-character base36 block, so that a 4-character block is two lookups (imports
# make two ids per deal).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _block(n: int) -> str:
    """`n` (below 36**4) as 4 base36 characters."""
    hi, lo = divmod(n, 1296)
    return _PAIRS[hi] + _PAIRS[lo]


def new_id() -> str:
    """Return a new cuid (v1 layout: 25 lowercase base36 characters starting with 'c')."""
    with _lock:
        count = next(_counter) % _DISCRETE
    hi, lo = divmod(int(time.time() * 1000) % _DISCRETE**2, _DISCRETE)
    rand = secrets.randbits(64)
    return ("c" + _block(hi) + _block(lo) + _block(count) + _FINGERPRINT
            + _block((rand >> 32) % _DISCRETE) + _block((rand & 0xFFFFFFFF) % _DISCRETE))


def is_id(value: object) -> bool:
    """True when `value` looks like an id this system makes."""
    return isinstance(value, str) and bool(CUID_RE.match(value))
