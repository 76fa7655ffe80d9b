"""The weak-link study's report.html: rankings and plots, self-contained like the run report.

It is written for a reader who has not seen the code: every column has a label in words with
its unit, every number is formatted (no raw floats, no `None`/`True`), the baseline run comes
first in the ranking, and a short conclusion is written from the figures. A figure that does
not exist for a run (no diversion to detect, no latency measured) shows as "—", explained once
under the table. The trade graph shows both layers of the study: the fill of each nation is the
mass lost when it opts out, its ring the mass leaked when its officials file false records.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import networkx as nx  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from scenarios.report.run import CSS, _esc, _flow_layout, _label, _svg  # noqa: E402

BARS_MAX = 30
RANKING_ROWS_MAX = 25
STRUCTURE_ROWS_MAX = 30
ABSENT = "—"  # a figure the run does not have; the page says why under each table
DARK_FILL = 0.55  # on the Reds colour map, from here a node is dark: its label is drawn white
CORRUPT_RING = "#7b3294"

# The ranking's columns: (key in the study's rows, heading in words with the unit, format).
RANKING_COLUMNS = (
    ("rank", "Rank", "rank"),
    ("label", "Change to the consortium", "change"),
    ("impact_kg", "Mass out of complete custody, beyond the baseline (kg)", "kg"),
    ("leaked_kg", "Mass leaked undetected (kg)", "kg"),
    ("traced_complete_pct", "Licit mass traced end to end (%)", "pct"),
    ("detection_rate", "Diversions detected (%)", "rate"),
    ("latency_ticks_p50", "Commit latency, median (ticks)", "int"),
    ("liveness_ok", "Consensus kept committing", "live"),
    ("error", "Error", "text"),
)
STRUCTURE_COLUMNS = (
    ("nation", "Nation", "text"),
    ("mass_through_kg", "Licit mass through it (kg)", "kg"),
    ("mass_through_pct", "Share of all licit mass (%)", "pct"),
    ("unavoidable_kg", "Mass with no route around it (kg)", "kg"),
    ("transit_unavoidable_kg", "… of which it carries in transit (kg)", "kg"),
    ("betweenness", "Betweenness, exporters to importers (0 to 1)", "ratio"),
)


def write_weak_report(result: dict, world, path: Path) -> Path:
    ranked = result["simulation"]
    baseline = result.get("baseline") or {}
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>weak links: {_esc(result['scenario'])}</title>\n<style>{CSS}</style>\n"
        "</head>\n<body>\n",
        f"<h1>Weak links of {_esc(result['scenario'])}</h1>\n",
        f"<p>Scenario file {_esc(result['source'])}; every nation on its own and sets of up to "
        f"{result['k']} nations, each opted out (no records) and corrupt (false records), "
        "against the baseline run with no change.</p>\n",
        '<section id="conclusion">\n<h2>Conclusion</h2>\n',
        "<ul>\n" + "".join(f"<li>{_esc(line)}</li>\n" for line in conclusion(result))
        + "</ul>\n</section>\n",
        '<section id="ranking">\n<h2>Ranking</h2>\n',
        '<p class="how">How to read it: each row is one run of the scenario with one change; the '
        "first row is the baseline, with no change. The mass out of complete custody is the "
        "licit mass that is no longer traced end to end plus the mass leaked, minus the "
        "baseline's: the harm the change does. Opted-out nations keep no records; corrupt ones "
        f"file false quantities. {ABSENT} means the run has no such figure: no diversion was "
        "attempted (nothing to detect) or no transaction latency was measured.</p>\n",
        _ranking_table([dict(baseline, rank=None)] + ranked[:RANKING_ROWS_MAX]),
        _figure(_impact_bars(ranked)),
        "</section>\n",
        '<section id="structure">\n<h2>Structure</h2>\n',
        '<p class="how">How to read it: how much licit mass passes through each nation, how much '
        "of it has no route around that nation, and how central the nation is between "
        "exporters and importers; then the sets of nations whose absence darkens the most "
        "mass.</p>\n",
        _structure_table(result["structure"]),
        "</section>\n",
        '<section id="graph">\n<h2>Trade graph by impact</h2>\n',
        '<p class="how">How to read it: arrows are the trade lanes. The darker the red fill, '
        "the more mass leaves complete custody when that nation opts out; the thicker the "
        "purple ring, the more mass leaks when its officials file false records.</p>\n",
        _figure(_impact_graph(world, ranked)),
        "</section>\n",
        _consensus_section(result["consensus"]),
        "</body>\n</html>\n",
    ]
    path.write_text("".join(parts), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- words


def change_label(row: dict) -> str:
    """A row's change in words: "MEX opts out", "CHN's officials file false records",
    "CHN and MEX collude", "baseline (no change)"."""
    mode, nations = row.get("mode"), [n for n in str(row.get("nations") or "").split("+") if n]
    names = " and ".join(nations)
    if mode == "opt_out":
        return f"{names} opt out" if len(nations) > 1 else f"{names} opts out"
    if mode == "corrupt":
        return (f"{names} collude in false records" if len(nations) > 1
                else f"{names}'s officials file false records")
    if mode == "baseline":
        return "baseline (no change)"
    return str(row.get("label", ""))


def conclusion(result: dict) -> list[str]:
    """A few plain sentences written from the study's figures."""
    baseline = result.get("baseline") or {}
    ranked = [r for r in result["simulation"] if r.get("impact_kg") is not None]
    licit = baseline.get("licit_kg") or baseline.get("shipped_kg") or 0.0
    lines = []
    if baseline.get("traced_complete_pct") is not None:
        lines.append(f"With no change, {baseline['traced_complete_pct']:.1f}% of the licit mass "
                     f"({licit:,.0f} kg) is traced end to end and "
                     f"{baseline.get('leaked_kg') or 0:,.0f} kg leaks.")
    for mode in ("opt_out", "corrupt"):
        top = next((r for r in ranked if r["mode"] == mode), None)
        if top is None:
            continue
        share = f"{top['impact_kg'] / licit:.0%} of the licit mass" if licit else "mass"
        if mode == "opt_out":
            lines.append(f"The worst absence: if {change_label(top)}, {share} "
                         f"({top['impact_kg']:,.0f} kg) leaves complete custody.")
        else:
            detected = top.get("detection_rate")
            caught = ("" if detected is None else
                      f"; {detected:.0%} of its diversions are detected")
            lines.append(f"The worst corruption: if {change_label(top)}, "
                         f"{top.get('leaked_kg') or 0:,.0f} kg leaks undetected{caught}.")
    transit = (result["structure"].get("removal_sets") or [{}])[0].get("best_transit") or []
    if transit:
        hub = transit[0]
        lines.append(f"The transit nation that matters most is {'+'.join(hub['nations'])}: "
                     f"without its records {hub['untraceable_pct']:.1f}% of the mass goes dark "
                     "on the way.")
    else:
        lines.append("No nation of the consortium carries trade in transit on these lanes.")
    cons = result["consensus"]
    lines.append(f"Consensus: {cons['liveness']['smallest_size']} nations absent stop the "
                 f"ledger (voting power {cons['liveness']['threshold']}); "
                 f"{cons['safety']['smallest_size']} corrupt nations can break agreement "
                 f"(voting power {cons['safety']['threshold']}).")
    failed = [r for r in result["simulation"] if r.get("error")]
    if failed:
        lines.append(f"{len(failed)} run(s) failed and are left out of these figures; see the "
                     "Error column.")
    return lines


