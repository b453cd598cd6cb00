"""Issue 11's speed work: versions stamped by push's own statements, ids sent unescaped,
and decrypt_phi in one read.

Push's bulk path (server/sync/push_bulk.py) already knows, for every row it writes, the
transaction's version (it took it first, with the tenant's lock) and which fields
change. It now writes `row_version` and `field_versions` itself, in the same INSERT and
UPDATE, and the per-row stamp trigger (a plpgsql call per row, 0010) runs only for rows
that do not carry them. The check is the trigger's WHEN clause, built-in functions only
(no plpgsql call per row): the row's `row_version` is exactly the version this
transaction holds for the row's tenant (`closeplan.txn_version`, written by
`next_sync_version` together with the tenant's lock), and on UPDATE the statement moved
it. Every other write is stamped by the trigger as before, so the guarantee stays: a
row written by a transaction carries the version that transaction took under its
tenant's lock, and a pull of `row_version > since` never skips a row.

- deals: `deals_stamp` (INSERT) and `deals_stamp_update` (UPDATE) with that check.
- access_logs: an INSERT that carries the transaction's version is not stamped again
  (push's access-log rows); the server chain (0005-0010) is unchanged. A chain computed
  per statement (an AFTER INSERT ... FOR EACH STATEMENT trigger over the transition
  table) was measured and not kept: it must UPDATE the rows it numbers after they are
  written, which cost more than the per-row trigger it replaced
  (tests/benchmarks/bench_stamps.py keeps the comparison).

Ids of deals and users have a checked shape (letters, digits, '-' and '_', at most 64):
the ids this system makes (cuid) and the seed's. Pull and bootstrap then send them
without JSON escaping (server/sync/pull_shapes.py): a quarter of the bootstrap line's
cost went to escaping them.

`decrypt_phi` (0003) reads everything in one prepared query instead of three: the
context, the deal holding the envelope's nonce and the live escrow grant of its key
version (for the escrow key the backend last loaded; a changed key file reads the grant
again). The same query takes the transaction's version (next_sync_version, as the log
row's stamp did), and the log row carries it, so the stamp trigger is skipped. Its
answers, refusals, log rows, bulk guard and caches are 0003's: the envelope is parsed
first, and a call without a tenant or user context is still an error before anything
is logged. Only a superuser may replace a plpython3u function, so the migration
does it as the session's superuser; owner and grants stay.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# NEW carries the version this transaction took for NEW's tenant (0004's cache).
STAMPED = ("coalesce(current_setting('closeplan.txn_version', true) = "
           "pg_current_xact_id()::text || ':' || NEW.tenant_id || '|' || NEW.row_version, "
           "false)")

STAMPS = f"""
DROP TRIGGER deals_stamp ON deals;
CREATE TRIGGER deals_stamp BEFORE INSERT ON deals FOR EACH ROW
    WHEN (NOT {STAMPED})
    EXECUTE FUNCTION stamp_deal_version();
CREATE TRIGGER deals_stamp_update BEFORE UPDATE ON deals FOR EACH ROW
    WHEN (NOT (NEW.row_version IS DISTINCT FROM OLD.row_version AND {STAMPED}))
    EXECUTE FUNCTION stamp_deal_version();
DROP TRIGGER access_logs_stamp ON access_logs;
CREATE TRIGGER access_logs_stamp BEFORE INSERT ON access_logs FOR EACH ROW
    WHEN (NOT {STAMPED})
    EXECUTE FUNCTION stamp_plain_version();
CREATE TRIGGER access_logs_stamp_update BEFORE UPDATE ON access_logs FOR EACH ROW
    EXECUTE FUNCTION stamp_plain_version();
