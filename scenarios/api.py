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
- `node_class(nation)`: return a `nodes.Node` subclass to run for `nation` (a Byzantine node
  overrides `_emit`, `_valid` or `_build_block`, as scenarios/faults/behaviours.py does), or None.
"""

from __future__ import annotations

import random
from dataclasses import replace

from nodes import Node

from scenarios.spec.loader import Behaviour, Scenario, ScenarioError, load_scenario, parse_scenario
from scenarios.trade.workload import PlannedShipment, Step
from scenarios.sim.world import World


class CustomBehaviour:
    """A behaviour written in Python. `nations` are the nations it applies to."""

    byzantine = False  # True if it makes its nations' consensus messages untrustworthy
    params: dict = {}  # read by the node classes of scenarios/faults/behaviours.py, if you reuse them

    def __init__(self, nations: list[str] | tuple[str, ...]) -> None:
        self.nations = tuple(nations)

    def active(self, tick: int) -> bool:
        """Whether a node class given by `node_class` misbehaves at `tick`; always, by default."""
        return True

    def adjust_shipment(self, plan: PlannedShipment, members: tuple[str, ...],
                        rng: random.Random) -> None:
        """Change one planned shipment. The default changes nothing."""

    def node_class(self, nation: str) -> type[Node] | None:
        """A Node subclass to run for `nation`, or None for the honest node."""
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
           "Step", "World", "load_scenario", "parse_scenario", "with_custom"]
