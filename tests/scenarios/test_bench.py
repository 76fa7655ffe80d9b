"""`chemtrace bench` reports a self-describing JSON that matches its schema; it asserts no
absolute time (benchmarks report, they do not gate CI)."""

from __future__ import annotations

import copy
import json

import pytest

import scenarios.bench.sim as bench
from scenarios.bench.sim import (
    RESULT_SCHEMA,
    SchemaError,
    SimWorkload,
    bench_nations,
    bench_scenario,
    check_schema,
    cost_growth_exponent,
)
from scenarios.cli.main import main

TINY = SimWorkload(ticks_max=300, txs_per_tick=5.0, shipments=20, txs_until_tick=150)


@pytest.fixture(scope="module")
def tiny_result():
    return bench.run_bench(quick=True, nations=(4, 16, 20), repetitions=3, workload=TINY,
                           fuzz_budget_s=1.5,  # per mode: a few scenarios on a busy machine
                           consensus_nations=(4,), consensus_heights=30)


def test_result_matches_the_schema_and_describes_itself(tiny_result):
    r = tiny_result
    check_schema(r)
    assert set(r) == set(RESULT_SCHEMA)
    assert [name for name, _ in bench.SECTIONS] == list(r["sections"])
    assert {"python", "platform", "commit", "cpus"} <= set(r["machine"])
    p = r["parameters"]
    assert p["quick"] is True and p["repetitions"] == 3 and p["nations"] == [4, 16, 20]
    assert p["workload"] == {k: getattr(TINY, k) for k in SimWorkload.__slots__}
    assert r["floor_tx_per_s"] > 0
    runs = r["sections"]["sim"]["runs"]
    assert [run["nations"] for run in runs] == [4, 16, 20]
    for run in runs:
        assert run["txs_committed"] > 0 and run["custody_events_committed"] > 0
        assert run["safety_ok"] and run["liveness_ok"]
        assert len(run["repetitions"]) == 3
        # the medians of the repetitions, and the ratio to the floor of this very run
        assert run["txs_per_wall_s"] == pytest.approx(
            sorted(x["txs_per_wall_s"] for x in run["repetitions"])[1], abs=0.1)
        # the ratio is to the floor timed beside this n's runs, not the one at the start
        assert run["floor_tx_per_s"] > 0
        assert run["ratio_to_floor"] == round(run["txs_per_wall_s"] / run["floor_tx_per_s"], 3)
        assert 0 < run["txs_committed"] <= run["txs_submitted"]
        assert run["peak_rss_mib"] > 0
    assert isinstance(r["sections"]["sim"]["cost_growth_exponent"], float)
    f = r["sections"]["fuzz"]
    assert f["scenarios_run"] > 0 and r["fuzz_scenarios_per_s"] == f["scenarios_per_cpu_s"]
    assert f["modelled"]["scenarios_run"] > 0
    assert r["fuzz_modelled_scenarios_per_s"] == f["modelled"]["scenarios_per_cpu_s"]
    assert f["modelled_over_ed25519"] == pytest.approx(
        f["modelled"]["scenarios_per_cpu_s"] / f["scenarios_per_cpu_s"], abs=0.01)
    # The cost of a delivery explains the rate: scenarios per CPU second times deliveries per
    # scenario times CPU seconds per delivery is one.
    for figures in (f, f["modelled"]):
        assert figures["deliveries_per_scenario"] > 50
        assert figures["scenarios_per_cpu_s"] * figures["deliveries_per_scenario"] * (
            figures["cpu_us_per_delivery"] / 1e6) == pytest.approx(1.0, rel=0.02)


def test_consensus_section_runs_both_signature_modes_on_the_same_heights(tiny_result):
    c = tiny_result["sections"]["consensus"]
    assert c["heights"] == 30 and [run["nations"] for run in c["runs"]] == [4]
    run = c["runs"][0]
    ed, modelled = run["ed25519"], run["modelled"]
    # the same protocol run in both modes: heights and deliveries equal, traces not (ids)
    assert ed["heights_committed"] == modelled["heights_committed"] >= 25
    assert ed["messages_delivered"] == modelled["messages_delivered"] > 0
    assert ed["trace_sha256"] != modelled["trace_sha256"]
    assert ed["safety_and_liveness_ok"] and modelled["safety_and_liveness_ok"]
    assert len(ed["runs_heights_per_wall_s"]) == 3
    assert ed["heights_per_wall_s"] == sorted(ed["runs_heights_per_wall_s"])[1]
    assert run["modelled_over_ed25519"] == pytest.approx(
        modelled["heights_per_wall_s"] / ed["heights_per_wall_s"], abs=0.01)
    # n = 4: a proposal and 4 + 4 votes a height, each signed once and checked once by the
    # process (the verdict cache is shared): the Ed25519 ceiling is the floor over 9
    assert ed["signatures_checked_per_height"] == pytest.approx(9.0, abs=0.5)
    floor = tiny_result["floor_tx_per_s"]
    assert ed["ceiling_heights_per_s"] == pytest.approx(
        floor / ed["signatures_checked_per_height"], rel=0.05)
    assert "ceiling_heights_per_s" not in modelled


