"""Tendermint rule by rule: algorithm 1 of "The latest gossip on BFT consensus" (arXiv 1807.04938).

Like etcd-raft's raft_paper_test.go, each test names the pseudocode line it checks and drives one
`Replica` directly: the test plays the other validators by handing it `Receive(...)` events, fires
its timeouts, and loops its own broadcasts back to it, as the node does (a replica counts its own
vote only when it comes back signed).

The fixture throughout: four validators a, b, c, d of equal power, so n = 4 and f = 1. A quorum
("2f+1") is 3 votes and the skip threshold ("f+1") is 2. At height 1 the proposers of rounds 0, 1,
2 and 3 are b, c, d and a (checked by `test_fixture_proposers`). Unless a test says otherwise the
replica under test is `a`, so it does not propose in rounds 0 to 2 of height 1.

Values are strings; a value's id is b"id:" + its name. The value "BAD" is the one `valid(v)`
(paper) rejects.
"""

from __future__ import annotations

from collections import deque

import pytest

import consensus.replica as replica_module
from consensus import (
    FUTURE_HEIGHTS_MAX,
    Broadcast,
    Decide,
    Effect,
    Evidence,
    Persist,
    Proposal,
    ProposeValue,
    Receive,
    Replica,
    RequestValue,
    Resume,
    SetTimeout,
    Start,
    Step,
    Timeout,
    TimeoutConfig,
    ValidatorSet,
    Vote,
    WalRecord,
)

PROPOSE, PREVOTE, PRECOMMIT = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT
VOTERS = ("a", "b", "c", "d")
# Distinct bases and deltas, so a test notices a timeout of the wrong kind or of the wrong round.
TIMEOUTS = TimeoutConfig(
    propose_base_ticks=300, propose_delta_ticks=100,
    prevote_base_ticks=70, prevote_delta_ticks=30,
    precommit_base_ticks=50, precommit_delta_ticks=20,
)


def vid(value: str | None) -> bytes | None:
    return None if value is None else b"id:" + value.encode()


def valid(height: int, value: object) -> bool:
    return value != "BAD"


# --------------------------------------------------------------------------- the harness


class Net:
    """One replica under test; the test plays every other validator.

    `handle` feeds one event and then loops the replica's own broadcasts (and any `Resume`) back
    to it in order, exactly as the node does. Every `replica.handle` call's effect list is kept in `batches`, so
    ordering inside one list (Persist before Broadcast) can be checked.
    """

    def __init__(self, me: str = "a", wal: WalRecord | None = None, height: int = 1,
                 validators: ValidatorSet | None = None, loopback: bool = True) -> None:
        self.validators = validators or ValidatorSet.equal(VOTERS)
        self.me = me
        self.replica = Replica(me, self.validators, valid, TIMEOUTS, height=height, wal=wal)
        self.now = 0
        self.loopback = loopback
        self.batches: list[list[Effect]] = []

    @property
    def log(self) -> list[Effect]:
        return [e for batch in self.batches for e in batch]

    @property
    def others(self) -> list[str]:
        return [v for v in self.validators.voters if v != self.me]

    def handle(self, event: object) -> list[Effect]:
        effects: list[Effect] = []
        queue = deque([event])
        while queue:
            out = self.replica.handle(queue.popleft(), self.now)
            self.batches.append(out)
            effects.extend(out)
            for e in out:
                if isinstance(e, Broadcast) and self.loopback:
                    queue.append(Receive(e.message))
                elif isinstance(e, Resume):
                    queue.append(e)
        return effects

    def start(self) -> list[Effect]:
        return self.handle(Start())

    def deliver(self, *messages: Proposal | Vote) -> list[Effect]:
        effects: list[Effect] = []
        for message in messages:
            effects.extend(self.handle(Receive(message)))
        return effects

    def expire(self, step: Step, round_: int, height: int | None = None) -> list[Effect]:
        """Let the timeout the replica scheduled for (step, height, round) expire.

        Fails if the replica never asked for it: that is how the timeout-scheduling rules
        (lines 21, 34 and 47) are checked.
        """
        height = self.replica.height if height is None else height
        timer = find_timeout(self.log, step, round_, height)
        assert timer is not None, f"no SetTimeout({step.name}, h={height}, r={round_}) was set"
        self.now = max(self.now, timer.deadline_ticks)
        return self.handle(Timeout(step, height, round_))

    # Messages from the other validators.

    def proposal(self, round_: int, value: str, valid_round: int = -1,
                 height: int = 1) -> Proposal:
        proposer = self.validators.proposer(height, round_)
        return Proposal(height, round_, value, vid(value), valid_round, proposer)

    # Scripted situations built from the rules above.

    def lock(self, value: str, round_: int) -> None:
        """Receive the round's proposal of `value` and a polka for it: lock (line 36)."""
        assert self.replica.round == round_ and self.replica.step is PROPOSE
        assert self.validators.proposer(self.replica.height, round_) != self.me
        self.deliver(self.proposal(round_, value, height=self.replica.height))
        self.deliver(*(prevote(v, round_, value, self.replica.height) for v in self.others[:2]))
        assert (self.replica.locked_value, self.replica.locked_round) == (value, round_)

    def next_round(self) -> None:
        """The others precommit nil; timeout_precommit expires (lines 47 and 65)."""
        r = self.replica.round
        self.deliver(*(precommit(v, r, None, self.replica.height) for v in self.others))
        self.expire(PRECOMMIT, r)
        assert self.replica.round == r + 1


