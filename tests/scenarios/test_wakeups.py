"""The simulated world's wake-ups: one live wake-up per node, and no pile of stale ones.

`World` keeps, for each node, at most one live WAKE entry in its queue, due no later than the
node's `next_deadline()`. Arming it earlier leaves the old entry behind, stale (its token no
longer matches), and the world drops it when it comes due without calling the node. So a node's
timer work happens at its own deadlines and nowhere else, and the queue's work per height does
not grow with the length of a run (it did: every stale wake-up used to re-arm itself).
"""

from __future__ import annotations

import pytest

from helpers import LIBRARY
from nodes import NodeHooks
from scenarios.assemble import build_world
from scenarios.bench.sim import empty_scenario
from scenarios.spec.loader import load_scenario

# The most stale WAKE entries any one node had in the queue at once in these runs (1 to 3 at
# this commit); a pile grows by one a height or so, to hundreds in these runs.
STALE_PER_NODE_MAX = 4


def _library(name: str):
    return load_scenario(LIBRARY / f"{name}.toml")


@pytest.mark.parametrize("label", ["empty n=4", "crash-restart", "amnesia"])
def test_each_node_has_one_live_wake_up_by_its_deadline(label):
    # crash-restart: crashes, restarts and state sync; amnesia: a node with hooks.
    scenario = empty_scenario(4, heights=60) if label == "empty n=4" else _library(label)
    world = build_world(scenario)
    world.begin(None)
    stale_max = 0
    while (tick := world.next_due(-1)) != -1 and tick <= scenario.ticks_max:
        world.run_due(tick)
        for instance, (live, stale) in world.pending_wakes().items():
            node = world.nodes[instance]
            assert live == (0 if node is None else 1), (instance, tick)
            if node is not None:
                # Woken by its deadline at the latest: no deadline is missed.
                assert world.armed[instance] <= node.next_deadline(), (instance, tick)
            stale_max = max(stale_max, stale)
    assert stale_max <= STALE_PER_NODE_MAX
    assert world.stale_wakes > 0  # the runs do move deadlines earlier: the check had work


def test_queue_events_per_height_do_not_grow_with_the_run():
    per_height = []
    for heights in (60, 240):
        world = build_world(empty_scenario(4, heights=heights, signatures="modelled"))
        summary = world.run()
        assert summary.heights_committed >= heights * 0.9
        per_height.append(world.events / summary.heights_committed)
    # Fault-free n = 4: about 31 events a height whatever the length (with the pile, 103
    # at 150 heights and 328 at 600).
    assert per_height[1] <= per_height[0] * 1.05, per_height


WAKE_TICK = 1234  # no timeout, resend or gossip of the run below falls on it


class WakeOnce(NodeHooks):
    """Honest in every way, but asks to be woken once at WAKE_TICK and records its wake-ups."""

    shares_application = True

    def __init__(self) -> None:
        self.woken: list[int] = []

    def deadline(self, node) -> int | None:
        return WAKE_TICK if not self.woken or self.woken[-1] < WAKE_TICK else None

    def on_timer(self, node, now_ticks: int, out: list) -> None:
        self.woken.append(now_ticks)


def test_a_hooks_deadline_wakes_its_node_at_that_tick_and_changes_nothing_else():
    scenario = empty_scenario(4, heights=60, signatures="modelled")
    honest = build_world(scenario)
    honest_summary = honest.run()
    hooked = build_world(scenario, honest_hooks=WakeOnce)
    summary = hooked.run()
    assert honest_summary.heights_committed >= 55
    for instance, node in hooked.nodes.items():
        # Fault-free: every height decides before any timeout or resend of the node falls due,
        # so the hook's tick is its only wake-up (with the pile of stale wake-ups: 475 each).
        assert node.hooks.woken == [WAKE_TICK], instance
    assert summary.trace_sha256 == honest_summary.trace_sha256
