"""Push: a device's queued mutations applied in one transaction, a verdict for each
(SYNC.md, Protocol; Replicache's rules for mutation ids).

- The device comes from the session, never the body. Its mutation ids run 1, 2, 3...;
  an id at or below `devices.last_mutation_id` is a replay: no effect, answered
  `duplicate` (or with its stored rejection). A gap answers 409 with `expected_mid` and
  writes nothing.
- One transaction per request. Each mutation runs in a savepoint, so a refused one is
  undone alone, recorded in `rejections` and still advances `last_mutation_id`, which is
  written in the same transaction as the effects: a push is applied exactly once and a
  rejection never blocks the queue.
- The transaction takes the tenant's next sync version first (after the device's row
  lock, the order every device update takes them in), so a tenant's pushes apply one
  after another: the last-admin and email checks see every earlier push.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import psycopg
from psycopg import errors as pg_errors

from ..caller import ADMIN, Caller
from ..db.pool import Connection, Database
from ..errors import ApiError, bad_request, conflict, forbidden
from . import push_activities, push_bulk, push_deals, push_users, push_views
from .mutations import SCHEMA_VERSION, Mutation, PushRequest
from .outcome import DUPLICATE, REJECTED, Context, PushResult, Rejected, Verdict

Handler = Callable[[Context, Mutation], Verdict]
HANDLERS: dict[tuple[str, str], Handler] = {
    ("deals", "create"): push_deals.create,
    ("deals", "update"): push_deals.update,
    ("deals", "delete"): push_deals.delete,
    ("deals", "restore"): push_deals.restore,
    ("users", "create"): push_users.create,
    ("users", "update"): push_users.update,
    ("users", "deactivate"): push_users.deactivate,
    ("users", "reactivate"): push_users.reactivate,
    ("users", "set_password"): push_users.set_password,
    ("tenants", "update"): push_users.update_tenant,
    ("deal_activities", "create"): push_activities.create,
    ("deal_activities", "update"): push_activities.update,
    ("deal_activities", "delete"): push_activities.delete,
    ("saved_views", "create"): push_views.create,
    ("saved_views", "update"): push_views.update,
    ("saved_views", "delete"): push_views.delete,
}
# A unique or check constraint a mutation broke, as its verdict says it.
CONSTRAINTS = {
    "deals_pkey": ("exists", "A deal with this id already exists; it was not created again."),
    "deal_activities_pkey": ("exists", "An activity with this id already exists; it was not "
                                       "created again."),
    "saved_views_pkey": ("exists", "A view with this id already exists; it was not created "
                                   "again."),
    "users_pkey": ("exists", "A user with this id already exists; it was not created again."),
    "users_tenant_email_key": (push_users.EMAIL_TAKEN, push_users.EMAIL_TAKEN_MESSAGE),
    "email_directory_pkey": (push_users.EMAIL_TAKEN, push_users.EMAIL_TAKEN_MESSAGE),
    "deals_phi_nonce_key": ("invalid_phi", "This PHI envelope belongs to another deal; save "
                                           "the deal again to seal its PHI for it."),
}
# Errors of one statement that are the mutation's fault; any other error aborts the push.
MUTATION_ERRORS = (pg_errors.IntegrityError, pg_errors.DataError)
# In a pipeline, a failed statement surfaces at a later read (or at the pipeline's end),
# and the statements queued after it fail as aborted.
PIPELINE_ERRORS = (*MUTATION_ERRORS, pg_errors.PipelineAborted)
# Transient: the whole push is retried, then answered 503 for the device to retry later.
TRANSIENT = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure,
             pg_errors.LockNotAvailable)
RETRIES = 3


def _rejection_of(exc: psycopg.Error) -> Rejected:
    name = exc.diag.constraint_name or ""
    code, message = CONSTRAINTS.get(name, (
        "invalid", "The change breaks a rule of the organisation's data and was not applied."))
    return Rejected(code, message)


_DEVICE = ("SELECT user_id, status::text, last_mutation_id FROM devices "
           "WHERE tenant_id = %s AND id = %s")
_DEVICE_LOCKED = _DEVICE + " FOR UPDATE"


def _device(conn: Connection, caller: Caller, request: PushRequest, *,
            lock: bool) -> tuple[str, int]:
    """The pushing device (locked for this push with `lock`) and its last applied
    mutation id."""
    device_id = caller.device_id
    if device_id is None:
        raise forbidden("device_required", "Pushing changes needs a session of an enrolled "
                                           "device; sign in on this device again.")
    if request.device_id is not None and request.device_id != device_id:
        raise forbidden("device_mismatch", "The request names another device than the one "
                                           "this session belongs to; nothing was applied.")
    row = conn.execute(_DEVICE_LOCKED if lock else _DEVICE, (caller.tenant_id, device_id)
                       ).fetchone()
    if row is None or row[0] != caller.user_id or row[1] != "ACTIVE":
        raise forbidden("device_not_active", "This device is not an active device of your "
                                             "account; ask an administrator to approve it.")
    return device_id, int(row[2])


def _replayed(conn: Connection, caller: Caller, device_id: str,
              mutations: list[Mutation]) -> list[Verdict]:
    """Verdicts of mutations already applied: their stored rejection, else duplicate."""
    if not mutations:
        return []
    stored = {int(r[0]): (str(r[1]), str(r[2])) for r in conn.execute(
        "SELECT mutation_id, code, message FROM rejections WHERE tenant_id = %s AND "
        "device_id = %s AND mutation_id BETWEEN %s AND %s",
        (caller.tenant_id, device_id, mutations[0].mid, mutations[-1].mid))}
    out = []
    for m in mutations:
        if m.mid in stored:
            out.append(Verdict(m.mid, REJECTED, *stored[m.mid]))
        else:
            out.append(Verdict(m.mid, DUPLICATE))
    return out


def _actor_is_admin(conn: Connection, caller: Caller) -> bool:
    """The pusher's role as the database has it now (not as the session began)."""
    row = conn.execute("SELECT role::text, deactivated_at IS NULL FROM users "
                       "WHERE tenant_id = %s AND id = %s", (caller.tenant_id, caller.user_id)
                       ).fetchone()
    if row is None or not row[1]:
        raise forbidden("account_deactivated", "Your account is deactivated; nothing was "
                                               "applied.")
    return bool(row[0] == ADMIN)


