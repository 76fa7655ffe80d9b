"""Twins-style round partitions: `[[partition]] rounds = [...]` (and `heights`), or
`leaders = [...]` (the rounds those nations lead), cut only the proposals and votes of those
consensus rounds between the groups, until the partition heals (scenarios/sim/network.py
`round_blocked`, scenarios/sim/world.py `_round_partitioned_deliver`).

- the loader takes rounds, heights and leaders and explains a bad one;
- only consensus messages of the named rounds and heights, or of the rounds the named
  leaders lead, are cut, and only in the window;
- a round partition makes polkas form for different values in consecutive rounds, so that a
  lock is moved, and the honest protocol stays safe and live through it;
- the strategies draw them, and a drawn scenario survives a TOML round trip.
"""

from __future__ import annotations

import json

import pytest

from helpers import nations_toml
from scenarios.assemble import build_world
from scenarios.sim.network import Network
from scenarios.spec.dump import scenario_to_toml
from scenarios.spec.loader import Partition, ScenarioError, parse_scenario

FOUR = ["USA", "MEX", "CAN", "CHN"]


def scenario(partitions: str, seed: int = 3, ticks: int = 5000, latency: int = 20,
             jitter: int = 10) -> str:
    return f"""
[scenario]
name = "round-partition"
seed = {seed}
ticks_max = {ticks}
{nations_toml(FOUR)}
{partitions}
[network]
latency_ticks = {latency}
jitter_ticks = {jitter}
[workload]
txs_per_tick = 0.01
[expect]
liveness_ticks_max = 3500
"""


CUT = ('[[partition]]\ngroups = [["USA", "MEX"], ["CAN"]]\nrounds = [0]\nheights = [3, 4]\n'
       'until_tick = 2000\n')


def test_the_loader_reads_rounds_and_heights():
    s = parse_scenario(scenario(CUT), "<t>")
    assert s.partitions == (Partition((("USA", "MEX"), ("CAN",)), 0, 2000, "both", (0,), (3, 4)),)


@pytest.mark.parametrize("line,where,fix", [
    ("heights = [2]", "partition[0].heights", "rounds = [0]"),
    ("rounds = [-1]", "partition[0].rounds[0]", "from 0 to 1000"),
    ("rounds = [0, true]", "partition[0].rounds", "rounds = [0, 1]"),
    ('leaders = ["XYZ"]', "partition[0].leaders", "Use one of the [[nation]] ids"),
    ("leaders = [1]", "partition[0].leaders", 'leaders = ["USA"]'),
])
def test_a_bad_round_partition_is_explained(line, where, fix):
    text = scenario(f'[[partition]]\ngroups = [["USA"]]\n{line}\n')
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "<t>")
    assert where in str(exc.value) and fix in str(exc.value)


def test_round_blocked_cuts_only_the_named_rounds_and_heights_in_the_window():
    import random
    cut = Partition((("USA", "MEX"), ("CAN",)), 100, 2000, "both", (0, 2), (3,))
    net = Network({}, (cut,), tuple(FOUR), random.Random(0))
    assert net.round_partitioned and not net.partitioned
    assert not net.blocked("USA", "CAN", 500)  # a plain partition check ignores it
    assert net.round_blocked("USA", "CAN", 500, 3, 0)
    assert net.round_blocked("CHN", "USA", 500, 3, 2)  # CHN, unlisted, is a third group
    assert not net.round_blocked("USA", "MEX", 500, 3, 0)  # same side
    assert not net.round_blocked("USA", "CAN", 500, 3, 1)  # another round
    assert not net.round_blocked("USA", "CAN", 500, 4, 0)  # another height
    assert not net.round_blocked("USA", "CAN", 50, 3, 0)  # before the window
    assert not net.round_blocked("USA", "CAN", 2000, 3, 0)  # healed


def test_round_blocked_by_leaders_cuts_the_rounds_they_lead_at_every_height():
    import random
    from consensus import ValidatorSet
    validators = ValidatorSet(tuple((n, 1) for n in FOUR))
    cut = Partition((("USA", "MEX"),), 0, 2000, "both", (), (), ("CAN",))
    net = Network({}, (cut,), tuple(FOUR), random.Random(0), proposer=validators.proposer)
    assert net.round_partitioned and not net.partitioned
    led = [(h, r) for h in range(1, 9) for r in range(4) if validators.proposer(h, r) == "CAN"]
    assert len(led) == 8
    for h in range(1, 9):
        for r in range(4):
            assert net.round_blocked("USA", "CAN", 500, h, r) == ((h, r) in led)
            assert not net.round_blocked("USA", "MEX", 500, h, r)  # same side
    h, r = led[0]
    assert not net.round_blocked("USA", "CAN", 2000, h, r)  # healed
    with_rounds = Partition((("USA", "MEX"),), 0, None, "both", (1,), (), ("CAN",))
    both = Network({}, (with_rounds,), tuple(FOUR), random.Random(0),
                   proposer=validators.proposer)
    assert [hr for hr in led if both.round_blocked("USA", "CAN", 500, *hr)] == [
        hr for hr in led if hr[1] == 1]
    with pytest.raises(ValueError, match="proposer order"):
        Network({}, (cut,), tuple(FOUR), random.Random(0))


