"""decrypt_phi(phi): the seed's audited server-side read of PHI, in plpython3u.

It opens the desktop's envelope unchanged (closeplan_desktop.core.security.crypto:
AES-256-GCM, associated data of tenant id, deal id and key version) for tenants that
granted the server their key (a SERVER row in key_grants: the PHI key wrapped with HPKE
for the server's escrow key, closeplan_desktop.server.keys.escrow). The escrow private
key is in a file outside the database, named by the setting closeplan.escrow_key_file,
which must be a regular file of the database server's OS user with no group or other
permission bits; it is cached in the backend's memory, as are the unwrapped PHI keys
(keyed by tenant, version and wrapped bytes, so a revoked grant stops at once).

The function runs as its caller (SECURITY INVOKER), under the caller's row-level
security: it finds the deal an envelope belongs to by its nonce (deals.phi_nonce) among
the current tenant's deals, and writes one PHI_ACCESS/READ row to access_logs in the
caller's transaction for every call. A refusal returns NULL and writes success = false
with the reason: no_server_key, damaged, unknown_envelope (not a deal of this tenant),
no_escrow, grant_invalid, failed_authentication (altered, or moved to another deal);
raising would roll the log row back. NULL PHI is not read and not logged (STRICT).

The bulk guard raises instead: more than 5 calls in one statement or 25 in one
transaction stop the statement (so no plaintext of it leaves the database), unless the
transaction set closeplan.allow_bulk_decrypt to on. A missing tenant or user context
raises too: there is nobody to log the row for.

Only a superuser may create a plpython3u function; the migration creates it as the
session's superuser and hands it to the owner role, and only a superuser can replace it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OWNER = "closeplan_owner"
APP = "closeplan_app"

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

st = GD.get("closeplan.decrypt_phi")
if st is None:
    st = GD["closeplan.decrypt_phi"] = {
        "ctx": plpy.prepare(
            "SELECT current_tenant_id() AS tenant, current_user_id() AS user_id, "
            "pg_current_xact_id()::text AS xact, statement_timestamp()::text AS stmt, "
            "coalesce(current_setting('closeplan.allow_bulk_decrypt', true), '') AS bulk, "
            "coalesce(current_setting('closeplan.escrow_key_file', true), '') AS key_file"),
        "deal": plpy.prepare(
            "SELECT id FROM deals WHERE tenant_id = current_tenant_id() AND phi_nonce = $1",
            ["bytea"]),
        "grant": plpy.prepare(
            "SELECT wrapped FROM key_grants WHERE tenant_id = current_tenant_id() "
            "AND key_version = $1 AND grantee_kind = 'SERVER' AND grantee_id = $2 "
            "AND revoked_at IS NULL", ["integer", "text"]),
        "log": plpy.prepare(
            "INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, access_type, "
            "resource_type, success, reason) VALUES (current_tenant_id(), $1, $2, $3, "
            "'PHI_ACCESS', 'READ', 'deal.phi', $4, $5)",
            ["text", "text", "text", "boolean", "text"]),
        "count": None, "escrow": None, "keys": {},
    }

ctx = plpy.execute(st["ctx"])[0]
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
    plpy.execute(st["log"], [row_id, user_id, deal_id, success, reason])


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


try:
    envelope = json.loads(phi)
    if not isinstance(envelope, dict) or envelope.get("v") != 1:
        raise ValueError
    version = int(envelope["k"])
    nonce = base64.b64decode(envelope["n"], validate=True)
    ciphertext = base64.b64decode(envelope["c"], validate=True)
    if len(nonce) != 12:
        raise ValueError
except (ValueError, KeyError, TypeError, binascii.Error):
    log(None, False, "damaged")
    return None

found = plpy.execute(st["deal"], [nonce])
if not found:
    log(None, False, "unknown_envelope")
    return None
deal_id = found[0]["id"]

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

grant = plpy.execute(st["grant"], [version, key_id])
if not grant:
    log(deal_id, False, "no_escrow")
    return None
wrapped = bytes(grant[0]["wrapped"])
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
    bind.exec_driver_sql("RESET ROLE")
    bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS plpython3u")
    bind.exec_driver_sql(
        "CREATE FUNCTION decrypt_phi(phi json) RETURNS json "
        "LANGUAGE plpython3u VOLATILE STRICT SECURITY INVOKER "
        "SET search_path = pg_catalog, public "
        f"AS $body${BODY}$body$")
    bind.exec_driver_sql(f"ALTER FUNCTION decrypt_phi(json) OWNER TO {OWNER}")
    bind.exec_driver_sql("REVOKE EXECUTE ON FUNCTION decrypt_phi(json) FROM PUBLIC")
    bind.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION decrypt_phi(json) TO {APP}")
    bind.exec_driver_sql(f"SET ROLE {OWNER}")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
