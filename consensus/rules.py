"""The judgements of the paper's upon-rules, as one small object a replica may be given.

This module owns the few decisions of algorithm 1 (arXiv 1807.04938) that a variant of the
protocol might make differently: what a proposer proposes again (line 15), whether a fresh
proposal gets our prevote (line 22), whether a re-proposal is backed by its polka and gets our
prevote (line 28), which valid round the rules read off a proposal, whether a polka updates the
valid value (line 36), and which tallies decide a height (line 49). `Rules` holds the paper's
answers; `Replica(..., rules=None)` uses exactly these answers, inlined where they run on every
message, so the honest replica pays nothing for the seam.

A `Rules` subclass changes one judgement and nothing else: the replica still owns its state,
its timeouts, its write-ahead record and the order in which rules fire. Each method receives
the replica and reads only its public state (`locked_round`, `locked_value_id`, `valid_value`,
`valid_value_id`, `valid_round`) and its read-only accessors (`proposal(r)`, `prevotes(r)`,
`precommits(r)`); it returns an answer and changes nothing.

What this module may not know: who uses a variant, or why. The core never names a variant of
itself; variants live outside `consensus/` (the mutants of the fuzzer's benchmark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .messages import Proposal
from .tally import VoteTally

if TYPE_CHECKING:  # pragma: no cover
    from .replica import Replica


class Rules:
    """The paper's judgements. Every method is pure: it reads the replica, never writes it."""

    def reproposal(self, replica: Replica) -> tuple[object, bytes | None, int] | None:
        """Line 15: as proposer of a new round, (value, value_id, valid_round) to propose again,
        or None to ask for a fresh value (line 18)."""
        if replica.valid_value is not None:
            return replica.valid_value, replica.valid_value_id, replica.valid_round
        return None

    def valid_round(self, replica: Replica, proposal: Proposal) -> int:
        """The valid round the rules read off `proposal`: -1 sends it to line 22, any other
        value to line 28."""
        return proposal.valid_round

    def line22_ok(self, replica: Replica, proposal: Proposal, valid: bool) -> bool:
        """Line 22: prevote a fresh proposal if it is valid and we are not locked on another."""
        return valid and (replica.locked_round == -1
                          or replica.locked_value_id == proposal.value_id)

    def line28_applies(self, replica: Replica, proposal: Proposal, round_: int) -> bool:
        """Line 28's guard: the re-proposal's valid round is below `round_` and we saw 2f+1
        prevotes for its value there."""
        vr = proposal.valid_round
        prevotes = replica.prevotes(vr)
        return 0 <= vr < round_ and prevotes is not None and prevotes.has_quorum_for(
            proposal.value_id)

    def line28_ok(self, replica: Replica, proposal: Proposal, valid: bool) -> bool:
        """Line 28: prevote a backed re-proposal if valid and our lock is not newer than it."""
        return valid and (replica.locked_round <= proposal.valid_round
                          or replica.locked_value_id == proposal.value_id)

    def line36_tracks_valid(self, replica: Replica) -> bool:
        """Line 36: whether a polka for a valid proposal, seen in the replica's current step,
        makes it the valid value. The paper: in every step from prevote on (a precommit step
        included, where the replica no longer locks)."""
        return True

    def decision_tallies(self, replica: Replica, round_: int) -> tuple[VoteTally | None, ...]:
        """Line 49: the tallies, in order, of which the first with 2f+1 votes for the round's
        proposal decides it (its certificate is that tally's votes): the precommits."""
        return (replica.precommits(round_),)
