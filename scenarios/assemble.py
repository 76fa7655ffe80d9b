"""Putting a run together: the simulation kernel, the nodes' behaviours and the trade workload.

`scenarios.sim` knows nothing of Byzantine behaviours or of chemicals; `scenarios.faults` and
`scenarios.trade` know nothing of each other. This module is the one place that joins them:
every command, study, search and test that wants "the world of this scenario" calls
`build_world` (or `build_controlled_world`) rather than building the kernel itself.
"""

from __future__ import annotations

from nodes import NodeHooks

from scenarios.faults.assign import corrupted_hooks, node_hooks_for
from scenarios.sim.controlled import ControlledWorld
from scenarios.sim.world import World
from scenarios.spec.loader import Scenario


def build_world(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None,
                world_class: type[World] = World, **options) -> World:
    """The world that runs `scenario`: every nation's node, with the behaviours the scenario
    gives it (scenarios/faults/assign.py), and the scenario's workload. `honest_hooks` (a
    `NodeHooks` class, one instance per node) runs every nation without a Byzantine behaviour:
    the mutant benchmark passes a mutant; None is the honest node. `world_class` is `World` or a
    subclass of it; `options` are the kernel's (see `World`)."""
    return world_class(scenario, node_hooks=node_hooks_for(scenario, honest_hooks), **options)


def build_controlled_world(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None,
                           **options) -> ControlledWorld:
    """`build_world` for the hand-driven `ControlledWorld`, whose `corrupt()` turns a nation
    Byzantine at run time with the hooks of scenarios/faults/assign.py."""
    return ControlledWorld(scenario, node_hooks=node_hooks_for(scenario, honest_hooks),
                           corrupt_hooks=corrupted_hooks, **options)
