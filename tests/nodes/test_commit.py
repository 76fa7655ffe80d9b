"""Pedersen commitments (nodes/app/commit.py): homomorphic conservation, openings, and what a
missing range proof lets through."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from nodes.app import commit as c

quantities = st.integers(min_value=0, max_value=10**12)
scalars = st.integers(min_value=0, max_value=c.L - 1)


def _r(rng: random.Random) -> int:
    return c.blinding(rng.randbytes(64))


@settings(max_examples=60, deadline=None)
@given(quantities, quantities, scalars, scalars)
def test_commitments_add_homomorphically(a, b, r, s):
    assert c.add(c.commit(a, r), c.commit(b, s)) == c.commit(a + b, c.scalar_sum([r, s]))
    assert c.sub(c.commit(a, r), c.commit(b, s)) == c.commit(a - b, c.scalar_sub(r, s))


@settings(max_examples=40, deadline=None)
@given(quantities, st.lists(quantities, min_size=1, max_size=4), st.randoms())
def test_difference_opens_to_the_discrepancy_only(q_out, parts, rng):
    r_out = _r(rng)
    opened = [(q, _r(rng)) for q in parts]
    ins = [c.commit(q, s) for q, s in opened]
    d, r = c.open_difference(q_out, r_out, opened)
    assert d == q_out - sum(parts)
    assert c.verify_difference(c.commit(q_out, r_out), ins, d, r)
    assert not c.verify_difference(c.commit(q_out, r_out), ins, d + 1, r)


def test_h_is_fixed_and_not_g():
    assert c.H == c._second_generator() and c.H != c.G and len(c.H) == 32


def test_lot_split_into_three_shipments_conserves_and_a_gram_of_skim_is_caught():
    rng = random.Random(5)
    lot_g, r_lot = 1_250_000, _r(rng)
    shipments = [(400_000, _r(rng)), (500_000, _r(rng)), (350_000, _r(rng))]
    lot_c = c.commit(lot_g, r_lot)
    ship_cs = [c.commit(q, r) for q, r in shipments]
    d, r = c.open_difference(lot_g, r_lot, shipments)
    assert c.conservation(lot_c, ship_cs, d, r, tolerance=0) == (True, 0)
    # The plaintext quantities appear nowhere in what the checker sees.
    seen = (lot_c + b"".join(ship_cs) + d.to_bytes(8, "little", signed=True)
            + r.to_bytes(32, "little"))
    for q in (lot_g, *(q for q, _ in shipments)):
        for width in (3, 4, 8):
            assert q.to_bytes(width, "little") not in seen and q.to_bytes(width, "big") not in seen
    # One gram skimmed beyond a tolerance of 0 g: the third shipment declares a gram less.
    skimmed = shipments[:2] + [(349_999, shipments[2][1])]
    d, r = c.open_difference(lot_g, r_lot, skimmed)
    ok, d = c.conservation(lot_c, [c.commit(q, s) for q, s in skimmed], d, r, tolerance=0)
    assert (ok, d) == (False, 1)
    # Within a tolerance of 1 g the same gram passes.
    assert c.conservation(lot_c, [c.commit(q, s) for q, s in skimmed], d, r, 1)[0]


def test_a_wrong_or_malformed_opening_is_an_error_not_a_pass():
    rng = random.Random(1)
    out, r_out = c.commit(10, rng_r := _r(rng)), rng_r
    rin = _r(rng)
    ins = [c.commit(10, rin)]
    d, r = c.open_difference(10, r_out, [(10, rin)])
    with pytest.raises(c.OpeningError):
        c.conservation(out, ins, d, (r + 1) % c.L, 0)
    for bad in (b"\x00" * 31, b"\xff" * 32, "text"):
        with pytest.raises(c.OpeningError):
            c.verify_difference(bad, ins, d, r)
    with pytest.raises(c.OpeningError):
        c.verify_difference(out, ins, d, c.L)


def test_without_a_range_proof_a_negative_loss_balances_an_inflated_receipt():
    """The receiver books 5 kg more than was shipped and commits a loss of -5 kg: every nation's
    conservation check passes (d = 0), because nothing proves a committed quantity >= 0. Only a
    party that opens the loss commitment itself sees the negative (docs/privacy.md)."""
    rng = random.Random(9)
    shipped, r_s = 100_000, _r(rng)
    received, r_r = 105_000, _r(rng)
    loss, r_l = -5_000, _r(rng)
    d, r = c.open_difference(shipped, r_s, [(received, r_r), (loss, r_l)])
    assert c.conservation(c.commit(shipped, r_s), [c.commit(received, r_r), c.commit(loss, r_l)],
                          d, r, tolerance=0) == (True, 0)
    # The loss commitment is to L - 5000: a lane member opening it reads a negative quantity.
    assert c.commit(loss, r_l) == c.commit(c.L - 5_000, r_l)
    assert c.signed(c.L - 5_000) == -5_000
