"""The first-correct-proposer oracle (scenarios/sim/oracles.py `judge_prompt_decisions`), the
accountability oracle (scenarios/sim/world.py `_framed`) and crashes at protocol points (the
crash behaviour's `at`).

- the oracle expects the first round whose proposer is correct and whose timeouts exceed the
  delays, judges only heights every correct nation entered after the last fault, and says why
  it did not apply (Byzantine nations, loss);
- the honest protocol meets it on drawn scenarios;
- a crash at a protocol point strikes at that point, loses what the step was to send (persist,
  lock) or sends it first (precommit), and the run still replays byte for byte.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from consensus import TimeoutConfig, ValidatorSet
from helpers import nations_toml
from scenarios.assemble import build_world
from scenarios.search.strategies import scenarios
from scenarios.sim.oracles import judge_prompt_decisions
from scenarios.spec.loader import parse_scenario

FOUR = ["USA", "MEX", "CAN", "CHN"]
VALIDATORS = ValidatorSet.equal(FOUR)
TIMEOUTS = TimeoutConfig(300, 100, 100, 50, 100, 50)


def commits_at(ticks: dict[str, list[int]]) -> dict[str, list[tuple[int, int]]]:
    """Each nation's commits of heights 1, 2, ... at the given ticks."""
    return {n: [(t, h) for h, t in enumerate(ts, start=1)] for n, ts in ticks.items()}


def judge(rounds, commits, correct=FOUR, byzantine=(), from_tick=0, delay=20, loss=0.0,
          timeouts=TIMEOUTS):
    return judge_prompt_decisions(rounds, commits, list(correct), tuple(byzantine), VALIDATORS,
                                  timeouts, from_tick, delay, loss)


def test_a_height_decided_after_its_first_correct_round_is_named_with_both_rounds():
    commits = commits_at({n: [100, 200] for n in FOUR})
    found = judge({1: 0, 2: 0, 3: 1}, commits)
    assert found.applies and found.judged == (1, 2, 3)
    (late,) = found.late
    assert late["kind"] == "prompt" and late["height"] == 3
    assert late["expected_round"] == 0 and late["decided_round"] == 1
    assert late["proposer"] == VALIDATORS.proposer(3, 0)


def test_a_round_whose_proposer_is_down_is_not_expected_to_decide():
    # Height 2's round-0 proposer is not among the correct nations: round 1 is expected.
    down = VALIDATORS.proposer(2, 0)
    up = [n for n in FOUR if n != down]
    commits = commits_at({n: [100] for n in up})
    assert judge({2: 1}, commits, correct=up).late == ()
    assert judge({2: 2}, commits, correct=up).late[0]["expected_round"] == 1


def test_timeouts_below_the_delays_move_the_expected_round_on():
    # Delay 150, entry spread 0 (counted as one delay, 150): timeout_propose(r) = 300 + 100r
    # must exceed 300 (r >= 1), timeout_prevote(r) = 100 + 50r must exceed 450 (r >= 8), and
    # timeout_precommit(r - 1) = 100 + 50(r - 1) must exceed 300 (r >= 6): round 8.
    commits = commits_at({n: [100] for n in FOUR})
    found = judge({2: 8}, commits, delay=150)
    assert found.judged == (2,) and found.late == ()
    assert judge({2: 9}, commits, delay=150).late[0]["expected_round"] == 8


def test_heights_entered_before_the_last_fault_or_by_part_of_the_nations_are_not_judged():
    commits = commits_at({"USA": [100, 900], "MEX": [100, 905], "CAN": [100, 910],
                          "CHN": [100]})
    # Height 2 was entered at tick 100 (before the fault ended at 500); height 3 was entered
    # by three of the four correct nations only.
    found = judge({2: 5, 3: 5}, commits, from_tick=500)
    assert found.applies and found.judged == () and found.late == ()


def test_it_says_why_it_does_not_apply():
    commits = commits_at({n: [100] for n in FOUR})
    byz = judge({2: 3}, commits, correct=FOUR[:3], byzantine=("CHN",))
    assert not byz.applies and "Byzantine" in byz.why and byz.late == ()
    lossy = judge({2: 3}, commits, loss=0.1)
    assert not lossy.applies and "lose" in lossy.why


