"""`report.html`: self-contained, names the scenario, draws its plots, and renders empty runs."""

from __future__ import annotations

import re
from types import SimpleNamespace

from helpers import LIBRARY, ReportPage, nations_toml, run_library, run_text

from scenarios.cli.main import main
from scenarios.spec.loader import Behaviour
from scenarios.report.run import SECTIONS, nation_roles, write_report

SVG_PLOTS_MIN = 5  # commits, latency, messages, space-time, trade


def assert_self_contained(text: str) -> None:
    """Nothing that a browser would fetch: no scripts, stylesheets, images or imports."""
    lowered = text.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "<img" not in lowered
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lowered) is None
    assert re.search(r"url\(\s*[\"']?\s*(https?:)?//", lowered) is None


def test_report_names_the_scenario_and_has_every_section_and_plot(tmp_path):
    world, summary = run_library("baseline", ticks_max=3000)
    path = write_report(world, summary, tmp_path / "report.html")
    assert path.exists()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "chemtrace report: baseline" in text
    assert world.scenario.description in text
    assert text.count("<svg") >= SVG_PLOTS_MIN
    for key, title in SECTIONS:
        assert f'id="{key}"' in text and title in text
    assert text.count('class="how"') == len(SECTIONS)
    assert_self_contained(text)
    assert path.stat().st_size < 2_000_000  # a report is read in a browser, not archived


def test_report_of_a_run_with_no_trade_and_no_commits_says_none(tmp_path):
    world, summary = run_text(f"""
[scenario]
name = "quiet <b>&amp;"
description = "no trade, stopped before the first commit"
ticks_max = 5
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[workload]
txs_per_tick = 0.0
shipments = 0
[expect]
liveness = false
""")
    assert not any(world.commits.values()) and not world.latencies_ticks
    text = write_report(world, summary, tmp_path / "report.html").read_text(encoding="utf-8")
    for key, _ in SECTIONS:
        assert f'id="{key}"' in text
    assert "none: no commits" in text
    assert "none: no committed transactions" in text
    assert "none: this scenario ships no precursors" in text
    assert "none: the ledger holds no flag" in text
    # The scenario name is escaped everywhere, never markup.
    assert "quiet &lt;b&gt;&amp;amp;" in text and "<b>" not in text
    assert_self_contained(text)


def test_behaviours_mark_nations_opted_out_corrupt_or_byzantine():
    def b(kind: str, *nations: str) -> Behaviour:
        return Behaviour(nations, kind, 0, None)

    world = SimpleNamespace(scenario=SimpleNamespace(behaviours=(
        b("opt_out", "PAN"), b("false_report", "GTM"), b("collude", "MEX", "HKG"),
        b("withhold_objection", "USA"), b("equivocate", "CHN"), b("mute", "IND"),
        b("crash", "CAN"), b("censor", "HKG"))))
    assert nation_roles(world) == {
        "PAN": "opted out", "GTM": "corrupt", "MEX": "corrupt", "USA": "corrupt",
        "CHN": "Byzantine", "IND": "Byzantine", "HKG": "Byzantine"}


def test_chemtrace_run_writes_the_report(tmp_path, capsys):
    code = main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "5000", "--out",
                 str(tmp_path), "--quiet"])
    assert code == 0
    report = tmp_path / "report.html"
    assert report.exists()
    text = report.read_text(encoding="utf-8")
    assert "baseline" in text and text.count("<svg") >= SVG_PLOTS_MIN
    assert "report.html" in capsys.readouterr().out


def test_report_lists_what_got_through_and_the_licit_mass_by_nation(tmp_path):
    world, summary = run_library("illicit-mix")
    text = write_report(world, summary, tmp_path / "report.html").read_text(encoding="utf-8")
    d = summary.domain
    assert f"Missed: {d['missed_count']:,}" in text
    heaviest = d["missed"][0]
    assert f"<td>{heaviest['shipment']}</td><td>{heaviest['lot']}</td>" in text
    missed = ReportPage(text).tables["economy"][0]
    assert missed[0][-1] == "why it was missed"
    why = {row[0]: row[-1] for row in missed[1:]}
    assert why["smuggle"].startswith("no papers: no record exists to compare with")
    assert all(why.values())
    assert "Licit mass by nation (kg)" in text
    assert f"<td>CHN</td><td>{d['traced_kg_by_nation']['CHN']:,.1f}</td>" in text
    assert "illicit attempts: detected / all" in text


def test_report_lists_the_injected_diversions_and_attempts_among_the_faults(tmp_path):
    world, summary = run_library("illicit-mix")
    text = write_report(world, summary, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "smuggle: 20 illicit attempts" in text and "split: 5 illicit attempts (in 4 parts" in text
    assert "false_report: CHN" in text


SVG = "{http://www.w3.org/2000/svg}"


def test_the_flags_table_gives_masses_in_kg_like_the_rest_of_the_report(tmp_path):
    world, summary = run_library("diversions", ticks_max=6000)
    page = ReportPage(write_report(world, summary, tmp_path / "r.html").read_text())
    (flags,) = page.tables["flags"]
    assert flags[0][4] == "detail" and len(flags) > 5
    details = [row[4] for row in flags[1:]]
    assert not [d for d in details if re.search(r"\d g\b", d)], details[:3]
    assert any(re.search(r"shipped [\d,]+\.\d{3} kg, received [\d,]+\.\d{3} kg", d)
               for d in details), details[:3]


def test_the_commits_plot_shades_fault_windows_and_keeps_overlapping_lines_apart(tmp_path):
    world, summary = run_library("partition-heals")
    page = ReportPage(write_report(world, summary, tmp_path / "r.html").read_text())
    (svg,) = page.svgs["commits"]
    groups = {g.get("id"): g for g in svg.iter(f"{SVG}g") if g.get("id")}
    # the partition's window, ticks 1000 to 3000, shaded and labelled
    assert "commits-window-0" in groups
    labels = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert any("partition USA+MEX+CAN | CHN" in t for t in labels), labels
    # four nations that commit alike: each line its own dash pattern or width, with markers
    styles = set()
    for nation in ("USA", "MEX", "CAN", "CHN"):
        line = groups[f"commits-commit-line-{nation}"]
        path = line.find(f"{SVG}path")
        style = dict(part.split(":", 1) for part in path.get("style").replace(" ", "").split(";")
                     if part)
        styles.add((style.get("stroke-dasharray"), style["stroke-width"]))
        assert list(line.iter(f"{SVG}use")), f"{nation}: no markers"
    assert len(styles) == 4


def test_an_opt_out_is_no_window_on_the_time_plots():
    """An opted-out nation has no node at all: nothing to shade over the run (the trade graph
    marks it); a crash is a window."""
    from scenarios.report.run import fault_windows
    world, _ = run_library("opt-out-hub", ticks_max=200)
    assert fault_windows(world) == []
    world, _ = run_library("crash-restart", ticks_max=200)
    assert [w[0] for w in fault_windows(world)] == ["crash"]