def prevote(voter: str, round_: int, value: str | None, height: int = 1) -> Vote:
    return Vote(PREVOTE, height, round_, vid(value), voter)


def precommit(voter: str, round_: int, value: str | None, height: int = 1) -> Vote:
    return Vote(PRECOMMIT, height, round_, vid(value), voter)


def sent(effects: list[Effect], kind: type | None = None) -> list[Proposal | Vote]:
    """Messages the replica broadcast, optionally only Proposals or only Votes."""
    out = [e.message for e in effects if isinstance(e, Broadcast)]
    return [m for m in out if kind is None or isinstance(m, kind)]


def votes(effects: list[Effect], step: Step) -> list[Vote]:
    return [m for m in sent(effects, Vote) if m.step is step]


def find_timeout(effects: list[Effect], step: Step, round_: int,
                 height: int = 1) -> SetTimeout | None:
    found = [e for e in effects if isinstance(e, SetTimeout)
             and (e.step, e.height, e.round) == (step, height, round_)]
    return found[-1] if found else None


def decisions(effects: list[Effect]) -> list[Decide]:
    return [e for e in effects if isinstance(e, Decide)]


def wal_records(effects: list[Effect]) -> list[WalRecord]:
    return [e.record for e in effects if isinstance(e, Persist)]


@pytest.fixture
def net() -> Net:
    n = Net()
    n.start()
    return n


def test_fixture_proposers() -> None:
    """The fixture the tests below rely on: rounds 0..3 of height 1 are proposed by b, c, d, a."""
    validators = ValidatorSet.equal(VOTERS)
    assert [validators.proposer(1, r) for r in range(4)] == ["b", "c", "d", "a"]


# --------------------------------------------------------------------------- StartRound, lines 11-21


def test_start_round_proposer_without_valid_value_asks_for_a_fresh_value() -> None:
    """Lines 14, 17-19: the proposer with validValue = nil proposes getValue(), with vr = -1."""
    net = Net(me="b")  # b proposes round 0 of height 1
    effects = net.start()
    assert RequestValue(1, 0) in effects
    assert find_timeout(effects, PROPOSE, 0) is None  # the proposer sets no timeout_propose
    assert sent(effects) == []

    effects = net.handle(ProposeValue(1, 0, "X", vid("X")))
    assert sent(effects, Proposal)[0] == Proposal(1, 0, "X", vid("X"), -1, "b")


def test_start_round_proposer_reproposes_its_valid_value() -> None:
    """Lines 15-16, 19: a proposer with validValue != nil proposes it, with vr = validRound."""
    net = Net(me="c")  # c proposes round 1 of height 1
    net.start()
    net.lock("X", 0)  # line 36 also sets validValue = X, validRound = 0
    assert (net.replica.valid_value, net.replica.valid_round) == ("X", 0)

    net.deliver(*(precommit(v, 0, None) for v in ("a", "b", "d")))
    effects = net.expire(PRECOMMIT, 0)  # StartRound(1)

    assert sent(effects, Proposal)[0] == Proposal(1, 1, "X", vid("X"), 0, "c")
    assert not any(isinstance(e, RequestValue) for e in effects)


def test_start_round_non_proposer_schedules_timeout_propose() -> None:
    """Lines 20-21: a non-proposer schedules OnTimeoutPropose(h, r) after timeoutPropose(r)."""
    net = Net(me="a")
    net.now = 1000
    effects = net.start()
    assert effects == [SetTimeout(PROPOSE, 1, 0, 1000 + TIMEOUTS.ticks(PROPOSE, 0))]
    assert (net.replica.height, net.replica.round, net.replica.step) == (1, 0, PROPOSE)


# --------------------------------------------------------------------------- line 22


def test_line22_prevotes_a_valid_fresh_proposal(net: Net) -> None:
    """Line 22-24: PROPOSAL(h, r, v, -1), valid(v), lockedRound = -1: prevote id(v)."""
    effects = net.deliver(net.proposal(0, "X"))
    assert votes(effects, PREVOTE) == [prevote("a", 0, "X")]
    assert net.replica.step is PREVOTE  # line 27


def test_line22_prevotes_nil_for_an_invalid_proposal(net: Net) -> None:
    """Lines 22, 25-26: not valid(v): prevote nil."""
    effects = net.deliver(net.proposal(0, "BAD"))
    assert votes(effects, PREVOTE) == [prevote("a", 0, None)]
    assert net.replica.step is PREVOTE


def test_line22_prevotes_nil_when_locked_on_another_value(net: Net) -> None:
    """Line 22-26: lockedRound != -1 and lockedValue != v: prevote nil."""
    net.lock("X", 0)
    net.next_round()
    effects = net.deliver(net.proposal(1, "Y"))
    assert votes(effects, PREVOTE) == [prevote("a", 1, None)]


