"""The mutant benchmark: broken protocols, the adversaries that expose them, and the fuzzer's
power to kill them (scenarios/faults/mutants.py, scenarios/faults/adversaries.py, `chemtrace mutants`).

- every mutant is killed by a hand-picked scenario that the honest protocol passes;
- the fuzzer kills the quick mutants within a small budget, and only with scenarios the honest
  protocol passes (a differential kill);
- each adversary added for the mutants (forge_votes, forge_sync, fork) leaves honest nations
  safe, and live, below 1/3 of the power;
- the mutants' rules object (consensus/rules.py) is the honest replica when no rule is changed.

Timing is never asserted: budgets only bound how long a test may take.
"""

from __future__ import annotations

import json

import pytest

from helpers import nations_toml
from nodes import NodeHooks
from scenarios.assemble import build_world
from scenarios.sim.summary import RunSummary
from scenarios.spec.loader import parse_scenario
from scenarios.cli.main import main
from scenarios.faults.mutants import MUTANTS, Mutant
from scenarios.search.mutants import DifferentialJudge, run_benchmark
from scenarios.spec.schema import BEHAVIOURS, BYZANTINE_KINDS
from scenarios.search.strategies import liveness_window_ticks
from scenarios.search.fuzz import run_scenario
from nodes.node import VALIDITY_CHECKS
from scenarios.faults.adversaries import CERTIFICATE_MODES

FOUR = ["USA", "MEX", "CAN", "CHN"]
# In proposer order (ties go to the smaller code), CHN and GTM follow each other: a fork
# coalition of the two has a second proposer right after the first (lock_quorum_fake).
SEVEN = ["USA", "MEX", "CAN", "CHN", "IND", "PAN", "GTM"]


def scenario(nations: list[str], extra: str = "", ticks: int = 4000, live: int = 2500,
             seed: int = 1, workload: float = 0.01) -> str:
    # A window no longer than the run, so that the honest run's liveness is judged.
    return f"""
[scenario]
name = "mutant-killer"
seed = {seed}
ticks_max = {ticks}
{nations_toml(nations)}
{extra}
[workload]
txs_per_tick = {workload}
[expect]
liveness_ticks_max = {min(live, ticks)}
"""


def behaviour(nations: list[str], kind: str, params: str = "", window: str = "") -> str:
    listed = ", ".join(f'"{n}"' for n in nations)
    return (f'[[behaviour]]\nnations = [{listed}]\nkind = "{kind}"\n'
            + (f"params = {{ {params} }}\n" if params else "") + window)


def fork(nations: list[str], mode: str) -> str:
    return behaviour(nations, "fork", f'mode = "{mode}"')


