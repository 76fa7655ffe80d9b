"""No replica waits with nothing to wait for, and a restart keeps what justifies a lock.

Two liveness stalls of the honest protocol, found by `chemtrace fuzz` (issue: two honest
stalls), come from one gap: a replica in a state no message and no timeout can move it out of.

- A replica restarted with a lock but without the polka behind it (its write-ahead record kept
  its own votes only) re-proposes its valid value with valid round vr, cannot accept its own
  proposal (line 28 needs the polka), and the paper's proposer sets no timeout_propose: it waits
  in the propose step for good. The record now keeps the others' signed messages behind the
  lock and the valid value (`Replica.justifying`), and a proposer that cannot act on its own
  proposal starts timeout_propose (documented in `Replica._fire_round_rules`).
- The invariant, checked after every event of generated schedules: in the propose step,
  timeout_propose of the round is pending; in the prevote (precommit) step, either its timeout
  is pending or the prevotes (precommits) of the round are short of a quorum, so there is a
  message still to wait for.

The fixture is test_consensus_rules.py's: a, b, c, d of equal power; at height 1 the proposers
of rounds 0 to 3 are b, c, d and a; the replica under test is a.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import Persist, Proposal, ProposeValue, RequestValue, Step, Timeout, Vote, WalRecord

from tests.consensus.test_consensus_rules import Net, prevote, vid

PROPOSE, PREVOTE, PRECOMMIT = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT
ROUNDS = 4
VALUES = ("A", "B", None)


def waiting_without_reason(net: Net) -> str | None:
    """What is wrong with the replica's state, or None: see the module docstring."""
    r = net.replica
    pending = r.pending_timeouts()
    key = (r.step, r.height, r.round)
    if r.step is PROPOSE:
        return None if key in pending else f"propose step of {key} with no timeout_propose"
    tally = r.prevotes(r.round) if r.step is PREVOTE else r.precommits(r.round)
    if key in pending or tally is None or not tally.has_quorum_any():
        return None
    return f"{r.step.name.lower()} step of {key} with a quorum in hand and no timeout pending"


def last_record(net: Net) -> WalRecord | None:
    records = [e.record for e in net.log if isinstance(e, Persist)]
    return records[-1] if records else None


# ------------------------------------------------------------------ the two pieces, by hand


def test_a_restart_keeps_the_polka_behind_the_lock_and_accepts_its_own_reproposal() -> None:
    """a locks A in round 0 on a polka that includes b's prevote, restarts, skips to round 3
    (where it proposes) and prevotes its own re-proposal of A: it can still count that polka."""
    net = Net()
    net.start()
    net.lock("A", 0)
    record = last_record(net)
    assert record is not None and record.locked_round == 0
    polka_voters = {m.voter for m in record.justification if isinstance(m, Vote)}
    assert polka_voters == {"b", "c"}  # a's own prevote is in own_votes
    assert [m.proposer for m in record.justification if isinstance(m, Proposal)] == ["b"]

    again = Net(wal=record)
    again.now = 500
    again.start()
    assert again.replica.prevotes(0).has_quorum_for(vid("A"))
    again.deliver(prevote("c", 3, None), prevote("d", 3, None))  # f+1 in round 3: skip
    assert (again.replica.round, again.replica.step) == (3, PREVOTE)
    ours = [m for m in again.replica.own_messages() if m.round == 3]
    assert [type(m).__name__ for m in ours] == ["Proposal", "Vote"]
    assert ours[0].valid_round == 0 and ours[1].value_id == vid("A")


def test_a_proposer_that_cannot_accept_its_reproposal_still_times_out() -> None:
    """The same restart from a record without the polka (a record of format 1, or one whose
    justifying messages failed their signature check): the proposer of round 3 re-proposes A
    with valid round 0, cannot accept it, and must not wait with no timeout: timeout_propose
    is pending, and when it expires it prevotes nil (line 57)."""
    net = Net()
    net.start()
    net.lock("A", 0)
    forgetful = replace(last_record(net), justification=())
    again = Net(wal=forgetful)
    again.now = 500
    again.start()
    again.deliver(prevote("c", 3, None), prevote("d", 3, None))
    r = again.replica
    assert (r.round, r.step) == (3, PROPOSE)
    assert (PROPOSE, 1, 3) in r.pending_timeouts(), "the proposer waits with no timeout"
    assert waiting_without_reason(again) is None
    again.expire(PROPOSE, 3)
    assert r.step is not PROPOSE
    assert [(m.step, m.value_id) for m in r.own_messages()
            if m.round == 3 and isinstance(m, Vote) and m.step is PREVOTE] == [(PREVOTE, None)]


