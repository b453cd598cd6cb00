"""The OS keyring: the only place keys are stored.

Keys are kept per workspace under the service name ``ClosePlan Desktop``. Reads are
cached in memory for the life of the open workspace (a Secret Service round trip costs
milliseconds; a reveal must not). Backends that would store keys in a plain file, or
store nothing, are refused: there is no fallback to a file.
"""

from __future__ import annotations

import binascii
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import keyring
import keyring.errors

from ..domain.errors import KeyMissing, KeyringError, KeyringLocked, NoKeyringBackend

SERVICE = "ClosePlan Desktop"

_UNSAFE_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt",
                    "keyring.backends.chainer")

NO_BACKEND_MESSAGE = (
    "No usable OS keyring was found, so the workspace keys cannot be read or stored. "
    "On Linux, install and unlock a Secret Service provider (gnome-keyring or KWallet) in "
    "your desktop session; ClosePlan never stores keys in a plain file."
)
LOCKED_MESSAGE = (
    "The OS keyring is locked. Unlock it (sign in to your desktop session or open your "
    "keyring manager), then try again."
)


def backend_name() -> str:
    """The class of the keyring backend in use, for `doctor`."""
    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"


def _usable_backend() -> None:
    kr = keyring.get_keyring()
    name = backend_name()
    if name.startswith(_UNSAFE_BACKENDS) and not _chainer_has_backend(kr):
        raise NoKeyringBackend(NO_BACKEND_MESSAGE)
    if "Plaintext" in name or "EncryptedKeyring" in name:
        raise NoKeyringBackend(NO_BACKEND_MESSAGE)


def _chainer_has_backend(kr: object) -> bool:
    backends = getattr(kr, "backends", None)
    return bool(backends)


T = TypeVar("T")
# A Secret Service call that fails at its start ("Failed to create the collection") is
# tried again: on a loaded machine the daemon's collection lookup fails now and then.
_TRANSIENT_TRIES = 3


def _call(fn: Callable[[], T]) -> T:
    for attempt in range(_TRANSIENT_TRIES):
        try:
            return fn()
        except keyring.errors.InitError:
            if attempt == _TRANSIENT_TRIES - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _translate(exc: Exception) -> KeyringError:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return KeyringLocked(LOCKED_MESSAGE)
    if isinstance(exc, keyring.errors.NoKeyringError):
        return NoKeyringBackend(NO_BACKEND_MESSAGE)
    text = str(exc).lower()
    if "locked" in text or "unlock" in text or "dismissed" in text:
        return KeyringLocked(LOCKED_MESSAGE)
    if "no such interface" in text or "dbus" in text or "secret service" in text:
        return NoKeyringBackend(NO_BACKEND_MESSAGE)
    return KeyringError(f"The OS keyring refused the request ({exc.__class__.__name__}); "
                        "check that it is running and unlocked.")


