"""A sweep's report.html: the conclusion in words, the plot and the table, self-contained like
the run report.

The sweep (scenarios/studies/sweep.py) hands over its result (`sweep.json`'s document), its
figure and its way of naming a metric or parameter in words (`axis_label`), since this layer
does not import the studies. The conclusion is written from the figures: where the first metric
is lowest and highest, and for each grid point whether the paired change from the first point
is clear (its 95% interval leaves out 0) or within the variation between seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from scenarios.report.run import CSS, _esc, _svg

ABSENT = "—"


def write_sweep_report(result: dict, figure, label: Callable[[str], str], param_cols: list[str],
                       path: Path) -> Path:
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>sweep: {_esc(result['name'])}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        f"<h1>Sweep: {_esc(result['name'])}</h1>\n",
        f"<p>Scenario {_esc(result['scenario'])}; {result['runs']:,} runs over "
        f"{len(result['aggregate']):,} grid points of "
        f"{_esc(', '.join(label(c) for c in param_cols))}.</p>\n",
        '<section id="conclusion">\n<h2>Conclusion</h2>\n<ul>\n'
        + "".join(f"<li>{_esc(line)}</li>\n" for line in conclusion(result, label, param_cols))
        + "</ul>\n</section>\n",
        '<section id="plot">\n<h2>Plot</h2>\n<p class="how">How to read it: one panel per '
        "metric; each grid point's mean with its 95% interval, and each seed's own value as a "
        "small point beside it.</p>\n"
        f"<figure>\n{_svg(figure, 'sweep')}\n</figure>\n</section>\n",
        '<section id="table">\n<h2>Table</h2>\n<p class="how">How to read it: one row per grid '
        "point. The paired change compares each point with the first, seed by seed (every "
        "point runs the same seeds), so it is narrower than the plain intervals; when its "
        f"interval leaves out 0, the change is clear. {ABSENT}: no run of that point gave the "
        "figure (they failed; see results.csv).</p>\n"
        + _table(result, label, param_cols) + "</section>\n",
        "</body>\n</html>\n",
    ]
    path.write_text("".join(parts), encoding="utf-8")
    return path


def point_name(entry: dict, label: Callable[[str], str], param_cols: list[str]) -> str:
    return ", ".join(f"{label(c)} = {entry[c]}" for c in param_cols)


def _num(value) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def conclusion(result: dict, label: Callable[[str], str], param_cols: list[str]) -> list[str]:
    """Plain sentences from the sweep's figures."""
    metric = label(result["metrics"][0])
    metric_ = metric[:1].upper() + metric[1:]
    shown = [e for e in result["aggregate"] if e.get("mean") is not None]
    lines = []
    if not shown:
        lines.append(f"No grid point gave a figure for {metric}: every run failed.")
    elif len(shown) == 1:
        e = shown[0]
        lines.append(f"{metric_} at the only grid point with figures, "
                     f"{point_name(e, label, param_cols)}: mean {_num(e['mean'])}, 95% "
                     f"interval {_num(e['ci95_low'])} to {_num(e['ci95_high'])}.")
    else:
        low = min(shown, key=lambda e: e["mean"])
        high = max(shown, key=lambda e: e["mean"])
        lines.append(f"{metric_} is lowest at {point_name(low, label, param_cols)} (mean "
                     f"{_num(low['mean'])}, 95% interval {_num(low['ci95_low'])} to "
                     f"{_num(low['ci95_high'])}) and highest at "
                     f"{point_name(high, label, param_cols)} (mean {_num(high['mean'])}, "
                     f"{_num(high['ci95_low'])} to {_num(high['ci95_high'])}).")
    first = result["aggregate"][0] if result["aggregate"] else None
    for e in result["aggregate"][1:]:
        if e.get("delta_mean") is None:
            continue
        clear = not e["delta_ci95_low"] <= 0 <= e["delta_ci95_high"]
        lines.append(f"At {point_name(e, label, param_cols)}, {metric} changes by "
                     f"{_num(e['delta_mean'])} from {point_name(first, label, param_cols)} "
                     f"(paired, 95% interval {_num(e['delta_ci95_low'])} to "
                     f"{_num(e['delta_ci95_high'])}): "
                     + ("a clear change." if clear else
                        "within the variation between seeds (the interval holds 0)."))
    if result["failed"]:
        lines.append(f"{result['failed']} of {result['runs']} runs failed and are left out of "
                     "these figures; results.csv has their errors and reproduce commands.")
    return lines


def _table(result: dict, label: Callable[[str], str], param_cols: list[str]) -> str:
    metrics = result["metrics"]
    heads = [label(c) for c in param_cols] + ["runs", "failed runs"]
    for i, m in enumerate(metrics):
        heads += [f"{label(m)}: mean", "95% interval"]
        if i == 0:
            heads.append("paired change from the first point (95% interval)")
    rows = []
    for e in result["aggregate"]:
        cells = [str(e[c]) for c in param_cols] + [f"{e['runs']:,}", f"{e['failed']:,}"]
        for i, _ in enumerate(metrics):
            p = "" if i == 0 else f"{metrics[i]}_"
            mean = e.get(f"{p}mean")
            cells += [_num(mean), ABSENT if mean is None else
                      f"{_num(e[f'{p}ci95_low'])} to {_num(e[f'{p}ci95_high'])}"]
            if i == 0:
                d = e.get("delta_mean")
                cells.append(ABSENT if d is None else f"{_num(d)} ({_num(e['delta_ci95_low'])} "
                             f"to {_num(e['delta_ci95_high'])})")
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>\n")
    return ("<table>\n<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in heads) + "</tr>\n"
            + "".join(rows) + "</table>\n")
