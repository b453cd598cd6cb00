"""The escrow key file and grant wrapping (no database needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from closeplan_desktop.core.domain.errors import CryptoError
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.keys import escrow


def test_a_key_file_is_private_never_overwritten_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "escrow.key"
    public = escrow.write_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert escrow.public_raw(escrow.read_key_file(path)) == public
    assert len(public) == 32 and len(escrow.key_id(public)) == 32
    with pytest.raises(FileExistsError):
        escrow.write_key_file(path)
    other = tmp_path / "other.key"
    other.write_text("not a key\n")
    with pytest.raises(ValueError, match="not a ClosePlan escrow key"):
        escrow.read_key_file(other)


def test_a_grant_opens_only_for_its_tenant_and_version() -> None:
    private = X25519PrivateKey.generate()
    phi_key = crypto.new_key()
    wrapped = escrow.wrap_key(escrow.public_raw(private), "tenant-a", 1, phi_key)
    assert len(wrapped) == 80
    assert escrow.unwrap_key(private, "tenant-a", 1, wrapped) == phi_key
    for tenant, version in (("tenant-b", 1), ("tenant-a", 2)):
        with pytest.raises(CryptoError, match="did not open"):
            escrow.unwrap_key(private, tenant, version, wrapped)
    with pytest.raises(CryptoError, match="did not open"):
        escrow.unwrap_key(X25519PrivateKey.generate(), "tenant-a", 1, wrapped)