def cell(value, kind: str) -> str:
    """One formatted cell: no None, True, raw floats or field names."""
    if kind == "change":
        return value
    if value is None or value == "":
        return "" if kind == "text" else ABSENT
    if kind == "rank":
        return str(value)
    if kind == "kg":
        return f"{value:,.0f}"
    if kind == "pct":
        return f"{value:.1f}"
    if kind == "rate":
        return f"{value * 100:.0f}"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "live":
        return "yes" if value else "no"
    return str(value)


def _ranking_table(rows: list[dict]) -> str:
    head = "".join(f"<th>{_esc(title)}</th>" for _, title, _ in RANKING_COLUMNS)
    body = []
    for r in rows:
        cells = []
        for key, _, kind in RANKING_COLUMNS:
            if key == "label":
                text = change_label(r)
            elif key == "rank" and r.get("mode") == "baseline":
                text = "—"
            elif key == "liveness_ok" and r.get(key) is None and not r.get("error"):
                text = "not judged"
            else:
                text = cell(r.get(key), kind)
            num = ' class="num"' if kind in ("kg", "pct", "rate", "int", "rank") else ""
            cells.append(f"<td{num}>{_esc(text)}</td>")
        cls = ' class="baseline"' if r.get("mode") == "baseline" else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>\n")
    return f"<table>\n<tr>{head}</tr>\n" + "".join(body) + "</table>\n"


def _structure_table(s: dict) -> str:
    head = "".join(f"<th>{_esc(title)}</th>" for _, title, _ in STRUCTURE_COLUMNS)
    body = "".join("<tr>" + "".join(
        f"<td{' class=' + chr(34) + 'num' + chr(34) if kind != 'text' else ''}>"
        f"{_esc(cell(r.get(key), kind))}</td>" for key, _, kind in STRUCTURE_COLUMNS) + "</tr>\n"
        for r in s["nations"][:STRUCTURE_ROWS_MAX])

    def sets(entries: list[dict]) -> str:
        return "; ".join(f"{' + '.join(b['nations'])} ({b['untraceable_pct']:.1f}% of the mass)"
                         for b in entries) or "none"
    items = "".join(f"<li>Any {e['size']} nation{'s' if e['size'] > 1 else ''} out: "
                    f"{_esc(sets(e['best']))}; of the transit nations: "
                    f"{_esc(sets(e['best_transit']))}</li>\n" for e in s["removal_sets"])
    return (f"<table>\n<tr>{head}</tr>\n{body}</table>\n"
            f"<h3>Nations whose absence darkens the most mass</h3>\n<ul>\n{items}</ul>\n")


