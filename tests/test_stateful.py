"""A stateful test of consensus: hypothesis owns the network schedule (issue 5, item 2).

`ConsensusMachine` drives a `ControlledWorld` (scenarios/controlled.py) of 4 nations (sometimes
5 to 7). Hypothesis chooses, step by step, which in-flight message to deliver, drop or
duplicate, when to let a group of nations talk among themselves, when to advance the clock (so
timeouts fire), which nation to crash or restart, and which nation to corrupt (while the
Byzantine power stays below 1/3); a corrupted nation's messages may also be forged. After
every step the safety oracles must be clean: agreement, validity and integrity among the honest
nations. At the end the network heals (GST) and every up, honest nation must commit a new
height within `LIVENESS_BOUND_TICKS`.

Because the machine owns the schedule, a failure shrinks to a short list of steps that replays
deterministically. `test_the_machine_finds_a_quorum_of_2f` proves the point on a replica that
decides on 2 of 4 votes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from consensus import Replica, ValidatorSet
from nodes import Node
from scenarios import parse_scenario
from scenarios.controlled import MUTATIONS, ControlledWorld

CODES = ("USA", "MEX", "CAN", "CHN", "IND", "DEU", "BRA")
LIVENESS_BOUND_TICKS = 30_000
FLUSH_LIMIT = 120  # deliveries per deliver_among step; all n nations can commit ~5 heights
PICK = st.integers(min_value=0, max_value=1 << 16)  # an index, taken modulo the list's length
SAFETY = ("agreement", "validity", "integrity")


def controlled_scenario(n: int, seed: int):
    nations = "\n".join(f'[[nation]]\nid = "{c}"\n' for c in CODES[:n])
    return parse_scenario(f"""
[scenario]
name = "stateful-{n}"
seed = {seed}
ticks_max = 10000000
{nations}
[network]
latency_ticks = 20
jitter_ticks = 5

