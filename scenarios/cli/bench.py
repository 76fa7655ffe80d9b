"""`chemtrace bench`: the simulated world's throughput against the signature floor, consensus
alone and the fuzzer with Ed25519 and with modelled signatures. `chemtrace bench-global-day`:
the global day's wall time and peak memory. `chemtrace bench-targets`: issue 19's targets
against the files of one `make bench` run (scenarios/bench/targets.py).

    chemtrace bench [--quick] [--json] [--json-file FILE]
    chemtrace bench-global-day [--scenario FILE] [--json] [--json-file FILE]
    chemtrace bench-targets [--runs DIR] [--out FILE] [--json]

--json prints the results on stdout instead of the table; --json-file FILE writes them to FILE
(this was `--json FILE` before); the plot goes beside that file, or to runs/bench.png.
It reports and never fails: exit 0 (2 for a bad command line). The live benchmark is
`chemtrace bench-live` (scenarios/cli/live.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from scenarios.cli.args import ExitCode
from scenarios.cli.output import (add_json_file_flag, add_json_flag, human_console, print_json,
                                  stderr_console, wide_console, write_json_file)

COMMANDS = ("bench", "bench-global-day", "bench-targets")


def add_parsers(sub) -> None:
    bench = sub.add_parser("bench", help="measure throughput against the signature floor")
    bench.add_argument("--quick", action="store_true", help="a shorter run")
    add_json_flag(bench, "the results")
    add_json_file_flag(bench, "the results")
    day = sub.add_parser("bench-global-day", help="the global day's wall time and peak memory, "
                         "measured in a child process")
    day.add_argument("--scenario", type=Path, help="the scenario to run (default "
                     "scenarios/library/global-day.toml)")
    add_json_flag(day, "the figures")
    add_json_file_flag(day, "the figures")
    targets = sub.add_parser("bench-targets", help="issue 19's targets against one make bench "
                             "run's files")
    targets.add_argument("--runs", type=Path, default=Path("runs"), help="the folder of the "
                         "bench files (default runs)")
    targets.add_argument("--out", type=Path, help="also write the table (markdown) here")
    add_json_flag(targets, "the rows")


def dispatch(args: argparse.Namespace) -> ExitCode:
    if args.command == "bench-global-day":
        return cmd_global_day(args)
    if args.command == "bench-targets":
        return cmd_targets(args)
    return cmd_bench(args)


def cmd_global_day(args: argparse.Namespace) -> ExitCode:
    from scenarios.bench.targets import GLOBAL_DAY, global_day
    path = args.scenario or GLOBAL_DAY
    if not path.is_file():
        stderr_console().print(f"chemtrace bench-global-day: {path}: no such scenario file; "
                               f"give --scenario a scenario's TOML file", markup=False)
        return ExitCode.USAGE
    console = human_console(args)
    with console.status(f"running {path.name} in a child process (minutes)..."):
        result = global_day(path)
    if args.json:
        print_json(result)
    else:
        console.print(f"{result['scenario']}: {result['txs_committed']:,} of "
                      f"{result['txs_submitted']:,} transactions committed, "
                      f"{result['heights_committed']} heights, safety "
                      f"{'ok' if result['safety_ok'] else 'VIOLATED'}, liveness "
                      f"{'ok' if result['liveness_ok'] else 'not shown'}, expectation "
                      f"{'met' if result['expect_ok'] else 'NOT met'}")
        console.print(f"wall {result['wall_s']:.1f} s (event loop {result['loop_wall_s']:.1f} s), "
                      f"peak RSS {result['peak_rss_mib'] / 1024:.2f} GiB, trace "
                      f"{result['trace_sha256'][:16]}")
    if args.json_file:
        write_json_file(result, args.json_file)
        console.print(f"wrote {args.json_file}")
    return ExitCode.OK


def cmd_targets(args: argparse.Namespace) -> ExitCode:
    from scenarios.bench.targets import evaluate, file_times, load, table
    files = load(args.runs)
    rows = evaluate(files)
    text = table(rows, files)
    times = file_times(args.runs)
    if times:
        text += "\n\nFiles: " + "; ".join(f"{name} {when}" for name, when in times.items())
    if args.json:
        print_json(rows)
    else:
        wide_console().print(text, markup=False, highlight=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return ExitCode.OK


def cmd_bench(args: argparse.Namespace) -> ExitCode:
    from scenarios.bench.sim import (CONSENSUS_TARGET_HEIGHTS_PER_S, FUZZ_MODELLED_TARGET_PER_S,
                                     FUZZ_TARGET_PER_S, RATIO_TARGETS, run_bench, write_json,
                                     write_plot)
    console = human_console(args)
    with console.status("measuring...") as status:
        result = run_bench(quick=args.quick, progress=lambda text: status.update(text))
    table = Table(title=f"chemtrace bench ({'quick' if args.quick else 'full'}, medians of "
                        f"{result['parameters']['repetitions']})")
    for name in ("nations", "txs committed", "txs/wall s", "heights/wall s",
                 "deliveries/wall s", "peak RSS MiB", "floor tx/s", "ratio to floor", "target"):
        table.add_column(name, justify="right")
    for r in result["sections"]["sim"]["runs"]:
        target = RATIO_TARGETS.get(r["nations"])
        table.add_row(str(r["nations"]), f"{r['txs_committed']:,}", f"{r['txs_per_wall_s']:,.0f}",
                      f"{r['heights_per_wall_s']:,.1f}", f"{r['deliveries_per_wall_s']:,.0f}",
                      f"{r['peak_rss_mib']:,.0f}", f"{r['floor_tx_per_s']:,}",
                      f"{r['ratio_to_floor']:.3f}",
                      "" if target is None else f">= {target}")
    consensus = result["sections"]["consensus"]
    heights = Table(title=f"consensus alone: no workload, {consensus['latency_ticks']}-tick "
                          f"delay, {consensus['heights']} heights a run")
    for name in ("nations", "signatures", "heights/wall s", "deliveries/wall s",
                 "us/delivery", "signatures checked/height", "Ed25519 ceiling heights/s",
                 "modelled / ed25519", "target"):
        heights.add_column(name, justify="right")
    for r in consensus["runs"]:
        for mode in ("ed25519", "modelled"):
            m = r[mode]
            target = (f">= {CONSENSUS_TARGET_HEIGHTS_PER_S:,.0f}"
                      if mode == "ed25519" and r["nations"] == 4 else "")
            heights.add_row(str(r["nations"]), mode, f"{m['heights_per_wall_s']:,.1f}",
                            f"{m['deliveries_per_wall_s']:,.0f}", f"{m['us_per_delivery']:,.1f}",
                            f"{m['signatures_checked_per_height']:g}",
                            "" if m.get("ceiling_heights_per_s") is None
                            else f"{m['ceiling_heights_per_s']:,.0f}",
                            f"{r['modelled_over_ed25519']:.2f}" if mode == "modelled" else "",
                            target)
    if args.json:
        print_json(result)
    else:
        console.print(table)
        console.print(heights)
    sim, chain = result["sections"]["sim"], result["sections"]["chaincode"]
    growth = sim["cost_growth_exponent"]
    console.print(f"floor: Ed25519 sign + verify per second  {result['floor_tx_per_s']:,} at "
                  "the start (each row's ratio is to the floor timed beside its runs)")
    console.print(f"cost per committed tx grows as n^{growth} from n = 16"
                  if growth is not None else "cost growth: needs two sizes from n = 16")
    console.print(f"chaincode us per custody event (cold / warm cache)  "
                  f"{chain['cold_us_per_event']} / {chain['warm_us_per_event']}")
    fz = result["sections"]["fuzz"]
    console.print(f"fuzz: n=4 scenarios (~5 heights) per core second  "
                  f"{result['fuzz_scenarios_per_s']:,.1f} with Ed25519 (target >= "
                  f"{FUZZ_TARGET_PER_S:g}), {result['fuzz_modelled_scenarios_per_s']:,.1f} with "
                  f"modelled signatures (target >= {FUZZ_MODELLED_TARGET_PER_S:g}): "
                  f"{fz['modelled_over_ed25519']:.2f} times")
    console.print(f"fuzz: deliveries per scenario  {fz['deliveries_per_scenario']:,.0f}; CPU us "
                  f"per delivery (all of the search's CPU time)  {fz['cpu_us_per_delivery']} "
                  f"with Ed25519, {fz['modelled']['cpu_us_per_delivery']} modelled")
    if args.json_file:
        write_json(result, args.json_file)
        console.print(f"wrote {args.json_file}")
    if not args.quick:
        plot = (args.json_file or Path("runs/bench.json")).with_suffix(".png")
        write_plot(result, plot)
        console.print(f"wrote {plot}")
    return ExitCode.OK
