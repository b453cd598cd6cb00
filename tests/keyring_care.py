"""The test run's own gnome-keyring, kept small and unlocked.

Two things went wrong in long runs (CI, stop 20):

- Every workspace a test made left its keys in the keyring, and gnome-keyring rewrites
  its whole file on every change: a write took 45 ms with an empty keyring and 590 ms
  with 4,000 entries, so a run slowed as it went. `forget_new_entries` deletes, after
  each test module, the ClosePlan entries the module made.
- The daemon can die mid-run (it did in CI at stop 20, cause unknown); D-Bus starts one,
  which finds the run's keyring locked and cannot prompt without a display, so every
  later test failed with "The OS keyring is locked". packaging/with-keyring.sh gives a
  restarted daemon the run's own folders, and hands this module the run's throwaway
  password; `ensure_unlocked` unlocks the keyring again and says so.
"""

from __future__ import annotations

import os
import time

import secretstorage
from jeepney import DBusAddress, DBusErrorResponse, new_method_call
from secretstorage.util import SS_PATH, DBusAddressWrapper, format_secret, open_session

from closeplan_desktop.core.security.keyring_store import SERVICE

# The password of the run's throwaway keyring; taken out of the environment at once so
# no process a test starts inherits it.
_PASSWORD = os.environ.pop("CLOSEPLAN_TEST_KEYRING_PASSWORD", "")
_LOGIN = "/org/freedesktop/secrets/collection/login"
# gnome-keyring's own interface for unlocking with a password instead of a prompt.
_INTERNAL = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"


def session_daemon() -> int:
    """The pid of this D-Bus session's Secret Service (gnome-keyring-daemon)."""
    conn = secretstorage.dbus_init()
    try:
        bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                          interface="org.freedesktop.DBus")
        reply = conn.send_and_get_reply(new_method_call(
            bus, "GetConnectionUnixProcessID", "s", ("org.freedesktop.secrets",)))
        return int(reply.body[0])
    finally:
        conn.close()


def entries() -> set[str]:
    """Object paths of every ClosePlan entry in the session's keyring."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        return {item.item_path for item in collection.search_items({"service": SERVICE})}
    finally:
        conn.close()


def forget_new_entries(before: set[str]) -> int:
    """Delete the ClosePlan entries not in `before`; how many were deleted."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        gone = 0
        for item in collection.search_items({"service": SERVICE}):
            if item.item_path not in before:
                item.delete()
                gone += 1
        return gone
    finally:
        conn.close()


def ensure_unlocked() -> str | None:
    """None when the keyring is unlocked; else unlock it with the run's password and say
    what happened (or why it could not be done). A daemon that is just dying or starting
    is given a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return _ensure_unlocked()
        except (DBusErrorResponse, secretstorage.exceptions.SecretServiceNotAvailableException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ensure_unlocked() -> str | None:
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.Collection(conn, _LOGIN)
        try:
            if not collection.is_locked():
                return None
        except secretstorage.exceptions.ItemNotFoundException:
            return "the run's keyring is gone (the daemon restarted without its folder)"
        if not _PASSWORD:
            return ("the keyring was found locked and this run has no password to unlock "
                    "it (run the tests with tests/run.sh)")
        session = open_session(conn)
        secret = format_secret(session, _PASSWORD.encode(), "text/plain")
        DBusAddressWrapper(SS_PATH, _INTERNAL, conn).call(
            "UnlockWithMasterPassword", "o(oayays)", _LOGIN, secret)
        if collection.is_locked():
            return "the keyring was found locked and could not be unlocked again"
        return "the keyring was found locked (the daemon had restarted) and was unlocked again"
    finally:
        conn.close()
