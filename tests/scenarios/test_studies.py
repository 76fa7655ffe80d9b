"""Weak-link studies and sweeps: the three layers, determinism across workers and Dask."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from helpers import SMALL, ReportPage, nations_toml, small_sweep_spec

from scenarios.cli.main import main
from scenarios.studies.sweep import SweepError, load_spec
from scenarios.studies.weaklinks import consensus_layer

HUB_SCENARIO = f"""
[scenario]
name = "hub"
seed = 4
ticks_max = 7000
{nations_toml(["CHN", "IND", "MEX", "USA", "CAN"])}
[[nation]]
id = "PAN"
power = 3

[workload]
txs_per_tick = 0.0
shipments = 30
trade_until_tick = 2500

[[lane]]
from = "CHN"
to = "MEX"
via = ["PAN"]
share = 0.6

[[lane]]
from = "CHN"
to = "USA"
via = ["PAN"]
share = 0.4

[[lane]]
from = "IND"
to = "CAN"
via = ["PAN"]
share = 1.0
"""


@pytest.fixture(scope="module")
def hub_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    path = folder / "hub.toml"
    path.write_text(HUB_SCENARIO)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # --json: the study on stdout, and nothing else
        assert main(["weak-links", str(path), "--k", "2", "--workers", "2", "--out",
                     str(folder / "out"), "--json"]) == 0
    result = json.loads((folder / "out" / "weak_links.json").read_text())
    assert json.loads(printed.getvalue()) == json.loads(json.dumps(result, sort_keys=True))
    return result, folder / "out"


def test_the_hub_every_route_crosses_ranks_first_in_all_three_layers(hub_study):
    result, out = hub_study
    s = result["structure"]
    assert s["nations"][0]["nation"] == "PAN" and s["nations"][0]["mass_through_pct"] == 100.0
    top = max(s["nations"], key=lambda r: r["transit_unavoidable_kg"])
    assert top["nation"] == "PAN" and top["transit_unavoidable_kg"] == s["total_kg"]
    assert max(s["nations"], key=lambda r: r["betweenness"])["nation"] == "PAN"
    assert s["removal_sets"][0]["best_transit"][0]["nations"] == ["PAN"]
    assert s["removal_sets"][0]["best"][0] == {"nations": ["PAN"], "untraceable_kg":
                                               s["total_kg"], "untraceable_pct": 100.0}
    assert result["consensus"]["nations"][0]["nation"] == "PAN"
    first = result["simulation"][0]
    assert first["label"] == "opt_out PAN" and first["rank"] == 1
    assert first["traced_complete_pct"] == 0.0
    assert result["baseline"]["traced_complete_pct"] == 100.0
    rows = list(csv.DictReader((out / "ranking.csv").open()))
    assert rows[0]["label"] == "opt_out PAN" and rows[0]["reproduce"].startswith("chemtrace run")
    html = (out / "report.html").read_text()
    assert "Weak links of hub" in html and html.count("<svg") >= 2


def test_consensus_layer_finds_the_smallest_coalitions_with_weights():
    heavy = consensus_layer([("USA", 5), ("MEX", 1), ("CAN", 1), ("CHN", 1)])
    assert heavy["liveness"]["smallest_size"] == 1
    assert heavy["liveness"]["coalitions_of_that_size"] == 1
    assert heavy["liveness"]["examples"] == [{"nations": ["USA"], "power": 5}]
    equal4 = consensus_layer([(n, 1) for n in ("USA", "MEX", "CAN", "CHN")])
    assert equal4["liveness"]["smallest_size"] == 2 and equal4["safety"]["smallest_size"] == 2
    assert equal4["liveness"]["coalitions_of_that_size"] == 6
    seven = consensus_layer([(n, 1) for n in ("A", "B", "C", "D", "E", "F", "G")])
    assert seven["liveness"]["smallest_size"] == 3 and seven["safety"]["smallest_size"] == 3
    assert seven["safety"]["coalitions_of_that_size"] == 35
    # 3 of 9: exactly 1/3 can break safety but not stop liveness.
    nine = consensus_layer([(str(i), 1) for i in range(9)])
    assert nine["safety"]["smallest_size"] == 3 and nine["liveness"]["smallest_size"] == 4




def _rows(folder) -> list[dict]:
    rows = list(csv.DictReader((folder / "results.csv").open()))
    for row in rows:  # wall-clock columns differ run to run; everything else must not
        row.pop("wall_s", None)
        row.pop("reproduce", None)
    return rows


def test_sweep_results_are_identical_on_1_and_2_workers_and_on_a_dask_cluster(tmp_path):
    spec = small_sweep_spec(tmp_path, "[0.0, 0.05]")
    assert main(["sweep", spec, "--workers", "1", "--out", str(tmp_path / "w1")]) == 0
    assert main(["sweep", spec, "--workers", "2", "--out", str(tmp_path / "w2")]) == 0
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert main(["sweep", spec, "--dask", cluster.scheduler_address, "--out",
                     str(tmp_path / "dask")]) == 0
    one = _rows(tmp_path / "w1")
    assert len(one) == 4 and all(r["error"] == "" for r in one)
    assert one == _rows(tmp_path / "w2") == _rows(tmp_path / "dask")
    aggregate = list(csv.DictReader((tmp_path / "w1" / "aggregate.csv").open()))
    assert [a["network.loss_probability"] for a in aggregate] == ["0.0", "0.05"]
    assert all(float(a["ci95_low"]) <= float(a["mean"]) <= float(a["ci95_high"])
               for a in aggregate)
    assert (tmp_path / "w1" / "sweep.png").stat().st_size > 1000


def test_a_failing_run_is_recorded_and_the_sweep_exits_1_saying_how_many(tmp_path, capsys):
    spec = small_sweep_spec(tmp_path, "[0.0, 7.5]")  # 7.5 is no probability: that point cannot load
    assert main(["sweep", spec, "--out", str(tmp_path / "out")]) == 1
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 2 and all("loss_probability" in r["error"] for r in bad)
    assert all(r["reproduce"].startswith("chemtrace run ") for r in bad)
    assert len(rows) - len(bad) == 2
    assert "2 of 4 runs failed" in capsys.readouterr().err


@pytest.mark.parametrize("text, needle", [
    ("[sweep]\nscenario = 'x.toml'\nmetric = 'speed'\n[[sweep.param]]\npath='a'\nvalues=[1]\n",
     "sweep.metric: unknown metric 'speed'"),
    ("[sweep]\nscenario = 'x.toml'\n", "add at least one [[sweep.param]]"),
    ("[sweep]\nscenario = 'x.toml'\ncolour = 1\n", "sweep.colour: unknown key"),
    ("[other]\n", "one table, [sweep]"),
])
def test_sweep_spec_errors(tmp_path, text, needle):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(SweepError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_spec(path)


def test_transit_only_study_simulates_only_the_hubs(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text(HUB_SCENARIO)
    out = tmp_path / "out"
    assert main(["weak-links", str(path), "--k", "1", "--transit-only", "--out", str(out)]) == 0
    result = json.loads((out / "weak_links.json").read_text())
    assert result["transit_only"] is True
    labels = [r["label"] for r in result["simulation"]]
    assert sorted(labels) == ["corrupt PAN", "opt_out PAN"]
    opt_out = next(r for r in result["simulation"] if r["label"] == "opt_out PAN")
    assert opt_out["traced_complete_pct"] == 0.0 and opt_out["impact_kg"] > 0
    assert "domain" not in opt_out  # the rows keep their figures, not whole summaries


def test_a_sweep_plots_several_metrics_and_paths_into_the_domain_summary(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL.replace(
        "shipments = 4", "shipments = 4\nillicit = { smuggle = 6 }"))
    spec = tmp_path / "spec.toml"
    spec.write_text("""