def test_the_same_workload_gives_the_same_trace_in_every_repetition(tiny_result):
    # A bench run is a simulation like any other: deterministic, so repetitions differ in time
    # only, and what is timed is the same work.
    for run in tiny_result["sections"]["sim"]["runs"]:
        assert len({(x["txs_committed"], x["heights_committed"], x["messages_delivered"])
                    for x in run["repetitions"]}) == 1


def test_schema_refuses_missing_extra_and_mistyped_fields(tiny_result):
    broken = copy.deepcopy(tiny_result)
    del broken["sections"]["sim"]["runs"][0]["peak_rss_mib"]
    with pytest.raises(SchemaError, match=r"runs\[0\].*peak_rss_mib"):
        check_schema(broken)
    broken = copy.deepcopy(tiny_result)
    broken["sections"]["surprise"] = {}
    with pytest.raises(SchemaError, match="surprise"):
        check_schema(broken)
    broken = copy.deepcopy(tiny_result)
    broken["floor_tx_per_s"] = "fast"
    with pytest.raises(SchemaError, match="floor_tx_per_s"):
        check_schema(broken)
    broken = copy.deepcopy(tiny_result)
    broken["sections"]["sim"]["runs"][1]["safety_ok"] = 1
    with pytest.raises(SchemaError, match="safety_ok"):
        check_schema(broken)


def test_growth_exponent_is_the_log_log_slope_from_n_16():
    runs = [{"nations": n, "wall_s_per_committed_tx": 1e-4 * n ** 1.5} for n in (4, 16, 64, 193)]
    runs[0]["wall_s_per_committed_tx"] = 1.0  # n = 4 is left out of the fit
    assert cost_growth_exponent(runs) == pytest.approx(1.5, abs=1e-3)
    assert cost_growth_exponent(runs[:2]) is None


def test_bench_nations_put_the_trade_lanes_first_and_193_is_the_preset():
    assert bench_nations(4) == ["CHN", "IND", "MEX", "USA"]
    assert len(set(bench_nations(64))) == 64
    preset = bench_scenario(193, TINY)
    assert preset.nation_ids == tuple(bench_nations(193))
    assert bench_scenario(16, TINY).nation_ids == tuple(bench_nations(16))
    with pytest.raises(ValueError, match="n must be"):
        bench_nations(194)


def test_cli_prints_the_table_and_writes_json_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "SIM_NATIONS", (4, 16))
    monkeypatch.setattr(bench, "REPETITIONS", 1)
    monkeypatch.setattr(bench, "FULL_WORKLOAD", TINY)
    monkeypatch.setattr(bench, "FUZZ_BUDGET_S", 1.0)
    monkeypatch.setattr(bench, "CONSENSUS_NATIONS", (4,))
    monkeypatch.setattr(bench, "CONSENSUS_HEIGHTS", 20)
    out = tmp_path / "bench.json"
    assert main(["bench", "--json-file", str(out), "--json"]) == 0
    result = json.loads(out.read_text())
    check_schema(result)
    assert result["parameters"]["quick"] is False
    printed = capsys.readouterr()
    # --json: the same document on stdout and nothing else; the table is left out, the other
    # lines go to stderr
    assert json.loads(printed.out) == result
    assert "ratio to floor" not in printed.err and f"wrote {out}" in printed.err
    # without --json: the table, with the targets beside the figures, on stdout
    monkeypatch.setattr(bench, "run_bench", lambda quick, progress: result)
    monkeypatch.chdir(tmp_path)
    assert main(["bench"]) == 0
    printed = capsys.readouterr().out
    assert "ratio to floor" in printed and ">= 0.6" in printed
    assert "consensus alone" in printed and "modelled" in printed and ">= 1,000" in printed
    assert (tmp_path / "bench.png").stat().st_size > 1000
