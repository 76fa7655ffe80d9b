"""Deliberately broken nodes for the fuzzer's own tests (tests/scenarios/test_fuzz.py).

They prove that `scenarios.search.fuzz` finds, shrinks and replays a real failure without depending on
the mutant benchmark (scenarios/faults/mutants.py). Importable as `broken_nodes` (pytest puts tests/ on
the path), so a counterexample's `node_class: broken_nodes:TwoFQuorumHooks` header line replays.
"""

from __future__ import annotations

from consensus import ValidatorSet
from nodes import NodeHooks


class TwoFValidators(ValidatorSet):
    """A quorum of 2f (f = floor((P - 1) / 3)) instead of 2f + 1: two quorums need not meet in
    an honest validator, and a certificate of 2f precommits is not a commit certificate."""

    def has_quorum(self, power: int) -> bool:
        return power >= max(1, 2 * ((self.total_power - 1) // 3))


class TwoFQuorumHooks(NodeHooks):
    """Hooks for an honest node whose replica counts quorums with `TwoFValidators`."""

    shares_application = True  # runs in the honest nodes' place; valid() stays honest

    def replica_validators(self, node, validators):
        return TwoFValidators(validators.powers)