[sweep]
scenario = "small.toml"
seeds = [1, 2]
metric = ["leaked_kg", "detection_rate_by_kind.smuggle", "illicit.seized_kg"]
[[sweep.param]]
path = "inspection.budget"
values = [0.0, 1.0]
""")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert all(r["error"] == "" for r in rows) and len(rows) == 4
    by_budget = {r["inspection.budget"]: r for r in rows if r["seed"] == "1"}
    assert float(by_budget["0.0"]["detection_rate_by_kind.smuggle"]) == 0.0
    assert float(by_budget["1.0"]["detection_rate_by_kind.smuggle"]) > 0.5
    aggregate = list(csv.DictReader((tmp_path / "out" / "aggregate.csv").open()))
    assert {"mean", "detection_rate_by_kind.smuggle_mean",
            "illicit.seized_kg_ci95_high"} <= set(aggregate[0])
    # Paired points: the budget changes nothing but the inspections.
    assert float(aggregate[1]["mean"]) <= float(aggregate[0]["mean"])
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 1000
    # The plot shows every seed's value as a point, on axes named in words.
    from scenarios.studies.sweep import load_spec, sweep_figure
    metrics = ["leaked_kg", "detection_rate_by_kind.smuggle", "illicit.seized_kg"]
    numeric = [dict(r, **{m: float(r[m]) for m in metrics}) for r in rows]
    means = json.loads((tmp_path / "out" / "sweep.json").read_text())["aggregate"]
    fig = sweep_figure(means, numeric, load_spec(spec), ["inspection.budget"])
    first = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in first.collections
               if c.get_label() == "one seed" or c.get_label().startswith("_")) >= 4
    assert first.get_ylabel() == "diverted mass leaked (kg)"
    assert fig.axes[1].get_ylabel() == "smuggle diversions detected (share)"


def test_an_unknown_path_metric_is_refused(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("[sweep]\nscenario = 'x.toml'\nmetric = ['leaked_kg', 'nowhere.x']\n"
                    "[[sweep.param]]\npath='a'\nvalues=[1]\n")
    with pytest.raises(SweepError, match="unknown metric 'nowhere.x'.*detection_rate_by_kind"):
        load_spec(spec)


def test_intervals_stay_within_the_values_by_construction_and_are_deterministic():
    """A percentile bootstrap of the mean: every resampled mean lies between the smallest and
    the largest value, so a percentage stays at or below 100, a rate at or below 1 and a mass
    at or above 0 without cutting anything off. The old t interval gave 102.26 here."""
    from scenarios.studies.sweep import _interval
    cases = [("traced_complete_pct", [97.0, 100.0]), ("traced_complete_pct", [93.2, 100.0, 100.0]),
             ("detection_rate_by_kind.split", [0.9, 1.0, 1.0]),
             ("illicit.seized_kg", [0.0, 0.0, 900.0]), ("leaked_kg", [-5.0, 5.0, 2.0])]
    for metric, values in cases:
        mean, low, high = _interval(metric, values)
        assert min(values) <= low <= mean <= high <= max(values), (metric, low, mean, high)
        assert low < high  # an interval, not a point, when the values differ
        assert _interval(metric, values) == (mean, low, high)  # seeded: the same every time
    assert _interval("traced_complete_pct", [100.0, 100.0, 100.0]) == (100.0, 100.0, 100.0)
    assert _interval("traced_complete_pct", [88.5]) == (88.5, 88.5, 88.5)
    # A paired difference has no bound: Student's t, which may reach past the values.
    mean, low, high = _interval("", [-1.0, 1.0, 3.0])
    assert low < -1.0 and high > 3.0


def test_the_sweep_plot_names_its_axes_in_words_with_units():
    from scenarios.studies.sweep import axis_label
    assert axis_label("traced_complete_pct") == "licit mass traced end to end (%)"
    assert axis_label("leaked_kg_by_kind.smuggle") == "mass leaked by smuggle diversions (kg)"
    assert axis_label("network.latency_ticks") == "network: latency (ticks)"


def test_paired_differences_from_the_first_point_are_seed_by_seed():
    from scenarios.studies.sweep import _aggregate
    rows = [{"point": p, "seed": seed, "error": "", "x": x, "leaked_kg": base + drop * p}
            for p, x in ((0, "a"), (1, "b")) for seed, base, drop in
            ((1, 100.0, -10.0), (2, 500.0, -12.0), (3, 900.0, -8.0))]
    spec = {"metric": "leaked_kg", "metrics": ["leaked_kg"]}
    first, second = _aggregate(rows, spec, ["x"])
    assert first["delta_mean"] == 0.0
    assert second["delta_mean"] == -10.0
    # The seeds differ by hundreds; the paired drop is tight around -10.
    assert second["ci95_high"] - second["ci95_low"] > 500
    assert -16 < second["delta_ci95_low"] < -10 < second["delta_ci95_high"] < -4


def test_expected_transit_shares_follow_source_and_lane_shares(hub_study):
    result, _ = hub_study
    ranking = result["structure"]["expected_transit_ranking"]
    # Every lane crosses PAN: all the mass, whatever the sources' shares.
    assert ranking == [{"nation": "PAN", "expected_transit_pct": 100.0}]
    from scenarios.assemble import build_world
    from scenarios.spec.loader import parse_scenario
    from scenarios.studies.weaklinks import expected_transit_shares
    text = HUB_SCENARIO + '\n[[source]]\nnation = "CHN"\nshare = 0.7\n' \
        '\n[[source]]\nnation = "IND"\nshare = 0.3\n'
    text = text.replace('via = ["PAN"]\nshare = 1.0', 'share = 1.0')  # IND's lane goes direct
    shares = expected_transit_shares(build_world(parse_scenario(text, "hub.toml")))
    assert shares == pytest.approx({"PAN": 0.7})


@pytest.mark.parametrize("flags, needle", [
    (["--k", "0"], "error: --k 0: the largest set of nations to study must be 1 to 4"),
    (["--workers", "0"], "error: --workers 0: at least 1 local process"),
])
def test_weak_links_names_the_flag_that_is_wrong(tmp_path, capsys, flags, needle):
    assert main(["weak-links", str(tmp_path / "any.toml"), *flags]) == 2
    err = capsys.readouterr().err
    assert needle in err and ("--workers" in err) == (flags[0] == "--workers")


def test_sweep_json_prints_the_sweep_alone_on_stdout(tmp_path, capsys):
    assert main(["sweep", small_sweep_spec(tmp_path, "[0.0]"), "--out", str(tmp_path / "out"),
                 "--json"]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert "per grid point" not in printed.err and "wrote" in printed.err


def test_a_second_sweep_keeps_the_first_ones_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = small_sweep_spec(tmp_path, "[0.0]")
    for _ in range(2):
        assert main(["sweep", spec]) == 0
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "sweep-spec-1", "sweep-spec-2"]
    assert (runs / "sweep-spec-1" / "results.csv").exists()
    assert (runs / "latest").resolve() == (runs / "sweep-spec-2").resolve()


def test_weak_links_and_cluster_take_a_library_scenario_by_name(tmp_path, monkeypatch):
    from scenarios.cli.main import build_parser
    monkeypatch.chdir(tmp_path)  # no such file here: the name finds the library's
    parser = build_parser()
    weak = parser.parse_args(["weak-links", "weak-link-study"])
    assert weak.scenario.name == "weak-link-study.toml" and weak.scenario.exists()
    live = parser.parse_args(["cluster", "live-four", "--broker", "spawn"])
    assert live.scenario.endswith("live-four.toml")


SVG = "{http://www.w3.org/2000/svg}"
RAW_FIELDS = ("traced_complete_pct", "impact_kg", "leaked_kg", "liveness_ok", "detection_rate",
              "mass_through_kg", "unavoidable_kg", "betweenness_", "latency_ticks_p50")


def test_the_weak_links_report_reads_in_words_with_a_baseline_and_a_conclusion(hub_study):
    result, out = hub_study
    page = ReportPage((out / "report.html").read_text())
    words = " ".join(page.text.values())
    for raw in ("None", "True", "False", *RAW_FIELDS):
        assert raw not in words, raw
    assert not re.search(r"\d\.\d{3}", words)  # no raw float such as 22301.187
    (ranking,) = page.tables["ranking"]
    assert ranking[0][2] == "Mass out of complete custody, beyond the baseline (kg)"
    assert ranking[1][1] == "baseline (no change)" and ranking[1][2] == "0"
    top = result["simulation"][0]
    assert ranking[2][1] == f"{top['nations']} opts out" and ranking[2][2] == \
        f"{top['impact_kg']:,.0f}"
    # the conclusion is written from the figures
    conclusion = page.text["conclusion"]
    share = top["impact_kg"] / result["baseline"]["licit_kg"]
    assert f"if {top['nations']} opts out, {share:.0%} of the licit mass" in conclusion
    hub = result["structure"]["removal_sets"][0]["best_transit"][0]
    assert f"The transit nation that matters most is {'+'.join(hub['nations'])}" in conclusion


def test_the_weak_links_graph_shows_corruption_and_readable_labels(hub_study):
    result, out = hub_study
    page = ReportPage((out / "report.html").read_text())
    (svg,) = page.svgs["graph"]
    text = ET.tostring(svg, encoding="unicode")
    corrupt = [r for r in result["simulation"] if r["mode"] == "corrupt" and r["leaked_kg"]]
    assert corrupt and "#7b3294" in text  # rings of the nations whose false records leak mass
    assert "leaked when corrupt" in text
    # the label of the darkest node (the nation whose absence costs the most) is white
    top = result["simulation"][0]["nations"]
    label = next(g for g in svg.iter(f"{SVG}g") if g.get("id") == f"impactgraph-label-{top}")
    assert "#ffffff" in ET.tostring(label, encoding="unicode")


def test_a_sweep_writes_a_report_with_its_plot_table_and_conclusion(tmp_path):
    assert main(["sweep", small_sweep_spec(tmp_path, "[0.0, 0.3]"), "--out", str(tmp_path / "out")]) == 0
    page = ReportPage((tmp_path / "out" / "report.html").read_text())
    assert set(page.text) == {"conclusion", "plot", "table"}
    assert len(page.svgs["plot"]) == 1
    (table,) = page.tables["table"]
    assert table[0][:5] == ["network: loss probability", "runs", "failed runs",
                            "heights committed: mean", "95% interval"]
    assert [row[0] for row in table[1:]] == ["0.0", "0.3"]
    aggregate = json.loads((tmp_path / "out" / "sweep.json").read_text())["aggregate"]
    second = aggregate[1]
    assert table[2][3] == f"{second['mean']:,.0f}" or table[2][3] == f"{second['mean']:,.2f}"
    conclusion = page.text["conclusion"]
    assert "Heights committed is lowest at" in conclusion
    assert "At network: loss probability = 0.3, heights committed changes by" in conclusion
