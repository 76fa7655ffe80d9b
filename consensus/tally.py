"""Vote tallies: who voted what in one (height, round, step), and how much power is behind it."""

from __future__ import annotations

from .messages import Vote
from .validators import ValidatorSet


class VoteTally:
    """The first vote of each validator for one (height, round, step).

    A second vote from the same validator for another value is equivocation: the tally keeps the
    first, refuses the second and hands both back so the caller can record evidence. A repeat of
    the same vote is ignored.
    """

    __slots__ = ("_validators", "votes", "power_by_value", "power_total")

    def __init__(self, validators: ValidatorSet) -> None:
        self._validators = validators
        self.votes: dict[str, Vote] = {}
        self.power_by_value: dict[bytes | None, int] = {}
        self.power_total = 0

    def add(self, vote: Vote) -> tuple[bool, Vote | None]:
        """Add `vote`. Returns (counted, conflicting_earlier_vote_or_None)."""
        earlier = self.votes.get(vote.voter)
        if earlier is not None:
            if earlier.value_id != vote.value_id:
                return False, earlier
            return False, None
        power = self._validators.power(vote.voter)
        if power == 0:
            return False, None
        self.votes[vote.voter] = vote
        self.power_by_value[vote.value_id] = self.power_by_value.get(vote.value_id, 0) + power
        self.power_total += power
        return True, None

    def power_for(self, value_id: bytes | None) -> int:
        return self.power_by_value.get(value_id, 0)

    def has_quorum_for(self, value_id: bytes | None) -> bool:
        return self._validators.has_quorum(self.power_for(value_id))

    def has_quorum_any(self) -> bool:
        return self._validators.has_quorum(self.power_total)

    def certificate(self, value_id: bytes) -> tuple[Vote, ...]:
        """The votes for `value_id`, sorted by voter so every node builds the same certificate."""
        return tuple(v for _, v in sorted(self.votes.items()) if v.value_id == value_id)