def test_line22_prevotes_the_value_it_is_locked_on(net: Net) -> None:
    """Line 22-24: lockedValue = v: prevote id(v) although locked."""
    net.lock("X", 0)
    net.next_round()
    effects = net.deliver(net.proposal(1, "X"))
    assert votes(effects, PREVOTE) == [prevote("a", 1, "X")]


def test_line22_ignores_a_proposal_not_from_the_proposer(net: Net) -> None:
    """Line 22: only PROPOSAL ... from proposer(h, round) counts."""
    forged = Proposal(1, 0, "X", vid("X"), -1, "c")  # b proposes round 0, not c
    assert net.deliver(forged) == []
    assert net.replica.step is PROPOSE


# --------------------------------------------------------------------------- line 28


def test_line28_unlocks_on_a_polka_later_than_its_lock(net: Net) -> None:
    """Line 28-30: locked at round 0; PROPOSAL(h, 2, Y, vr=1) with a polka for Y in round 1.

    lockedRound (0) <= vr (1), so the replica must prevote Y: this is how a lock is released.
    """
    net.lock("X", 0)
    net.next_round()
    net.deliver(*(prevote(v, 1, "Y") for v in ("b", "c", "d")))  # the polka of round 1
    net.next_round()

    effects = net.deliver(net.proposal(2, "Y", valid_round=1))
    assert votes(effects, PREVOTE) == [prevote("a", 2, "Y")]
    assert net.replica.step is PREVOTE  # line 33


def test_line28_refuses_when_locked_on_another_value_after_vr(net: Net) -> None:
    """Line 28-32: locked on X at round 1; PROPOSAL(h, 2, Y, vr=0) with a polka for Y in round 0.

    lockedRound (1) > vr (0) and lockedValue != Y: prevote nil.
    """
    net.deliver(*(prevote(v, 0, "Y") for v in ("b", "c", "d")))  # a polka for Y, unseen proposal
    net.next_round()
    net.lock("X", 1)
    net.next_round()

    effects = net.deliver(net.proposal(2, "Y", valid_round=0))
    assert votes(effects, PREVOTE) == [prevote("a", 2, None)]


def test_line28_needs_the_polka_at_vr(net: Net) -> None:
    """Line 28: the rule waits for 2f+1 PREVOTE(h, vr, id(v)); it fires once the polka is there."""
    net.next_round()
    assert net.deliver(net.proposal(1, "Y", valid_round=0)) == []
    assert sent(net.deliver(prevote("b", 0, "Y"), prevote("c", 0, "Y"))) == []
    effects = net.deliver(prevote("d", 0, "Y"))
    assert votes(effects, PREVOTE) == [prevote("a", 1, "Y")]


def test_line28_prevotes_nil_for_an_invalid_value(net: Net) -> None:
    """Line 28-32: even with a polka at vr, not valid(v) means prevote nil."""
    net.next_round()
    net.deliver(*(prevote(v, 0, "BAD") for v in ("b", "c", "d")))
    effects = net.deliver(net.proposal(1, "BAD", valid_round=0))
    assert votes(effects, PREVOTE) == [prevote("a", 1, None)]


# --------------------------------------------------------------------------- line 34


def test_line34_any_prevote_quorum_schedules_timeout_prevote_once(net: Net) -> None:
    """Line 34-35: 2f+1 PREVOTE(h, round, *) while step = prevote, the first time."""
    net.deliver(net.proposal(0, "X"))  # a prevotes X
    assert find_timeout(net.deliver(prevote("b", 0, "Y")), PREVOTE, 0) is None  # 2 of 4

    net.now = 500
    effects = net.deliver(prevote("c", 0, None))  # 3 of 4, split over X, Y and nil
    assert find_timeout(effects, PREVOTE, 0) == SetTimeout(
        PREVOTE, 1, 0, 500 + TIMEOUTS.ticks(PREVOTE, 0))
    assert sent(effects) == []  # no value has a polka: nothing to precommit yet

    effects = net.deliver(prevote("d", 0, "X"))
    assert find_timeout(effects, PREVOTE, 0) is None  # only the first time


def test_line34_needs_step_prevote(net: Net) -> None:
    """Line 34: while step = prevote. At step propose, 2f+1 prevotes schedule nothing."""
    effects = net.deliver(prevote("b", 0, "Y"), prevote("c", 0, None), prevote("d", 0, "X"))
    assert find_timeout(effects, PREVOTE, 0) is None
    effects = net.deliver(net.proposal(0, "X"))  # now step = prevote: the rule fires
    assert find_timeout(effects, PREVOTE, 0) is not None


# --------------------------------------------------------------------------- line 36


def test_line36_polka_while_prevoting_locks_and_precommits(net: Net) -> None:
    """Line 36-41: step = prevote: lockedValue = v, lockedRound = round, precommit id(v)."""
    net.deliver(net.proposal(0, "X"), prevote("b", 0, "X"))
    assert votes(net.log, PRECOMMIT) == []
    effects = net.deliver(prevote("c", 0, "X"))

    assert votes(effects, PRECOMMIT) == [precommit("a", 0, "X")]
    r = net.replica
    assert (r.step, r.locked_value, r.locked_round) == (PRECOMMIT, "X", 0)
    assert (r.valid_value, r.valid_round) == ("X", 0)  # lines 42-43