def test_a_valid_value_learned_without_a_vote_is_written_down() -> None:
    """Line 36 after a has precommitted nil: the valid value changes with no vote to carry it
    into the record, so the replica persists it on its own (else a restart forgets it)."""
    net = Net()
    net.start()
    net.deliver(net.proposal(0, "A"))  # a prevotes A
    net.deliver(prevote("b", 0, "A"), prevote("c", 0, None))  # a quorum of any: timeout_prevote
    net.expire(PREVOTE, 0)  # line 61: precommit nil
    assert net.replica.step is PRECOMMIT and net.replica.valid_round == -1
    persisted = len([e for e in net.log if isinstance(e, Persist)])
    effects = net.deliver(prevote("d", 0, "A"))  # a, b, d: a polka for A, too late to lock
    assert (net.replica.valid_round, net.replica.locked_round) == (0, -1)
    assert [type(e).__name__ for e in effects] == ["Persist"]
    assert len([e for e in net.log if isinstance(e, Persist)]) == persisted + 1
    record = last_record(net)
    assert (record.valid_round, record.valid_value_id) == (0, vid("A"))
    assert {m.voter for m in record.justification if isinstance(m, Vote)} == {"b", "d"}
    assert [m.proposer for m in record.justification if isinstance(m, Proposal)] == ["b"]


# ------------------------------------------------------------------ the invariant, generated


class AnsweringNet(Net):
    """The node's part the plain harness leaves out: a proposer's request for a value is
    answered at once with a fresh value (`Node._run` builds a block in the same call)."""

    def handle(self, event: object) -> list:
        effects = super().handle(event)
        for effect in effects:
            if isinstance(effect, RequestValue):
                effects += super().handle(ProposeValue(effect.height, effect.round, "N",
                                                       vid("N")))
        return effects


def event_strategy():
    """One step of a schedule: a message from another validator; a round's proposal with the
    prevotes of b and c for it (a polka, with a's own prevote); nil prevotes of c and d in a
    later round (f+1: a skips to it); the earliest pending timeout; or a restart from the last
    record, sometimes without its justifying messages."""
    vote = st.tuples(st.just("vote"), st.sampled_from(("b", "c", "d")),
                     st.sampled_from((PREVOTE, PRECOMMIT)), st.integers(0, ROUNDS - 1),
                     st.sampled_from(VALUES))
    proposal = st.tuples(st.just("proposal"), st.integers(0, ROUNDS - 1),
                         st.sampled_from(("A", "B")), st.integers(-1, ROUNDS - 2))
    polka = st.tuples(st.just("polka"), st.integers(0, ROUNDS - 1), st.sampled_from(("A", "B")))
    skip = st.tuples(st.just("skip"), st.integers(1, ROUNDS - 1))
    return st.one_of(vote, proposal, polka, skip, st.just(("timeout",)),
                     st.tuples(st.just("restart"), st.booleans()))


@settings(max_examples=300, deadline=None)
@given(st.lists(event_strategy(), min_size=1, max_size=40))
def test_no_generated_schedule_leaves_the_replica_waiting_with_nothing_to_wait_for(events) -> None:
    net = AnsweringNet()
    net.start()
    for event in events:
        kind = event[0]
        if kind == "vote":
            _, voter, step, round_, value = event
            net.deliver(Vote(step, 1, round_, vid(value), voter))
        elif kind == "proposal":
            _, round_, value, valid_round = event
            proposer = net.validators.proposer(1, round_)
            if proposer == "a" or valid_round >= round_:
                continue
            net.deliver(Proposal(1, round_, value, vid(value), valid_round, proposer))
        elif kind == "polka":
            _, round_, value = event
            proposer = net.validators.proposer(1, round_)
            if proposer != "a":
                net.deliver(Proposal(1, round_, value, vid(value), -1, proposer))
            net.deliver(prevote("b", round_, value), prevote("c", round_, value))
        elif kind == "skip":
            net.deliver(prevote("c", event[1], None), prevote("d", event[1], None))
        elif kind == "timeout":
            pending = net.replica.pending_timeouts()
            if not pending:
                continue
            (step, height, round_), deadline = min(pending.items(), key=lambda kv: kv[1])
            net.now = max(net.now, deadline)
            net.handle(Timeout(step, height, round_))
        else:
            record = last_record(net)
            if record is None or record.height != 1:
                continue
            if not event[1]:
                record = replace(record, justification=())
            now = net.now
            net = AnsweringNet(wal=record)
            net.now = now
            net.start()
        if net.replica.height != 1:
            return  # decided: height 1 is over
        problem = waiting_without_reason(net)
        assert problem is None, problem