[workload]
txs_per_tick = 0.01
""", "<stateful>")


class ConsensusMachine(RuleBasedStateMachine):
    """Safety after every step, bounded liveness after the faults stop."""

    honest_node_class: type[Node] = Node
    checks: tuple[str, ...] = SAFETY
    check_liveness = True

    def __init__(self) -> None:
        super().__init__()
        self.world: ControlledWorld | None = None
        self._in_step = False  # set while a rule runs: if it raised, teardown stays quiet

    # ------------------------------------------------------------ setup

    @initialize(n=st.one_of(st.just(4), st.integers(5, 7)), seed=st.integers(0, 3))
    def build(self, n: int, seed: int) -> None:
        self.world = ControlledWorld(controlled_scenario(n, seed),
                                     honest_node_class=self.honest_node_class)
        self.sides = (frozenset(self.world.nations),)

    def _nation(self, pick: int) -> str:
        nations = self.world.nations
        return nations[pick % len(nations)]

    def _has_flight(self) -> bool:
        return self.world is not None and bool(self.world.in_flight)

    # ------------------------------------------------------------ the network

    @precondition(lambda self: self._has_flight())
    @rule(action=st.sampled_from(["deliver", "drop", "duplicate"]), pick=PICK)
    def message(self, action: str, pick: int) -> None:
        """One message in flight arrives now, is lost, or arrives now and stays in flight."""
        getattr(self.world, action)(pick % len(self.world.in_flight))

    @precondition(lambda self: self.world is not None)
    @rule(side=st.sets(st.integers(0, 6), max_size=6))
    def partition(self, side: set[int]) -> None:
        """From now on `flush` delivers only within each side: the nations listed, the rest.
        An empty (or complete) side heals the split."""
        nations = self.world.nations
        first = frozenset(nations[i] for i in side if i < len(nations))
        rest = frozenset(nations) - first
        self.sides = (first, rest) if first and rest else (frozenset(nations),)

    @precondition(lambda self: self.world is not None)
    @rule(ticks=st.sampled_from([0, 50, 100, 300, 500, 1000]))
    def flush(self, ticks: int) -> None:
        """A round: every message in flight within a side arrives (and those it causes), then
        the clock moves on."""
        self.world.deliver_within(self.sides, FLUSH_LIMIT)
        self.world.advance(ticks)

    @precondition(lambda self: self.world is not None)
    @rule(ticks=st.sampled_from([1, 50, 100, 150, 300, 500, 1000]))
    def advance(self, ticks: int) -> None:
        self.world.advance(ticks)

    # ------------------------------------------------------------ faults

    @precondition(lambda self: self.world is not None
                  and any(self.world.can_corrupt(n) for n in self.world.nations))
    @rule(pick=PICK, mode=st.sampled_from(["equivocate", "amnesia", "forge"]))
    def corrupt(self, pick: int, mode: str) -> None:
        nation = self._nation(pick)
        if self.world.can_corrupt(nation) and self._faulty_power_ok(nation):
            self.world.corrupt(nation, mode)

    @precondition(lambda self: self.world is not None and any(
        m.kind in ("proposal", "prevote", "precommit") and m.src in self.world.corrupted
        for m in self.world.in_flight))
    @rule(pick=PICK, mutation=st.sampled_from(MUTATIONS))
    def forge(self, pick: int, mutation: str) -> None:
        w = self.world
        lies = [i for i, m in enumerate(w.in_flight)
                if m.kind in ("proposal", "prevote", "precommit") and m.src in w.corrupted]
        w.forge(lies[pick % len(lies)], mutation)

    def _faulty_power_ok(self, extra: str) -> bool:
        """Crashed plus Byzantine power stays below 1/3, so the honest nations that are up
        can still make progress (the fault model of the liveness check)."""
        w = self.world
        power = dict(w.scenario.nations)
        faulty = set(w.byzantine) | {n for n in w.nations if w.nodes[n] is None} | {extra}
        return 3 * sum(power[n] for n in faulty) < sum(power[n] for n in w.nations)

    @precondition(lambda self: self.world is not None)
    @rule(pick=PICK)
    def crash(self, pick: int) -> None:
        nation = self._nation(pick)
        if self.world.nodes[nation] is not None and self._faulty_power_ok(nation):
            self.world.crash(nation)

    @precondition(lambda self: self.world is not None
                  and any(node is None for node in self.world.nodes.values()))
    @rule(pick=PICK)
    def restart(self, pick: int) -> None:
        down = [n for n, node in self.world.nodes.items() if node is None]
        self.world.restart(down[pick % len(down)])

    # ------------------------------------------------------------ the oracles

    @invariant()
    def safe(self) -> None:
        if self.world is None:
            return
        broken = self.world.violations_of(*self.checks)
        assert not broken, _story(self.world, broken)

    def teardown(self) -> None:
        w = self.world
        if w is None or not self.check_liveness or w.violations:
            return  # a safety failure is already being reported
        w.heal()
        ok, why = w.check_liveness(LIVENESS_BOUND_TICKS)
        broken = w.violations_of(*self.checks)
        assert not broken, _story(w, broken)
        assert ok, f"liveness after heal: {why}\n" + _story(w, [])


def _story(world: ControlledWorld, violations: list[dict]) -> str:
    lines = [f"{v['kind']} violation: {v}" for v in violations[:3]]
    lines.append(f"heights {world.heights()}, Byzantine {list(world.corrupted)}, "
                 f"in flight {len(world.in_flight)}, tick {world.now}")
    lines += world.log[-30:]
    return "\n".join(lines)


# The CI budget: about 30 examples of up to 40 steps, derandomized so CI is reproducible.
CI = settings(max_examples=30, stateful_step_count=40, deadline=None, derandomize=True,
              database=None, suppress_health_check=[HealthCheck.too_slow],
              report_multiple_bugs=False)

TestConsensusMachine = ConsensusMachine.TestCase
TestConsensusMachine.settings = CI


# ---------------------------------------------------------------- a known bug, to prove power


class TwoFQuorum(ValidatorSet):
    """A quorum of 2f of the power instead of more than 2/3 (2 of 4 votes)."""

    def has_quorum(self, power: int) -> bool:
        f = (self.total_power - 1) // 3
        return power >= max(1, 2 * f)


class TwoFQuorumNode(Node):
    """An honest node whose replica decides on a 2f quorum: the mutant this file hunts."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        broken = TwoFQuorum(self.validators.powers)
        self.replica = Replica(self.me, broken, self._valid, self.config.timeouts,
                               height=self.ledger.height + 1, wal=self.storage.wal)


class TwoFQuorumMachine(ConsensusMachine):
    """The same machine over the broken replica, watching agreement alone: its commit
    certificates hold only 2f precommits, which the validity oracle flags at the first
    decision, and we want to see the schedule that splits the honest nations."""

    honest_node_class = TwoFQuorumNode
    checks = ("agreement",)
    check_liveness = False


def test_the_machine_finds_a_quorum_of_2f():
    with pytest.raises(AssertionError, match="agreement violation") as failure:
        run_state_machine_as_test(TwoFQuorumMachine, settings=settings(
            CI, max_examples=100, stateful_step_count=30))
    print(failure.value)
