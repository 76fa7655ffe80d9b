"""`chemtrace sweep SPEC.toml`: a grid of scenario parameters times seeds, in parallel.

A spec names a base scenario, the seeds, the metric to plot, and one or more parameters, each
a dotted path into the scenario file (see scenarios/studies/variants.py) with the values to try:

    [sweep]
    scenario = "opt-out-hub.toml"          # relative to the spec file
    seeds = [1, 2, 3]
    metric = "traced_complete_pct"         # a column of results.csv

    [[sweep.param]]
    path = "behaviour[0].nations"
    values = [["PAN"], ["PAN", "GTM"]]
    labels = ["PAN", "PAN+GTM"]            # optional: how each value is shown

Every grid point and seed is one run (`run_task`), on local processes (`--workers N`) or on a
Dask cluster (`--dask ADDRESS`); the rows do not depend on where they ran. Outputs:
`results.csv` (one row per run, with every summary figure and the command that reproduces it),
`aggregate.csv` (mean and 95% interval of the metric per grid point: a seeded percentile
bootstrap of the mean, within the values' range; the paired differences get Student's t),
`sweep.png` (the means, their intervals and each seed's value), `sweep.json` and `report.html`
(the conclusion in words, the plot and the table: scenarios/report/sweep.py). A failed run is
a row with its error, never the end of the sweep; the command then exits 1.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import statistics
import tomllib
from pathlib import Path

from scenarios.studies.variants import (DOMAIN_METRICS, DOMAIN_PATHS, ROW_METRICS, Task,
                                       VariantError, domain_value, read_raw, run_all,
                                       variant_text)

POINTS_MAX = 10_000
# Two-sided 95% Student t critical values by degrees of freedom; 1.96 beyond the table.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
METRICS = ROW_METRICS + DOMAIN_METRICS
# The percentile bootstrap of a metric's mean (`_bootstrap`): resamples and their fixed seed.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20260


class SweepError(ValueError):
    """A spec that cannot run: names the file, the key and the fix."""


def load_spec(path: Path) -> dict:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(f"{path}: cannot read the sweep spec ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML: {exc}") from None
    sweep = raw.get("sweep")
    if not isinstance(sweep, dict) or set(raw) != {"sweep"}:
        raise SweepError(f"{path}: a sweep spec has one table, [sweep]; see scenarios/studies/sweep.py")
    allowed = {"scenario", "seeds", "metric", "param", "name"}
    for key in sweep:
        if key not in allowed:
            raise SweepError(f"{path}: sweep.{key}: unknown key. Allowed keys are: "
                             f"{', '.join(sorted(allowed))}.")
    if not isinstance(sweep.get("scenario"), str):
        raise SweepError(f'{path}: sweep.scenario: missing. Add: scenario = "baseline.toml"')
    seeds = sweep.get("seeds", [1])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and s >= 0 for s in seeds)):
        raise SweepError(f"{path}: sweep.seeds: expected a list of whole numbers >= 0, e.g. "
                         f"seeds = [1, 2, 3]")
    metric = sweep.get("metric", "traced_complete_pct")
    metrics = metric if isinstance(metric, list) and metric else [metric]
    for m in metrics:
        if m not in METRICS and not (isinstance(m, str) and m.startswith(DOMAIN_PATHS)):
            raise SweepError(f"{path}: sweep.metric: unknown metric {m!r}. Use one of: "
                             f"{', '.join(METRICS)}, a path into a section of the domain "
                             f"summary ({', '.join(p + '<key>' for p in DOMAIN_PATHS)}), "
                             f"or a list of them.")
    params = sweep.get("param", [])
    if not isinstance(params, list) or not params:
        raise SweepError(f'{path}: sweep.param: add at least one [[sweep.param]] with path and '
                         f'values, e.g. path = "network.loss_probability", values = [0.0, 0.1]')
    for i, p in enumerate(params):
        if not isinstance(p, dict) or not isinstance(p.get("path"), str) \
                or not isinstance(p.get("values"), list) or not p["values"]:
            raise SweepError(f"{path}: sweep.param[{i}]: needs path (a string) and values (a "
                             f"non-empty list)")
        unknown = set(p) - {"path", "values", "labels"}
        if unknown:
            raise SweepError(f"{path}: sweep.param[{i}].{sorted(unknown)[0]}: unknown key. "
                             f"Allowed keys are: labels, path, values.")
        labels = p.get("labels")
        if labels is not None and (not isinstance(labels, list)
                                   or len(labels) != len(p["values"])):
            raise SweepError(f"{path}: sweep.param[{i}].labels: give one label per value")
    scenario = (path.parent / sweep["scenario"]).resolve()
    points = math.prod(len(p["values"]) for p in params) * len(seeds)
    if points > POINTS_MAX:
        raise SweepError(f"{path}: the grid has {points} runs; keep it at most {POINTS_MAX}")
    return {"name": sweep.get("name", path.stem), "scenario": scenario, "seeds": seeds,
            "metric": metrics[0], "metrics": metrics, "params": params, "spec": str(path)}


def tasks_for(spec: dict, out: Path) -> list[Task]:
    try:
        base, _ = read_raw(spec["scenario"])
    except VariantError as exc:
        raise SweepError(f"{spec['spec']}: sweep.scenario: {exc}") from None
    value_lists = []
    for p in spec["params"]:
        labels = p.get("labels") or [_show(v) for v in p["values"]]
        value_lists.append(list(zip(p["values"], labels)))
    tasks = []
    for point_index, point in enumerate(itertools.product(*value_lists)):
        changes = [(p["path"], value) for p, (value, _) in zip(spec["params"], point)]
        meta = [(p["path"], label) for p, (_, label) in zip(spec["params"], point)]
        for seed in spec["seeds"]:
            label = f"p{point_index:04d}-s{seed}"
            header = "sweep variant: " + ", ".join(f"{k} = {v}" for k, v in meta) + \
                f", seed {seed}"
            try:
                text = variant_text(base, changes + [("scenario.seed", seed)], header)
            except VariantError as exc:
                raise SweepError(f"{spec['spec']}: sweep.param: {exc}") from None
            tasks.append(Task(label, text, str(out / "variants" / f"{label}.toml"),
                              tuple(meta) + (("point", point_index), ("seed", seed))))
    return tasks


def run_sweep(spec_path: Path, out: Path, workers: int = 1, dask_address: str | None = None,
              progress=None) -> dict:
    spec = load_spec(spec_path)
    tasks = tasks_for(spec, out)
    rows = run_all(tasks, workers=workers, dask_address=dask_address, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    param_cols = [p["path"] for p in spec["params"]]
    extra = [m for m in spec["metrics"] if m not in METRICS]
    for row in rows:
        for m in extra:
            row[m] = domain_value(row.get("domain") or {}, m)
    columns = ["label", "point", "seed", *param_cols, *METRICS, *extra, "trace_sha256",
               "error", "reproduce"]
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    aggregate = _aggregate(rows, spec, param_cols)
    with (out / "aggregate.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(aggregate[0]) if aggregate else param_cols)
        writer.writeheader()
        writer.writerows(aggregate)
    _plot(aggregate, rows, spec, param_cols, out / "sweep.png")
    result = {"name": spec["name"], "scenario": str(spec["scenario"]), "metric": spec["metric"],
              "metrics": spec["metrics"],
              "runs": len(rows), "failed": sum(1 for r in rows if r["error"]),
              "aggregate": aggregate}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    from scenarios.report.sweep import write_sweep_report  # matplotlib loads only here
    write_sweep_report(result, sweep_figure(aggregate, rows, spec, param_cols), axis_label,
                       param_cols, out / "report.html")
    return result


def _aggregate(rows: list[dict], spec: dict, param_cols: list[str]) -> list[dict]:
    """Per grid point: the first metric's mean and 95% interval as `mean`, `ci95_low`,
    `ci95_high`; every further metric's as `<metric>_mean`, `<metric>_ci95_low`, .... And the
    paired difference from the first grid point, seed by seed (`delta_mean`, `delta_ci95_low`,
    `delta_ci95_high`, and `<metric>_delta_...`): every point runs the same seeds, so the
    difference is free of the variation between seeds that widens the plain intervals."""
    points: dict[int, list[dict]] = {}
    for row in rows:
        points.setdefault(row["point"], []).append(row)
    first = min(points) if points else 0
    out = []
    for point in sorted(points):
        group = points[point]
        entry = {c: group[0][c] for c in param_cols}
        entry.update(runs=len(group), failed=sum(1 for r in group if r["error"]))
        for i, metric in enumerate(spec.get("metrics", [spec["metric"]])):
            prefix = "" if i == 0 else f"{metric}_"
            by_seed = _values_by_seed(group, metric)
            reference = _values_by_seed(points[first], metric)
            values = list(by_seed.values())
            entry.update(zip((f"{prefix}mean", f"{prefix}ci95_low", f"{prefix}ci95_high"),
                             _interval(metric, values)))
            deltas = [v - reference[seed] for seed, v in by_seed.items() if seed in reference]
            entry.update(zip((f"{prefix}delta_mean", f"{prefix}delta_ci95_low",
                              f"{prefix}delta_ci95_high"), _interval("", deltas)))
        out.append(entry)
    return out


def _values_by_seed(group: list[dict], metric: str) -> dict:
    return {r["seed"]: float(r[metric]) for r in group
            if not r["error"] and isinstance(r.get(metric), (int, float))}


def _interval(metric: str, values: list[float]) -> tuple:
    """Mean and 95% interval (None, None, None without values). A metric's interval is a
    percentile bootstrap of the mean (`_bootstrap`): every resampled mean lies between the
    smallest and the largest value, so a percentage never passes 100, a rate 1 or a mass 0, by
    construction. A paired difference (`metric` "") has no such bound: Student's t."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if metric:
        low, high = _bootstrap(values)
    else:
        half = 0.0
        if len(values) > 1:
            df = len(values) - 1
            t = next((T95[d] for d in sorted(T95) if d >= df), 1.96)
            half = t * statistics.stdev(values) / math.sqrt(len(values))
        low, high = mean - half, mean + half
    return round(mean, 4), round(low, 4), round(high, 4)