def test_line36_polka_after_precommit_only_updates_valid_value(net: Net) -> None:
    """Lines 36, 42-43: step = precommit already: validValue/validRound change, nothing else."""
    net.expire(PROPOSE, 0)  # prevote nil (line 57)
    net.deliver(prevote("b", 0, "X"), prevote("c", 0, "X"))  # 2f+1 of any kind (line 34)
    net.expire(PREVOTE, 0)  # precommit nil (line 61)
    assert net.replica.step is PRECOMMIT

    effects = net.deliver(net.proposal(0, "X"), prevote("d", 0, "X"))  # polka: b, c, d

    assert sent(effects) == []
    r = net.replica
    assert (r.valid_value, r.valid_round) == ("X", 0)
    assert (r.locked_value, r.locked_round) == (None, -1)
    assert r.step is PRECOMMIT


def test_line36_never_locks_an_invalid_value(net: Net) -> None:
    """Line 36: while valid(v). A polka for an invalid value neither locks nor precommits it."""
    effects = net.deliver(net.proposal(0, "BAD"),
                          *(prevote(v, 0, "BAD") for v in ("b", "c", "d")))
    assert votes(effects, PRECOMMIT) == []
    assert (net.replica.locked_round, net.replica.valid_round) == (-1, -1)


# --------------------------------------------------------------------------- line 44


def test_line44_nil_polka_precommits_nil(net: Net) -> None:
    """Line 44-46: 2f+1 PREVOTE(h, round, nil) while step = prevote: precommit nil at once."""
    net.expire(PROPOSE, 0)  # a prevotes nil
    effects = net.deliver(prevote("b", 0, None), prevote("c", 0, None))
    assert votes(effects, PRECOMMIT) == [precommit("a", 0, None)]
    assert net.replica.step is PRECOMMIT


# --------------------------------------------------------------------------- line 47


def test_line47_any_precommit_quorum_schedules_timeout_precommit_once(net: Net) -> None:
    """Line 47-48: 2f+1 PRECOMMIT(h, round, *), the first time, whatever the step."""
    assert net.replica.step is PROPOSE
    assert find_timeout(net.deliver(precommit("b", 0, "X"), precommit("c", 0, None)),
                        PRECOMMIT, 0) is None
    net.now = 700
    effects = net.deliver(precommit("d", 0, "Y"))
    assert find_timeout(effects, PRECOMMIT, 0) == SetTimeout(
        PRECOMMIT, 1, 0, 700 + TIMEOUTS.ticks(PRECOMMIT, 0))
    assert decisions(effects) == []

    net.expire(PROPOSE, 0)  # a prevotes nil ...
    effects = net.deliver(prevote("b", 0, None), prevote("c", 0, None))  # ... and precommits nil
    assert votes(effects, PRECOMMIT) and find_timeout(effects, PRECOMMIT, 0) is None


# --------------------------------------------------------------------------- line 49


def test_line49_decides_with_a_certificate_and_moves_to_the_next_height(net: Net) -> None:
    """Lines 49-54: PROPOSAL(h, r, v, *) plus 2f+1 PRECOMMIT(h, r, id(v)): decide, h+1, reset."""
    net.lock("X", 0)  # a precommits X
    effects = net.deliver(precommit("b", 0, "X"), precommit("c", 0, "X"))

    certificate = (precommit("a", 0, "X"), precommit("b", 0, "X"), precommit("c", 0, "X"))
    assert decisions(effects) == [Decide(1, 0, "X", vid("X"), certificate)]
    r = net.replica
    assert (r.height, r.round, r.step) == (2, 0, PROPOSE)  # StartRound(0) of height 2
    assert (r.locked_value, r.locked_round, r.valid_value, r.valid_round) == (None, -1, None, -1)
    assert find_timeout(effects, PROPOSE, 0, height=2) is not None

    # The lock of height 1 is gone: a fresh proposal of another value gets a's prevote.
    effects = net.deliver(net.proposal(0, "Y", height=2))
    assert votes(effects, PREVOTE) == [prevote("a", 0, "Y", height=2)]


def test_line49_decides_a_value_of_an_earlier_round(net: Net) -> None:
    """Line 49: "for any round r". a is in round 2 when round 0's precommits reach it."""
    net.deliver(net.proposal(0, "X"))
    net.deliver(prevote("c", 2, None), prevote("d", 2, None))  # f+1 in round 2: skip (line 55)
    assert net.replica.round == 2

    effects = net.deliver(*(precommit(v, 0, "X") for v in ("b", "c", "d")))
    certificate = tuple(precommit(v, 0, "X") for v in ("b", "c", "d"))
    assert decisions(effects) == [Decide(1, 0, "X", vid("X"), certificate)]
    assert net.replica.height == 2


def test_line49_waits_for_the_proposal(net: Net) -> None:
    """Line 49: the precommits alone are not enough; the PROPOSAL must be there too."""
    assert decisions(net.deliver(*(precommit(v, 0, "X") for v in ("b", "c", "d")))) == []
    effects = net.deliver(net.proposal(0, "X"))
    assert [d.value for d in decisions(effects)] == ["X"]


def test_line49_never_decides_an_invalid_value(net: Net) -> None:
    """Line 50: if valid(v). A committed-by-others invalid value is not decided."""
    effects = net.deliver(net.proposal(0, "BAD"),
                          *(precommit(v, 0, "BAD") for v in ("b", "c", "d")))
    assert decisions(effects) == []
    assert net.replica.height == 1


