"""A stateful test of consensus: hypothesis owns the network schedule (issue 5, item 2).

`ConsensusMachine` drives a `ControlledWorld` (scenarios/sim/controlled.py) of 4 nations (sometimes
5 to 7). Hypothesis chooses, step by step, which in-flight message to deliver, drop or
duplicate, when to let a group of nations talk among themselves, when to advance the clock (so
timeouts fire), which nation to crash or restart, and which nation to corrupt (while the
Byzantine power stays below 1/3); a corrupted nation's messages may also be forged. After
every step the safety oracles must be clean: agreement, validity and integrity among the honest
nations. At the end the network heals (GST) and every up, honest nation must commit a new
height within `LIVENESS_BOUND_TICKS`.

Because the machine owns the schedule, a failure shrinks to a short list of steps that replays
deterministically. `test_the_machine_finds_a_quorum_of_2f` proves the point on a replica that
decides on 2 of 4 votes. The two tests at the end are what the machine found in the honest
protocol, written out as plain schedules: liveness bugs (a restart that forgot its own earlier
votes, finding C; a polka that was never relayed, finding B), fixed since.

A longer, random hunt (minutes; failures are shrunk and printed with a reproduce blob):

    .venv/bin/python -c "import sys; sys.path.insert(0, 'tests'); import test_stateful as t; \
        from hypothesis import settings; from hypothesis.stateful import \
        run_state_machine_as_test as run; run(t.ConsensusMachine, \
        settings=settings(t.CI, max_examples=2000, derandomize=False))"
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from consensus import ValidatorSet
from nodes import NodeHooks
from scenarios.assemble import build_controlled_world
from scenarios.spec.loader import parse_scenario
from scenarios.sim.controlled import MUTATIONS, ControlledWorld

CODES = ("USA", "MEX", "CAN", "CHN", "IND", "DEU", "BRA")
LIVENESS_BOUND_TICKS = 30_000
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


def split(nations, side) -> list[frozenset[str]]:
    """The nations flagged in `side`, and the rest; one group if either is empty."""
    first = frozenset(n for n, flag in zip(nations, side) if flag)
    rest = frozenset(nations) - first
    return [first, rest] if first and rest else [frozenset(nations)]


def _step(rule_function):
    """Mark the machine unsettled while a rule runs, so that a rule that raised (a crash in
    the code under test) is reported as it is, not masked by the liveness check in teardown."""
    @functools.wraps(rule_function)
    def run(self, **kwargs):
        self._settled = False
        rule_function(self, **kwargs)
        self._settled = True
    return run


class ConsensusMachine(RuleBasedStateMachine):
    """Safety after every step, bounded liveness after the faults stop."""

    honest_hooks: type[NodeHooks] | None = None
    checks: tuple[str, ...] = SAFETY
    check_liveness = True

    def __init__(self) -> None:
        super().__init__()
        self.world: ControlledWorld | None = None
        self._settled = True  # False while a rule runs: if it raised, teardown stays quiet

    # ------------------------------------------------------------ setup

    @initialize(n=st.one_of(st.just(4), st.integers(5, 7)), seed=st.integers(0, 3))
    def build(self, n: int, seed: int) -> None:
        self.world = build_controlled_world(controlled_scenario(n, seed), self.honest_hooks)

    def _nation(self, pick: int) -> str:
        nations = self.world.nations
        return nations[pick % len(nations)]

    def _has_flight(self) -> bool:
        return self.world is not None and bool(self.world.in_flight)

    # ------------------------------------------------------------ the network

    @precondition(lambda self: self._has_flight())
    @rule(action=st.sampled_from(["deliver", "drop", "duplicate"]), pick=PICK)
    @_step
    def message(self, action: str, pick: int) -> None:
        """One message in flight arrives now, is lost, or arrives now and stays in flight."""
        getattr(self.world, action)(pick % len(self.world.in_flight))

    @precondition(lambda self: self.world is not None)
    @rule(side=st.lists(st.booleans(), min_size=len(CODES), max_size=len(CODES)),
          count=st.integers(1, 8), ticks=st.sampled_from([50, 100, 300, 500]))
    @_step
    def rounds(self, side: list[bool], count: int, ticks: int) -> None:
        """`count` rounds of a network split in two (as in Twins): the nations flagged in
        `side` and the rest. Each round, every message in flight within a side arrives (and
        those it causes, up to one new height), then the clock moves `ticks` on; messages
        across stay in flight. An empty (or full) side means no split."""
        self.world.rounds(split(self.world.nations, side), count, ticks)

    @precondition(lambda self: self.world is not None)
    @rule(ticks=st.sampled_from([1, 50, 100, 150, 300, 500, 1000]))
    @_step
    def advance(self, ticks: int) -> None:
        self.world.advance(ticks)

    # ------------------------------------------------------------ faults

    @precondition(lambda self: self.world is not None
                  and any(self.world.can_corrupt(n) for n in self.world.nations))
    @rule(pick=PICK, mode=st.sampled_from(["equivocate", "amnesia", "forge"]))
    @_step
    def corrupt(self, pick: int, mode: str) -> None:
        nation = self._nation(pick)
        if self.world.can_corrupt(nation) and self._faulty_power_ok(nation):
            self.world.corrupt(nation, mode)

    @precondition(lambda self: self.world is not None and any(
        m.kind in ("proposal", "prevote", "precommit") and m.src in self.world.corrupted
        for m in self.world.in_flight))
    @rule(pick=PICK, mutation=st.sampled_from(MUTATIONS))
    @_step
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
    @_step
    def crash(self, pick: int) -> None:
        nation = self._nation(pick)
        if self.world.nodes[nation] is not None and self._faulty_power_ok(nation):
            self.world.crash(nation)

    @precondition(lambda self: self.world is not None
                  and any(node is None for node in self.world.nodes.values()))
    @rule(pick=PICK)
    @_step
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
        if w is None or not self.check_liveness or not self._settled \
                or w.violations_of(*self.checks):
            return  # a failure is already being reported
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


# The CI budget: 100 programs of 40 steps (about 10 s), derandomized so that CI is
# reproducible and no example database is written. For a longer hunt, run the machine with
# settings(CI, max_examples=2000, derandomize=False) (see the module docstring).
# The explain phase is left out: it re-runs the failing program under a tracer, which costs
# more than the search itself here.
CI = settings(max_examples=100, stateful_step_count=40, deadline=None, derandomize=True,
              database=None, suppress_health_check=[HealthCheck.too_slow],
              report_multiple_bugs=False,
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])

TestConsensusMachine = ConsensusMachine.TestCase
TestConsensusMachine.settings = CI


# ---------------------------------------------------------------- the controlled world itself


def test_messages_wait_in_flight_until_the_schedule_moves_them():
    w = build_controlled_world(controlled_scenario(4, 0))
    proposer = w.genesis.validators.proposer(1, 0)
    assert {m.src for m in w.in_flight} == {proposer}  # its proposal and prevote, to 3 peers
    w.advance(5_000)  # timeouts fire, rounds go by, nothing arrives: nobody commits
    assert w.heights() == {n: 0 for n in w.nations} and w.messages_delivered == 0
    first = w.in_flight[0]
    assert w.deliver(0) == first and w.messages_delivered == 1
    w.drop(0)
    w.duplicate(0)
    assert w.in_flight and w.messages_delivered == 2
    w.rounds([w.nations], count=3, ticks=100)
    assert min(w.heights().values()) >= 1 and not w.violations


def test_corruption_stays_below_a_third_and_leaves_the_oracles():
    w = build_controlled_world(controlled_scenario(4, 0))
    w.corrupt("MEX")
    assert "MEX" in w.byzantine and "MEX" not in w.honest
    assert type(w.nodes["MEX"].hooks).__name__ == "EquivocatingHooks"
    with pytest.raises(ValueError, match="1/3"):
        w.corrupt("USA")
    w.rounds([w.nations], count=4, ticks=100)
    assert not w.violations and w.evidence  # MEX equivocated, and was seen doing it
    forged = [i for i, m in enumerate(w.in_flight) if m.src == "MEX" and m.kind == "prevote"]
    if forged:
        assert w.forge(forged[0], "round+1") is not None


def test_heal_delivers_everything_in_flight_and_the_network_recovers():
    w = build_controlled_world(controlled_scenario(4, 0))
    w.rounds([{"USA", "MEX"}, {"CAN", "CHN"}], count=5, ticks=300)  # no side has a quorum
    assert max(w.heights().values()) == 0 and w.in_flight
    w.heal()
    assert not w.in_flight
    ok, why = w.check_liveness(LIVENESS_BOUND_TICKS)
    assert ok, why
    assert w.now < w.healed_at + 5_000  # it stops once every nation has committed


# ---------------------------------------------------------------- a known bug, to prove power


class TwoFQuorum(ValidatorSet):
    """A quorum of 2f of the power instead of more than 2/3 (2 of 4 votes)."""

    def has_quorum(self, power: int) -> bool:
        f = (self.total_power - 1) // 3
        return power >= max(1, 2 * f)


class TwoFQuorumHooks(NodeHooks):
    """Hooks for an honest node whose replica decides on a 2f quorum: the mutant this file
    hunts."""

    shares_application = True  # runs in the honest nodes' place; valid() stays honest

    def replica_validators(self, node, validators):
        return TwoFQuorum(validators.powers)


class TwoFQuorumMachine(ConsensusMachine):
    """The same machine over the broken replica, watching agreement alone: its commit
    certificates hold only 2f precommits, which the validity oracle flags at the first
    decision, and we want to see the schedule that splits the honest nations."""

    honest_hooks = TwoFQuorumHooks
    checks = ("agreement",)
    check_liveness = False


def test_the_machine_finds_a_quorum_of_2f():
    """The machine must find the broken replica's split decision within its example budget,
    and shrink it to a short schedule (a few steps of the state machine)."""
    with pytest.raises(AssertionError, match="agreement violation") as failure:
        run_state_machine_as_test(TwoFQuorumMachine, settings=settings(
            CI, max_examples=200, stateful_step_count=15))
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    steps = [line.strip() for line in notes.splitlines()
             if line.strip().startswith("state.") and not line.strip().startswith(
                 ("state.safe()", "state.teardown()"))]
    print(notes, failure.value, sep="\n")
    assert steps, "hypothesis did not report the failing schedule"
    assert len(steps) <= 8, f"the schedule did not shrink: {steps}"


# ---------------------------------------------------------------- what the machine found


def test_replicas_restarted_after_locking_still_decide():
    """ConsensusMachine's first finding on the honest protocol, shrunk to these steps.

    CHN proposes v at (1, 0) and crashes. MEX and CAN see v and the prevotes of CHN, MEX and
    CAN: they lock v at round 0. Later they restart from their write-ahead records, still
    locked at round 0, but their tallies are rebuilt from the network, where their own round-0
    prevotes never come back (a node drops its own messages). From then on a re-proposal of v
    with valid_round 0 finds at MEX and CAN only 2 of the 3 prevotes of the round-0 polka (line
    28 does not fire: they prevote nil), and a fresh value finds them locked (nil again). v gets
    2 prevotes a round and nothing else can win: no height is ever committed, long after GST.

    Finding C. Fixed twice over: `Replica._resume` broadcasts the own messages of every round
    of the height, not only the current one, so the node loops them back into its tallies
    (tests/consensus/test_consensus_rules.py checks that alone); and, with finding B fixed, stalled nodes
    relay the polka behind their lock to the nations that missed it (each passes without the
    fix of C too). A node still drops its own messages when they come back from the network.
    """
    w = build_controlled_world(controlled_scenario(4, 0))
    w.crash("CHN")
    w.rounds([{"MEX", "CAN", "CHN"}, {"USA"}], count=7, ticks=50)
    w.restart("CHN")
    w.crash("MEX")
    w.restart("MEX")
    w.rounds([{"USA", "MEX", "CAN"}, {"CHN"}], count=7, ticks=100)
    w.crash("CAN")
    w.restart("CAN")
    w.crash("MEX")
    w.heal()  # MEX restarts too
    ok, why = w.check_liveness(LIVENESS_BOUND_TICKS)
    assert ok, why


def test_a_lock_on_a_polka_others_never_saw_does_not_stall_the_chain():
    """ConsensusMachine's second finding (shrunk from 40 steps to these 5), with f = 1.

    CHN proposes v at (1, 0); only CAN gets it in time and prevotes v; USA and MEX time out and
    prevote nil. USA is Byzantine: it also signs a prevote for v and sends it to MEX and CAN
    alone. They see CHN, CAN and USA prevote v, a polka: they lock v at round 0. CHN never
    sees USA's second prevote: to CHN there was no polka at round 0, so it prevotes nil on
    every re-proposal of v with valid_round 0 (line 28 needs the polka), while MEX and CAN,
    locked, prevote nil on anything else. No value reaches 3 prevotes again, in any round.

    This is finding B of tests/regressions/README.md (twin-polka-not-relayed.toml is the
    fuzzer's scenario of it), here with one Byzantine voter and a 5-step schedule. Fixed:
    stalled nodes relay the polka behind their lock (USA's prevote for v among it, checked by
    its signature), so CHN sees it too.
    """
    w = build_controlled_world(controlled_scenario(4, 0))
    w.deliver(next(i for i, m in enumerate(w.in_flight)
                   if (m.kind, m.src, m.dst) == ("proposal", "CHN", "CAN")))
    w.corrupt("USA", "forge")
    w.advance(300)  # timeout_propose: USA and MEX prevote nil
    for dst in ("MEX", "CAN"):
        nil_prevote = next(i for i, m in enumerate(w.in_flight)
                           if (m.kind, m.src, m.dst, m.round) == ("prevote", "USA", dst, 0))
        assert w.forge(nil_prevote, "value") is not None  # a signed prevote for v
    w.heal()
    assert not w.violations
    ok, why = w.check_liveness(LIVENESS_BOUND_TICKS)
    assert ok, why