# One scenario per mutant that kills it, and the kind of violation it must show.
KILLERS = {
    "quorum_2f": (scenario(FOUR, ticks=1500), "validity"),
    "no_locking": (scenario(FOUR, fork(["CHN"], "lock_quorum")), "agreement"),
    "unlock_on_higher_round": (scenario(SEVEN, fork(["CHN", "GTM"], "lock_quorum_fake")),
                               "agreement"),
    "ignore_valid_round": (scenario(FOUR, fork(["CHN"], "lock_one")), "liveness"),
    "no_signature_check": (scenario(FOUR, behaviour(["CHN"], "forge_votes"), ticks=1500),
                           "validity"),
    "commit_on_prevotes": (scenario(FOUR, fork(["CHN"], "prevote_victim")), "agreement"),
    "proposer_ignores_lock": (scenario(FOUR, fork(["CHN"], "lock_one")), "liveness"),
    "timeouts_never_grow": (scenario(FOUR, "[network]\nlatency_ticks = 320\njitter_ticks = 10",
                                     ticks=8000, live=4000), "liveness"),
    "sync_without_certificate": (scenario(FOUR, behaviour(["CHN"], "forge_sync"), ticks=1500),
                                 "validity"),
    # A propose timeout just below the message delay, and a prevote timeout of 5 ticks, in
    # round 0 (both grow past the delays by round 1): some nations prevote nil, and some see
    # round 0's polka only after precommitting nil. As the next proposer the honest one
    # proposes that value again; the mutant proposes a fresh one, the nations locked on the
    # polka refuse it, and a round whose proposer is correct is lost, which only the
    # first-correct-proposer oracle notices (1 in 165 random draws of this shape killed it).
    "valid_value_only_while_prevoting": (scenario(
        FOUR, "[network]\nlatency_ticks = 37\njitter_ticks = 18\n[consensus]\n"
        "timeout_propose_base_ticks = 27\ntimeout_propose_delta_ticks = 131\n"
        "timeout_prevote_base_ticks = 5\ntimeout_prevote_delta_ticks = 131\n"
        "timeout_precommit_base_ticks = 165\ntimeout_precommit_delta_ticks = 131",
        ticks=6000, live=6000, seed=549).replace("[expect]", "[expect]\nprompt_decisions = true"),
        "prompt"),
    # USA crashes just after a precommit of its own, MEX just after writing its record: the
    # mutant comes back at the propose step of that round and votes in it again, otherwise.
    "restart_forgets_step": (scenario(
        FOUR, behaviour(["USA"], "crash", 'at = "precommit"', "from_tick = 354\nuntil_tick = 544\n")
        + behaviour(["MEX"], "crash", 'at = "persist"', "from_tick = 713\nuntil_tick = 875\n")
        + "[network]\nlatency_ticks = 71\njitter_ticks = 14\n[consensus]\n"
        "timeout_propose_base_ticks = 64", ticks=5000, live=3500, seed=717), "accountability"),
    # USA holds 3 of 6: the three light nations are a head count's quorum, not the power's.
    "quorum_counts_nations": (scenario(FOUR, ticks=1500).replace(
        'id = "USA"\n', 'id = "USA"\npower = 3\n'), "validity"),
    # USA is down for good: every fourth height has it as round 0's proposer.
    "proposer_ignores_round": (scenario(FOUR, behaviour(["USA"], "crash")), "liveness"),
    "no_precommit_timeout": (scenario(FOUR, "[network]\nloss_probability = 0.3", ticks=6000,
                                      live=4000), "liveness"),
    "no_cert_signature_check": (scenario(FOUR, behaviour(["CHN"], "forge_sync"), ticks=1500),
                                "validity"),
    "no_cert_power_check": (scenario(FOUR, behaviour(["CHN"], "forge_sync",
                                                     'certificate = "own"'), ticks=1500),
                            "validity"),
}
# Each check of valid() removed, against the invalid_block adversary breaking that check. The
# ledger itself refuses a block on the wrong previous hash: the run stops with an exception,
# which the fuzzer counts as a failure.
VALIDITY_VIOLATION = {"prev_hash": "exception", "committed_tx": "integrity"}
for _check in VALIDITY_CHECKS:
    KILLERS[f"no_{_check}_check"] = (
        scenario(FOUR, behaviour(["CHN"], "invalid_block", f'check = "{_check}"'), ticks=3000,
                 workload=0.05),
        VALIDITY_VIOLATION.get(_check, "validity"))


def run(text: str, honest_hooks: type[NodeHooks] | None = None) -> RunSummary:
    """The run's summary; one that raised is a failure of kind "exception", as in the fuzzer."""
    return run_scenario(parse_scenario(text, "<test>"), honest_hooks)


def kinds(summary: RunSummary) -> set[str]:
    return {v["kind"] for v in summary.violations if not v["expected"]}


# ---------------------------------------------------------------------- the mutants


def test_at_least_nine_mutants_each_hooks_with_a_name_and_a_one_line_description():
    assert len(MUTANTS) >= 9
    assert set(KILLERS) == set(MUTANTS)
    for name, cls in MUTANTS.items():
        assert issubclass(cls, NodeHooks) and cls.name == name
        assert cls.description and "\n" not in cls.description and len(cls.description) < 100