class _NeedSavepoints(Exception):
    """A statement of a mutation failed outside a savepoint: the push's transaction is
    lost, so the push runs again from the start, each mutation in its own savepoint."""


def apply_one(ctx: Context, m: Mutation) -> Verdict:
    """One mutation; a refusal undoes it alone and is recorded.

    Handlers check everything they can before their first write and raise `Rejected`
    only then, so a refusal needs no savepoint. Only a statement the database refuses
    (a unique key, a constraint) does: the first run of a push is pipelined without
    savepoints and, when a statement fails, the whole push runs again, unpipelined,
    with one savepoint per mutation."""
    try:
        if ctx.savepoints:
            with ctx.conn.transaction():
                return HANDLERS[(m.table, m.op)](ctx, m)
        return HANDLERS[(m.table, m.op)](ctx, m)
    except Rejected as exc:
        refusal = exc
    except PIPELINE_ERRORS as exc:
        if not ctx.savepoints:
            raise _NeedSavepoints from exc
        refusal = _rejection_of(exc)
    return _refused(ctx, m, refusal)


def _refused(ctx: Context, m: Mutation, refusal: Rejected) -> Verdict:
    """A refusal recorded (it still advances the queue), with its own audit row."""
    ctx.record_rejection(m.mid, m.table, m.id, m.op, dict(m.fields), refusal.code,
                         refusal.message)
    if refusal.audit is not None:
        refusal.audit(ctx)
    return Verdict(m.mid, REJECTED, refusal.code, refusal.message)