class KeyringStore:
    """Keys of one workspace in the OS keyring, with an in-memory cache."""

    def __init__(self, workspace_id: str) -> None:
        self.workspace_id = workspace_id
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _name(self, slot: str) -> str:
        return f"workspace:{self.workspace_id}:{slot}"

    def get(self, slot: str) -> bytes | None:
        """The key in `slot`, or None when the keyring has none."""
        with self._lock:
            if slot in self._cache:
                return self._cache[slot]
        _usable_backend()
        try:
            raw = _call(lambda: keyring.get_password(SERVICE, self._name(slot)))
        except Exception as exc:  # every backend error becomes a clear one
            raise _translate(exc) from None
        if raw is None:
            return None
        try:
            key = binascii.unhexlify(raw)
        except (binascii.Error, ValueError):
            raise KeyringError(f"The keyring entry '{self._name(slot)}' is not a ClosePlan key; "
                               "import the recovery kit to restore it.") from None
        with self._lock:
            self._cache[slot] = key
        return key

    def require(self, slot: str, what: str) -> bytes:
        key = self.get(slot)
        if key is None:
            raise KeyMissing(
                f"The {what} for this workspace is not in this keyring. If the workspace was "
                "copied from another device or the keyring was reset, import its recovery kit "
                "with 'closeplan-admin keys import-kit'."
            )
        return key

    def put(self, slot: str, key: bytes) -> None:
        """Store a key; refuses to overwrite a different key already in the slot."""
        existing = self.get(slot)
        if existing is not None and existing != key:
            raise KeyringError(f"The keyring already holds a different key in "
                               f"'{self._name(slot)}'; refusing to replace it.")
        if existing == key:
            return
        self._write(slot, key)

    def replace(self, slot: str, key: bytes) -> None:
        """Overwrite a slot: only for the final step of a rotation whose new key is proven."""
        self._write(slot, key)

    def _write(self, slot: str, key: bytes) -> None:
        _usable_backend()
        try:
            _call(lambda: keyring.set_password(SERVICE, self._name(slot), key.hex()))
        except Exception as exc:
            raise _translate(exc) from None
        with self._lock:
            self._cache[slot] = key

    def delete(self, slot: str) -> None:
        _usable_backend()
        try:
            _call(lambda: keyring.delete_password(SERVICE, self._name(slot)))
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:
            raise _translate(exc) from None
        with self._lock:
            self._cache.pop(slot, None)

    def remember(self, slot: str, key: bytes) -> None:
        """Hold a key in memory only, as if read from the keyring (a kit's keys, used to
        log its import before anything is written to the keyring)."""
        with self._lock:
            self._cache[slot] = key

    def listed_slots(self) -> set[str]:
        """The slots of this workspace that the keyring can list (the Secret Service can;
        other backends cannot list, and answer an empty set): for the wipe, which deletes
        these and every slot it knows by name."""
        _usable_backend()
        backend: Any = keyring.get_keyring()
        prefix = self._name("")
        found: set[str] = set()
        for kr in getattr(backend, "backends", None) or [backend]:
            collection = getattr(kr, "get_preferred_collection", None)
            if collection is None:
                continue
            try:
                items = collection().search_items({"service": SERVICE})
                names = [str(i.get_attributes().get("username", "")) for i in items]
            except Exception as exc:
                raise _translate(exc) from None
            found.update(n[len(prefix):] for n in names if n.startswith(prefix))
        return found

    def held(self, slot: str) -> bytes | None:
        """A key held in memory only (never read from the keyring): the keys a signed-in
        user's slot unlocked."""
        with self._lock:
            return self._cache.get(slot)

    def forget(self) -> None:
        """Drop cached keys from memory (on close)."""
        with self._lock:
            self._cache.clear()


def phi_slot(tenant_id: str, version: int) -> str:
    return f"phi:{tenant_id}:v{version}"


def db_slot_for(fingerprint: str) -> str:
    """The slot of a database key kept by its fingerprint (`crypto.key_check`): a key a
    kit brought for a copy of the folder whose key is not the one in `DB_SLOT`."""
    return f"db:fp:{fingerprint}"


DB_SLOT = "db"
# The keyring half of every user's composite slot key (core.security.slots).
UNLOCK_SLOT = "unlock"
# The id of this workspace copy's device key (not secret): a database whose device key
# id the keyring does not know was copied or restored here.
DEVICE_ID_SLOT = "device-key-id"
# In memory only, after a sign-in: the device's private keys.
DEVICE_HELD = "device"
DB_PENDING_SLOT = "db:pending"
AUDIT_SLOT = "audit"
# Where the audit chains stood at the last commit (core.store.anchor): not a key, but
# kept beside the audit key, out of reach of a copied-back database file.
ANCHOR_SLOT = "anchor"
# The server's signing key (Ed25519, raw), pinned at enrolment: receipts and wipe
# orders must verify with it (core.store.receipts, core.sync.revocation).
SERVER_KEY_SLOT = "server:signing-key"
# The offline lease (core.store.lease): when the server was last reached.
LEASE_SLOT = "lease"