def run_traced(text: str, tmp_path):
    path = tmp_path / "trace.jsonl"
    summary = build_world(parse_scenario(text, "<t>"), trace_path=path).run()
    return summary, [json.loads(line) for line in path.read_text().splitlines()]


def test_only_consensus_messages_of_the_cut_rounds_are_dropped(tmp_path):
    summary, events = run_traced(scenario(CUT, ticks=6000), tmp_path)
    assert summary.dropped_by_reason["round_partition"] > 0
    sides = {"USA": 0, "MEX": 0, "CAN": 1, "CHN": 2}
    crossing = [e for e in events if e["ev"] == "deliver" and e["t"] < 2000
                and sides[e["src"]] != sides[e["dst"]]]
    assert not [e for e in crossing if e["kind"] in ("proposal", "prevote", "precommit")
                and e["h"] in (3, 4) and e["r"] == 0]
    assert [e for e in crossing if e["kind"] == "txs"]  # other traffic passes
    assert [e for e in crossing if e["kind"] in ("prevote", "precommit") and e["h"] == 2]
    # Round 0 of height 3 cannot gather 2f+1 votes anywhere, and Tendermint leaves a round
    # only on 2f+1 messages: the height waits for the partition to heal, then goes on.
    assert summary.safety_ok and summary.liveness_ok and summary.heights_committed > 10


# Found by drawing round partitions of height 2 over 4 nations: CAN is cut from everyone in
# rounds 0 and 1 of height 2, with a propose timeout (20) below the delays (10 +/- 30), so the
# three others split their prevotes between the proposal and nil, one of them locks on a polka
# the next proposer did not see, and it moves its lock to round 1's fresh value.
RELOCK = """[[partition]]
groups = [["CAN"]]
rounds = [0, 1]
heights = [2]
until_tick = 1500
[consensus]
timeout_propose_base_ticks = 20
"""


def test_round_partitions_move_a_lock_and_the_honest_protocol_stays_safe_and_live():
    text = scenario(RELOCK, seed=37, latency=10, jitter=30)  # 92 before sync had its deadline
    summary = build_world(parse_scenario(text, "<t>")).run()
    assert summary.coverage["relock"] >= 1
    assert summary.expect_ok and summary.safety_ok and summary.liveness_ok


# CAN is cut off from the others in every round that USA leads, until tick 3000.
LEADERS = ('[[partition]]\ngroups = [["CAN"]]\nleaders = ["USA"]\nuntil_tick = 3000\n')


def test_a_partition_by_leader_cuts_only_the_rounds_that_nation_leads(tmp_path):
    from consensus import ValidatorSet
    proposer = ValidatorSet(tuple((n, 1) for n in FOUR)).proposer
    summary, events = run_traced(scenario(LEADERS, ticks=7000), tmp_path)
    assert summary.dropped_by_reason["round_partition"] > 0
    crossing = [e for e in events if e["ev"] == "deliver" and e["t"] < 3000
                and e["kind"] in ("proposal", "prevote", "precommit")
                and "CAN" in (e["src"], e["dst"])]
    assert not [e for e in crossing if proposer(e["h"], e["r"]) == "USA"]
    assert [e for e in crossing if proposer(e["h"], e["r"]) != "USA"]  # other rounds pass
    assert summary.expect_ok and summary.safety_ok and summary.liveness_ok


def test_a_round_partition_survives_a_toml_round_trip():
    s = parse_scenario(scenario(CUT + RELOCK.split("[consensus]")[0] + LEADERS), "<t>")
    assert s.partitions[-1].leaders == ("USA",)
    again = parse_scenario(scenario_to_toml(s), "<t2>")
    assert again.partitions == s.partitions


def test_the_strategies_draw_round_partitions():
    from hypothesis import HealthCheck, given, settings
    from scenarios.search.strategies import scenario_docs
    seen = {"plain": 0, "rounds": 0, "heights": 0, "leaders": 0}

    @settings(max_examples=150, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(scenario_docs(nations=(4, 7)))
    def draw(doc):
        for p in doc.get("partition", ()):
            seen["leaders" if "leaders" in p else "heights" if "heights" in p
                 else "rounds" if "rounds" in p else "plain"] += 1
            assert all(0 <= r <= 3 for r in p.get("rounds", ()))

    draw()
    assert all(count > 0 for count in seen.values()), seen
