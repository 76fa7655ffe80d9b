"""The scenario library: every file loads, says what question it answers, runs with its
`[expect]` holding, and shows the effect its header promises; `chemtrace list` shows them all.

Each library file is run once, in-process, with its own seed and ticks_max (none needs a
shorter run: the slowest, diversions.toml and baseline.toml, take about 10 s and 5 s), and the
result is shared by the tests below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import LIBRARY

from scenarios.assemble import build_world
from scenarios.sim.world import World
from scenarios.sim.summary import RunSummary
from scenarios.spec.loader import load_scenario, parse_scenario
from scenarios.cli.library import library_question
from scenarios.cli.main import main

TOML_FILES = sorted(LIBRARY.glob("*.toml"))
ONE_THIRD = 1 / 3


class Run:
    """One finished run of a library file: the world (for its nodes and storage), the summary,
    and the trace on disk."""

    def __init__(self, world: World, summary: RunSummary, trace: Path) -> None:
        self.world, self.summary, self.trace_path = world, summary, trace
        self.domain = summary.domain

    def trace(self, ev: str | None = None) -> list[dict]:
        lines = (json.loads(line) for line in self.trace_path.read_text().splitlines())
        return [r for r in lines if ev is None or r["ev"] == ev]


_RUNS: dict[str, Run] = {}
# Scale runs take minutes in full (docs/performance.md times them); the suite runs their first
# ticks, which still exercise everything they set up.
SHORTENED_TICKS = {"global-day.toml": 250}


@pytest.fixture(scope="module")
def run_of(tmp_path_factory):
    def get(name: str) -> Run:
        if name not in _RUNS:
            out = tmp_path_factory.mktemp(name.removesuffix(".toml"))
            scenario = load_scenario(LIBRARY / name)
            if name in SHORTENED_TICKS:
                scenario = scenario.with_overrides(ticks_max=SHORTENED_TICKS[name])
            world = build_world(scenario, trace_path=out / "trace.jsonl")
            _RUNS[name] = Run(world, world.run(), out / "trace.jsonl")
        return _RUNS[name]
    return get


# ---------------------------------------------------------------- the promised effects

def _baseline(r: Run) -> None:
    assert r.domain["traced_complete_pct"] == 100.0 and r.domain["false_flags"] == 0
    assert r.summary.heights_committed > 200


def _crash_one_of_four(r: Run) -> None:
    assert r.summary.heights_committed > 10
    assert r.world.commits["CAN"] == []


def _crash_two_of_four(r: Run) -> None:
    assert r.summary.heights_committed == 0 and r.summary.safety_ok
    assert [v["kind"] for v in r.summary.violations] == ["liveness"]


def _synced_after_restart(r: Run, nation: str, wipe: bool) -> None:
    restart = [e for e in r.trace("restart") if e["node"] == nation]
    assert len(restart) == 1 and restart[0]["wipe"] is wipe
    after = [e for e in r.trace("decide") if e["node"] == nation and e["t"] >= restart[0]["t"]]
    assert any(e["via"] == "sync" for e in after)
    assert any(e["via"] == "consensus" for e in after)
    assert r.summary.evidence == [] and r.summary.safety_ok


def _crash_restart(r: Run) -> None:
    _synced_after_restart(r, "MEX", wipe=False)


def _partition_heals(r: Run) -> None:
    assert any(e["node"] == "CHN" and e["via"] == "sync" and e["t"] >= 3000
               for e in r.trace("decide"))


def _diversions(r: Run) -> None:
    rates = r.domain["detection_rate_by_kind"]
    assert set(rates) == {"under_report", "false_origin", "undeclared_transit", "dark_hop",
                          "overdue", "unregistered", "yield_exceeded"}
    assert r.domain["false_flags"] == 0 and r.domain["detection_rate"] > 0.9


def _opt_out_hub(r: Run) -> None:
    d = r.domain
    assert r.summary.nations_opted_out == ["PAN"]
    assert d["traced_complete_pct"] < 100 and d["dark_kg"] > 0
    assert d["coverage_gap_flags"] > 0 and d["false_flags"] == 0
    assert d["flags_by_kind"]["dark_hop"] == d["coverage_gap_flags"]
    assert [o["nation"] for o in d["route_nations_outside_consortium"]] == ["PAN"]
    assert "PAN" not in r.world.nations


def _corrupt_customs(r: Run) -> None:
    d = r.domain
    injected = d["diversions_injected"]["false_report"]
    assert injected > 0 and d["diversions_flagged"]["false_report"] == injected
    assert d["flags_by_kind"]["discrepancy"] == injected
    assert d["leaked_kg"] == 0 and d["false_flags"] == 0


def _corrupt_exporter(r: Run) -> None:
    d = r.domain
    assert d["diversions_injected"]["false_report"] > 0
    assert d["diversions_flagged"]["false_report"] == 0
    assert sum(d["flags_by_kind"].values()) == 0 and d["rejections_by_reason"] == {}
    assert d["leaked_kg"] > 0 and d["false_flags"] == 0


def _false_origin(r: Run) -> None:
    d = r.domain
    assert d["diversions_injected"]["false_origin"] == 10
    assert d["detection_rate_by_kind"] == {"false_origin": 1.0}
    assert d["rejections_by_reason"] == {"unknown_lot": 10, "unknown_shipment": 10}
    assert d["leaked_kg"] == 0 and d["false_flags"] == 0


def _unscheduled_precursor(r: Run) -> None:
    d = r.domain
    assert d["flags_by_kind"]["unregistered"] == 10
    assert d["detection_rate_by_kind"] == {"unregistered": 1.0}
    assert d["rejections_by_reason"] == {}  # flagged, not refused: no rule forbids it
    # Licit trade is whole; the unregistered shipments are reported apart, as diversions.
    assert d["traced_complete_pct"] == 100.0 and d["false_flags"] == 0
    assert d["licit_shipments"] == 100


def _transshipment_non_member(r: Run) -> None:
    d = r.domain
    assert "HKG" not in r.world.nations
    assert [o["nation"] for o in d["route_nations_outside_consortium"]] == ["HKG"]
    assert d["traced_complete_pct"] < 100 and d["coverage_gap_flags"] > 0
    assert d["diversions_injected"]["dark_hop"] == 20
    assert d["detection_rate_by_kind"]["dark_hop"] < 1 and d["false_flags"] == 0


def _collusion(r: Run) -> None:
    d = r.domain
    assert d["diversions_injected"]["collusion"] > 0
    assert d["diversions_flagged"]["collusion"] == 0
    assert d["leaked_kg"] > 0 and d["false_flags"] == 0
    assert sum(d["flags_by_kind"].values()) == 0


def _withhold_objection(r: Run) -> None:
    d = r.domain
    assert d["shipped_on_silence"] > 0 and d["blocked_by_silence"] == 0  # consent: they move
    assert d["traced_complete_pct"] == 100.0 and d["rejections_by_reason"] == {}
    replies = [e for e in r.trace("file") if e["kind"] == "pen_reply"]
    assert replies and all(e["node"] != "MEX" for e in replies)


def _equivocate_f(r: Run) -> None:
    s = r.summary
    assert s.byzantine_power_fraction < ONE_THIRD and s.safety_ok
    assert {e["nation"] for e in s.evidence} == {"CHN", "IND"}
    for liar in ("CHN", "IND"):  # named by an honest witness, not only by the other liar
        assert any(e["nation"] == liar and e["seen_by"] not in ("CHN", "IND")
                   for e in s.evidence)


def _equivocate_f_plus_1(r: Run) -> None:
    s = r.summary
    assert s.byzantine_power_fraction >= ONE_THIRD
    agreement = [v for v in s.violations if v["kind"] == "agreement"]
    assert agreement and all(v["expected"] is True for v in agreement)
    assert s.unexpected_violations is False and not s.safety_ok


def _crash_wipe(r: Run) -> None:
    _synced_after_restart(r, "MEX", wipe=True)
    restart = next(e for e in r.trace("restart") if e["node"] == "MEX")
    assert restart["height"] == 0
    # The empty node fetched the chain again from height 1.
    assert any(t >= restart["t"] and h == 1 for t, h in r.world.commits["MEX"])
    heights = {n: len(r.world.storage[n].blocks) for n in r.world.nations}
    assert max(heights.values()) - heights["MEX"] <= 2


def _twins(r: Run) -> None:
    s = r.summary
    assert s.byzantine_nations == ["CHN"] and s.safety_ok
    assert r.world.sent_by_nation.get("CHN~", 0) > 0 and r.world.sent_by_nation["CHN"] > 0


def _censor(r: Run) -> None:
    by_proposer: dict[str, set[str]] = {}
    for committed in r.world.storage["USA"].blocks:
        block = committed.block
        by_proposer.setdefault(block.proposer, set()).update(tx.signer for tx in block.txs)
    assert by_proposer["CHN"] and "MEX" not in by_proposer["CHN"]
    assert any("MEX" in signers for p, signers in by_proposer.items() if p != "CHN")
    assert r.domain["traced_complete_pct"] == 100.0


def _amnesia(r: Run) -> None:
    s = r.summary
    assert s.byzantine_nations == ["CHN"] and s.safety_ok and s.evidence == []
    assert r.world.nodes["CHN"].replica.locked_round == -1


def _mute(r: Run) -> None:
    s = r.summary
    assert s.byzantine_nations == ["CHN"] and r.world.suppressed > 0
    heard = [e["t"] for e in r.trace("deliver") if e["src"] == "CHN"]
    assert not [t for t in heard if 1100 <= t < 4000]  # in-flight messages land by then
    assert [t for t in heard if t >= 4000]


def _invalid_signature(r: Run) -> None:
    assert r.summary.dropped_by_reason.get("bad_signature", 0) > 0
    assert r.summary.safety_ok


def _mutate(r: Run) -> None:
    s = r.summary
    assert s.safety_ok and s.liveness_ok and s.byzantine_nations == ["CHN"]
    assert s.evidence and {e["nation"] for e in s.evidence} == {"CHN"}
    assert "bad_signature" not in s.dropped_by_reason  # re-signed, not corrupted


def _delay(r: Run) -> None:
    first_heard = {}
    for e in r.trace("deliver"):
        first_heard.setdefault(e["src"], e["t"])
    # CHN speaks from tick 0 like everyone, but nothing it sends lands before tick 400.
    assert first_heard["CHN"] >= 400
    assert max(t for n, t in first_heard.items() if n != "CHN") < 100
    assert r.summary.liveness_ok and r.summary.heights_committed > 10


def _weak_link_study(r: Run) -> None:
    d = r.domain  # the all-cooperating reference of the weak-link study
    assert d["traced_complete_pct"] == 100.0 and d["false_flags"] == 0
    assert d["route_nations_outside_consortium"] == []


def _illicit_mix(r: Run) -> None:
    d = r.domain
    injected, flagged = d["diversions_injected"], d["diversions_flagged"]
    assert d["illicit"]["attempts"] == 20 + 10 + 10 + 5 + 5 * 4  # a split order is four parts
    assert d["false_flags"] == 0 and d["traced_complete_pct"] == 100.0
    # Split orders above the front's stated need meet objections; a front within its need and
    # the corrupt exporter's under-declarations are nearly invisible at a 5% budget.
    assert flagged["split"] == d["pen_objections"]["illicit"] > 0
    assert flagged["front_company"] == 0 and injected["false_report"] > flagged["false_report"]
    assert d["flags_by_kind"]["unrecorded_cargo"] == flagged["smuggle"] + flagged["mislabel"]
    assert d["inspections"]["count"] > 0 and d["leaked_kg"] > d["illicit"]["seized_kg"]
    assert d["missed_count"] == sum(injected.values()) - sum(flagged.values())


def _scheduling_rounds(r: Run) -> None:
    d = r.domain
    years = d["substitutes_kg_by_year"]
    assert sorted(years) == [str(y) for y in range(2015, 2027)]
    # Traffickers switch away from each chemical once it is scheduled (Table I: NPP and 4-ANPP
    # October 2017, 4-AP group November 2022, piperidones December 2024) or controlled at
    # either end of the lane, and the unregistered substitute never stops.
    for year, chemicals in years.items():
        if int(year) >= 2018:
            assert not {"npp", "4-anpp"} & set(chemicals), year
        if int(year) >= 2023:
            assert not {"4-ap", "1-boc-4-ap", "norfentanyl"} & set(chemicals), year
        if int(year) >= 2025:
            assert not {"4-piperidone", "1-boc-4-piperidone"} & set(chemicals), year
    ketal = [y for y, c in years.items() if "4-piperidone ethylene ketal" in c]
    assert len(ketal) >= 9 and {"2025", "2026"} <= set(ketal)  # 1 of 3 free choices by then
    assert "npp" in years["2015"] and "4-piperidone" in years["2024"]
    # Only the unregistered substitute is ever recorded (customs, watched HS code).
    assert d["flags_by_kind"]["unregistered"] == d["diversions_flagged"]["pre_precursor"] > 0
    assert d["diversions_flagged"]["smuggle"] == 0 and d["false_flags"] == 0


def _live_four(r: Run) -> None:
    # The simulated answer; tests/live/test_live_cluster.py runs the same file on live nodes.
    s, d = r.summary, r.domain
    assert s.safety_ok and s.liveness_ok and s.heights_committed > 50
    assert d["shipments"] == 12 and d["false_flags"] == 0
    # Every licit kilogram is traced but what the default lanes route through hubs outside the
    # four (HKG, SGP, GTM, PAN).
    assert d["traced_complete_pct"] == pytest.approx(
        100 * (d["licit_kg"] - d["dark_kg"]) / d["licit_kg"], abs=0.01)


# The live versions (tests/live/test_live_byzantine.py and test_live_compare.py run them on
# live processes); here, what each promises in the simulated world.


def _live_equivocate(r: Run) -> None:
    s = r.summary
    assert s.safety_ok and s.liveness_ok and {e["nation"] for e in s.evidence} == {"CHN"}
    assert all(e["seen_by"] != "CHN" for e in s.evidence)


def _live_censor(r: Run) -> None:
    by_proposer: dict[str, set[str]] = {}
    for committed in r.world.storage["USA"].blocks:
        by_proposer.setdefault(committed.block.proposer, set()).update(
            tx.signer for tx in committed.block.txs)
    assert by_proposer["CHN"] and "MEX" not in by_proposer["CHN"]
    assert any("MEX" in signers for p, signers in by_proposer.items() if p != "CHN")
    assert r.summary.liveness_ok


def _live_lossy_link(r: Run) -> None:
    s = r.summary
    assert s.liveness_ok and s.dropped_by_reason["loss"] > 100 and s.heights_committed > 20


def _live_partition(r: Run) -> None:
    assert any(e["node"] == "CHN" and e["via"] == "sync" and e["t"] >= 2500
               for e in r.trace("decide"))
    assert r.summary.liveness_ok


def _global_day(r: Run) -> None:
    s = r.summary  # the first 250 ticks: 193 nations, big blocks, shipments under way
    assert s.nations == 193 and s.heights_committed >= 2
    assert s.txs_committed > 20_000 and s.safety_ok
    assert r.domain["shipments"] == 20_000


def _opt_out_privacy(r: Run) -> None:
    """Under plaintext (the file as it is) Panama stays out; under lane-private it joins."""
    d = r.domain
    assert r.summary.nations_opted_out == ["PAN"] and d["traced_complete_pct"] < 100
    assert d["diversions_flagged"]["under_report"] == d["diversions_injected"]["under_report"] == 8
    s = _variant("opt-out-privacy.toml", "[expect]",
                 '[privacy]\nmode = "lane-private"\n\n[expect]')
    assert s.nations_opted_out == [] and s.domain["traced_complete_pct"] == 100.0
    assert s.domain["privacy"]["mode"] == "lane-private" and s.domain["false_flags"] == 0


def _investigation(r: Run) -> None:
    """Canada, the oversight role, holds the trails of the flagged shipments and no other."""
    d, private = r.domain, r.world.workload.private
    flagged = {p.id for p in r.world.workload.plans if p.diversion == "under_report"}
    assert d["diversions_flagged"]["under_report"] == len(flagged) == 3
    assert private.granted["CAN"] == flagged and d["privacy"]["openings_rejected"] == {}
    held = {e.split("-")[0] for e in private.stores["CAN"] if not e.startswith("register-")}
    assert held == flagged and d["privacy"]["records_disclosed"] >= 3 * 4
    # each flag rests on a lane member's signed verdict, each trail on a grant on the chain
    assert d["privacy"]["flags_on_signed_verdicts"] == {"discrepancy": 3}
    assert d["privacy"]["grants"]["accepted"] == 3


def _live_lane_private(r: Run) -> None:
    # The simulated answer; tests/live/test_live_private.py runs it on live nodes, its records
    # over per-recipient topics.
    s, d, private = r.summary, r.domain, r.world.workload.private
    assert s.safety_ok and s.liveness_ok and d["false_flags"] == 0
    assert d["privacy"]["openings_rejected"] == {} and d["privacy"]["records_delivered"] > 40
    outside = {e for e, env in private.envelopes.items() if "CAN" not in env.lane}
    assert outside and not outside & set(private.stores["CAN"])
    for (nation, event_id) in private.opened:
        assert nation in private.envelopes[event_id].lane


EFFECTS = {
    "live-lane-private.toml": _live_lane_private,
    "opt-out-privacy.toml": _opt_out_privacy,
    "investigation.toml": _investigation,
    "live-four.toml": _live_four,
    "live-equivocate.toml": _live_equivocate,
    "live-censor.toml": _live_censor,
    "live-lossy-link.toml": _live_lossy_link,
    "live-partition.toml": _live_partition,
    "baseline.toml": _baseline,
    "illicit-mix.toml": _illicit_mix,
    "scheduling-rounds.toml": _scheduling_rounds,
    "global-day.toml": _global_day,
    "weak-link-study.toml": _weak_link_study,
    "crash-one-of-four.toml": _crash_one_of_four,
    "crash-two-of-four.toml": _crash_two_of_four,
    "crash-restart.toml": _crash_restart,
    "partition-heals.toml": _partition_heals,
    "diversions.toml": _diversions,
    "opt-out-hub.toml": _opt_out_hub,
    "corrupt-customs.toml": _corrupt_customs,
    "corrupt-exporter.toml": _corrupt_exporter,
    "false-origin.toml": _false_origin,
    "unscheduled-precursor.toml": _unscheduled_precursor,
    "transshipment-non-member.toml": _transshipment_non_member,
    "collusion.toml": _collusion,
    "withhold-objection.toml": _withhold_objection,
    "equivocate-f.toml": _equivocate_f,
    "equivocate-f-plus-1.toml": _equivocate_f_plus_1,
    "crash-wipe.toml": _crash_wipe,
    "twins.toml": _twins,
    "censor.toml": _censor,
    "amnesia.toml": _amnesia,
    "mute.toml": _mute,
    "invalid-signature.toml": _invalid_signature,
    "delay.toml": _delay,
    "mutate.toml": _mutate,
}


# ---------------------------------------------------------------- the tests

@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: p.name)
def test_library_file_loads_and_states_its_question(path: Path):
    scenario = load_scenario(path)
    assert path.read_text().startswith("# Question:")
    assert "?" in library_question(path)
    assert scenario.ticks_max <= 30_000
    assert path.stem == scenario.name


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: p.name)
def test_library_file_meets_its_expectation_and_shows_its_effect(path: Path, run_of):
    run = run_of(path.name)
    if path.name in SHORTENED_TICKS:
        # Cut short here, the run ends before its liveness window: it cannot meet an [expect]
        # that asks for liveness, and says so rather than claim "ok".
        assert run.summary.liveness_verdict == "not judged", run.summary.liveness
        assert run.summary.expect_ok is False and run.summary.safety_ok
    else:
        assert run.summary.expect_ok is True, run.summary.violations[:3]
    assert run.summary.unexpected_violations is False
    check = EFFECTS.get(path.name)
    assert check is not None, f"add a check of what {path.name}'s header promises to EFFECTS"
    check(run)


# Adversaries built for the fuzzer and the mutant benchmark: harmless to the honest protocol by
# design, so a library scenario would show nothing; tests/scenarios/test_mutants.py and tests/scenarios/test_fuzz.py
# show what each does.
FUZZING_ADVERSARIES = {"mutate", "forge_votes", "forge_sync", "fork", "invalid_block"}


def test_every_behaviour_kind_has_a_library_scenario():
    from scenarios.spec.schema import BEHAVIOUR_KINDS
    used = {b.kind for p in TOML_FILES for b in load_scenario(p).behaviours}
    assert used >= set(BEHAVIOUR_KINDS) - FUZZING_ADVERSARIES


# The one-line changes the headers offer, made and run.

def _variant(name: str, old: str, new: str) -> RunSummary:
    text = (LIBRARY / name).read_text()
    old, new = f"\n{old}\n", f"\n{new}\n"  # the whole line, not the header's mention of it
    assert text.count(old) == 1, f"{name} no longer has the line {old.strip()!r}"
    return build_world(parse_scenario(text.replace(old, new), name)).run()


def test_opt_out_hub_one_line_change_asks_about_another_hub():
    s = _variant("opt-out-hub.toml", 'nations = ["PAN"]', 'nations = ["GTM"]')
    assert s.nations_opted_out == ["GTM"]
    assert 0 < s.domain["coverage_gap_flags"] and s.domain["traced_complete_pct"] < 100


def test_withhold_objection_with_silence_as_block_rejects_the_shipments():
    s = _variant("withhold-objection.toml", 'pen_silence = "consent"', 'pen_silence = "block"')
    d = s.domain
    withheld = d["shipped_on_silence"]
    assert withheld > 0 and d["blocked_by_silence"] == withheld
    assert d["rejections_by_reason"] == {"pen_silence_block": withheld}
    assert d["false_flags"] == 0
    assert d["traced_complete_pct"] < 100 and s.expect_ok


def test_f_plus_1_exits_0_with_safety_any_and_1_with_safety_true(tmp_path, capsys):
    path = LIBRARY / "equivocate-f-plus-1.toml"
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "any")]) == 0
    summary = json.loads((tmp_path / "any" / "summary.json").read_text())
    assert any(v["kind"] == "agreement" and v["expected"] for v in summary["violations"])
    strict = tmp_path / "strict.toml"
    strict.write_text(path.read_text().replace('safety = "any"', "safety = true"))
    assert main(["run", str(strict), "--quiet", "--out", str(tmp_path / "strict")]) == 1
    assert "reproduce with: chemtrace run" in capsys.readouterr().err


def test_equivocate_f_keeps_committing_to_the_end(run_of):
    """Regression: when the tally kept only each validator's first vote, the noisy
    equivocators split the honest locks and the chain stopped for good after height 16."""
    run = run_of("equivocate-f.toml")
    last = max(t for n in run.world.honest for t, _ in run.world.commits[n])
    assert last > run.world.scenario.ticks_max // 2


# ---------------------------------------------------------------- chemtrace list

def test_list_shows_every_library_file_with_its_question(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    files = sorted(p for p in LIBRARY.iterdir() if p.suffix in (".toml", ".py"))
    assert len(files) >= 14
    for p in files:
        assert p.name in out
    assert "opts out of the consortium?" in out


def test_list_json(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenarios"]
    assert len(rows) >= 14
    by_file = {r["file"]: r for r in rows}
    assert {p.name for p in TOML_FILES} <= set(by_file)
    assert all(r["question"] for r in rows)
    assert by_file["baseline.toml"]["question"].startswith("when seven nations cooperate")
    # The question stops at "Look at" or a blank comment line.
    assert "Look at" not in json.dumps(rows)
    assert by_file["twins.toml"]["question"] == (
        "what happens when one nation's key runs on two machines at once (Twins: a botched "
        "fail-over, or a stolen key)?")


def test_list_shows_the_sweep_specs_and_honours_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "90")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 90
    sweeps = sorted(p.name for p in (LIBRARY / "sweeps").glob("*.toml"))
    assert sweeps and all(f"sweeps/{name}" in out for name in sweeps)
    monkeypatch.delenv("COLUMNS")
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenarios"]
    spec = next(r for r in rows if r["file"] == "sweeps/inspection-budget.toml")
    assert spec["kind"] == "sweep"
    assert spec["question"] == ("how much physical inspection closes the hole that paperwork "
                                "leaves?")
