"""The offline lease (issue 12): a workspace connected to its organisation's server shows
no data once it has gone longer than the policy's `offline_lease_days` without reaching
that server; its outbox is kept for when it does.

The record is kept in the OS keyring beside the anchor, out of reach of a copied-back
database file. It holds the time of the last successful server contact and the latest
time this laptop has ever seen: time only moves that one forward, so setting the clock
back cannot bring a lapsed lease back (the anchor's monotonic counter, applied to time).
A standalone workspace has no record and no lease. The sync engine calls `contact` after
every successful answer of the server; sign-in calls `check`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..domain.clock import as_utc, iso, utcnow
from ..domain.errors import KeyringError, LeaseExpired
from ..security.keyring_store import LEASE_SLOT, KeyringStore

LEASE_FORMAT = "closeplan/lease/v1"
DAY_SECONDS = 86400
# How far the latest time seen may lag the clock before it is written again (setting
# the clock back gains at most this much).
SEEN_STEP = timedelta(hours=1)


@dataclass(frozen=True)
class Lease:
    """When the server was last reached, and the latest time this laptop has seen."""

    last_contact: datetime
    latest_seen: datetime

    def to_bytes(self) -> bytes:
        return json.dumps({"format": LEASE_FORMAT, "last_contact": iso(self.last_contact),
                           "latest_seen": iso(self.latest_seen)}).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Lease:
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("format") != LEASE_FORMAT:
                raise ValueError
            return cls(_time(raw["last_contact"]), _time(raw["latest_seen"]))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise KeyringError("The keyring's record of this laptop's last server contact "
                               "is damaged; connect and sign in online, or ask IT to check "
                               "the keyring.") from None

    def days_offline(self) -> int:
        """Whole days from the last contact to the latest time seen."""
        return int((self.latest_seen - self.last_contact).total_seconds() // DAY_SECONDS)


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def load(keys: KeyringStore) -> Lease | None:
    """The lease record, or None for a workspace that never reached a server."""
    data = keys.get(LEASE_SLOT)
    return None if data is None else Lease.from_bytes(data)


def contact(keys: KeyringStore, now: datetime | None = None) -> None:
    """Record a successful contact with the server (this also makes the workspace a
    connected one: from now on it has a lease). The server was just reached, so the
    laptop's time is taken as it is, set back or not."""
    when = as_utc(now or utcnow())
    keys.replace(LEASE_SLOT, Lease(when, when).to_bytes())


def check(keys: KeyringStore, lease_days: int, now: datetime | None = None) -> None:
    """Raise LeaseExpired when the workspace is connected and its last contact is more
    than `lease_days` days behind the latest time this laptop has seen."""
    lease = load(keys)
    if lease is None:
        return  # standalone: no lease
    when = as_utc(now or utcnow())
    if when > lease.latest_seen + SEEN_STEP:  # each keyring write costs: not every sign-in
        keys.replace(LEASE_SLOT, Lease(lease.last_contact, when).to_bytes())
    lease = Lease(lease.last_contact, max(when, lease.latest_seen))
    if lease.latest_seen - lease.last_contact > timedelta(days=lease_days):
        raise LeaseExpired(f"This laptop has not reached your organisation's server for "
                           f"{lease.days_offline()} days; connect and sign in online.")
