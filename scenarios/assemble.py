"""Putting a run together: the simulation kernel, the nodes' behaviours and the trade workload.

`scenarios.sim` knows nothing of Byzantine behaviours or of chemicals; `scenarios.faults` and
`scenarios.trade` know nothing of each other. This module is the one place that joins them:
every command, study, search and test that wants "the world of this scenario" calls
`build_world` rather than building the kernel itself.
"""

from __future__ import annotations

from scenarios.sim.world import World
from scenarios.spec.loader import Scenario


def build_world(scenario: Scenario, **options) -> World:
    """The world that runs `scenario`: every nation's node, with the behaviours the scenario
    gives it, and the scenario's workload. `options` are the kernel's (see `World`)."""
    return World(scenario, **options)
