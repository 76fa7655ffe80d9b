"""`chemtrace weak-links` and `chemtrace sweep`: studies made of many runs.

    chemtrace weak-links SCENARIO [--k K] [--workers W] [--out DIR] [--transit-only] [--json]
    chemtrace sweep SPEC [--workers W] [--dask ADDRESS] [--out DIR] [--json]

--json prints the study's result (weak_links.json, sweep.json) on stdout instead of the table.

Exit codes: 0; 1 when any of a sweep's runs failed (the sweep runs the rest, lists the failed
ones with their errors in results.csv and says how many); 2 for a bad command line, scenario or
sweep spec.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scenarios.cli.args import ExitCode
from scenarios.cli.library import scenario_path
from scenarios.cli.output import (add_json_flag, new_run_folder, print_json, stderr_console,
                                  wide_console)
from scenarios.spec.loader import ScenarioError
from scenarios.studies.sweep import SweepError, run_sweep
from scenarios.studies.variants import VariantError
from scenarios.studies.weaklinks import study

COMMANDS = ("weak-links", "sweep")


def add_parsers(sub) -> None:
    weak = sub.add_parser("weak-links", help="rank the nations whose absence or corruption "
                          "breaks tracing or consensus")
    weak.add_argument("scenario", type=lambda text: Path(scenario_path(text)),
                      help="scenario file (TOML), or a library scenario by name")
    weak.add_argument("--k", type=int, default=2, help="largest set size to study (default 2)")
    weak.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    weak.add_argument("--out", type=Path, help="output folder (default runs/weak-links-<name>)")
    weak.add_argument("--transit-only", action="store_true",
                      help="simulate only the transit nations of the lanes (which hubs matter)")
    add_json_flag(weak, "the study (weak_links.json)")
    sweep = sub.add_parser("sweep", help="run a grid of scenario parameters times seeds")
    sweep.add_argument("spec", type=Path, help="sweep spec (TOML with a [sweep] table)")
    sweep.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    sweep.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--out", type=Path, help="output folder (default runs/sweep-<name>)")
    add_json_flag(sweep, "the sweep (sweep.json)")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_weak_links(args) if args.command == "weak-links" else cmd_sweep(args)


def _progress(console: Console, what: str):
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def _console(args: argparse.Namespace) -> Console:
    """Tables and messages: stdout, or stderr when --json claims stdout."""
    return stderr_console() if args.json else wide_console(width=160)


def cmd_weak_links(args: argparse.Namespace) -> ExitCode:
    console = _console(args)
    err = stderr_console()
    if not 1 <= args.k <= 4:
        err.print(f"error: --k {args.k}: the largest set of nations to study must be 1 to 4 "
                  f"(the default is 2)")
        return ExitCode.USAGE
    if args.workers < 1:
        err.print(f"error: --workers {args.workers}: at least 1 local process")
        return ExitCode.USAGE
    out = args.out or new_run_folder(Path("runs"), f"weak-links-{args.scenario.stem}")
    try:
        with _progress(console, "weak-link runs") as bar:
            task = bar.add_task("runs", total=None)
            result = study(args.scenario, args.k, args.workers, out,
                           progress=lambda done, total: bar.update(task, completed=done,
                                                                   total=total),
                           transit_only=args.transit_only)
    except (ScenarioError, VariantError) as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    if args.json:
        print_json(result)
    table = Table(title=f"weak links of {result['scenario']}: top 10 by impact")
    for col in ("rank", "change", "impact kg", "leaked kg", "traced %", "detection",
                "latency p50", "live"):
        table.add_column(col, justify="right" if col not in ("change",) else "left")
    for r in result["simulation"][:10]:
        table.add_row(str(r["rank"]), r["label"], _fmt(r.get("impact_kg")),
                      _fmt(r.get("leaked_kg")), _fmt(r.get("traced_complete_pct")),
                      _fmt(r.get("detection_rate")), _fmt(r.get("latency_ticks_p50")),
                      "ERROR" if r.get("error") else _live(r.get("liveness_ok")))
    if not args.json:
        console.print(table)
    s, c = result["structure"], result["consensus"]
    hubs = [e for e in s["removal_sets"][0]["best_transit"]]
    console.print("structure: transit hubs darkening the most mass when out: "
                  + (", ".join(f"{'+'.join(h['nations'])} ({h['untraceable_pct']}%)"
                               for h in hubs) or "none"))
    expected = s.get("expected_transit_ranking") or []
    console.print("expected transit share of the mass (source share x lane share): "
                  + (", ".join(f"{e['nation']} ({e['expected_transit_pct']}%)"
                               for e in expected[:6]) or "none"))
    console.print(f"consensus: {c['liveness']['smallest_size']} nation(s) absent stop commits; "
                  f"{c['safety']['smallest_size']} corrupt can break agreement")
    console.print(f"wrote {out / 'ranking.csv'}, {out / 'weak_links.json'} and "
                  f"{out / 'report.html'}")
    return ExitCode.OK


def cmd_sweep(args: argparse.Namespace) -> ExitCode:
    console = _console(args)
    err = stderr_console()
    if args.workers < 1:
        err.print(f"error: --workers {args.workers}: at least 1 local process")
        return ExitCode.USAGE
    out = args.out or new_run_folder(Path("runs"), f"sweep-{args.spec.stem}")
    try:
        with _progress(console, "sweep runs") as bar:
            task = bar.add_task("runs", total=None)
            result = run_sweep(args.spec, out, workers=args.workers, dask_address=args.dask,
                               progress=lambda done, total: bar.update(task, completed=done,
                                                                       total=total))
    except (SweepError, VariantError) as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    if args.json:
        print_json(result)
    metrics = result["metrics"]
    table = Table(title=f"{result['name']}: {', '.join(metrics)} per grid point")
    prefixes = [""] + [f"{m}_" for m in metrics[1:]]
    stats = {f"{p}{d}{k}" for p in prefixes for d in ("", "delta_")
             for k in ("mean", "ci95_low", "ci95_high")}
    keys = [k for k in result["aggregate"][0] if k not in {"runs", "failed"} | stats]
    for col in keys + ["runs", "failed"]:
        table.add_column(col)
    for i, metric in enumerate(metrics):
        table.add_column(f"{metric} mean")
        table.add_column("95% interval")
        if i == 0:
            table.add_column("paired change from the first point (95%)")
    for e in result["aggregate"]:
        cells = [str(e[k]) for k in keys] + [str(e["runs"]), str(e["failed"])]
        for p in prefixes:
            mean = e[f"{p}mean"]
            cells += [_fmt(mean), "-" if mean is None else
                      f"{e[f'{p}ci95_low']} .. {e[f'{p}ci95_high']}"]
            if not p:
                delta = e["delta_mean"]
                cells.append("-" if delta is None else f"{_fmt(delta)} ({e['delta_ci95_low']} "
                             f".. {e['delta_ci95_high']})")
        table.add_row(*cells)
    if not args.json:
        console.print(table)
    console.print(f"wrote {out / 'results.csv'}, {out / 'aggregate.csv'}, {out / 'sweep.png'}, "
                  f"{out / 'sweep.json'} and {out / 'report.html'}")
    if result["failed"]:
        # The sweep went on past them, but its figures lack those runs: not a success.
        err.print(f"{result['failed']} of {result['runs']} runs failed; their errors and "
                  f"reproduce commands are in {out / 'results.csv'}", markup=False)
        return ExitCode.EXPECTATION_FAILED
    return ExitCode.OK


def _live(ok: bool | None) -> str:
    """A variant's liveness: yes, no, or not judged (the run ended before the window closed)."""
    return "not judged" if ok is None else ("yes" if ok else "no")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
