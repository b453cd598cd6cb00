"""Every setting of ClosePlan Desktop, declared once: key, type, unit, default, allowed
range, secure floor, label and help.

The policy loader (security/policy), the settings dialog, closeplan-admin's settings
commands and the Group Policy templates (packaging/windows/gen-admx.py) all read this
registry; a new setting is one entry here plus its typed attribute on `Policy`
(tests/core/domain/test_settings.py proves the two agree).

Pure data: no I/O, nothing imported beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T", int, str)

# The longest text a setting may hold (a URL); the templates declare the same limit.
TEXT_MAX_LENGTH = 2000


@dataclass(frozen=True)
class Unit:
    """What a setting's value counts. `symbol` follows a number on screen ("15 min");
    empty, the number stands alone. `name` captions an entry field ("Minutes")."""

    symbol: str
    name: str


MINUTES = Unit("min", "Minutes")
SECONDS = Unit("s", "Seconds")
DAYS = Unit("days", "Days")


@dataclass(frozen=True)
class Floor:
    """The secure floor: past `limit` in the weaker direction a setting would weaken
    security, so security/policy clamps every value to it, whatever its source (only the
    test suite's system policy, set from code, may go below it for a cheap bcrypt cost).
    `stronger` says which way is safer."""

    limit: int
    stronger: Literal["higher", "lower"]

    def allows(self, value: int) -> bool:
        """Whether `value` is at the floor or on its safe side."""
        return value >= self.limit if self.stronger == "higher" else value <= self.limit

    def describe(self) -> str:
        """The floor in words, such as "at least 10"."""
        return f"{'at least' if self.stronger == 'higher' else 'at most'} {self.limit}"


def at_least(limit: int) -> Floor:
    """A floor for settings where more is safer (bcrypt cost, password length)."""
    return Floor(limit, "higher")


def at_most(limit: int) -> Floor:
    """A floor for settings where less is safer (idle minutes, failed sign-ins)."""
    return Floor(limit, "lower")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. Whole numbers have a range (`minimum`..`maximum`, both included) and
    may have a secure floor; text has neither (at most TEXT_MAX_LENGTH characters)."""

    key: str
    type: type[T]
    default: T
    unit: Unit
    label: str  # short: a field's label, the Group Policy's title
    help: str  # one or two sentences: what the value does
    minimum: int | None = None
    maximum: int | None = None
    floor: Floor | None = None
    # False: the settings dialog leaves it out (it does nothing yet); IT can still set it.
    in_dialog: bool = True


IDLE_LOCK_MINUTES = Setting(
    key="idle_lock_minutes", type=int, default=15, unit=MINUTES,
    minimum=1, maximum=240, floor=at_most(15),
    label="Lock the window after this many idle minutes",
    help="Minutes of inactivity before the window locks.")
LOCKOUT_THRESHOLD = Setting(
    key="lockout_threshold", type=int, default=5, unit=Unit("", "Failed sign-ins"),
    minimum=1, maximum=100, floor=at_most(10),
    label="Failed sign-ins that lock an account",
    help="Failed sign-ins that lock an account.")
LOCKOUT_MINUTES = Setting(
    key="lockout_minutes", type=int, default=15, unit=MINUTES,
    minimum=1, maximum=1440, floor=at_least(15),
    label="Minutes an account stays locked",
    help="Minutes an account stays locked after the threshold.")
PASSWORD_MIN_LENGTH = Setting(
    key="password_min_length", type=int, default=12, unit=Unit("", "Characters"),
    minimum=8, maximum=72, floor=at_least(12),
    label="Minimum password length",
    help="Minimum password length.")
BCRYPT_COST = Setting(
    key="bcrypt_cost", type=int, default=10, unit=Unit("", "Cost"),
    # 10 to 14: the hashes a laptop makes for new and reset users go to the server,
    # which takes those costs only (server.sync.push_users.BCRYPT_COSTS).
    minimum=4, maximum=14, floor=at_least(10),
    label="Password hashing strength",
    help="How hard a stolen password file is to crack: each step up doubles the work for "
         "an attacker, and makes each sign-in a little slower. New and changed passwords "
         "use it (10 to 14, as the server takes; below 10 only for tests).")
PHI_AUTOHIDE_SECONDS = Setting(
    key="phi_autohide_seconds", type=int, default=30, unit=SECONDS,
    minimum=5, maximum=600, floor=at_most(60),
    label="Seconds revealed PHI stays visible",
    help="Seconds revealed PHI stays visible.")
CLIPBOARD_CLEAR_SECONDS = Setting(
    key="clipboard_clear_seconds", type=int, default=20, unit=SECONDS,
    minimum=5, maximum=600, floor=at_most(60),
    label="Seconds before copied PHI is cleared from the clipboard",
    help="Seconds before copied PHI is cleared.")
SYNC_SERVER = Setting(
    key="sync_server", type=str, default="", unit=Unit("", "HTTPS URL"),
    label="Allowed sync server",
    help="The only sync server allowed (HTTPS URL); empty: none yet.",
    in_dialog=False)  # until the desktop syncs: a field that does nothing misleads

OFFLINE_LEASE_DAYS = Setting(
    key="offline_lease_days", type=int, default=14, unit=DAYS,
    minimum=1, maximum=90, floor=at_most(30),
    label="Days a connected laptop may stay offline",
    help="Days a laptop connected to your organisation's server may go without reaching "
         "it; past that it shows no data until someone signs in online (its unsent "
         "changes are kept).",
    in_dialog=False)  # standalone workspaces have no lease: shown once the desktop syncs

# Every setting by key, in the order people see them (dialog, templates, listings).
SETTINGS: dict[str, Setting[Any]] = {s.key: s for s in (
    IDLE_LOCK_MINUTES, LOCKOUT_THRESHOLD, LOCKOUT_MINUTES, PASSWORD_MIN_LENGTH,
    BCRYPT_COST, PHI_AUTOHIDE_SECONDS, CLIPBOARD_CLEAR_SECONDS, SYNC_SERVER,
    OFFLINE_LEASE_DAYS)}
