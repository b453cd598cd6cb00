"""Keys online (issue 12): device shares, and the escrow key's public half.

- `device_shares`: one random 32-byte secret per device, handed only to a session opened
  with a password (never to a device's refresh-token session). A laptop seals its
  device key under HKDF(keyring secret || share), so a user whom sync brought can get
  the PHI keys at their first online sign-in there, while the keyring and the database
  file alone open nothing. Tenant-isolated like every tenant table; the app role may
  read and insert only (a share never changes; a revoked device is refused by status).
- `escrow_public_key()`: the public half of the server's escrow key (the private half
  stays in the key file that only the database server's OS user reads, as for
  `decrypt_phi`, 0003), or NULL when the file is missing or unsafe. An online PHI key
  rotation wraps the new version for it when the tenant keeps an escrow grant.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OWNER = "closeplan_owner"
APP = "closeplan_app"

SHARES = f"""
CREATE TABLE device_shares (
    tenant_id text NOT NULL REFERENCES tenants (id),
    device_id text NOT NULL,
    share bytea NOT NULL CHECK (length(share) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE device_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_shares
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT ON device_shares TO {APP};
"""

BODY = r'''
import base64
import binascii
import os
import stat

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_FILE_HEADER = "closeplan-escrow-key v1"
row = plpy.execute("SELECT coalesce(current_setting('closeplan.escrow_key_file', true), "
                   "'') AS key_file")[0]
path = row["key_file"]
try:
    if not path:
        return None
    info = os.stat(path)
    if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & 0o077):
        return None
    with open(path, encoding="ascii") as f:
        head, _, body = f.read(4096).partition("\n")
    if head.strip() != KEY_FILE_HEADER:
        return None
    private = X25519PrivateKey.from_private_bytes(base64.b64decode(body.strip(),
                                                                   validate=True))
except (OSError, ValueError, UnicodeDecodeError, binascii.Error):
    return None
return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
'''


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(SHARES)
    # Only a superuser may create a plpython3u function (as in 0003).
    bind.exec_driver_sql("RESET ROLE")
    bind.exec_driver_sql(
        "CREATE FUNCTION escrow_public_key() RETURNS bytea "
        "LANGUAGE plpython3u VOLATILE SECURITY INVOKER "
        "SET search_path = pg_catalog, public "
        f"AS $body${BODY}$body$")
    bind.exec_driver_sql(f"ALTER FUNCTION escrow_public_key() OWNER TO {OWNER}")
    bind.exec_driver_sql("REVOKE EXECUTE ON FUNCTION escrow_public_key() FROM PUBLIC")
    bind.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION escrow_public_key() TO {APP}")
    bind.exec_driver_sql(f"SET ROLE {OWNER}")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
