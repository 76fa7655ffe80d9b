"""`chemtrace bench`: the simulated world's throughput against the signature floor, consensus
alone and the fuzzer with Ed25519 and with modelled signatures.

    chemtrace bench [--quick] [--json] [--json-file FILE]

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
from scenarios.cli.output import add_json_file_flag, add_json_flag, human_console, print_json

COMMANDS = ("bench",)


def add_parsers(sub) -> None:
    bench = sub.add_parser("bench", help="measure throughput against the signature floor")
    bench.add_argument("--quick", action="store_true", help="a shorter run")
    add_json_flag(bench, "the results")
    add_json_file_flag(bench, "the results")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_bench(args)


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
                 "us/delivery", "modelled / ed25519", "target"):
        heights.add_column(name, justify="right")
    for r in consensus["runs"]:
        for mode in ("ed25519", "modelled"):
            m = r[mode]
            target = (f">= {CONSENSUS_TARGET_HEIGHTS_PER_S:,.0f}"
                      if mode == "ed25519" and r["nations"] == 4 else "")
            heights.add_row(str(r["nations"]), mode, f"{m['heights_per_wall_s']:,.1f}",
                            f"{m['deliveries_per_wall_s']:,.0f}", f"{m['us_per_delivery']:,.1f}",
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
