"""The deals upload of `core.sync.adopt` keeps each request well below the server's body
limit, however large the PHI envelopes are."""

from __future__ import annotations

from closeplan_desktop.core.sync import adopt


def row(n: int, phi_bytes: int) -> tuple[object, ...]:
    return (f"c{n:024d}", "Title", "ACTIVE", 100, "x" * phi_bytes if phi_bytes else None, 1,
            "owner", None, None, None)


def test_a_batch_of_small_deals_goes_whole() -> None:
    rows = [row(n, 500) for n in range(1000)]
    assert adopt._within_bytes(rows) == rows


def test_heavy_envelopes_cut_the_batch_and_one_deal_always_goes() -> None:
    rows = [row(n, 1024 * 1024) for n in range(10)]
    taken = adopt._within_bytes(rows)
    assert 1 <= len(taken) < len(rows)
    assert sum(len(str(r[4])) for r in taken) <= adopt.MAX_REQUEST_BYTES
    assert adopt._within_bytes([row(0, 9 * 1024 * 1024)]) == [row(0, 9 * 1024 * 1024)]