# --------------------------------------------------------------------------- line 55


def test_line55_f_plus_one_at_a_higher_round_skips_ahead(net: Net) -> None:
    """Line 55-56: f+1 messages of any kind for (h, round > round_p): StartRound(round)."""
    assert net.deliver(prevote("b", 3, None)) == []  # power f = 1 alone does not skip
    assert net.replica.round == 0

    net.now = 900
    effects = net.deliver(precommit("c", 3, "X"))  # f+1 = 2, a prevote and a precommit
    assert (net.replica.round, net.replica.step) == (3, PROPOSE)
    # a proposes round 3 (line 14); b, c, d would set timeout_propose(3).
    assert RequestValue(1, 3) in effects


def test_line55_counts_power_not_messages() -> None:
    """Line 55: f+1 is power > 1/3 of the total. Powers 1, 1, 1, 5 (total 8): d alone skips."""
    validators = ValidatorSet((("a", 1), ("b", 1), ("c", 1), ("d", 5)))
    net = Net(me="a", validators=validators)
    net.start()
    assert net.deliver(prevote("b", 4, None), prevote("c", 4, None)) == []  # power 2 of 8
    assert net.replica.round == 0
    net.deliver(prevote("d", 5, None))  # power 5 of 8
    assert net.replica.round == 5


# --------------------------------------------------------------------------- timeouts, lines 57-67


def test_line57_timeout_propose_prevotes_nil(net: Net) -> None:
    """Line 57-60: OnTimeoutPropose(h, r) at (h, r, propose): prevote nil, step = prevote."""
    effects = net.expire(PROPOSE, 0)
    assert votes(effects, PREVOTE) == [prevote("a", 0, None)]
    assert net.replica.step is PREVOTE


def test_line61_timeout_prevote_precommits_nil(net: Net) -> None:
    """Line 61-64: OnTimeoutPrevote(h, r) at (h, r, prevote): precommit nil, step = precommit."""
    net.deliver(net.proposal(0, "X"), prevote("b", 0, "Y"), prevote("c", 0, None))
    effects = net.expire(PREVOTE, 0)
    assert votes(effects, PRECOMMIT) == [precommit("a", 0, None)]
    assert net.replica.step is PRECOMMIT


def test_line65_timeout_precommit_starts_the_next_round(net: Net) -> None:
    """Line 65-67: OnTimeoutPrecommit(h, r) at (h, r): StartRound(r + 1)."""
    net.deliver(*(precommit(v, 0, None) for v in ("b", "c", "d")))
    net.now = 2000
    effects = net.expire(PRECOMMIT, 0)
    assert (net.replica.round, net.replica.step) == (1, PROPOSE)
    assert find_timeout(effects, PROPOSE, 1) == SetTimeout(
        PROPOSE, 1, 1, net.now + TIMEOUTS.ticks(PROPOSE, 1))


def test_stale_timeout_of_a_past_step_is_ignored(net: Net) -> None:
    """Lines 57, 61: "if ... step_p = propose/prevote". A timeout of a step already left is moot."""
    net.deliver(net.proposal(0, "X"))  # prevote X: step = prevote
    assert net.handle(Timeout(PROPOSE, 1, 0)) == []
    net.deliver(prevote("b", 0, "X"), prevote("c", 0, "X"))  # lock, precommit X
    net.deliver(prevote("d", 0, None))
    assert net.handle(Timeout(PREVOTE, 1, 0)) == []
    assert votes(net.log, PRECOMMIT) == [precommit("a", 0, "X")]


def test_stale_timeout_of_a_past_round_is_ignored(net: Net) -> None:
    """Lines 57, 61, 65: "if round = round_p". Timeouts of round 0 do nothing in round 1."""
    net.next_round()
    for step in (PROPOSE, PREVOTE, PRECOMMIT):
        assert net.handle(Timeout(step, 1, 0)) == []
    assert (net.replica.round, net.replica.step) == (1, PROPOSE)


def test_stale_timeout_of_a_past_height_is_ignored(net: Net) -> None:
    """Lines 57, 61, 65: "if height = h_p". Height 1's timeouts do nothing at height 2."""
    net.deliver(net.proposal(0, "X"), *(precommit(v, 0, "X") for v in ("b", "c", "d")))
    assert net.replica.height == 2
    for step in (PROPOSE, PREVOTE, PRECOMMIT):
        assert net.handle(Timeout(step, 1, 0)) == []
    assert (net.replica.height, net.replica.round, net.replica.step) == (2, 0, PROPOSE)


