"""The vote tally keeps its quorum verdicts instead of recomputing them: they must be, after
every vote, what the validator set's own `has_quorum` says of the powers, for the set itself
and for a subclass (a mutant's quorum arithmetic), and the counting must be the plain one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import Step, ValidatorSet, Vote, VoteTally
from consensus.tally import VALUES_PER_VOTER_MAX

VOTERS = ("A", "B", "C", "D", "E", "F", "G")
VALUES = (None, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, b"\x05" * 32)


class _TwoF(ValidatorSet):
    def has_quorum(self, power: int) -> bool:
        return power >= max(1, 2 * ((self.total_power - 1) // 3))


class _HeadCount(ValidatorSet):
    def power(self, voter: str) -> int:
        return 1 if voter in self else 0

    def has_quorum(self, power: int) -> bool:
        return 3 * power > 2 * len(self.powers)


class _Odd(ValidatorSet):
    """Not monotone in the power: a verdict kept must still follow every change."""

    def has_quorum(self, power: int) -> bool:
        return power % 2 == 1


class _Reference:
    """The tally as it was before its verdicts were kept: each question recomputed."""

    def __init__(self, validators: ValidatorSet) -> None:
        self.validators = validators
        self.votes: dict = {}
        self.by_value: dict = {}
        self.power_by_value: dict = {}
        self.power_total = 0
        self.values_of: dict = {}

    def add(self, vote: Vote):
        power = self.validators.power(vote.voter)
        if power == 0:
            return False, None
        bucket = self.by_value.setdefault(vote.value_id, {})
        if vote.voter in bucket:
            return False, None
        first = self.votes.get(vote.voter)
        if first is None:
            self.votes[vote.voter] = vote
            self.power_total += power
        elif self.values_of[vote.voter] >= VALUES_PER_VOTER_MAX:
            return False, first
        bucket[vote.voter] = vote
        self.values_of[vote.voter] = self.values_of.get(vote.voter, 0) + 1
        self.power_by_value[vote.value_id] = self.power_by_value.get(vote.value_id, 0) + power
        return True, first

    def has_quorum_for(self, value_id) -> bool:
        return self.validators.has_quorum(self.power_by_value.get(value_id, 0))

    def has_quorum_any(self) -> bool:
        return self.validators.has_quorum(self.power_total)


@given(powers=st.lists(st.integers(1, 5), min_size=1, max_size=len(VOTERS)),
       kind=st.sampled_from([ValidatorSet, _TwoF, _HeadCount, _Odd]),
       votes=st.lists(st.tuples(st.sampled_from(VOTERS + ("stranger",)),
                                st.sampled_from(VALUES)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_kept_quorum_verdicts_are_the_validator_sets(powers, kind, votes):
    validators = kind(tuple(zip(VOTERS, powers)))
    tally, reference = VoteTally(validators), _Reference(validators)
    for voter, value_id in votes:
        vote = Vote(Step.PREVOTE, 1, 0, value_id, voter, b"s" * 64)
        assert tally.add(vote) == reference.add(vote)
        assert tally.has_quorum_any() == tally.any_quorum == reference.has_quorum_any()
        for v in VALUES:
            assert tally.has_quorum_for(v) == reference.has_quorum_for(v)
            assert tally.power_for(v) == reference.power_by_value.get(v, 0)
            assert tally.certificate(v) == tuple(
                vote for _, vote in sorted(reference.by_value.get(v, {}).items()))
        assert tally.votes == reference.votes and tally.power_total == reference.power_total
        assert tally.by_value == reference.by_value
