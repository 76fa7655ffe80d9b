"""Vote tallies: who voted what in one (height, round, step), and how much power is behind it.

The paper counts messages: "2f+1 PREVOTE(h, r, id(v))" means prevotes for id(v) from senders
holding more than 2/3 of the power. A validator that equivocates has sent two messages, and each
counts toward its own value. So the tally keeps every validator's first vote (for the "any value"
quorums of lines 34 and 47, which count each validator once) and, per value, the validators that
voted for it. A conflicting vote is counted for its value and handed back with the first one as
evidence. Counting only the first vote instead would let an equivocator show half the honest
nodes one vote and half another, so that neither half ever sees the polka the other locked on:
safe, but stalled for good (found by the equivocate-f library scenario).

Memory is bounded: a validator is counted for at most VALUES_PER_VOTER_MAX distinct values.
"""

from __future__ import annotations

from .messages import Vote
from .validators import ValidatorSet

VALUES_PER_VOTER_MAX = 4


class VoteTally:
    """The quorum verdicts are kept, not recomputed: the upon-rules ask them several times per
    vote, and they change only when a vote is counted. `has_quorum_for(v)` is the set's
    `has_quorum(power_for(v))` and `any_quorum` its `has_quorum(power_total)`, each recomputed
    when its power changes (a ValidatorSet, a mutant's subclass included, is immutable and its
    `has_quorum` a function of the power)."""

    __slots__ = ("_validators", "votes", "by_value", "power_by_value", "power_total",
                 "_values_of", "_power", "_has_quorum", "_twice_total", "_quorate",
                 "_quorum_at_zero", "any_quorum")

    def __init__(self, validators: ValidatorSet) -> None:
        self._validators = validators
        self.votes: dict[str, Vote] = {}  # each validator's first vote
        self.by_value: dict[bytes | None, dict[str, Vote]] = {}
        self.power_by_value: dict[bytes | None, int] = {}
        self.power_total = 0  # each validator once, whatever it voted
        self._values_of: dict[str, int] = {}  # voter -> its values counted, when more than one
        self._power = validators.power
        self._has_quorum = validators.has_quorum
        # The set's own quorum test is 3 * power > 2 * total, inlined; a subclass's is called.
        self._twice_total = (2 * validators.total_power
                             if type(validators).has_quorum is ValidatorSet.has_quorum else None)
        self._quorum_at_zero = self._quorum(0)  # the verdict for a value nobody voted for
        self._quorate: dict[bytes | None, bool] = {}  # value -> has_quorum(power_for(value))
        self.any_quorum = self._quorum_at_zero  # has_quorum(power_total), read-only

    def _quorum(self, power: int) -> bool:
        twice_total = self._twice_total
        return 3 * power > twice_total if twice_total is not None else self._has_quorum(power)

    def add(self, vote: Vote) -> tuple[bool, Vote | None]:
        """Add `vote`. Returns (counted, conflicting_earlier_vote_or_None)."""
        voter = vote.voter
        power = self._power(voter)
        if power == 0:
            return False, None
        value_id = vote.value_id
        bucket = self.by_value.get(value_id)
        if bucket is None:
            bucket = self.by_value[value_id] = {}
        elif voter in bucket:
            return False, None  # a repeat
        first = self.votes.get(voter)
        twice_total = self._twice_total  # _quorum, inlined below
        if first is None:
            self.votes[voter] = vote
            total = self.power_total = self.power_total + power
            self.any_quorum = (3 * total > twice_total if twice_total is not None
                               else self._has_quorum(total))
        else:
            values = self._values_of.get(voter, 1)  # a voter with one value is not entered
            if values >= VALUES_PER_VOTER_MAX:
                return False, first
            self._values_of[voter] = values + 1
        bucket[voter] = vote
        power += self.power_by_value.get(value_id, 0)
        self.power_by_value[value_id] = power
        self._quorate[value_id] = (3 * power > twice_total if twice_total is not None
                                   else self._has_quorum(power))
        return True, first

    def power_for(self, value_id: bytes | None) -> int:
        return self.power_by_value.get(value_id, 0)

    def has_quorum_for(self, value_id: bytes | None) -> bool:
        return self._quorate.get(value_id, self._quorum_at_zero)

    def has_quorum_any(self) -> bool:
        return self.any_quorum

    def certificate(self, value_id: bytes) -> tuple[Vote, ...]:
        """The votes for `value_id`, sorted by voter so every node builds the same certificate."""
        return tuple(v for _, v in sorted(self.by_value.get(value_id, {}).items()))
