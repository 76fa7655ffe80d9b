"""Putting a run together: the simulation kernel, the nodes' behaviours and the trade workload.

`scenarios.sim` knows nothing of Byzantine behaviours or of chemicals; `scenarios.faults` and
`scenarios.trade` know nothing of each other. This module is the one place that joins them:
every command, study, search and test that wants "the world of this scenario" calls
`build_world` rather than building the kernel itself.
"""

from __future__ import annotations

from pathlib import Path

from scenarios.sim.world import World
from scenarios.spec.loader import Scenario
from scenarios.trade.runner import TradeWorkload


def trade_workload(scenario: Scenario, ledger_path: Path | None = None) -> TradeWorkload:
    """The scenario's precursor trade, as a workload for the kernel; it writes the ledger
    export to `ledger_path` (None: nowhere)."""
    return TradeWorkload(scenario, ledger_path=ledger_path)


def build_world(scenario: Scenario, *, ledger_path: Path | None = None,
                world_class: type[World] = World, **options) -> World:
    """The world that runs `scenario`: every nation's node, with the behaviours the scenario
    gives it, and the scenario's trade, whose ledger export goes to `ledger_path`. `options`
    are the kernel's (see `World`); `world_class` is `World` or a subclass of it."""
    return world_class(scenario, workload=trade_workload(scenario, ledger_path), **options)
