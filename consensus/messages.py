"""Consensus messages: the proposal and the two kinds of vote.

The core never checks a signature. The node layer verifies every signature before a message
reaches a `Replica`, and fills in `signature` so the core can hand back commit certificates and
equivocation evidence that anyone can re-check. Values are opaque to the core: it compares them by
`value_id`, which the node computed as the hash of the value's canonical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Step(IntEnum):
    """The three steps of a Tendermint round, in the order they happen (arXiv 1807.04938)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


NIL = None
"""The nil value a node votes for when it has no acceptable value in a round."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """PROPOSAL(h, r, v, vr): the proposer's value for height `height` and round `round`."""

    height: int
    round: int
    value: object
    value_id: bytes
    valid_round: int
    proposer: str
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class Vote:
    """PREVOTE or PRECOMMIT for `value_id` (None means nil) at height `height`, round `round`."""

    step: Step
    height: int
    round: int
    value_id: bytes | None
    voter: str
    signature: bytes = b""


Message = Proposal | Vote