def _consensus_section(cons: dict) -> str:
    items = []
    for name, what in (("liveness", "absent, stop commits"),
                       ("safety", "corrupt, can break agreement")):
        c = cons[name]
        examples = "; ".join(" + ".join(e["nations"]) for e in c["examples"][:5])
        items.append(f"<li>{c['smallest_size']} nation(s) {what} (voting power "
                     f"{_esc(c['threshold'])}): {c['coalitions_of_that_size']:,} such coalitions, e.g. "
                     f"{_esc(examples)}</li>\n")
    return ('<section id="consensus">\n<h2>Consensus</h2>\n<p class="how">How to read it: the '
            "fewest nations whose absence stops commits (more than 1/3 of the power), and whose "
            "corruption can break agreement (1/3 or more).</p>\n<ul>\n" + "".join(items)
            + "</ul>\n</section>\n")


# ---------------------------------------------------------------------------------- plots


def _figure(svg: str | None) -> str:
    return f"<figure>\n{svg}\n</figure>\n" if svg else '<p class="none">none</p>\n'


def _impact_bars(ranked: list[dict]) -> str | None:
    rows = [r for r in ranked if r.get("impact_kg") is not None][:BARS_MAX]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.2))
    labels = [_label(change_label(r)) for r in rows][::-1]
    values = [r["impact_kg"] for r in rows][::-1]
    colours = [CORRUPT_RING if r["mode"] == "corrupt" else "#d6604d" for r in rows][::-1]
    ax.barh(labels, values, color=colours)
    ax.set_xlabel("mass out of complete custody, beyond the baseline (kg)")
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.legend(handles=[Line2D([], [], color="#d6604d", linewidth=6, label="opts out"),
                       Line2D([], [], color=CORRUPT_RING, linewidth=6,
                              label="files false records")],
              loc="lower right", frameon=False, fontsize=8)
    return _svg(fig, "impact")


def _impact_graph(world, ranked: list[dict]) -> str | None:
    graph = getattr(world.workload, "routes", None)
    if graph is None or graph.number_of_nodes() == 0:
        return None
    singles = [r for r in ranked if "+" not in str(r.get("nations", ""))]
    impact = {r["nations"]: r["impact_kg"] or 0.0 for r in singles if r["mode"] == "opt_out"}
    leaked = {r["nations"]: r.get("leaked_kg") or 0.0 for r in singles if r["mode"] == "corrupt"}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(graph.nodes(data=True)))
    g.add_edges_from(sorted(graph.edges(data=True)))
    pos, rows = _flow_layout(g)
    top = max(impact.values(), default=0.0) or 1.0
    leak_top = max(leaked.values(), default=0.0) or 1.0
    fig, ax = plt.subplots(figsize=(10, max(4.5, 0.9 * rows)))
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999", arrows=True,
                           connectionstyle="arc3,rad=0.12", node_size=900)
    nodes = list(g.nodes)
    fill = {n: max(0.0, impact.get(n, 0.0)) / top for n in nodes}
    ring = {n: 1.0 + 7.0 * leaked.get(n, 0.0) / leak_top if leaked.get(n) else 1.0
            for n in nodes}
    drawn = nx.draw_networkx_nodes(g, pos, nodelist=nodes, ax=ax, node_size=900,
                                   node_color=[fill[n] for n in nodes], cmap="Reds", vmin=0.0,
                                   vmax=1.0, linewidths=[ring[n] for n in nodes],
                                   edgecolors=[CORRUPT_RING if leaked.get(n) else "#333"
                                               for n in nodes])
    for n in nodes:  # white on a dark fill, black on a light one: every label stays readable
        ax.text(*pos[n], _label(n), fontsize=8, ha="center", va="center", fontweight="bold",
                color="white" if fill[n] >= DARK_FILL else "black", gid=f"label-{n}")
    fig.colorbar(drawn, ax=ax, label=f"fill: mass out of custody when it opts out "
                                     f"(1 = {top:,.0f} kg)")
    ax.legend(handles=[Line2D([], [], marker="o", linestyle="", markersize=12,
                              markerfacecolor="white", markeredgecolor=CORRUPT_RING,
                              markeredgewidth=4,
                              label=f"ring: leaked when corrupt (thickest = {leak_top:,.0f} kg)")],
              loc="upper left", bbox_to_anchor=(0.0, -0.02), frameon=False, fontsize=8)
    ax.set_axis_off()
    return _svg(fig, "impactgraph")
