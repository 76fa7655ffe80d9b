"""The Tendermint replica: algorithm 1 of "The latest gossip on BFT consensus" (arXiv 1807.04938).

Theory of operation
-------------------

A `Replica` is a pure state machine. The caller feeds it events with the current time in integer
ticks and carries out the effects it returns, in order:

    effects = replica.handle(Receive(vote), now_ticks)

It never reads a clock, draws a random number or touches a socket or a file. Everything it knows
arrives in events; everything it wants done leaves in effects. That is what lets the simulated
world, the fuzzer and the live MQTT node drive one and the same implementation.

State follows the paper's names: `height` (h_p), `round` (round_p), `step` (step_p),
`locked_value`/`locked_round`, `valid_value`/`valid_round`. Values are opaque; they are compared by
the `value_id` the node computed for them. The paper's `valid(v)` is the `validate` callable the
node passes in: a pure function of (height, value) and the node's committed state.

The paper's "upon" rules are evaluated after every event until none fires (`_evaluate`), so the
order in which messages arrive never changes which rules eventually apply. Each rule cites its
line number in the paper's pseudocode.

The replica counts its own votes only when the node loops them back signed (a `Broadcast` goes to
every validator, this one included). That way every vote in a certificate carries a signature.

Limits: messages more than `ROUNDS_AHEAD_MAX` rounds ahead, or for heights beyond
`FUTURE_HEIGHTS_MAX` above the current one, are ignored; at most `FUTURE_MESSAGES_MAX` messages
for future heights are buffered. A Byzantine peer can therefore not grow the replica's memory
without bound: each sender may hold at most an equal share of that buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .io import (
    Broadcast,
    Decide,
    Effect,
    Event,
    Evidence,
    Persist,
    ProposeValue,
    Receive,
    RequestValue,
    SetTimeout,
    Resume,
    SkipToHeight,
    Start,
    Timeout,
    WalRecord,
)
from .messages import Message, Proposal, Step, Vote
from .rules import Rules
from .tally import VoteTally
from .validators import ValidatorSet

# Protocol-level events a replica counts in `coverage`: a lock taken (line 36), a lock moved to
# another value, a lock released by a later polka (line 28 with locked_round <= vr), the valid
# value moved to a later polka, a round skip (line 55), a re-proposal with a valid round
# (line 16), a restart with a lock held.
COVERAGE_EVENTS = ("lock", "relock", "unlock", "valid_update", "round_skip", "reproposal",
                   "restart_locked")
ROUNDS_AHEAD_MAX = 1000
FUTURE_HEIGHTS_MAX = 2
FUTURE_MESSAGES_MAX = 8192
EVALUATE_STEPS_MAX = 64
# The steps as module names: the per-vote paths compare against them (one lookup, not two).
_PROPOSE, _PREVOTE, _PRECOMMIT = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT


class ReplicaError(RuntimeError):
    """The caller broke the replica's contract (a LocalProtocolError in h11's terms)."""


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """timeout_X(r) = X_base_ticks + r * X_delta_ticks: timeouts grow linearly with the round."""

    propose_base_ticks: int = 300
    propose_delta_ticks: int = 100
    prevote_base_ticks: int = 100
    prevote_delta_ticks: int = 50
    precommit_base_ticks: int = 100
    precommit_delta_ticks: int = 50

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ReplicaError(f"timeout {name} must be an integer >= 0, got {value!r}")
        if min(self.propose_base_ticks, self.prevote_base_ticks, self.precommit_base_ticks) < 1:
            raise ReplicaError("every timeout base must be at least 1 tick")

    def ticks(self, step: Step, round_: int) -> int:
        if step is Step.PROPOSE:
            return self.propose_base_ticks + round_ * self.propose_delta_ticks
        if step is Step.PREVOTE:
            return self.prevote_base_ticks + round_ * self.prevote_delta_ticks
        return self.precommit_base_ticks + round_ * self.precommit_delta_ticks


Validate = Callable[[int, object], bool]


class Replica:
    """One validator's view of Tendermint consensus. See the module docstring."""

    def __init__(
        self,
        me: str,
        validators: ValidatorSet,
        validate: Validate,
        timeouts: TimeoutConfig | None = None,
        height: int = 1,
        wal: WalRecord | None = None,
        rules: Rules | None = None,
    ) -> None:
        """`rules` replaces the paper's judgements of lines 15, 22, 28 and 49 (consensus/rules.py);
        None, the honest replica, applies the paper's own."""
        if height < 1:
            raise ReplicaError(f"height starts at 1, got {height}")
        self.me = me
        self.validators = validators
        self.validate = validate
        self.rules = rules
        self.timeouts = timeouts or TimeoutConfig()
        self.height = height
        self.decided_heights = 0
        self.messages_ignored = 0
        # How often each protocol-level event happened (COVERAGE_EVENTS), for the fuzzer's
        # coverage feedback. Counting only: nothing here reads it.
        self.coverage: dict[str, int] = {}
        self._now = 0
        self._started = False
        self._future: dict[int, list[Message]] = {}
        self._future_count = 0
        self._future_by_sender: dict[str, int] = {}
        self._future_share = max(64, FUTURE_MESSAGES_MAX // len(validators.voters))
        self._pending: dict[tuple[Step, int, int], int] = {}
        self._pending_min: int | None = None  # min(self._pending.values()), kept
        self._justified: tuple[Message, ...] = ()
        self._reset_height(height)
        self._restored = wal if wal is not None and wal.height == height else None
        if self._restored is not None:
            w = self._restored
            self.round, self.step = w.round, w.step
            self.locked_value, self.locked_value_id, self.locked_round = (
                w.locked_value, w.locked_value_id, w.locked_round)
            self.valid_value, self.valid_value_id, self.valid_round = (
                w.valid_value, w.valid_value_id, w.valid_round)
            self._own = list(w.own_votes)
            self._justified = tuple(w.justification)

    # ------------------------------------------------------------------ public interface

    def handle(self, event: Event, now_ticks: int) -> list[Effect]:
        """Apply one event at time `now_ticks`; return the effects to carry out, in order."""
        if isinstance(event, Receive):
            return self.receive(event.message, now_ticks)
        if now_ticks < self._now:
            raise ReplicaError(f"time went backwards: {now_ticks} < {self._now}")
        self._now = now_ticks
        effects: list[Effect] = []
        if isinstance(event, Timeout):
            self._on_timeout(event, effects)
        elif isinstance(event, ProposeValue):
            self._on_propose_value(event, effects)
        elif isinstance(event, Start):
            self._on_start(effects)
        elif isinstance(event, SkipToHeight):
            self._on_skip(event.height, effects)
        elif isinstance(event, Resume):
            if event.height == self.height:
                self._replay_future(effects)
        else:
            raise ReplicaError(f"unknown event {event!r}")
        return effects

    def receive(self, message: Message, now_ticks: int) -> list[Effect]:
        """`handle(Receive(message), now_ticks)`, without making the event: a node hands the
        core one message per delivery."""
        if now_ticks < self._now:
            raise ReplicaError(f"time went backwards: {now_ticks} < {self._now}")
        self._now = now_ticks
        effects: list[Effect] = []
        if self._started:
            self._on_message(message, effects)
        else:
            self._buffer(message)
        return effects

    def next_deadline(self) -> int | None:
        """The earliest tick at which a pending timeout expires, or None."""
        return self._pending_min

    def due_timeouts(self, now_ticks: int) -> list[Timeout]:
        """Pending timeouts that have expired at `now_ticks`, earliest first."""
        if self._pending_min is None or self._pending_min > now_ticks:
            return []  # the common case: a node is woken for its own resends
        due = sorted((d, s, h, r) for (s, h, r), d in self._pending.items() if d <= now_ticks)
        return [Timeout(s, h, r) for _, s, h, r in due]

    def pending_timeouts(self) -> dict[tuple[Step, int, int], int]:
        """A copy of the pending timeouts: (step, height, round) -> the tick it expires at."""
        return dict(self._pending)

    def wal_record(self) -> WalRecord:
        return self._wal_record(self.step)

    def _wal_record(self, step: Step) -> WalRecord:
        """The write-ahead record of this replica's state, at `step`."""
        return WalRecord(
            self.height, self.round, step,
            self.locked_value, self.locked_value_id, self.locked_round,
            self.valid_value, self.valid_value_id, self.valid_round,
            tuple(self._own), self.justifying(),
        )

    def own_messages(self) -> tuple[Message, ...]:
        """This replica's own proposals and votes of the current height, in the order it made
        them (unsigned, as the write-ahead record keeps them). Read-only."""
        return tuple(self._own)

    def justifying(self) -> tuple[Message, ...]:
        """Others' signed messages behind the valid value and the lock, for the write-ahead
        record: for valid_round, then locked_round, the proposal of that round and its polka
        (the 2f+1 prevotes of line 36), in voter order. Our own are in the record already.

        Departure from the paper, which keeps no state across a crash: a replica that restarts
        with a lock but without the polka behind it can show that polka to nobody, itself
        included. If it alone saw one of the prevotes (its sender went down), no one can ever
        accept its re-proposal of the locked value (line 28), and while it is locked it
        prevotes nil on every other value: with its power needed for a quorum, the height
        stalls for good (tests/regressions/restart-lock-unjustified.toml). CometBFT keeps the
        messages it received in its consensus WAL for the same reason."""
        out: list[Message] = []
        for _, proposal, polka in self._polkas():
            if proposal is not None and proposal.proposer != self.me:
                out.append(proposal)
            out.extend(vote for vote in polka if vote.voter != self.me)
        return tuple(out)

    def _polkas(self):
        """(round, its proposal or None, the prevotes of its polka in voter order) for
        valid_round, then locked_round, each (round, value) once."""
        done: set[tuple[int, bytes | None]] = set()
        for round_, value_id in ((self.valid_round, self.valid_value_id),
                                 (self.locked_round, self.locked_value_id)):
            if round_ < 0 or value_id is None or (round_, value_id) in done:
                continue
            done.add((round_, value_id))
            prevotes = self._prevotes.get(round_)
            yield (round_, self._proposals.get(round_),
                   prevotes.certificate(value_id) if prevotes is not None else ())

    def proposal(self, round_: int) -> Proposal | None:
        """The proposal accepted for `round_` of the current height, or None. Read-only."""
        return self._proposals.get(round_)

    def prevotes(self, round_: int) -> VoteTally | None:
        """The prevotes counted for `round_` of the current height, or None. Read-only: the
        tally belongs to the replica."""
        return self._prevotes.get(round_)

    def precommits(self, round_: int) -> VoteTally | None:
        """The precommits counted for `round_` of the current height, or None. Read-only."""
        return self._precommits.get(round_)

    def justification(self, messages_max: int) -> list[Message]:
        """The signed messages that justify this replica's state at its height, for the node to
        relay while consensus stalls, at most `messages_max` of them, in a deterministic order:

        1. the proposal of the current round;
        2. for valid_value at valid_round, then locked_value at locked_round: the proposal of
           that round and its polka (the 2f+1 prevotes that made it valid or locked, line 36);
        3. the precommits of the current round, nil first, then by value id.

        Votes go in voter order within a value.

        The paper's liveness argument assumes gossip: a message a correct process received is
        eventually received by every correct process. A nation that missed the polka behind a
        lock (it was down, restarted, or an equivocator showed it another vote) can otherwise
        never accept the re-proposal of the locked value (line 28), and the locked nations
        never prevote anything else: the height stalls for good. Each vote in a tally carries
        its voter's signature, so a receiver checks a relayed vote like one sent directly.
        """
        if messages_max <= 0:
            return []
        out: list[Message] = []

        def add(message: Message | None) -> None:
            if message is not None and len(out) < messages_max:
                out.append(message)

        add(self._proposals.get(self.round))
        for round_, proposal, polka in self._polkas():
            if round_ != self.round:
                add(proposal)
            for vote in polka:
                add(vote)
        precommits = self._precommits.get(self.round)
        if precommits is not None:
            for value_id in sorted(precommits.by_value, key=lambda v: b"" if v is None else v):
                for vote in precommits.certificate(value_id):
                    add(vote)
        return out

    # ------------------------------------------------------------------ height and round

    def _reset_height(self, height: int) -> None:
        """Lines 1-9 and 54: the per-height variables start empty."""
        self.height = height
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_value: object = None
        self.locked_value_id: bytes | None = None
        self.locked_round = -1
        self.valid_value: object = None
        self.valid_value_id: bytes | None = None
        self.valid_round = -1
        self._proposals: dict[int, Proposal] = {}
        self._proposal_valid: dict[int, bool] = {}
        self._prevotes: dict[int, VoteTally] = {}
        self._precommits: dict[int, VoteTally] = {}
        self._round_senders: dict[int, set[str]] = {}
        self._fired: set[tuple[int, int]] = set()  # (line, round) for "for the first time" rules
        self._own: list[Message] = []
        self._pending = {k: d for k, d in self._pending.items() if k[1] >= height}
        self._pending_min = min(self._pending.values()) if self._pending else None

    def _on_start(self, effects: list[Effect]) -> None:
        if self._started:
            raise ReplicaError("Start was already handled")
        self._started = True
        if self._restored is None:
            self._start_round(0, effects)
        else:
            if self.locked_round >= 0:
                self._cover("restart_locked")
            self._resume(effects)
        self._replay_future(effects)

    def _resume(self, effects: list[Effect]) -> None:
        """Restart after a crash at the persisted (height, round, step); resend our own messages
        of every round of the height.

        The persisted step keeps us from voting again in a step we already voted in; resending the
        identical signed messages lets peers that missed them count them. A timeout for the
        current step is set so a restarted replica always moves on: precommitting nil or going to
        the next round is safe at any time.
        """
        # Every round of the height, not only the current one: the tallies start empty, and
        # our own messages come back to us only through this loop-back (the node drops a copy
        # from the network as a replay). Without our prevote of the round we locked in, the
        # polka behind our lock is short of a vote, and we prevote nil on every re-proposal of
        # the locked value (line 28); without our earlier precommits, a decision in an earlier
        # round (line 49) may be out of reach.
        # Others' messages behind our lock and valid value first, so that the tallies hold the
        # polka again (see `justifying`); the node checked their signatures when it read them.
        for message in self._justified:
            if message.height != self.height:
                continue
            if isinstance(message, Proposal):
                self._add_proposal(message, effects)
            else:
                self._add_vote(message, effects)
        self._justified = ()
        for message in self._own:
            if message.round < self.round:
                effects.append(Broadcast(message))
        if self.step is Step.PROPOSE:
            self._start_round(self.round, effects)
            return
        for message in self._own:
            if message.round == self.round:
                effects.append(Broadcast(message))
        self._schedule(self.step, self.round, effects)

    def _start_round(self, round_: int, effects: list[Effect]) -> None:
        """StartRound(round), lines 11-21."""
        self.round = round_
        self.step = Step.PROPOSE
        if self.validators.proposer(self.height, round_) == self.me:
            own = self._own_proposal(round_)
            if own is not None:
                effects.append(Broadcast(own))
            elif self.rules is not None:
                self._propose_by_rules(round_, effects)
            elif self.valid_value is not None:  # line 15
                self._broadcast_proposal(self.valid_value, self.valid_value_id, self.valid_round,
                                         effects)
            else:  # line 18: getValue()
                effects.append(RequestValue(self.height, round_))
        else:
            self._schedule(Step.PROPOSE, round_, effects)  # line 21
        self._evaluate(effects, round_)

    def _propose_by_rules(self, round_: int, effects: list[Effect]) -> None:
        """Lines 15-19 with the judgement of line 15 taken from `self.rules`."""
        reproposal = self.rules.reproposal(self)
        if reproposal is not None:
            value, value_id, valid_round = reproposal
            self._broadcast_proposal(value, value_id, valid_round, effects)
        else:
            effects.append(RequestValue(self.height, round_))

    def _own_proposal(self, round_: int) -> Proposal | None:
        for message in self._own:
            if isinstance(message, Proposal) and message.round == round_:
                return message
        return None

    def _on_propose_value(self, event: ProposeValue, effects: list[Effect]) -> None:
        if (event.height, event.round) != (self.height, self.round) or self.step is not Step.PROPOSE:
            return  # the round moved on while the application built the value
        if self.validators.proposer(self.height, self.round) != self.me:
            raise ReplicaError(f"{self.me} is not the proposer of ({event.height}, {event.round})")
        if self._own_proposal(self.round) is not None:
            return
        self._broadcast_proposal(event.value, event.value_id, -1, effects)  # line 19

    def _broadcast_proposal(self, value: object, value_id: bytes | None, valid_round: int,
                            effects: list[Effect]) -> None:
        if value_id is None:
            raise ReplicaError("a proposal needs a value id")
        proposal = Proposal(self.height, self.round, value, value_id, valid_round, self.me)
        if valid_round >= 0:
            self._cover("reproposal")
        self._own.append(proposal)
        effects.append(Persist(self.wal_record()))
        effects.append(Broadcast(proposal))

    def _on_skip(self, height: int, effects: list[Effect]) -> None:
        """State sync applied blocks up to `height - 1`; join consensus at `height`, round 0."""
        if height <= self.height:
            return
        self._reset_height(height)
        self._drop_future_below(height)
        if self._started:
            self._start_round(0, effects)
            self._replay_future(effects)

    # ------------------------------------------------------------------ messages

    def _on_message(self, message: Message, effects: list[Effect]) -> None:
        height = message.height
        if height != self.height:
            if height > self.height:
                self._buffer(message)
            else:
                self.messages_ignored += 1
            return
        round_ = message.round
        if round_ < 0 or round_ > self.round + ROUNDS_AHEAD_MAX:
            self.messages_ignored += 1
            return
        if message.__class__ is Vote or not isinstance(message, Proposal):
            accepted = self._add_vote(message, effects)
        else:
            accepted = self._add_proposal(message, effects)
        if accepted:
            self._evaluate(effects, round_)

    def _buffer(self, message: Message) -> None:
        # A past height is decided (line 49): its messages can never be used, and kept they
        # would hold buffer space for good. Each sender gets an equal share of the buffer, so
        # one Byzantine validator cannot crowd out the honest messages a laggard needs.
        sender = message.proposer if isinstance(message, Proposal) else message.voter
        if (message.height < self.height
                or message.height > self.height + FUTURE_HEIGHTS_MAX
                or self._future_count >= FUTURE_MESSAGES_MAX
                or self._future_by_sender.get(sender, 0) >= self._future_share):
            self.messages_ignored += 1
            return
        self._future.setdefault(message.height, []).append(message)
        self._future_count += 1
        self._future_by_sender[sender] = self._future_by_sender.get(sender, 0) + 1

    def _unbuffer(self, messages: list[Message]) -> None:
        self._future_count -= len(messages)
        for m in messages:
            sender = m.proposer if isinstance(m, Proposal) else m.voter
            self._future_by_sender[sender] -= 1

    def _drop_future_below(self, height: int) -> None:
        for h in [h for h in self._future if h < height]:
            self._unbuffer(self._future.pop(h))

    def _replay_future(self, effects: list[Effect]) -> None:
        """The messages buffered for the current height, as if they came now. One height only:
        a decision among them appends Resume(next height), and the next height's messages
        wait for it, until the node has carried out that Decide (else valid() would judge the
        next proposal against the chain below it: found by a late-polka schedule, where a
        nation two heights behind prevoted nil on a correct proposal and, as the next
        proposer, lost the round, tests/regressions/replay-two-heights.toml)."""
        height = self.height
        messages = self._future.pop(height, None)
        if messages is None:
            return
        self._unbuffer(messages)
        for message in messages:
            if self.height != height:
                self._buffer(message)  # a decision moved us on: the rest is stale, dropped
            else:
                self._on_message(message, effects)

    def _add_proposal(self, proposal: Proposal, effects: list[Effect]) -> bool:
        if proposal.proposer != self.validators.proposer(proposal.height, proposal.round):
            self.messages_ignored += 1
            return False
        if proposal.valid_round < -1 or proposal.valid_round >= proposal.round:
            self.messages_ignored += 1
            return False
        earlier = self._proposals.get(proposal.round)
        if earlier is not None:
            if earlier.value_id != proposal.value_id or earlier.valid_round != proposal.valid_round:
                effects.append(Evidence(proposal.proposer, earlier, proposal))
            return False
        self._proposals[proposal.round] = proposal
        self._proposal_valid[proposal.round] = bool(self.validate(proposal.height, proposal.value))
        self._note_sender(proposal.round, proposal.proposer)
        return True

    def _note_sender(self, round_: int, sender: str) -> None:
        """Count `sender` among the senders of `round_` for line 55 (`_skip_round`), which only
        ever asks about a round above the current one: rounds never go down within a height,
        so the senders of the current round or an earlier one are never needed."""
        if round_ > self.round:
            senders = self._round_senders.get(round_)
            if senders is None:
                self._round_senders[round_] = {sender}
            else:
                senders.add(sender)

    def _add_vote(self, vote: Vote, effects: list[Effect]) -> bool:
        step, round_ = vote.step, vote.round
        if step is _PROPOSE:
            self.messages_ignored += 1
            return False
        tallies = self._prevotes if step is _PREVOTE else self._precommits
        tally = tallies.get(round_)
        if tally is None:
            tally = tallies[round_] = VoteTally(self.validators)
        counted, conflict = tally.add(vote)
        if conflict is not None:
            effects.append(Evidence(vote.voter, conflict, vote))
        if counted and round_ > self.round:
            self._note_sender(round_, vote.voter)
        return counted

    def _tally(self, step: Step, round_: int) -> VoteTally | None:
        return (self._prevotes if step is Step.PREVOTE else self._precommits).get(round_)

    # ------------------------------------------------------------------ the upon rules

    def _evaluate(self, effects: list[Effect], touched_round: int) -> None:
        """Fire every enabled upon-rule until none is enabled. Returns early on a decision."""
        height = self.height
        for _ in range(EVALUATE_STEPS_MAX):
            if self._try_decide(touched_round, effects) or (
                    self.round != touched_round and self._try_decide(self.round, effects)):
                return
            # _skip_round is False for a round not above the current one: not called for it
            if touched_round > self.round and self._skip_round(touched_round, effects):
                if self.height != height:
                    return
                continue
            if not self._fire_round_rules(effects):
                return
            if self.height != height:
                return
        # Each rule fires at most once per step or round, so a handful of iterations suffices;
        # running out means a rule kept firing, which is a bug in this module.
        raise ReplicaError(f"upon-rules still firing after {EVALUATE_STEPS_MAX} steps at "
                           f"{(self.height, self.round, self.step)}")

    def _fire_round_rules(self, effects: list[Effect]) -> bool:
        """Rules for the current round (lines 22, 28, 34, 36, 44, 47). True if one fired."""
        r = self.round
        proposal = self._proposals.get(r)
        prevotes = self._prevotes.get(r)
        precommits = self._precommits.get(r)
        # The step moves only where a rule fires, and each firing rule returns at once.
        step = self.step

        if step is _PROPOSE and proposal is not None:
            if self.rules is not None:  # lines 22 and 28 judged by consensus/rules.py
                if self._prevote_by_rules(proposal, r, effects):
                    return True
            else:
                valid = self._proposal_valid[r]
                vr = proposal.valid_round
                if vr == -1:
                    # Line 22: a fresh proposal. Prevote it if valid and we are not locked on
                    # another.
                    ok = valid and (self.locked_round == -1
                                    or self.locked_value_id == proposal.value_id)
                    self._vote(Step.PREVOTE, proposal.value_id if ok else None, effects)
                    self.step = Step.PREVOTE
                    return True
                vr_prevotes = self._prevotes.get(vr)
                if (0 <= vr < r and vr_prevotes is not None
                        and vr_prevotes.has_quorum_for(proposal.value_id)):
                    # Line 28: a re-proposal backed by a polka at vr. We may unlock if
                    # locked_round <= vr.
                    ok = valid and (self.locked_round <= vr
                                    or self.locked_value_id == proposal.value_id)
                    if ok and 0 <= self.locked_round and (
                            self.locked_value_id != proposal.value_id):
                        self._cover("unlock")  # a later polka releases our lock
                    self._vote(Step.PREVOTE, proposal.value_id if ok else None, effects)
                    self.step = Step.PREVOTE
                    return True
            # Neither line 22 nor line 28 applies: a re-proposal whose polka at vr we have not
            # seen. A non-proposer waits out timeout_propose (line 21). Departure from the
            # paper: its proposer starts no timeout_propose, since it receives its own proposal
            # at once; if it cannot show the polka behind it even to itself, it would wait in
            # this step with no timeout pending, and with its power needed for every quorum the
            # others' timeouts would never start either. So the proposer starts
            # timeout_propose here (for anyone else it is already pending: a no-op).
            self._schedule(Step.PROPOSE, r, effects)

        if (step is _PREVOTE and prevotes is not None and prevotes.any_quorum
                and (34, r) not in self._fired):
            # Line 34: 2f+1 prevotes of any kind: start timeout_prevote, once.
            self._fired.add((34, r))
            self._schedule(Step.PREVOTE, r, effects)
            return True

        if (step >= _PREVOTE and proposal is not None and prevotes is not None
                and self._proposal_valid[r] and prevotes.has_quorum_for(proposal.value_id)
                and (36, r) not in self._fired):
            # Line 36: a polka for a valid proposal. Lock and precommit it if still prevoting;
            # in every case remember it as the valid value.
            self._fired.add((36, r))
            changed = (self.valid_round, self.valid_value_id) != (r, proposal.value_id)
            if self.rules is not None and not self.rules.line36_tracks_valid(self):
                changed = False
            else:
                if changed and self.valid_round >= 0:
                    self._cover("valid_update")
                self.valid_value, self.valid_value_id = proposal.value, proposal.value_id
                self.valid_round = r
            if self.step is Step.PREVOTE:
                self._cover("lock")
                if self.locked_round >= 0 and self.locked_value_id != proposal.value_id:
                    self._cover("relock")
                self.locked_value, self.locked_value_id = proposal.value, proposal.value_id
                self.locked_round = r
                self._vote(Step.PRECOMMIT, proposal.value_id, effects)
                self.step = Step.PRECOMMIT
            elif changed:
                # No vote goes with this change, so nothing else would write it down: a
                # restart would forget the valid value and its polka (see `justifying`).
                effects.append(Persist(self.wal_record()))
            return True

        if step is _PREVOTE and prevotes is not None and prevotes.has_quorum_for(None):
            # Line 44: a polka for nil: precommit nil.
            self._vote(Step.PRECOMMIT, None, effects)
            self.step = Step.PRECOMMIT
            return True

        if precommits is not None and precommits.any_quorum and (47, r) not in self._fired:
            # Line 47: 2f+1 precommits of any kind: start timeout_precommit, once.
            self._fired.add((47, r))
            self._schedule(Step.PRECOMMIT, r, effects)
            return True
        return False

    def _prevote_by_rules(self, proposal: Proposal, r: int, effects: list[Effect]) -> bool:
        """Lines 22 and 28 with their judgements taken from `self.rules`. True if one fired."""
        rules = self.rules
        valid = self._proposal_valid[r]
        if rules.valid_round(self, proposal) == -1:
            ok = rules.line22_ok(self, proposal, valid)  # line 22
        elif rules.line28_applies(self, proposal, r):
            ok = rules.line28_ok(self, proposal, valid)  # line 28
        else:
            return False
        self._vote(Step.PREVOTE, proposal.value_id if ok else None, effects)
        self.step = Step.PREVOTE
        return True

    def _try_decide(self, round_: int, effects: list[Effect]) -> bool:
        """Line 49: a proposal plus 2f+1 precommits for it, in any round, decides the height."""
        proposal = self._proposals.get(round_)
        if proposal is None:
            return False
        if self.rules is None:
            precommits = self._precommits.get(round_)
            if (precommits is None or not self._proposal_valid[round_]
                    or not precommits.has_quorum_for(proposal.value_id)):
                return False
        elif not self._proposal_valid[round_]:
            return False
        else:
            for precommits in self.rules.decision_tallies(self, round_):
                if precommits is not None and precommits.has_quorum_for(proposal.value_id):
                    break
            else:
                return False
        effects.append(Decide(self.height, round_, proposal.value, proposal.value_id,
                              precommits.certificate(proposal.value_id)))
        self.decided_heights += 1
        # Lines 54-56: next height, reset the lock and valid fields, StartRound(0). The
        # messages buffered for the new height wait for Resume: until the node has carried out
        # the Decide, valid() would judge their proposal against the chain below it.
        self._reset_height(self.height + 1)
        self._start_round(0, effects)
        effects.append(Resume(self.height))
        return True

    def _skip_round(self, round_: int, effects: list[Effect]) -> bool:
        """Line 55: f+1 senders of any message at a higher round: jump to that round."""
        if round_ <= self.round:
            return False
        senders = self._round_senders.get(round_)
        if not senders:
            return False
        power = sum(self.validators.power(s) for s in senders)
        if not self.validators.has_skip(power):
            return False
        self._cover("round_skip")
        self._start_round(round_, effects)
        return True

    # ------------------------------------------------------------------ timeouts

    def _schedule(self, step: Step, round_: int, effects: list[Effect]) -> None:
        deadline = self._now + self.timeouts.ticks(step, round_)
        key = (step, self.height, round_)
        if key in self._pending:
            return
        self._pending[key] = deadline
        if self._pending_min is None or deadline < self._pending_min:
            self._pending_min = deadline
        effects.append(SetTimeout(step, self.height, round_, deadline))

    def _cover(self, event: str) -> None:
        self.coverage[event] = self.coverage.get(event, 0) + 1

    def _on_timeout(self, event: Timeout, effects: list[Effect]) -> None:
        if self._pending.pop((event.step, event.height, event.round), None) is not None:
            self._pending_min = min(self._pending.values()) if self._pending else None
        if event.height != self.height or event.round != self.round:
            return  # stale: the conditions of lines 57, 61 and 65 no longer hold
        if event.step is Step.PROPOSE:
            if self.step is Step.PROPOSE:  # line 57: OnTimeoutPropose
                self._vote(Step.PREVOTE, None, effects)
                self.step = Step.PREVOTE
        elif event.step is Step.PREVOTE:
            if self.step is Step.PREVOTE:  # line 61: OnTimeoutPrevote
                self._vote(Step.PRECOMMIT, None, effects)
                self.step = Step.PRECOMMIT
        else:  # line 65: OnTimeoutPrecommit
            self._start_round(self.round + 1, effects)
            return
        self._evaluate(effects, self.round)

    # ------------------------------------------------------------------ voting

    def _vote(self, step: Step, value_id: bytes | None, effects: list[Effect]) -> None:
        """Sign nothing here: record the vote, persist, then ask the node to sign and broadcast."""
        for message in self._own:
            if (isinstance(message, Vote) and message.step is step
                    and message.round == self.round):
                raise ReplicaError(f"{self.me} would vote twice at {(self.height, self.round, step)}")
        vote = Vote(step, self.height, self.round, value_id, self.me)
        self._own.append(vote)
        # The step this vote moves us to is part of the record, so a restart resumes after it.
        effects.append(Persist(self._wal_record(step)))
        effects.append(Broadcast(vote))
