"""The declared hook points (nodes/hooks.py) as the world uses them.

- hooks with nothing overridden are the honest node: the same trace, byte for byte;
- the world takes hooks only from the factory it is given, and knows no behaviour itself;
- the fuzzer judges each run through an explicit `judge` (the mutant benchmark's differential
  judge), not by swapping a module's world class.
"""

from __future__ import annotations

import pytest
from helpers import LIBRARY
from nodes import NodeHooks
from scenarios.assemble import build_world
from scenarios.search.fuzz import fuzz
from scenarios.sim.world import World
from scenarios.spec.loader import load_scenario


def _baseline():
    return load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=3000)


def test_hooks_that_override_nothing_are_the_honest_node():
    honest = World(_baseline(), spacetime=False).run()
    made: list[str] = []

    def every_node(nation, genesis):
        made.append(nation)
        return NodeHooks()

    hooked_world = World(_baseline(), node_hooks=every_node, spacetime=False)
    hooked = hooked_world.run()
    assert made and set(made) == set(hooked_world.nations)
    assert all(hooked_world.nodes[n].hooks is not None for n in hooked_world.nations)
    assert hooked.trace_sha256 == honest.trace_sha256
    assert honest.heights_committed > 3


@pytest.mark.parametrize("name", ["crash-restart", "partition-heals", "delay"])
def test_the_honest_delivery_fast_path_is_the_hooked_path(name):
    """A node without hooks hands a delivered message to its core without `_run`'s queue while
    nothing is held (Node._on_consensus); a node with hooks always goes through `_run`. With
    hooks that override nothing, crashes, restarts, partitions and delays give the same trace."""
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(seed=3)
    honest = World(scenario, spacetime=False).run()
    hooked = World(scenario, node_hooks=lambda nation, genesis: NodeHooks(),
                   spacetime=False).run()
    assert hooked.trace_sha256 == honest.trace_sha256
    assert honest.heights_committed > 3


def test_a_world_without_a_factory_runs_only_honest_nodes():
    world = World(_baseline(), spacetime=False)
    world.run()
    assert all(node is None or node.hooks is None for node in world.nodes.values())


def test_build_world_gives_each_byzantine_nation_its_behaviours_hooks():
    world = build_world(load_scenario(LIBRARY / "equivocate-f.toml").with_overrides(
        ticks_max=1500), spacetime=False)
    world.run()
    byzantine = set(world.byzantine)
    assert byzantine
    for nation in world.nations:
        hooks = world.nodes[nation].hooks
        assert (type(hooks).__name__ == "EquivocatingHooks") == (nation in byzantine)
        assert (world.nodes[nation].shared is None) == (nation in byzantine)


def test_the_fuzzer_judges_every_run_through_its_judge():
    judged: list[bool] = []

    def judge(scenario, summary):
        judged.append(summary.expect_ok)
        return summary.replace(expect_ok=True)

    result = fuzz(budget_s=60, seed=0, nations=(4, 4), max_scenarios=3, judge=judge)
    assert len(judged) == result.scenarios_run == 3
    assert not result.failed