"""

# The shape pull_shapes.safe_id relies on (no character JSON would escape).
ID_SHAPE = "'^[A-Za-z0-9_-]{1,64}$'"
ID_CHECKS = f"""
ALTER TABLE users ADD CONSTRAINT users_id_shape_check CHECK (id ~ {ID_SHAPE});
ALTER TABLE deals ADD CONSTRAINT deals_id_shape_check CHECK (id ~ {ID_SHAPE});
"""


BODY = r'''
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import stat
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PER_STATEMENT, PER_TRANSACTION = 5, 25
KEY_FILE_HEADER = "closeplan-escrow-key v1"

# SD: this function's own dictionary (a replaced function starts with a new one).
st = SD.get("state")
if st is None:
    st = SD["state"] = {
        # Everything a call reads, in one query: the context, the transaction's version
        # (its log row's; the tenant's lock, as the row's stamp would take it), the deal
        # that holds the envelope's nonce and the live grant of its key version for the
        # escrow key the last call used (read again below when the key file changed).
        "read": plpy.prepare(
            "SELECT current_tenant_id() AS tenant, current_user_id() AS user_id, "
            "pg_current_xact_id()::text AS xact, statement_timestamp()::text AS stmt, "
            "coalesce(current_setting('closeplan.allow_bulk_decrypt', true), '') AS bulk, "
            "coalesce(current_setting('closeplan.escrow_key_file', true), '') AS key_file, "
            "next_sync_version(current_tenant_id()) AS version, "
            "(SELECT id FROM deals WHERE tenant_id = current_tenant_id() "
            " AND phi_nonce = $1 LIMIT 1) AS deal_id, "
            "(SELECT wrapped FROM key_grants WHERE tenant_id = current_tenant_id() "
            " AND key_version = $2 AND grantee_kind = 'SERVER' AND grantee_id = $3 "
            " AND revoked_at IS NULL LIMIT 1) AS wrapped", ["bytea", "integer", "text"]),
        "grant": plpy.prepare(
            "SELECT wrapped FROM key_grants WHERE tenant_id = current_tenant_id() "
            "AND key_version = $1 AND grantee_kind = 'SERVER' AND grantee_id = $2 "
            "AND revoked_at IS NULL LIMIT 1", ["integer", "text"]),
        # Stamped with the version the read took (every call writes its row).
        "log": plpy.prepare(
            "INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, access_type, "
            "resource_type, success, reason, row_version) VALUES (current_tenant_id(), $1, "
            "$2, $3, 'PHI_ACCESS', 'READ', 'deal.phi', $4, $5, $6)",
            ["text", "text", "text", "boolean", "text", "bigint"]),
        "count": None, "escrow": None, "keys": {},
    }

try:
    envelope = json.loads(phi)
    if not isinstance(envelope, dict) or envelope.get("v") != 1:
        raise ValueError
    version = int(envelope["k"])
    nonce = base64.b64decode(envelope["n"], validate=True)
    ciphertext = base64.b64decode(envelope["c"], validate=True)
    if len(nonce) != 12 or not -2**31 <= version < 2**31:
        raise ValueError
except (ValueError, KeyError, TypeError, binascii.Error):
    version = nonce = ciphertext = None

escrow = st["escrow"]
ctx_key_id = None if escrow is None else escrow[3]
ctx = plpy.execute(st["read"], [nonce, version, ctx_key_id])[0]
tenant, user_id = ctx["tenant"], ctx["user_id"]
if tenant is None or user_id is None:
    plpy.error("decrypt_phi needs a tenant and a user context "
               "(set_tenant_context and set_user_context in this transaction)",
               sqlstate="42501")

if ctx["bulk"].lower() not in ("on", "true", "1"):
    count = st["count"]
    if count is None or count[0] != ctx["xact"]:
        count = st["count"] = [ctx["xact"], ctx["stmt"], 0, 0]
    if count[1] != ctx["stmt"]:
        count[1], count[2] = ctx["stmt"], 0
    count[2] += 1
    count[3] += 1
    if count[2] > PER_STATEMENT or count[3] > PER_TRANSACTION:
        plpy.error("decrypt_phi refused a bulk read of PHI",
                   detail=f"More than {PER_STATEMENT} calls in one statement or "
                          f"{PER_TRANSACTION} in one transaction.",
                   hint="SET LOCAL closeplan.allow_bulk_decrypt = on allows it for one "
                        "transaction.", sqlstate="42501")


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def log(deal_id, success, reason):
    # A cuid-shaped id: 'c', 8 base36 digits of milliseconds, 16 random ones.
    row_id = ("c" + b36(int(time.time() * 1000)).rjust(8, "0")[-8:]
              + b36(secrets.randbits(83)).rjust(16, "0")[-16:])
    plpy.execute(st["log"], [row_id, user_id, deal_id, success, reason, ctx["version"]])


def labeled_extract(suite, salt, label, ikm):
    return hmac.new(salt, b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def labeled_expand(suite, prk, label, info, length):
    # One HKDF-Expand block is enough for every length used here (<= 32).
    data = length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info + b"\x01"
    return hmac.new(prk, data, hashlib.sha256).digest()[:length]


def hpke_open(private, public, wrapped, info):
    """RFC 9180 base mode, single shot: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    AES-256-GCM; `wrapped` is enc (32 bytes) then the ciphertext."""
    enc, ct = wrapped[:32], wrapped[32:]
    kem = b"KEM\x00\x20"
    suite = b"HPKE\x00\x20\x00\x01\x00\x02"
    dh = private.exchange(X25519PublicKey.from_public_bytes(enc))
    eae_prk = labeled_extract(kem, b"", b"eae_prk", dh)
    shared = labeled_expand(kem, eae_prk, b"shared_secret", enc + public, 32)
    context = (b"\x00" + labeled_extract(suite, b"", b"psk_id_hash", b"")
               + labeled_extract(suite, b"", b"info_hash", info))
    secret = labeled_extract(suite, shared, b"secret", b"")
    key = labeled_expand(suite, secret, b"key", context, 32)
    nonce = labeled_expand(suite, secret, b"base_nonce", context, 12)
    return AESGCM(key).decrypt(nonce, ct, b"")


if nonce is None:
    log(None, False, "damaged")
    return None
deal_id = ctx["deal_id"]
if deal_id is None:
    log(None, False, "unknown_envelope")
    return None

path = ctx["key_file"]
try:
    if not path:
        raise FileNotFoundError
    info = os.stat(path)
    if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & 0o077):
        raise PermissionError
    ident = (path, info.st_ino, info.st_mtime_ns, info.st_size)
    escrow = st["escrow"]
    if escrow is None or escrow[0] != ident:
        with open(path, encoding="ascii") as f:
            head, _, body = f.read(4096).partition("\n")
        if head.strip() != KEY_FILE_HEADER:
            raise ValueError
        private = X25519PrivateKey.from_private_bytes(
            base64.b64decode(body.strip(), validate=True))
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        escrow = st["escrow"] = (ident, private, public,
                                 hashlib.sha256(public).hexdigest()[:32])
        st["keys"] = {}
except (OSError, ValueError, UnicodeDecodeError, binascii.Error):
    log(deal_id, False, "no_server_key")
    return None
_, private, public, key_id = escrow

wrapped = ctx["wrapped"]
if ctx_key_id != key_id:
    # The key file changed since the read: the grant of the key it holds now.
    grant = plpy.execute(st["grant"], [version, key_id])
    wrapped = grant[0]["wrapped"] if grant else None
if wrapped is None:
    log(deal_id, False, "no_escrow")
    return None
wrapped = bytes(wrapped)
cache_key = (tenant, version, wrapped)
aead = st["keys"].get(cache_key)
if aead is None:
    try:
        phi_key = hpke_open(private, public, wrapped,
                            f"closeplan/phi-key-grant/v1|{tenant}|{version}".encode())
        aead = AESGCM(phi_key)
    except (InvalidTag, ValueError):
        log(deal_id, False, "grant_invalid")
        return None
    if len(st["keys"]) > 1000:
        st["keys"].clear()
    st["keys"][cache_key] = aead

try:
    plaintext = aead.decrypt(nonce, ciphertext,
                             f"closeplan/phi/v1|{tenant}|{deal_id}|{version}".encode())
except InvalidTag:
    log(deal_id, False, "failed_authentication")
    return None
log(deal_id, True, None)
return plaintext.decode("utf-8")
'''


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(STAMPS)
    bind.exec_driver_sql(ID_CHECKS)
    bind.exec_driver_sql("RESET ROLE")
    bind.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION decrypt_phi(phi json) RETURNS json "
        "LANGUAGE plpython3u VOLATILE STRICT SECURITY INVOKER "
        "SET search_path = pg_catalog, public "
        f"AS $body${BODY}$body$")
    bind.exec_driver_sql("SET ROLE closeplan_owner")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
