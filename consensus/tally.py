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
    __slots__ = ("_validators", "votes", "by_value", "power_by_value", "power_total",
                 "_values_of")

    def __init__(self, validators: ValidatorSet) -> None:
        self._validators = validators
        self.votes: dict[str, Vote] = {}  # each validator's first vote
        self.by_value: dict[bytes | None, dict[str, Vote]] = {}
        self.power_by_value: dict[bytes | None, int] = {}
        self.power_total = 0  # each validator once, whatever it voted
        self._values_of: dict[str, int] = {}

    def add(self, vote: Vote) -> tuple[bool, Vote | None]:
        """Add `vote`. Returns (counted, conflicting_earlier_vote_or_None)."""
        power = self._validators.power(vote.voter)
        if power == 0:
            return False, None
        bucket = self.by_value.setdefault(vote.value_id, {})
        if vote.voter in bucket:
            return False, None  # a repeat
        first = self.votes.get(vote.voter)
        if first is None:
            self.votes[vote.voter] = vote
            self.power_total += power
        elif self._values_of[vote.voter] >= VALUES_PER_VOTER_MAX:
            return False, first
        bucket[vote.voter] = vote
        self._values_of[vote.voter] = self._values_of.get(vote.voter, 0) + 1
        self.power_by_value[vote.value_id] = self.power_by_value.get(vote.value_id, 0) + power
        return True, first

    def power_for(self, value_id: bytes | None) -> int:
        return self.power_by_value.get(value_id, 0)

    def has_quorum_for(self, value_id: bytes | None) -> bool:
        return self._validators.has_quorum(self.power_for(value_id))

    def has_quorum_any(self) -> bool:
        return self._validators.has_quorum(self.power_total)

    def certificate(self, value_id: bytes) -> tuple[Vote, ...]:
        """The votes for `value_id`, sorted by voter so every node builds the same certificate."""
        return tuple(v for _, v in sorted(self.by_value.get(value_id, {}).items()))