def test_timeouts_grow_linearly_with_the_round() -> None:
    """timeoutX(r) = base + r * delta (design note to lines 21, 35, 48), as the replica sets them."""
    for step in (PROPOSE, PREVOTE, PRECOMMIT):
        ticks = [TIMEOUTS.ticks(step, r) for r in range(6)]
        deltas = {b - a for a, b in zip(ticks, ticks[1:])}
        assert len(deltas) == 1 and deltas.pop() > 0, (step, ticks)

    net = Net(me="b")  # b does not propose rounds 1, 2 or 5 of height 1
    net.start()
    for r in (1, 2, 5):
        net.now += 10
        effects = net.deliver(prevote("c", r, None), prevote("d", r, None))  # skip to r
        assert find_timeout(effects, PROPOSE, r) == SetTimeout(
            PROPOSE, 1, r, net.now + 300 + 100 * r)
    net.now += 10
    effects = net.deliver(net.proposal(5, "X"), prevote("c", 5, None))  # b prevotes X, 3 of 4
    assert find_timeout(effects, PREVOTE, 5) == SetTimeout(PREVOTE, 1, 5, net.now + 70 + 30 * 5)
    effects = net.deliver(*(precommit(v, 5, None) for v in ("a", "c", "d")))
    assert find_timeout(effects, PRECOMMIT, 5) == SetTimeout(
        PRECOMMIT, 1, 5, net.now + 50 + 20 * 5)


# --------------------------------------------------------------------------- equivocation


def test_equivocating_prevote_yields_evidence_and_counts_for_each_value(net: Net) -> None:
    """Two PREVOTEs of b for one (h, r) and different values: evidence, and each message counts
    toward its own value, as the paper counts messages ("2f+1 PREVOTE(h, r, id(v))" from
    distinct senders). Counting only the first would let an equivocator hide a polka from half
    the honest nodes for good (the equivocate-f library scenario stalled that way)."""
    net.deliver(net.proposal(0, "Y"))  # a prevotes Y
    first, second = prevote("b", 0, "X"), prevote("b", 0, "Y")
    net.deliver(first)
    effects = net.deliver(second)
    assert Evidence("b", first, second) in effects
    # Y now has a and b (b's second message): c's prevote makes the polka, and a locks on Y.
    assert votes(net.deliver(prevote("c", 0, "Y")), PRECOMMIT) == [precommit("a", 0, "Y")]


def test_equivocator_counts_once_toward_any_value_quorums(net: Net) -> None:
    """Lines 34 and 47 ("2f+1 of any value") count validators, not messages: b's two prevotes
    are one voter, so a and b alone are not 2f+1 of any kind."""
    net.deliver(net.proposal(0, "Y"))  # a prevotes Y
    effects = net.deliver(prevote("b", 0, "X"), prevote("b", 0, None))
    assert find_timeout(effects, PREVOTE, 0) is None
    assert find_timeout(net.deliver(prevote("c", 0, None)), PREVOTE, 0) is not None


def test_equivocating_precommit_yields_evidence_and_counts_for_each_value(net: Net) -> None:
    """Two PRECOMMITs of b for one (h, r) and different values: evidence; the second counts for
    its own value, so b, c and d decide Y (line 49), with b's Y precommit in the certificate."""
    net.deliver(net.proposal(0, "Y"))
    first, second = precommit("b", 0, "X"), precommit("b", 0, "Y")
    net.deliver(first)
    assert Evidence("b", first, second) in net.deliver(second)
    assert decisions(net.deliver(precommit("c", 0, "Y"))) == []  # b and c: 2 of 4
    decided = decisions(net.deliver(precommit("d", 0, "Y")))
    assert len(decided) == 1 and decided[0].value == "Y"
    assert [v.voter for v in decided[0].certificate] == ["b", "c", "d"]


def test_a_voter_is_counted_for_at_most_a_few_values(net: Net) -> None:
    """Memory stays bounded: a validator's votes beyond VALUES_PER_VOTER_MAX values are not
    counted (each still yields evidence)."""
    from consensus.tally import VALUES_PER_VOTER_MAX, VoteTally
    tally = VoteTally(ValidatorSet.equal(VOTERS))
    results = [tally.add(prevote("b", 0, f"V{i}")) for i in range(VALUES_PER_VOTER_MAX + 3)]
    assert [counted for counted, _ in results] == [True] * VALUES_PER_VOTER_MAX + [False] * 3
    assert all(conflict is not None for _, conflict in results[1:])
    assert tally.power_total == 1


def test_repeated_identical_vote_is_not_evidence(net: Net) -> None:
    """A duplicate of the same vote is not equivocation and is not counted twice."""
    net.deliver(net.proposal(0, "X"))
    effects = net.deliver(prevote("b", 0, "X"), prevote("b", 0, "X"))
    assert not any(isinstance(e, Evidence) for e in effects)
    assert votes(effects, PRECOMMIT) == []  # a and b: 2 of 4


def test_conflicting_second_proposal_yields_evidence(net: Net) -> None:
    """Two PROPOSALs of b for (1, 0) with different values: evidence, and a prevotes only once."""
    first, second = net.proposal(0, "X"), net.proposal(0, "Y")
    net.deliver(first)
    effects = net.deliver(second)
    assert Evidence("b", first, second) in effects
    assert votes(net.log, PREVOTE) == [prevote("a", 0, "X")]


# --------------------------------------------------------------------------- write-ahead log


