"""Errors the user can act on.

Every error raised for a user's mistake or a fixable condition is a `ClosePlanError`
whose text says what is wrong and what to do. The texts never carry PHI, keys or
passwords: callers pass only names of fields, ids and counts.
"""

from __future__ import annotations


class ClosePlanError(Exception):
    """A failure the user can fix; `str(error)` is the one-line message to show."""


class ValidationError(ClosePlanError):
    """Input that breaks a rule (a field, a file, an argument)."""


class NotFoundError(ClosePlanError):
    """The record does not exist for this session (missing or another tenant's)."""


class PermissionDenied(ClosePlanError):
    """The acting user may not do this."""


class BreakGlassRequired(PermissionDenied):
    """Revealing another user's PHI needs a typed reason (break-glass)."""


class AuthError(ClosePlanError):
    """Sign-in failed; the text never says whether the email exists."""


class AccountLocked(AuthError):
    """Too many failed sign-ins; try again later."""


class LeaseExpired(AuthError):
    """A connected workspace has not reached its server for longer than the offline lease:
    it shows no data until someone signs in online (its outbox is kept)."""


class SessionEnded(AuthError):
    """The server ended the session (the user was deactivated, or signed out elsewhere):
    the local session ends too."""


class PolicyError(ClosePlanError):
    """A policy or settings file is invalid; the message names the key."""


class WorkspaceError(ClosePlanError):
    """The workspace cannot be opened or created."""


class NotAWorkspace(WorkspaceError):
    """The directory or file is not a ClosePlan workspace."""


class WorkspaceBusy(WorkspaceError):
    """Another process has the workspace open."""


class NewerWorkspace(WorkspaceError):
    """The workspace was written by a newer version of ClosePlan Desktop."""


class RolledBack(WorkspaceError):
    """The database is older than the last state this device recorded (a copied-back
    older file, or log rows cut with their chain head): it is refused."""


class StorageError(WorkspaceError):
    """A write could not complete (disk full, read-only media)."""


class KeyringError(ClosePlanError):
    """Base of the OS keyring failures."""


class NoKeyringBackend(KeyringError):
    """No usable OS keyring exists on this machine."""


class KeyringLocked(KeyringError):
    """The OS keyring is locked."""


class KeyMissing(KeyringError):
    """A key this workspace needs is not in the keyring."""


class KeyMismatch(KeyringError):
    """The keyring holds a key, but not the one this workspace was encrypted with."""


class CryptoError(ClosePlanError):
    """Ciphertext failed to authenticate or decrypt."""


class SyncError(ClosePlanError):
    """Talking to the ClosePlan server failed; `transient` says whether trying again
    later may work (the server was unreachable, timed out or failed)."""

    transient = False


class ServerUnreachable(SyncError):
    """The server could not be reached or did not answer in time."""

    transient = True


class ServerFailed(SyncError):
    """The server answered with an error of its own (5xx)."""

    transient = True


class ServerRefused(SyncError):
    """The server refused the request (4xx): `code` and `status` say why, the message
    is the server's own words."""

    def __init__(self, message: str, *, status: int, code: str,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


class SignedOut(ServerRefused):
    """The server no longer accepts this device's session: sign in online again."""


class DeviceRevoked(SyncError):
    """The server revoked this device; `wipe_order` is the signed order it sent, handed
    on untouched (its signature is checked by whoever carries it out)."""

    def __init__(self, message: str, wipe_order: dict[str, object] | None) -> None:
        super().__init__(message)
        self.wipe_order = wipe_order


class AuditUploadError(ClosePlanError):
    """The audit upload cannot go on (a receipt that does not verify, a server that
    holds rows this database has no receipt for); nothing was marked as uploaded."""


class WipeOrderRefused(ClosePlanError):
    """A wipe order that is not signed by the pinned server key, or names another
    device or organisation: nothing was wiped."""


class DeviceWiped(ClosePlanError):
    """The server revoked this laptop and it wiped its workspace: the app must close it."""