def scenario(extra: str, ticks: int = 3000, expect: str = "") -> str:
    return f"""
[scenario]
name = "prompt"
seed = 5
ticks_max = {ticks}
{nations_toml(FOUR)}
{extra}
[workload]
txs_per_tick = 0.01
[expect]
liveness = "any"
{expect}
"""


def test_the_summary_carries_the_oracle_only_when_asked():
    plain = build_world(parse_scenario(scenario(""), "<t>")).run()
    assert plain.prompt_decisions is None and "prompt_decisions" not in plain.to_json()
    asked = build_world(parse_scenario(scenario("", expect="prompt_decisions = true"),
                                       "<t>")).run()
    assert asked.prompt_decisions["applied"] and asked.prompt_decisions["late"] == 0
    assert asked.prompt_decisions["heights_judged"] >= 10


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(nations=(4, 5), prompt=True))
def test_the_honest_protocol_decides_promptly_wherever_the_oracle_applies(drawn):
    summary = build_world(drawn).run()
    assert summary.prompt_decisions is not None
    assert not [v for v in summary.violations if v["kind"] in ("prompt", "accountability")], (
        summary.violations[:2])


# ---------------------------------------------------------------- crashes at protocol points

def crash(at: str, window: str = "from_tick = 300\nuntil_tick = 900\n") -> str:
    return f'[[behaviour]]\nnations = ["USA"]\nkind = "crash"\nparams = {{ at = "{at}" }}\n{window}'


def trace_of(text: str, tmp_path, name: str) -> tuple[list[str], object]:
    path = tmp_path / f"{name}.jsonl"
    summary = build_world(parse_scenario(text, "<t>"), trace_path=path).run()
    return path.read_text().splitlines(), summary


def test_each_point_strikes_once_at_its_protocol_point_and_the_node_restarts(tmp_path):
    import json
    for at in ("persist", "lock", "precommit"):
        lines, summary = trace_of(scenario(crash(at)), tmp_path, at)
        events = [json.loads(line) for line in lines]
        points = [e for e in events if e["ev"] == "crash_point"]
        assert len(points) == 1 and points[0]["at"] == at and points[0]["node"] == "USA"
        assert 300 <= points[0]["t"] < 900
        crashes = [e for e in events if e["ev"] == "crash" and e["node"] == "USA"]
        assert [c["t"] for c in crashes] == [points[0]["t"]]
        assert any(e["ev"] == "restart" and e["node"] == "USA" and e["t"] == 900 for e in events)
        assert summary.coverage["crash_point"] == 1 and summary.safety_ok


def test_a_crash_at_lock_loses_the_precommit_and_one_at_precommit_sends_it(tmp_path):
    import json
    for at, sent in (("lock", False), ("precommit", True)):
        lines, _ = trace_of(scenario(crash(at)), tmp_path, at)
        events = [json.loads(line) for line in lines]
        point = next(e for e in events if e["ev"] == "crash_point")
        precommits = [e for e in events if e["ev"] == "deliver" and e["src"] == "USA"
                      and e["kind"] == "precommit" and e["h"] == point["h"]
                      and e["r"] == point["r"] and e["t"] < 900]
        assert bool(precommits) is sent, (at, precommits)


def test_a_point_never_reached_in_its_window_is_no_crash(tmp_path):
    lines, summary = trace_of(scenario(crash("lock", "from_tick = 2990\nuntil_tick = 2995\n")),
                              tmp_path, "late")
    assert not any('"crash' in line for line in lines) and summary.coverage["crash_point"] == 0


def test_a_run_with_crash_points_replays_byte_for_byte(tmp_path):
    text = scenario(crash("persist") + "[network]\njitter_ticks = 30\nloss_probability = 0.05")
    first, a = trace_of(text, tmp_path, "a")
    second, b = trace_of(text, tmp_path, "b")
    assert first == second and a.trace_sha256 == b.trace_sha256