def _apply_bulk(ctx: Context, mutations: list[Mutation]) -> list[Verdict]:
    """The batch through push_bulk: verdicts in memory, then a few statements."""
    deals = push_bulk.start(ctx, mutations)
    verdicts = []
    for m in mutations:
        try:
            verdicts.append(push_bulk.decide(ctx, deals, m))
        except Rejected as exc:
            verdicts.append(_refused(ctx, m, exc))
    push_bulk.write(ctx, deals)
    return verdicts


def push(conn: Connection, caller: Caller, request: PushRequest, *,
         savepoints: bool = True, bulk: bool = False) -> PushResult:
    """Apply a device's push inside the caller's transaction (`conn` in
    `db.transaction(caller.tenant_id, caller.user_id)`); see the module's rules. With
    `savepoints` False, a statement the database refuses aborts the transaction
    (`run_push` then runs the push again with them). With `bulk` (and no savepoints) a
    batch of deal mutations is written a few statements in all (push_bulk), or
    `push_bulk.Fallback` is raised when that path cannot decide it."""
    if request.schema_version != SCHEMA_VERSION:
        raise bad_request("schema_version", f"This server speaks sync schema "
                          f"{SCHEMA_VERSION}, the app sent {request.schema_version}; update "
                          "the app.", expected=SCHEMA_VERSION)
    device_id, last = _device(conn, caller, request, lock=False)
    version = None
    if request.mutations and request.mutations[-1].mid > last:
        # Something to apply: the tenant's version lock first, then the device row, the
        # one lock order every writer keeps (revocation, audit upload), so none deadlock.
        # Read again under the lock: a concurrent push of this device may have moved it.
        got = conn.execute("SELECT next_sync_version(%s)", (caller.tenant_id,)).fetchone()
        assert got is not None
        version = int(got[0])
        device_id, last = _device(conn, caller, request, lock=True)
    old = [m for m in request.mutations if m.mid <= last]
    new = [m for m in request.mutations if m.mid > last]
    if new and new[0].mid != last + 1:
        raise conflict("mutation_gap", f"The server has this device's changes up to "
                       f"{last}; send them again from {last + 1}.", expected_mid=last + 1)
    verdicts = _replayed(conn, caller, device_id, old)
    if not new or version is None:
        got = conn.execute("SELECT sync_version FROM tenants WHERE id = %s",
                           (caller.tenant_id,)).fetchone()
        return PushResult(verdicts, last, 0 if got is None else int(got[0]))
    is_admin = _actor_is_admin(conn, caller)
    ctx = Context(conn, caller, device_id, is_admin, version, savepoints)
    # Without savepoints the statements are pipelined: writes are sent without waiting,
    # and only a read (a row to merge into, a key version) waits for what came before.
    with nullcontext() if savepoints else conn.pipeline():
        if bulk and not savepoints and push_bulk.handles(new):
            verdicts += _apply_bulk(ctx, new)
        else:
            verdicts += [apply_one(ctx, m) for m in new]
        conn.execute("UPDATE devices SET last_mutation_id = %s, last_seen_at = now() "
                     "WHERE tenant_id = %s AND id = %s",
                     (new[-1].mid, caller.tenant_id, device_id))
    return PushResult(verdicts, new[-1].mid, ctx.version)


def run_push(db: Database, caller: Caller, request: PushRequest) -> PushResult:
    """`push` in a transaction of its own: first in bulk, then one statement per
    mutation if the bulk path cannot decide it, again with savepoints when a mutation's
    statement fails; retried when the database breaks a deadlock or a
    lock wait; a 503 (try again later) if that keeps happening."""
    savepoints = False
    bulk = True
    for _ in range(RETRIES + 2):
        try:
            with db.transaction(caller.tenant_id, caller.user_id) as conn:
                return push(conn, caller, request, savepoints=savepoints, bulk=bulk)
        except push_bulk.Fallback:
            bulk = False
        except _NeedSavepoints:
            savepoints = True
        except PIPELINE_ERRORS:
            if savepoints:
                raise
            savepoints = True
        except TRANSIENT:
            continue
    raise ApiError(503, "busy", "The server is busy with other changes of your organisation; "
                                "the app will send yours again shortly.")