@pytest.mark.parametrize("text", [
    scenario(FOUR, fork(["CHN"], "cycle"), ticks=6000),
    scenario(SEVEN, behaviour(["CAN", "CHN"], "equivocate", 'mode = "split"'), ticks=3000),
    scenario(FOUR, '[[partition]]\ngroups = [["USA", "MEX"]]\nfrom_tick = 300\n'
             'until_tick = 1500\n[network]\nloss_probability = 0.1', ticks=4000),
], ids=["fork", "equivocate-split", "partition-loss"])
def test_the_rules_object_of_the_mutants_is_the_honest_replica(text):
    """With no judgement overridden, a replica given `consensus.rules.Rules()` gives the honest
    trace, byte for byte: a kill always comes from the mutation, never from a slip in the seam."""
    honest, copy = run(text), run(text, Mutant)
    assert copy.trace_sha256 == honest.trace_sha256
    assert honest.heights_committed > 3


@pytest.mark.parametrize("name", sorted(KILLERS))
def test_a_hand_picked_scenario_kills_each_mutant_and_the_honest_protocol_passes_it(name):
    text, violation = KILLERS[name]
    honest = run(text)
    assert honest.expect_ok, (honest.violations, honest.liveness)
    mutant = run(text, MUTANTS[name])
    assert not mutant.expect_ok
    assert violation in kinds(mutant), mutant.violations[:3]


def test_a_propose_timeout_below_the_message_delay_kills_timeouts_never_grow():
    """The shape the strategies draw for this mutant (SHORT_PROPOSE_ODDS): a propose timeout
    inside their range, below the shortest message delay, and the liveness window they give
    it. No proposal arrives within the mutant's fixed timeout, so it never commits; the honest
    timeouts grow past the delay and it commits every height."""
    consensus = {"timeout_propose_base_ticks": 100}
    window = liveness_window_ticks(150, 20, consensus)
    text = scenario(FOUR, "[network]\nlatency_ticks = 150\njitter_ticks = 20\n"
                    "[consensus]\ntimeout_propose_base_ticks = 100", ticks=window,
                    live=window).replace("[expect]", "[expect]\nliveness_heights = 5")
    honest = run(text)
    assert honest.expect_ok and honest.heights_committed >= 5, honest.liveness
    mutant = run(text, MUTANTS["timeouts_never_grow"])
    assert not mutant.expect_ok and mutant.heights_committed == 0
    assert "liveness" in kinds(mutant)


# ---------------------------------------------------------------------- the fuzzer kills them

QUICK = ["quorum_2f", "no_signature_check", "commit_on_prevotes", "sync_without_certificate"]


def test_the_fuzzer_kills_the_quick_mutants_within_a_small_budget():
    # Seed 0 kills them after 1 to about 80 scenarios; the budget (each mutant stops at its
    # first kill) leaves room for a machine shared with other work, where that is 40 s.
    result = run_benchmark(60.0, seed=0, names=QUICK, honest=False, shrink_budget_s=2.0)
    assert result["fuzzer"] == "scenarios.search.fuzz" and result["differential"]
    rows = {r["mutant"]: r for r in result["mutants"]}
    for name in QUICK:
        row = rows[name]
        assert row["killed"], f"{name} survived {row['scenarios_run']} scenarios"
        assert row["shrunk"]["toml_lines"] > 0 and row["counterexample"]
        # the shrunk counterexample still tells the mutant from the honest protocol
        counterexample = parse_scenario(row["counterexample"], "<counterexample>")
        assert not build_world(counterexample, MUTANTS[name]).run().expect_ok
        assert build_world(counterexample).run().expect_ok


