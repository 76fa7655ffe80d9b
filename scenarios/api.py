"""The public API for scenario scripts: a scenario written in Python instead of TOML.

A script is a `.py` file with a function `scenario()` that returns a `Scenario`. Build it from
TOML text with `parse_scenario`, change it with `dataclasses.replace`, and attach your own
behaviours, subclasses of `CustomBehaviour`, with `with_custom`:

    from scenarios.api import CustomBehaviour, parse_scenario, with_custom

    class Quiet(CustomBehaviour):
        def adjust_shipment(self, plan, members, rng):
            ...

    def scenario():
        return with_custom(parse_scenario(TOML, __file__), Quiet(["PAN"]))

`chemtrace run my_study.py` runs it exactly like a TOML file: same outputs, same determinism
(use the `rng` the hooks receive, never `random` directly). See
scenarios/library/opt-out-one-chemical.py for a worked example.

Hooks (override the ones you need):

- `adjust_shipment(plan, members, rng)`: called once per planned shipment, after the built-in
  planning. `plan.steps` is the list of custody events the world will file, in order; remove
  steps to model records that are never filed, change their `fields` to falsify them, set
  `plan.diversion` (a name of your own) and `plan.diverted_g` so the oracle counts what you did,
  and `plan.dark = True` when part of the route keeps no records.
- `node_hooks(nation, shared)`: return the hooks (a `nodes.hooks.NodeHooks`) that `nation`'s
  node runs with, or None for the honest node. Hooks change what a node does only at the
  points nodes/hooks.py declares (what it emits, how it builds a block, how it answers sync,
  what it does after a commit, ...), through the node's public methods; never subclass `Node`.
  The hooks of scenarios/faults/behaviours.py can be reused: `EquivocatingHooks(self, shared)`
  runs this behaviour's window (`active`) and `params`, and `shared` (the world's
  `scenarios.faults.base.Shared`) lets it collude with the scenario's own Byzantine nations.
"""

from __future__ import annotations

import random
from dataclasses import replace

from nodes import NodeHooks
from nodes.app.registry import un_members

from scenarios.spec.loader import Behaviour, Scenario, ScenarioError, load_scenario, parse_scenario
from scenarios.trade.workload import PlannedShipment, Step
from scenarios.sim.world import World


class CustomBehaviour:
    """A behaviour written in Python. `nations` are the nations it applies to."""

    byzantine = False  # True if it makes its nations' consensus messages untrustworthy
    params: dict = {}  # read by the hooks of scenarios/faults/behaviours.py, if you reuse them

    def __init__(self, nations: list[str] | tuple[str, ...]) -> None:
        self.nations = tuple(nations)

    def active(self, tick: int) -> bool:
        """Whether hooks given by `node_hooks` misbehave at `tick`; always, by default."""
        return True

    def adjust_shipment(self, plan: PlannedShipment, members: tuple[str, ...],
                        rng: random.Random) -> None:
        """Change one planned shipment. The default changes nothing."""

    def node_hooks(self, nation: str, shared) -> NodeHooks | None:
        """The hooks `nation`'s node runs with (built anew at each boot), or None for the
        honest node. `shared` is the state the world's Byzantine nodes share
        (`scenarios.faults.base.Shared`), for hooks that collude."""
        return None

    def describe(self) -> str:
        return f"{type(self).__name__} on {', '.join(self.nations)}"


def with_custom(scenario: Scenario, *behaviours: CustomBehaviour) -> Scenario:
    """The scenario with these custom behaviours added."""
    for b in behaviours:
        if not isinstance(b, CustomBehaviour):
            raise ScenarioError(f"{scenario.source}: {b!r} is not a CustomBehaviour; subclass "
                                f"scenarios.api.CustomBehaviour")
        unknown = [n for n in b.nations if n not in scenario.nation_ids]
        if unknown:
            raise ScenarioError(f"{scenario.source}: {b.describe()}: unknown nation "
                                f"{unknown[0]!r}; use one of {', '.join(scenario.nation_ids)}")
    return replace(scenario, custom=scenario.custom + tuple(behaviours))


__all__ = ["Behaviour", "CustomBehaviour", "PlannedShipment", "Scenario", "ScenarioError",
           "un_members",
           "Step", "World", "load_scenario", "parse_scenario", "with_custom"]
