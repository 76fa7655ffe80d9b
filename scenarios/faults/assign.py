"""Which hooks each node of a world runs: the factory the world is given.

`node_hooks_for(scenario, honest)` returns the function a `World` calls at every boot of a
node, `(nation, genesis) -> NodeHooks | None`:

- a nation with a Byzantine behaviour kind that changes what a node does (`behaviours.HOOKS`;
  the first such behaviour of the nation) runs that kind's hooks;
- a `CustomBehaviour` of the scenario whose `node_hooks(nation, shared)` gives hooks overrides
  that (the last one wins);
- every other nation runs `honest()` (a mutant, in the mutant benchmark), or the honest node
  (None) when `honest` is None.

The state the Byzantine nodes of the world share (`base.Shared`: the split equivocators' plan,
the fork coalition's mind) is made here, once per factory, so once per world: build one
factory per world.
"""

from __future__ import annotations

from typing import Callable

from nodes import Genesis, NodeHooks

from scenarios.faults.base import BehaviourHooks, Shared
from scenarios.faults.behaviours import HOOKS, SplitAdversary, halves
from scenarios.spec.loader import Scenario
from scenarios.spec.schema import BYZANTINE_KINDS

NodeHooksFactory = Callable[[str, Genesis], "NodeHooks | None"]


def byzantine_nations(scenario: Scenario) -> frozenset[str]:
    """The nations the scenario makes Byzantine (as `World.byzantine` counts them)."""
    return frozenset({n for b in scenario.behaviours if b.kind in BYZANTINE_KINDS
                      for n in b.nations} | {n for c in scenario.custom if c.byzantine
                                             for n in c.nations})


def node_hooks_for(scenario: Scenario,
                   honest: type[NodeHooks] | None = None) -> NodeHooksFactory:
    """The hooks factory of one world of `scenario`; see the module docstring."""
    shared = Shared()
    split_members = frozenset(n for b in scenario.behaviours if b.kind == "equivocate"
                              and b.params["mode"] == "split" for n in b.nations)
    byzantine = byzantine_nations(scenario)
    made: list[bool] = []

    def hooks(nation: str, genesis: Genesis) -> NodeHooks | None:
        if not made:  # the split is made at the first boot, from the genesis's nations
            made.append(True)
            if split_members:
                first, second = halves([n for n in genesis.codes if n not in byzantine])
                shared.split = SplitAdversary(first, second, split_members)
        chosen: NodeHooks | None = None
        for b in scenario.behaviours:
            if b.kind in HOOKS and nation in b.nations:
                chosen = HOOKS[b.kind](b, shared)
                break
        for custom in scenario.custom:
            if nation in custom.nations:
                mine = custom.node_hooks(nation, shared)
                if mine is not None:
                    chosen = mine
        if chosen is None and honest is not None:
            chosen = honest()
        return chosen

    return hooks


def corrupted_hooks(behaviour, previous: NodeHooks | None) -> BehaviourHooks:
    """The hooks of a node that turns Byzantine at run time (the controlled world's `corrupt`):
    `behaviour`'s kind, colluding with nobody, keeping the checks `previous` skipped (its
    replica keeps what it was built with)."""
    hooks = HOOKS[behaviour.kind](behaviour, None)
    if previous is not None:
        hooks.check_signatures = previous.check_signatures
        hooks.check_certificates = previous.check_certificates
    return hooks