def test_persist_precedes_every_broadcast_of_our_own_messages() -> None:
    """The caller persists before it sends: in each effect list a Persist holding our vote (or
    proposal) comes before its Broadcast. Covers lines 16, 19, 24, 30, 40, 45, 59 and 63."""
    net = Net(me="b")  # b proposes rounds 0 and 4 of height 1
    net.start()
    net.handle(ProposeValue(1, 0, "X", vid("X")))  # line 19, then b prevotes X (line 24)
    net.deliver(prevote("a", 0, "X"), prevote("c", 0, "X"))  # lock and precommit X (line 40)
    net.next_round()
    net.expire(PROPOSE, 1)  # prevote nil (line 59)
    net.deliver(prevote("a", 1, None), prevote("c", 1, None))  # precommit nil (line 45)
    net.next_round()
    net.deliver(net.proposal(2, "X", valid_round=0))  # prevote X (line 30)
    net.deliver(prevote("a", 2, None), prevote("c", 2, None))  # 2f+1 of any kind (line 34)
    net.expire(PREVOTE, 2)  # precommit nil (line 63)
    net.next_round()
    net.next_round()  # round 4: b re-proposes X with vr = 0 (line 16)

    assert sent(net.log) == [
        Proposal(1, 0, "X", vid("X"), -1, "b"),
        prevote("b", 0, "X"), precommit("b", 0, "X"),
        prevote("b", 1, None), precommit("b", 1, None),
        prevote("b", 2, "X"), precommit("b", 2, None),
        Proposal(1, 4, "X", vid("X"), 0, "b"),
        prevote("b", 4, "X"),  # its own re-proposal, through line 28
    ]
    for batch in net.batches:
        for i, effect in enumerate(batch):
            if isinstance(effect, Broadcast):
                earlier = wal_records(batch[:i])
                assert any(effect.message in w.own_votes for w in earlier), effect
    locking = [w for w in wal_records(net.log)
               if any(m == precommit("b", 0, "X") for m in w.own_votes)][0]
    assert (locking.locked_value, locking.locked_round) == ("X", 0)  # the lock is in the record


def test_restored_replica_does_not_prevote_again(net: Net) -> None:
    """After a crash, a replica that prevoted nil in (1, 0) never prevotes X there."""
    net.expire(PROPOSE, 0)
    wal = wal_records(net.log)[-1]

    restored = Net(wal=wal)
    effects = restored.start()
    assert sent(effects) == [prevote("a", 0, None)]  # the same vote again, never a new one
    restored.deliver(restored.proposal(0, "X"), *(prevote(v, 0, "X") for v in ("b", "c", "d")))
    assert votes(restored.log, PREVOTE) == [prevote("a", 0, None)]


def test_restored_replica_does_not_precommit_again(net: Net) -> None:
    """After a crash, a replica that precommitted nil in (1, 0) never precommits X there."""
    net.expire(PROPOSE, 0)
    net.deliver(prevote("b", 0, None), prevote("c", 0, None))  # line 44: precommit nil
    wal = wal_records(net.log)[-1]

    restored = Net(wal=wal)
    restored.start()
    restored.deliver(restored.proposal(0, "X"), *(prevote(v, 0, "X") for v in ("b", "c", "d")))
    assert votes(restored.log, PRECOMMIT) == [precommit("a", 0, None)]
    assert restored.replica.locked_round == -1


def test_restored_replica_keeps_its_lock(net: Net) -> None:
    """The lock survives a crash: locked on X in round 0, the replica prevotes nil for Y later."""
    net.lock("X", 0)
    restored = Net(wal=wal_records(net.log)[-1])
    restored.start()
    restored.next_round()
    effects = restored.deliver(restored.proposal(1, "Y"))
    assert votes(effects, PREVOTE) == [prevote("a", 1, None)]


def test_restored_replica_counts_its_own_votes_of_earlier_rounds(net: Net) -> None:
    """A replica locked in round 0 restarts in round 1: it re-broadcasts (and so, looped back,
    counts) its own round-0 prevote and precommit too, not only those of round 1. Without its
    own prevote, the round-0 polka behind its lock is one vote short, and line 28 never lets it
    prevote a re-proposal of its locked value (the stateful test's first finding)."""
    net.lock("X", 0)
    net.next_round()
    net.expire(PROPOSE, 1)  # prevote nil in round 1: the record is at round 1 now
    restored = Net(wal=wal_records(net.log)[-1])
    effects = restored.start()
    assert sent(effects) == [prevote("a", 0, "X"), precommit("a", 0, "X"), prevote("a", 1, None)]
    restored.next_round()
    # Round 2: d re-proposes X with valid_round 0. a holds the prevotes of b and c from the
    # network and its own from its record: a polka (line 28), so it prevotes X.
    effects = restored.deliver(restored.proposal(2, "X", valid_round=0),
                               prevote("b", 0, "X"), prevote("c", 0, "X"))
    assert votes(effects, PREVOTE) == [prevote("a", 2, "X")]


def test_restored_proposer_never_proposes_a_second_value() -> None:
    """A proposer that crashed after proposing X re-sends X and never asks for a new value."""
    net = Net(me="b", loopback=False)
    net.start()
    net.handle(ProposeValue(1, 0, "X", vid("X")))
    wal = wal_records(net.log)[-1]

    restored = Net(me="b", wal=wal)
    effects = restored.start()
    assert sent(effects, Proposal) == [Proposal(1, 0, "X", vid("X"), -1, "b")]
    assert not any(isinstance(e, RequestValue) for e in effects)
    assert sent(restored.handle(ProposeValue(1, 0, "Y", vid("Y"))), Proposal) == []


