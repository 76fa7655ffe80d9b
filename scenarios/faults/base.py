"""What every Byzantine behaviour's hooks have in common: the behaviour, and the state its nodes
share.

A behaviour's hooks (`BehaviourHooks`, a `nodes.hooks.NodeHooks`) are built once per node boot
by `scenarios/faults/assign.py`, with the `Behaviour` (or `CustomBehaviour`) that gives the
node its window and params, and the `Shared` state of the world's Byzantine nodes: the split
equivocators' plan and each coalition's mind. Shared state is made here, in faults, once per
world; the world only carries the factory that hands it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nodes import NodeHooks


@dataclass
class Shared:
    """The state the Byzantine nodes of one world share, across restarts.

    `split`: the colluding equivocators' plan (`behaviours.SplitAdversary`), or None when no
    behaviour of the scenario equivocates in split mode. `coalitions`: one dict per behaviour
    kind, which that kind's hooks fill as they please (the fork coalition keeps its mind in
    `coalitions["fork"]["fork"]`)."""

    split: object | None = None
    coalitions: dict[str, dict] = field(default_factory=dict)

    def coalition(self, kind: str) -> dict:
        return self.coalitions.setdefault(kind, {})


class BehaviourHooks(NodeHooks):
    """The hooks of one node that runs `behaviour` (anything with `active(tick)`, `params`,
    `nations` and, for the scenario's own kinds, `kind` and `until_tick`). `shared` is the
    world's `Shared`, or None for a node that colludes with nobody."""

    def __init__(self, behaviour, shared: Shared | None = None) -> None:
        self.behaviour = behaviour
        self.shared = shared

    def coalition(self) -> dict:
        """The dict shared by every node of this behaviour's kind in the world."""
        if self.shared is None:
            self.shared = Shared()
        return self.shared.coalition(getattr(self.behaviour, "kind", ""))