def test_a_scenario_the_honest_protocol_fails_too_does_not_kill_a_mutant():
    both_fail = scenario(FOUR, ticks=1500).replace("[expect]", "[expect]\nsafety = false")
    s = parse_scenario(both_fail, "<test>")
    failed = build_world(s, MUTANTS["no_locking"]).run()
    assert not failed.expect_ok
    judge = DifferentialJudge(None)
    summary = judge(s, failed)
    assert summary.expect_ok and summary.reference_failed
    assert judge.reference_failures == 1


def test_chemtrace_mutants_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "mutants.json"
    # The CLI's table and JSON, on two mutants the fuzzer kills in its first scenarios; how fast
    # each mutant dies is measured by test_the_fuzzer_kills_the_quick_mutants_within_a_small_budget.
    code = main(["mutants", "--budget-s", "20", "--shrink-s", "2", "--only",
                 "quorum_2f,commit_on_prevotes", "--no-honest", "--json-file", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "quorum_2f" in printed and "commit_on_prevotes" in printed
    data = json.loads(out.read_text())
    assert data["killed"] == data["total"] == 2 and data["all_killed"]
    for row in data["mutants"]:
        assert {"mutant", "killed", "seconds_to_kill", "scenarios_run", "shrunk",
                "counterexample", "violation", "shrink_seconds"} <= set(row)
        # the progress line and the table give the same time to kill
        to_kill = f"{row['seconds_to_kill']:.1f}"
        assert (f"{row['mutant']}: killed after {row['scenarios_run']} scenario(s), "
                f"{to_kill} s to kill, then {row['shrink_seconds']:.1f} s shrinking") in printed
        table_row = next(line for line in printed.splitlines()
                         if line.startswith("│ " + row["mutant"] + " "))
        assert table_row.split("│")[3].strip() == to_kill


def test_chemtrace_mutants_json_is_the_result_on_stdout(tmp_path, capsys):
    file = tmp_path / "m.json"
    assert main(["mutants", "--budget-s", "20", "--shrink-s", "1", "--only", "quorum_2f",
                 "--no-honest", "--json", "--json-file", str(file)]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == json.loads(file.read_text())
    assert "quorum_2f: killed after" in printed.err and "mutant benchmark" not in printed.err


def test_shrinking_stops_at_its_budget():
    """`--shrink-s` is honoured: shrinking no_locking's kill takes about 15 s; with
    half a second it overruns by one scenario's run at most."""
    from scenarios.search.fuzz import fuzz
    # Seed 2 kills it after 23 scenarios.
    result = fuzz(60.0, 2, nations=(4, 7), honest_hooks=MUTANTS["no_locking"],
                  max_scenarios=40, shrink_budget_s=0.5, judge=DifferentialJudge(None))
    assert result.failed and result.found_after <= 40
    assert result.shrink_seconds < 0.5 + 8, result.shrink_seconds


def test_chemtrace_mutants_rejects_an_unknown_mutant(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mutants", "--only", "no_such_mutant"])
    assert exc.value.code == 2
    assert "no_such_mutant" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["mutants", "fuzz"])
@pytest.mark.parametrize("nations", ["0..3", "2..3", "3", "4..11", "4..999", "7..4", "four"])
def test_drawing_commands_refuse_a_nation_range_the_strategies_cannot_draw(command, nations,
                                                                        capsys):
    # One parser for both commands, bounded by what scenarios.search.strategies can draw, so the
    # error comes from argparse, naming the flag, before any search starts.
    with pytest.raises(SystemExit) as exc:
        main([command, "--nations", nations])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--nations" in err and nations in err


# ---------------------------------------------------------------------- the adversaries


def test_the_new_adversaries_are_byzantine_kinds_the_strategies_draw():
    for kind in ("forge_votes", "forge_sync", "fork"):
        assert kind in BEHAVIOURS and kind in BYZANTINE_KINDS


def safe_and_live(summary: RunSummary) -> None:
    assert summary.byzantine_power_fraction < 1 / 3
    assert summary.safety_ok, summary.violations[:3]
    assert summary.liveness_ok, summary.liveness
    assert summary.heights_committed >= 5


@pytest.mark.parametrize("nations,byzantine", [(FOUR, ["CHN"]), (SEVEN, ["CHN", "GTM"])],
                         ids=["4", "7"])
def test_forged_votes_are_dropped_by_honest_nations(nations, byzantine):
    s = run(scenario(nations, behaviour(byzantine, "forge_votes"), ticks=3000))
    safe_and_live(s)
    # The forgeries reached them and were refused for their signatures.
    assert s.dropped_by_reason.get("bad_signature", 0) > 0


@pytest.mark.parametrize("certificate", CERTIFICATE_MODES)
@pytest.mark.parametrize("nations,byzantine", [(FOUR, ["CHN"]), (SEVEN, ["CHN", "GTM"])],
                         ids=["4", "7"])
def test_forged_sync_answers_are_dropped_by_honest_nations(nations, byzantine, certificate):
    # A crash makes a nation catch up by state sync, from peers that include the forger.
    crash = behaviour(["USA"], "crash", "wipe = true", "from_tick = 400\nuntil_tick = 1400\n")
    s = run(scenario(nations, behaviour(byzantine, "forge_sync", f'certificate = "{certificate}"')
                     + crash, ticks=5000, live=3000))
    safe_and_live(s)
    assert s.dropped_by_reason.get("bad_certificate", 0) > 0


@pytest.mark.parametrize("mode", ["cycle", "lock_quorum", "lock_quorum_fake", "prevote_victim",
                                  "lock_one"])
@pytest.mark.parametrize("nations,byzantine", [(FOUR, ["CHN"]), (SEVEN, ["CHN", "GTM"])],
                         ids=["4", "7"])
def test_a_fork_coalition_below_a_third_cannot_split_honest_nations(nations, byzantine, mode):
    s = run(scenario(nations, fork(byzantine, mode), ticks=6000, live=3000))
    safe_and_live(s)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fork_coalition_with_loss_and_a_window_leaves_honest_nations_safe_and_live(seed):
    window = "from_tick = 200\nuntil_tick = 2500\n"
    s = run(scenario(SEVEN, behaviour(["CHN", "GTM"], "fork", "", window)
                     + "[network]\nloss_probability = 0.1\njitter_ticks = 15",
                     ticks=9000, live=5000, seed=seed))
    safe_and_live(s)


def test_a_fork_coalition_with_a_quorum_of_its_own_plans_nothing_and_does_not_crash():
    """Found by `chemtrace fuzz --byzantine third`: CAN and CHN hold 5 of 7 (a quorum), so no
    honest nation is left for the group H1 of a split; planning one raised ValueError."""
    text = scenario(FOUR, behaviour(["CAN", "CHN"], "fork", "", "until_tick = 1212\n"),
                    ticks=2700).replace('id = "CHN"\n', 'id = "CHN"\npower = 4\n')
    text = text.replace("[expect]\n", '[expect]\nsafety = "any"\nliveness = "any"\n')
    s = run(text)
    # The run goes on to its end (the coalition may fork the honest nations: it has a quorum);
    # when the ValueError came back it raised at the first plan.
    assert s.exception is None and s.ticks_run == 2700
    assert s.byzantine_power_fraction >= 1 / 3 and s.heights_committed >= 5


def test_the_benchmark_budget_is_in_scenarios_by_default_and_repeats_on_two_workers(capsys):
    """With no --budget-s the budget is --max-scenarios per mutant (default 1000): one seed gives
    one table on any machine. --workers 2 finds the same first kill."""
    rows = []
    for workers in ("1", "2"):
        assert main(["mutants", "--max-scenarios", "60", "--shrink-s", "1", "--only",
                     "quorum_2f", "--no-honest", "--workers", workers, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["budget_s"] is None and data["max_scenarios"] == 60
        rows.append(data["mutants"][0])
    assert rows[0]["killed"] and rows[1]["killed"]
    assert rows[0]["scenarios_run"] == rows[1]["scenarios_run"]