# --------------------------------------------------------------------------- future heights


def commit_messages(net: Net, height: int, value: str, round_: int = 0) -> list[Proposal | Vote]:
    """What it takes to decide `height` (line 49): the proposal and 2f+1 precommits."""
    return [net.proposal(round_, value, height=height),
            *(precommit(v, round_, value, height) for v in ("b", "c", "d"))]


def test_future_height_messages_are_buffered_and_replayed(net: Net) -> None:
    """A PROPOSAL for height 2 that arrives during height 1 is used as soon as height 2 starts."""
    assert net.deliver(net.proposal(0, "Z", height=2)) == []

    effects = net.deliver(*commit_messages(net, 1, "X"))
    decided = [i for i, e in enumerate(effects) if isinstance(e, Decide)]
    prevoted = [i for i, e in enumerate(effects)
                if isinstance(e, Broadcast) and e.message == prevote("a", 0, "Z", height=2)]
    assert len(decided) == 1 and len(prevoted) == 1 and decided[0] < prevoted[0]


def test_a_buffered_proposal_is_judged_once_the_decision_below_it_is_carried_out() -> None:
    """The proposal for height 2 came during height 1. The replica asks for it to be judged
    only after the Decide of height 1 is carried out (`Resume`), so valid() sees the chain the
    decision leads to. Judged inside the same call, it met the chain below the commit and got
    a nil prevote: found by the first-correct-proposer oracle (4 nations, no fault, a height
    in 12 needed a second round)."""
    chain = {"height": 0}  # what the node has committed, as valid() sees it

    def valid_on_chain(height: int, value: object) -> bool:
        return height == chain["height"] + 1

    replica = Replica("a", ValidatorSet.equal(VOTERS), valid_on_chain, TIMEOUTS)
    replica.handle(Start(), 0)
    early = Proposal(2, 0, "Z", vid("Z"), -1, replica.validators.proposer(2, 0))
    assert replica.handle(Receive(early), 0) == []
    queue: deque = deque(Receive(m) for m in (
        Proposal(1, 0, "X", vid("X"), -1, replica.validators.proposer(1, 0)),
        *(precommit(v, 0, "X") for v in ("b", "c", "d"))))
    prevotes = []
    while queue:
        for effect in replica.handle(queue.popleft(), 0):
            if isinstance(effect, Decide):
                chain["height"] = effect.height  # the node commits here
            elif isinstance(effect, Resume):
                queue.append(effect)
            elif isinstance(effect, Broadcast) and effect.message.height == 2:
                prevotes.append(effect.message)
    assert prevotes == [prevote("a", 0, "Z", height=2)]


def test_a_resume_for_a_height_left_behind_is_ignored(net: Net) -> None:
    assert net.replica.handle(Resume(5), 0) == []
    assert net.replica.height == 1


def test_messages_received_before_start_are_replayed() -> None:
    """Messages that arrive before Start are kept and applied once the replica starts."""
    net = Net()
    assert net.deliver(net.proposal(0, "X")) == []
    assert votes(net.start(), PREVOTE) == [prevote("a", 0, "X")]


def test_messages_too_far_ahead_are_dropped(net: Net) -> None:
    """Only FUTURE_HEIGHTS_MAX heights ahead are buffered: memory stays bounded."""
    ignored = net.replica.messages_ignored
    net.deliver(prevote("b", 0, None, height=2 + FUTURE_HEIGHTS_MAX))
    assert net.replica.messages_ignored == ignored + 1


def test_replay_does_not_keep_leftovers_of_a_decided_height(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Height 2 is decided halfway through replaying its buffered messages. The rest are stale;
    kept, they would hold buffer space forever and, over many heights, crowd out the future
    messages a lagging replica needs to catch up."""
    monkeypatch.setattr(replica_module, "FUTURE_MESSAGES_MAX", 5)
    net = Net()
    net.start()
    net.deliver(*commit_messages(net, 2, "X"), prevote("b", 0, "X", height=2))  # 5: full
    net.deliver(*commit_messages(net, 1, "X"))  # decides 1, then 2 during the replay
    assert net.replica.height == 3

    # a proposes round 0 of height 4, so height 4 is decided in round 1 (proposer b).
    net.deliver(prevote("c", 1, None, height=4), *commit_messages(net, 4, "X", round_=1))  # 5
    net.deliver(*commit_messages(net, 3, "X"))
    assert [d.height for d in decisions(net.log)] == [1, 2, 3, 4]


def test_one_sender_cannot_fill_the_future_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each validator gets an equal share of the future buffer: a Byzantine flood of messages for
    the next height leaves room for the honest messages a laggard will need."""
    monkeypatch.setattr(replica_module, "FUTURE_MESSAGES_MAX", 256)
    net = Net()  # share = max(64, 256 // 4) = 64 per sender
    net.start()
    ignored = net.replica.messages_ignored
    net.deliver(*(prevote("b", r, None, height=2) for r in range(100)))
    assert net.replica.messages_ignored == ignored + 36
    net.deliver(prevote("c", 0, None, height=2), prevote("d", 0, None, height=2))
    assert net.replica.messages_ignored == ignored + 36
