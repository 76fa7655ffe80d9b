"""Quorum arithmetic and proposer rotation of `ValidatorSet`.

The paper's "2f+1" is power strictly greater than 2/3 of the total, and "f+1" is power strictly
greater than 1/3 (arXiv 1807.04938, section on the system model). Safety rests on one fact: two
quorums overlap in more than 1/3 of the power, so in at least one honest validator.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import ValidatorSet, ValidatorSetError


def equal(n: int) -> ValidatorSet:
    return ValidatorSet.equal([f"v{i:02d}" for i in range(n)])


def weighted(powers: list[int]) -> ValidatorSet:
    return ValidatorSet(tuple((f"v{i:02d}", p) for i, p in enumerate(powers)))


# --------------------------------------------------------------------------- equal powers


@pytest.mark.parametrize("n", range(1, 11))
def test_quorum_is_the_smallest_power_above_two_thirds(n: int) -> None:
    vs = equal(n)
    q = vs.quorum_power
    assert Fraction(q) > Fraction(2 * n, 3) >= Fraction(q - 1)
    assert vs.has_quorum(q) and not vs.has_quorum(q - 1)
    assert q <= n  # all validators together always form a quorum: no deadlock by arithmetic


@pytest.mark.parametrize("n", range(1, 11))
def test_skip_is_the_smallest_power_above_one_third(n: int) -> None:
    vs = equal(n)
    s = vs.skip_power
    assert Fraction(s) > Fraction(n, 3) >= Fraction(s - 1)
    assert vs.has_skip(s) and not vs.has_skip(s - 1)


@pytest.mark.parametrize("f", range(0, 4))
def test_n_equals_3f_plus_1_gives_the_papers_2f_plus_1_and_f_plus_1(f: int) -> None:
    vs = equal(3 * f + 1)
    assert vs.quorum_power == 2 * f + 1
    assert vs.skip_power == f + 1
    assert not vs.has_skip(f)  # f Byzantine voters alone can never pull a node ahead (line 55)


@pytest.mark.parametrize("n", range(1, 11))
def test_any_two_quorums_intersect_in_more_than_a_third(n: int) -> None:
    vs = equal(n)
    q = vs.quorum_power
    assert 3 * (2 * q - n) > n  # the smallest possible overlap of two quorums
    if n <= 7:  # and by brute force over every pair of minimal quorums
        quorums = [set(c) for c in combinations(range(n), q)]
        for a in quorums:
            for b in quorums:
                assert 3 * len(a & b) > n


def test_five_equal_voters_need_four_not_three() -> None:
    """n = 5 is not 3f+1: "2f+1" (3) would let two quorums meet in one voter. Power rule: 4."""
    assert equal(5).quorum_power == 4
    assert not equal(5).has_quorum(3)


# --------------------------------------------------------------------------- weighted powers


def test_weighted_5_1_1_1_boundaries() -> None:
    """Total 8: a quorum needs more than 16/3 (so 6), a skip more than 8/3 (so 3)."""
    vs = weighted([5, 1, 1, 1])
    assert vs.total_power == 8
    assert vs.quorum_power == 6
    assert [vs.has_quorum(p) for p in range(9)] == [False] * 6 + [True] * 3
    assert vs.skip_power == 3
    assert [vs.has_skip(p) for p in range(9)] == [False] * 3 + [True] * 6
    # The heavy validator alone can skip a round but not decide; with any one other it can.
    assert vs.has_skip(5) and not vs.has_quorum(5) and vs.has_quorum(5 + 1)
    assert not vs.has_quorum(1 + 1 + 1)


def test_exactly_two_thirds_is_not_a_quorum_and_exactly_one_third_is_not_a_skip() -> None:
    vs = weighted([3, 3, 3])
    assert (vs.quorum_power, vs.skip_power) == (7, 4)
    assert not vs.has_quorum(6) and vs.has_quorum(7)
    assert not vs.has_skip(3) and vs.has_skip(4)


powers_lists = st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(powers=powers_lists, data=st.data())
def test_weighted_quorums_intersect_in_more_than_a_third(powers: list[int],
                                                        data: st.DataObject) -> None:
    vs = weighted(powers)
    total = vs.total_power
    n = len(powers)
    a = data.draw(st.sets(st.integers(0, n - 1)), label="a")
    b = data.draw(st.sets(st.integers(0, n - 1)), label="b")
    power = lambda s: sum(powers[i] for i in s)  # noqa: E731
    if vs.has_quorum(power(a)) and vs.has_quorum(power(b)):
        assert 3 * power(a & b) > total


@settings(max_examples=200, deadline=None)
@given(powers=powers_lists)
def test_weighted_thresholds_match_their_predicates(powers: list[int]) -> None:
    vs = weighted(powers)
    total = vs.total_power
    assert total == sum(powers)
    for p in range(total + 1):
        assert vs.has_quorum(p) == (p >= vs.quorum_power) == (3 * p > 2 * total)
        assert vs.has_skip(p) == (p >= vs.skip_power) == (3 * p > total)


def test_bad_validator_sets_are_refused() -> None:
    with pytest.raises(ValidatorSetError):
        ValidatorSet(())
    with pytest.raises(ValidatorSetError):
        ValidatorSet((("a", 1), ("a", 2)))
    with pytest.raises(ValidatorSetError):
        ValidatorSet((("a", 0),))


# --------------------------------------------------------------------------- proposer rotation


def test_equal_powers_rotate_through_every_validator() -> None:
    vs = equal(4)
    assert len({vs.proposer(1, r) for r in range(4)}) == 4


def test_weighted_5_1_1_1_rotation() -> None:
    vs = weighted([5, 1, 1, 1])
    assert Counter(vs.proposer(0, r) for r in range(8)) == {
        "v00": 5, "v01": 1, "v02": 1, "v03": 1}


@settings(max_examples=200, deadline=None)
@given(powers=powers_lists, start=st.integers(0, 10_000))
def test_each_validator_proposes_power_times_per_total_power_slots(powers: list[int],
                                                                  start: int) -> None:
    """Any `total_power` consecutive (height + round) slots hold each validator `power` times."""
    vs = weighted(powers)
    window = Counter(vs.proposer(start + k, 0) for k in range(vs.total_power))
    assert window == {f"v{i:02d}": p for i, p in enumerate(powers)}


@settings(max_examples=100, deadline=None)
@given(powers=powers_lists, height=st.integers(1, 1000), round_=st.integers(0, 1000))
def test_proposer_is_deterministic(powers: list[int], height: int, round_: int) -> None:
    """Two nodes that build the set independently agree on every proposer; only h + r counts."""
    one, two = weighted(powers), weighted(list(powers))
    assert one.proposer(height, round_) == two.proposer(height, round_)
    assert one.proposer(height, round_) == one.proposer(height + round_, 0)
    assert one.proposer(height, round_) in one
