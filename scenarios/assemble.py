"""Putting a run together: the simulation kernel, the nodes' behaviours and the trade workload.

`scenarios.sim` knows nothing of Byzantine behaviours or of chemicals; `scenarios.faults` and
`scenarios.trade` know nothing of each other. This module is the one place that joins them:
every command, study, search and test that wants "the world of this scenario" calls
`build_world` (or `build_controlled_world`) rather than building the kernel itself.
"""

from __future__ import annotations

from pathlib import Path

from nodes import NodeHooks

from scenarios.faults.assign import corrupted_hooks, node_hooks_for
from scenarios.sim.controlled import ControlledWorld
from scenarios.sim.world import World
from scenarios.spec.loader import Scenario
from scenarios.trade.runner import TradeWorkload


def trade_workload(scenario: Scenario, ledger_path: Path | None = None) -> TradeWorkload:
    """The scenario's precursor trade, as a workload for the kernel; it writes the ledger
    export to `ledger_path` (None: nowhere)."""
    return TradeWorkload(scenario, ledger_path=ledger_path)


def build_world(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None, *,
                ledger_path: Path | None = None, world_class: type[World] = World,
                **options) -> World:
    """The world that runs `scenario`: every nation's node, with the behaviours the scenario
    gives it (scenarios/faults/assign.py), and the scenario's trade, whose ledger export goes
    to `ledger_path`. `honest_hooks` (a `NodeHooks` class, one instance per node) runs every
    nation without a Byzantine behaviour: the mutant benchmark passes a mutant; None is the
    honest node. `world_class` is `World` or a subclass of it; `options` are the kernel's (see
    `World`)."""
    return world_class(scenario, node_hooks=node_hooks_for(scenario, honest_hooks),
                       workload=trade_workload(scenario, ledger_path), **options)


def build_controlled_world(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None,
                           **options) -> ControlledWorld:
    """`build_world` for the hand-driven `ControlledWorld`, whose `corrupt()` turns a nation
    Byzantine at run time with the hooks of scenarios/faults/assign.py."""
    return ControlledWorld(scenario, node_hooks=node_hooks_for(scenario, honest_hooks),
                           corrupt_hooks=corrupted_hooks,
                           workload=trade_workload(scenario), **options)