def _bootstrap(values: list[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles (nearest rank) of the means of BOOTSTRAP_RESAMPLES
    resamples of `values`, drawn with replacement by a generator seeded with BOOTSTRAP_SEED:
    the same values give the same interval on every machine and every worker count."""
    rng = random.Random(BOOTSTRAP_SEED)
    n = len(values)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    low = means[max(0, math.ceil(0.025 * BOOTSTRAP_RESAMPLES) - 1)]
    high = means[math.ceil(0.975 * BOOTSTRAP_RESAMPLES) - 1]
    return low, high


# Metric names in words, with their units, for the plot's axes; a path into the domain summary
# (`detection_rate_by_kind.smuggle`) is named by its section and key (`axis_label`).
AXIS_LABELS = {
    "heights_committed": "heights committed", "txs_committed": "transactions committed",
    "safety_ok": "runs with safety held (share)", "liveness_ok": "runs with liveness shown (share)",
    "latency_ticks_p50": "median commit latency (ticks)",
    "latency_ticks_p99": "99th percentile commit latency (ticks)",
    "byzantine_power_fraction": "Byzantine voting power (share)", "wall_s": "wall time (s)",
    "shipments": "shipments", "shipped_kg": "mass shipped (kg)", "licit_kg": "licit mass (kg)",
    "traced_complete_pct": "licit mass traced end to end (%)",
    "detection_rate": "diversions detected (share)", "leaked_kg": "diverted mass leaked (kg)",
    "false_flags": "false flags", "coverage_gap_flags": "coverage-gap flags",
    "dark_kg": "mass out of complete custody (kg)", "missed_count": "diversions missed",
    "illicit.kg": "illicit mass attempted (kg)", "illicit.detected": "illicit attempts detected",
    "illicit.leaked_kg": "illicit mass leaked (kg)", "illicit.seized_kg": "illicit mass seized (kg)",
    "inspections.count": "inspections", "inspections.seized_kg": "mass seized at inspections (kg)",
}
_PATH_LABELS = {
    "detection_rate_by_kind.": "{key} diversions detected (share)",
    "leaked_kg_by_kind.": "mass leaked by {key} diversions (kg)",
    "diversions_flagged.": "{key} diversions flagged", "diversions_injected.": "{key} diversions",
    "flags_by_kind.": "{key} flags", "traced_kg_by_nation.": "mass traced in {key} (kg)",
    "dark_kg_by_nation.": "dark mass in {key} (kg)", "illicit.": "illicit: {key}",
    "inspections.": "inspections: {key}", "pen_objections.": "PEN objections: {key}",
}


def axis_label(name: str) -> str:
    """A metric or parameter in words, with its unit where the name gives one:
    `traced_complete_pct` -> "licit mass traced end to end (%)", `leaked_kg_by_kind.smuggle` ->
    "mass leaked by smuggle diversions (kg)", `network.loss_probability` -> "network: loss
    probability"."""
    if name in AXIS_LABELS:
        return AXIS_LABELS[name]
    for prefix, words in _PATH_LABELS.items():
        if name.startswith(prefix):
            return words.format(key=name[len(prefix):].replace("_", " "))
    table, _, key = name.rpartition(".")
    words = key.replace("_", " ")
    for suffix, unit in (("_kg", "kg"), ("_pct", "%"), ("_ticks", "ticks"), ("_s", "s")):
        if key.endswith(suffix):
            words = f"{key.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return f"{table.replace('_', ' ')}: {words}" if table else words


def _plot(aggregate: list[dict], rows: list[dict], spec: dict, param_cols: list[str],
          path: Path) -> None:
    import matplotlib.pyplot as plt
    fig = sweep_figure(aggregate, rows, spec, param_cols)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def sweep_figure(aggregate: list[dict], rows: list[dict], spec: dict, param_cols: list[str]):
    """One panel per metric: each grid point's mean with its 95% interval, and each seed's own
    value as a small point beside it (a few seeds hide nothing behind a mean)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    first = param_cols[0]
    metrics = spec.get("metrics", [spec["metric"]])
    fig, axes = plt.subplots(1, len(metrics), figsize=(7 if len(metrics) == 1 else
                                                       4.2 * len(metrics), 4), squeeze=False)
    groups: dict[tuple, list[dict]] = {}
    for entry in aggregate:
        groups.setdefault(tuple(entry[c] for c in param_cols[1:]), []).append(entry)
    x_of = {}
    for entry in aggregate:
        x_of.setdefault(str(entry[first]), len(x_of))
    by_point: dict[tuple, list[dict]] = {}
    for row in rows:
        by_point.setdefault(tuple(str(row[c]) for c in param_cols), []).append(row)
    offsets = [0.0] if len(groups) == 1 else \
        [(k - (len(groups) - 1) / 2) * 0.12 for k in range(len(groups))]
    for i, (metric, ax) in enumerate(zip(metrics, axes[0])):
        prefix = "" if i == 0 else f"{metric}_"
        mean, low, high = f"{prefix}mean", f"{prefix}ci95_low", f"{prefix}ci95_high"
        seeds_labelled = False
        for offset, (key, entries) in zip(offsets, sorted(groups.items(),
                                                          key=lambda kv: str(kv[0]))):
            shown = [e for e in entries if e[mean] is not None]
            xs = [x_of[str(e[first])] + offset for e in shown]
            err = [[e[mean] - e[low] for e in shown], [e[high] - e[mean] for e in shown]]
            label = ", ".join(f"{c}={v}" for c, v in zip(param_cols[1:], key)) or None
            line = ax.errorbar(xs, [e[mean] for e in shown], yerr=err, marker="o", capsize=4,
                               label=label)
            for x, e in zip(xs, shown):
                values = [float(r[metric]) for r in by_point.get(
                    tuple(str(e[c]) for c in param_cols), [])
                    if not r["error"] and isinstance(r.get(metric), (int, float))]
                ax.scatter([x + 0.04] * len(values), values, s=12, alpha=0.6,
                           color=line[0].get_color(), edgecolors="none",
                           label=None if seeds_labelled else "one seed")
                seeds_labelled = seeds_labelled or bool(values)
        ax.set_xticks(range(len(x_of)), list(x_of))
        ax.set_xlabel(axis_label(first))
        ax.set_ylabel(axis_label(metric))
        ax.tick_params(axis="x", labelrotation=20)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{spec['name']}\n(mean, 95% interval and each of {len(spec['seeds'])} "
                 f"seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def _show(value) -> str:
    if isinstance(value, list):
        return "+".join(str(v) for v in value) or "none"
    return str(value)
