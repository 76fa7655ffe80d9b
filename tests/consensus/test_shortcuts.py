"""What the core keeps instead of recomputing it on every vote.

- The vote tally's quorum verdicts: after every vote, what the validator set's own
  `has_quorum` says of the powers, for the set itself and for a subclass (a mutant's quorum
  arithmetic), and the counting the plain one.
- The replica's earliest pending timeout: `next_deadline()` is the minimum of the pending
  timeouts whatever the replica went through.
- `Replica.receive(m)`, which a node calls per delivery, is `handle(Receive(m))`.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collections import deque

from consensus import (Broadcast, Proposal, Receive, Replica, Resume, Start, Step,
                       TimeoutConfig, ValidatorSet, Vote, VoteTally)
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


_IDS = (None, b"\x01" * 32, b"\x02" * 32)
_EVENT = st.one_of(
    st.tuples(st.just("vote"), st.sampled_from([Step.PREVOTE, Step.PRECOMMIT]),
              st.sampled_from(VOTERS[1:4]), st.integers(0, 2), st.sampled_from(_IDS),
              st.integers(1, 2)),
    st.tuples(st.just("proposal"), st.integers(0, 2), st.sampled_from(_IDS[1:])),
    st.tuples(st.just("timeout"), st.integers(0, 400)),
)


@given(events=st.lists(_EVENT, max_size=40))
@settings(max_examples=200, deadline=None)
def test_the_kept_earliest_timeout_is_the_minimum_of_the_pending_ones(events):
    validators = ValidatorSet.equal(VOTERS[:4])
    replica = Replica("A", validators, lambda height, value: True,
                      TimeoutConfig(300, 100, 70, 30, 50, 20))
    now = 0

    def run(first) -> None:  # the node's loop-back of its own broadcasts
        queue = deque([first])
        while queue:
            for effect in replica.handle(queue.popleft(), now):
                if isinstance(effect, Broadcast):
                    queue.append(Receive(effect.message))
                elif isinstance(effect, Resume):
                    queue.append(effect)

    def check() -> None:
        pending = replica.pending_timeouts()
        assert replica.next_deadline() == (min(pending.values()) if pending else None)
        assert [(t.step, t.height, t.round) for t in replica.due_timeouts(now)] == [
            (s, h, r) for d, s, h, r in sorted((d, s, h, r) for (s, h, r), d in pending.items())
            if d <= now]

    run(Start())
    check()
    for event in events:
        if event[0] == "vote":
            _, step, voter, round_, value_id, height = event
            run(Receive(Vote(step, height, round_, value_id, voter, b"s" * 64)))
        elif event[0] == "proposal":
            _, round_, value_id = event
            height = replica.height
            run(Receive(Proposal(height, round_, "v", value_id, -1,
                                 validators.proposer(height, round_), b"s" * 64)))
        else:
            now += event[1]
            for timeout in replica.due_timeouts(now):
                run(timeout)
        check()


@given(events=st.lists(_EVENT, max_size=40))
@settings(max_examples=150, deadline=None)
def test_receive_is_handle_of_a_receive_event(events):
    validators = ValidatorSet.equal(VOTERS[:4])

    def replica() -> Replica:
        return Replica("A", validators, lambda height, value: True,
                       TimeoutConfig(300, 100, 70, 30, 50, 20))

    by_event, by_call = replica(), replica()
    now = 0

    def both(message) -> None:
        effects = by_call.receive(message, now)  # before Start: buffered, as handle does
        assert effects == by_event.handle(Receive(message), now)
        follow(effects)

    def follow(effects) -> None:  # the node's loop-back of broadcasts, and Resume
        for effect in effects:
            if isinstance(effect, Broadcast):
                both(effect.message)
            elif isinstance(effect, Resume):
                resumed = by_call.handle(effect, now)
                assert resumed == by_event.handle(effect, now)
                follow(resumed)

    both(Vote(Step.PREVOTE, 1, 0, None, "B", b"s" * 64))
    assert by_event.handle(Start(), now) == by_call.handle(Start(), now)
    for event in events:
        if event[0] == "vote":
            _, step, voter, round_, value_id, height = event
            both(Vote(step, height, round_, value_id, voter, b"s" * 64))
        elif event[0] == "proposal":
            _, round_, value_id = event
            height = by_event.height
            both(Proposal(height, round_, "v", value_id, -1, validators.proposer(height, round_),
                          b"s" * 64))
        else:
            now += event[1]
            for timeout in by_event.due_timeouts(now):
                effects = by_call.handle(timeout, now)
                assert effects == by_event.handle(timeout, now)
                follow(effects)
        assert by_event.wal_record() == by_call.wal_record()
        assert by_event.next_deadline() == by_call.next_deadline()
