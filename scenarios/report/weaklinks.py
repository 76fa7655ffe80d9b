"""The weak-link study's report.html: rankings and plots, self-contained like the run report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402

from scenarios.report.run import CSS, _esc, _flow_layout, _label, _svg  # noqa: E402

BARS_MAX = 30


def write_weak_report(result: dict, world, path: Path) -> Path:
    ranked = result["simulation"]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>weak links: "
             f"{_esc(result['scenario'])}</title><style>{CSS}</style></head><body>",
             f"<h1>Weak links of {_esc(result['scenario'])}</h1>",
             f"<p>Scenario file {_esc(result['source'])}; sets up to size {result['k']}.</p>"]
    parts.append("<h2>Ranking</h2><p>How to read it: impact is the mass the change takes out of "
                 "honest, complete custody compared with the baseline run (untraced plus "
                 "leaked kilograms). Opted-out nations keep no records; corrupt ones file "
                 "false quantities.</p>")
    parts.append(_table(ranked[:25]))
    parts.append(_figure(_impact_bars(ranked)))
    parts.append("<h2>Structure</h2><p>How to read it: mass through a nation, the mass with no "
                 "route around it (unavoidable), and its betweenness between exporters and "
                 "importers; then the sets whose removal darkens the most mass.</p>")
    parts.append(_structure_table(result["structure"]))
    parts.append("<h2>Trade graph by impact</h2><p>How to read it: the darker the red, the more "
                 "mass is lost when that nation opts out.</p>")
    parts.append(_figure(_impact_graph(world, ranked)))
    cons = result["consensus"]
    parts.append("<h2>Consensus</h2><p>How to read it: the fewest nations whose absence stops "
                 "commits (more than 1/3 of the power), and whose corruption can break "
                 "agreement (1/3 or more).</p><ul>")
    for name in ("liveness", "safety"):
        c = cons[name]
        examples = "; ".join("+".join(e["nations"]) for e in c["examples"][:5])
        parts.append(f"<li>{name}: {c['smallest_size']} nation(s), {c['threshold']}; "
                     f"{c['coalitions_of_that_size']} such coalitions, e.g. {_esc(examples)}</li>")
    parts.append("</ul></body></html>")
    path.write_text("\n".join(parts))
    return path


def _table(rows: list[dict]) -> str:
    cols = ("rank", "label", "impact_kg", "leaked_kg", "traced_complete_pct", "detection_rate",
            "latency_ticks_p50", "liveness_ok", "error")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_esc(r.get(c, ''))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _structure_table(s: dict) -> str:
    cols = ("nation", "mass_through_kg", "mass_through_pct", "unavoidable_kg",
            "transit_unavoidable_kg", "betweenness")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_esc(r[c])}</td>" for c in cols) + "</tr>"
                   for r in s["nations"][:30])
    sets = "".join(f"<li>size {e['size']}: " + "; ".join(
        f"{'+'.join(b['nations'])} ({b['untraceable_pct']}%)" for b in e["best"])
        + "; transit only: " + ("; ".join(
            f"{'+'.join(b['nations'])} ({b['untraceable_pct']}%)" for b in e["best_transit"])
            or "none") + "</li>"
        for e in s["removal_sets"])
    return f"<table><tr>{head}</tr>{body}</table><ul>{sets}</ul>"


def _figure(svg: str | None) -> str:
    return f"<figure>{svg}</figure>" if svg else "<p>none</p>"


def _impact_bars(ranked: list[dict]) -> str | None:
    rows = [r for r in ranked if r.get("impact_kg") is not None][:BARS_MAX]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.2))
    labels = [_label(r["label"]) for r in rows][::-1]
    values = [r["impact_kg"] for r in rows][::-1]
    colours = ["#d62728" if r["mode"] == "corrupt" else "#1f77b4" for r in rows][::-1]
    ax.barh(labels, values, color=colours)
    ax.set_xlabel("impact (kg out of honest, complete custody vs baseline)")
    ax.set_title("blue: opted out, red: corrupt", fontsize=9)
    return _svg(fig, "impact")


def _impact_graph(world, ranked: list[dict]) -> str | None:
    graph = getattr(world.workload, "routes", None)
    if graph is None or graph.number_of_nodes() == 0:
        return None
    impact = {r["nations"]: r["impact_kg"] or 0.0 for r in ranked
              if r["mode"] == "opt_out" and "+" not in r["nations"]}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(graph.nodes(data=True)))
    g.add_edges_from(sorted(graph.edges(data=True)))
    pos, rows = _flow_layout(g)
    top = max(impact.values(), default=0.0) or 1.0
    fig, ax = plt.subplots(figsize=(10, max(4.5, 0.9 * rows)))
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999", arrows=True,
                           connectionstyle="arc3,rad=0.12")
    nodes = list(g.nodes)
    drawn = nx.draw_networkx_nodes(g, pos, nodelist=nodes, ax=ax, node_size=700,
                                   node_color=[max(0.0, impact.get(n, 0.0)) / top for n in nodes],
                                   cmap="Reds", vmin=0.0, vmax=1.0, edgecolors="#333")
    nx.draw_networkx_labels(g, pos, ax=ax, labels={n: _label(n) for n in nodes}, font_size=8)
    fig.colorbar(drawn, ax=ax, label=f"impact when opted out (1 = {top:,.0f} kg)")
    ax.set_axis_off()
    return _svg(fig, "impactgraph")
