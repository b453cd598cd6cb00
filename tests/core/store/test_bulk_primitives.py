"""The fast paths of bulk work give exactly what the plain paths give: ids, the audit
chain's HMAC, and rotation's resealing of PHI envelopes."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import time

import pytest

from closeplan_desktop.core.domain import ids
from closeplan_desktop.core.domain.errors import CryptoError
from closeplan_desktop.core.security import crypto

TENANT = "c" + "t" * 24
DEAL = "c" + "d" * 24
PHI = {"patient_name": "Zoë O’Brien", "mrn": "MRN-123456", "notes": "allergic: penicillin"}


def test_ids_are_cuids_unique_and_time_ordered() -> None:
    before = int(time.time() * 1000)
    made = [ids.new_id() for _ in range(20000)]
    after = int(time.time() * 1000)
    assert len(set(made)) == len(made)
    assert all(ids.is_id(i) for i in made)
    # Characters 1-8 are the time in milliseconds in base36, as cuid v1 writes it.
    stamps = {int(i[1:9], 36) for i in made}
    assert min(stamps) >= before % 36**8 and max(stamps) <= after % 36**8
    # Characters 9-12: a counter that moves on by one per id.
    counters = [int(i[9:13], 36) for i in made[:100]]
    assert all((b - a) % 36**4 == 1 for a, b in itertools.pairwise(counters))


@pytest.mark.parametrize("size", [0, 1, 32, 64, 65, 200])
def test_bulk_hmac_is_hmac_sha256(size: int) -> None:
    key = os.urandom(size)
    digest = crypto.hmac_hex(key)
    for message in (b"", b"x", os.urandom(63), os.urandom(64), os.urandom(1000)):
        assert digest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_reseal_moves_envelopes_to_the_active_key() -> None:
    old, new = crypto.new_key(), crypto.new_key()
    envelope = crypto.encrypt_phi(old, 1, TENANT, DEAL, PHI)
    [moved] = crypto.reseal_many(TENANT, 2, {1: old, 2: new}, [(DEAL, envelope)])
    assert crypto.envelope_version(moved) == 2
    assert crypto.decrypt_phi(new, TENANT, DEAL, moved) == PHI
    with pytest.raises(CryptoError):
        crypto.decrypt_phi(old, TENANT, DEAL, moved)
    # The envelope's JSON in another key order (not as PhiSealer writes it) is read too.
    shuffled = json.dumps(dict(reversed(json.loads(envelope).items())))
    assert crypto.reseal_many(TENANT, 2, {1: old, 2: new}, [(DEAL, shuffled)])


def test_reseal_refuses_what_it_cannot_open() -> None:
    old, new = crypto.new_key(), crypto.new_key()
    envelope = crypto.encrypt_phi(old, 1, TENANT, DEAL, PHI)
    keys = {1: old, 2: new}
    with pytest.raises(CryptoError, match="altered, moved"):  # another deal's envelope
        crypto.reseal_many(TENANT, 2, keys, [("c" + "e" * 24, envelope)])
    with pytest.raises(CryptoError, match="no longer has"):
        crypto.reseal_many(TENANT, 2, {2: new}, [(DEAL, envelope)])
    for damaged in ("", "{}", envelope[:-3], envelope.replace('"v":1', '"v":9'), "null",
                    envelope.replace('"n":"', '"n":"!')):
        with pytest.raises(CryptoError, match="damaged"):
            crypto.reseal_many(TENANT, 2, keys, [(DEAL, damaged)])
