"""Events into a `Replica` and effects out of it.

The caller owns every side effect. It must carry out the effects of one `handle` call in the
order given: a `Persist` always comes before the `Broadcast` of a vote that depends on it, so a
node that writes its write-ahead record before it sends can never sign two different votes for
one (height, round, step), even across a crash. A `Resume` effect is handed back to the replica
as its next event once the effects before it are carried out.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Message, Proposal, Step, Vote


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Start:
    """Begin consensus at the replica's current height (StartRound(0), paper line 10)."""


@dataclass(frozen=True, slots=True)
class Receive:
    """A message arrived. Its signature and sender were already checked by the node."""

    message: Message


@dataclass(frozen=True, slots=True)
class Timeout:
    """A timeout set by an earlier `SetTimeout` has expired."""

    step: Step
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ProposeValue:
    """The application's answer to `RequestValue`: a fresh value for (height, round)."""

    height: int
    round: int
    value: object
    value_id: bytes


@dataclass(frozen=True, slots=True)
class SkipToHeight:
    """The node applied blocks up to `height - 1` from verified commit certificates (state sync)."""

    height: int


@dataclass(frozen=True, slots=True)
class Resume:
    """An effect, and the event it asks for: hand this very object back to the replica once
    every effect before it is carried out. The replica has decided `height - 1` and started
    `height`; the messages it buffered for `height` wait for it, so that valid() judges their
    proposal on the state the decision leads to. (Judged at once, a proposal that came early
    was checked against the chain before the commit the node had not made yet, and got a nil
    prevote: found by the first-correct-proposer oracle.) A Resume for a height the replica
    has left is ignored."""

    height: int


Event = Start | Receive | Timeout | ProposeValue | SkipToHeight | Resume


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class WalRecord:
    """What the replica must find again after a crash to stay safe (locks and its own votes)."""

    height: int
    round: int
    step: Step
    locked_value: object
    locked_value_id: bytes | None
    locked_round: int
    valid_value: object
    valid_value_id: bytes | None
    valid_round: int
    own_votes: tuple[Vote, ...]
    # Others' signed messages behind the lock and the valid value: the proposal of each of
    # those rounds and its polka (Replica.justifying). Without them a restarted replica keeps
    # a lock it can no longer show to anyone, and nobody can accept its re-proposal (line 28).
    justification: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class Persist:
    record: WalRecord


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Sign `message` and send it to every validator, this one included."""

    message: Message


@dataclass(frozen=True, slots=True)
class SetTimeout:
    step: Step
    height: int
    round: int
    deadline_ticks: int


@dataclass(frozen=True, slots=True)
class RequestValue:
    """This replica proposes at (height, round) and has no valid value: ask for a fresh one."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Decide:
    """decision[height] = value (paper line 49), with the precommits that certify it."""

    height: int
    round: int
    value: object
    value_id: bytes
    certificate: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Two signed messages from one validator for one (height, round, step) that disagree."""

    voter: str
    first: Message
    second: Message


Effect = Persist | Broadcast | SetTimeout | RequestValue | Decide | Evidence | Resume

__all__ = [
    "Start", "Receive", "Timeout", "ProposeValue", "SkipToHeight", "Resume", "Event",
    "WalRecord", "Persist", "Broadcast", "SetTimeout", "RequestValue", "Decide", "Evidence",
    "Effect", "Proposal", "Vote",
]
