"""`chemtrace compare`: a library scenario run simulated and live (a Mosquitto the test starts on
a free loopback port) agrees on verdicts and on the domain figures over the transactions both
runs committed; and the comparison's own judgement, on rows made by hand."""

from __future__ import annotations

import json
from pathlib import Path

from mqtt_helpers import require_mosquitto

from scenarios.cli.main import main
from scenarios.cluster.compare import Comparison, compare
from scenarios.spec.loader import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def _domain_rows(result: Comparison) -> list[dict]:
    return [r for r in result.rows if r["figure"].startswith("domain over common txs")]


def test_compare_agrees_on_a_byzantine_library_scenario(tmp_path):
    require_mosquitto()
    result = compare(load_scenario(LIBRARY / "live-equivocate.toml"), tmp_path / "cmp")
    assert result.agrees, result.rows
    verdicts = {r["figure"]: (r["sim"], r["live"]) for r in result.rows[:4]}
    assert verdicts == {"safety": (True, True), "liveness": ("ok", "ok"),
                        "expect holds": (True, True),
                        "nations named by evidence": (["CHN"], ["CHN"])}
    assert all(r["equal"] for r in _domain_rows(result)), _domain_rows(result)
    # The trade ran in both: custody events were committed in both runs and traced.
    assert result.common_txs > 100
    traced = next(r for r in _domain_rows(result) if r["figure"].endswith("traced_complete_pct"))
    assert traced["sim"] is not None and traced["sim"] > 0
    assert result.live.evidence and result.live.live["exit_codes"]


def test_compare_agrees_on_a_lossy_library_scenario(tmp_path, capsys):
    require_mosquitto()
    out = tmp_path / "cmp"
    code = main(["compare", str(LIBRARY / "live-lossy-link.toml"), "--out", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["agrees"], printed["rows"]
    assert printed == json.loads((out / "comparison.json").read_text())
    rows = {r["figure"]: r for r in printed["rows"]}
    assert rows["safety"]["live"] is True and rows["liveness"]["live"] == "ok"
    assert all(r["equal"] for f, r in rows.items() if f.startswith("domain over common"))
    live = json.loads((out / "live" / "faults" / "MEX.json").read_text())
    assert all(epochs == [[0, {**epochs[0][1], "loss_probability": 0.2}]]
               for epochs in live["links"].values())
    assert rows["commit latency p50 (ms)"]["live"] == rows["commit latency p50 (ticks)"][
        "live"] * 2.0


def test_the_comparison_judges_verdicts_strictly_and_differences_by_their_cause():
    result = Comparison("x", 2.0)
    result.add("safety", True, True, True)
    result.add("domain over common txs: flags_by_kind", {"overdue": 1}, {}, True,
               "overdue depend on block times")
    result.add("heights committed", 40, 30, False, "timing")
    assert result.agrees
    result.add("liveness", "ok", "stalled", True)
    assert not result.agrees
    unexplained = Comparison("y", 2.0)
    unexplained.add("domain over common txs: leaked_kg", 1.0, 0.0, True)
    assert not unexplained.agrees and unexplained.to_json()["agrees"] is False
