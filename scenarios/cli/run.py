"""`chemtrace run`: one scenario file on the simulated world.

    chemtrace run FILE [--seed N] [--out DIR] [--ticks-max N] [--quiet] [--json]

With --json, stdout holds the run's summary.json and nothing else.

Exit codes: 0 when the scenario's [expect] holds, 1 when it does not, 2 for a bad command line or
scenario file.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path


from scenarios.assemble import build_world
from scenarios.cli.args import ExitCode, non_negative, positive
from scenarios.cli.library import scenario_path
from scenarios.cli.output import (add_json_flag, expectation_failure, human_console,
                                  new_run_folder, print_json, run_with_progress, stderr_console,
                                  summary_table)
from scenarios.spec.loader import ScenarioError, load_scenario
from scenarios.trade.workload import TradeError

COMMANDS = ("run",)


def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="run a scenario file on the simulated world")
    run.add_argument("file", type=scenario_path,
                     help="scenario file (TOML or script), or a library scenario's name "
                          "(chemtrace list), e.g. baseline")
    run.add_argument("--seed", type=non_negative, help="override [scenario].seed")
    run.add_argument("--out", type=Path, help="output folder (default: a new "
                     "runs/<file name>-<seed>-<n>/, with runs/latest pointing at it)")
    run.add_argument("--ticks-max", type=positive, help="override [scenario].ticks_max")
    run.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_json_flag(run, "the run's summary (summary.json)")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_run(args)


def reproduce_command(file: str, seed: int, ticks_max: int) -> str:
    return f"chemtrace run {shlex.quote(file)} --seed {seed} --ticks-max {ticks_max}"


def cmd_run(args: argparse.Namespace) -> ExitCode:
    console = human_console(args)
    err = stderr_console()
    try:
        scenario = load_scenario(args.file).with_overrides(seed=args.seed,
                                                           ticks_max=args.ticks_max)
    except ScenarioError as exc:
        err.print(f"error: {exc}")
        return ExitCode.USAGE
    try:
        out = args.out or new_run_folder(Path("runs"), f"{Path(args.file).stem}-{scenario.seed}")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"error: cannot create output folder {exc.filename}: {exc.strerror}")
        return ExitCode.USAGE
    try:
        world = build_world(scenario, trace_path=out / "trace.jsonl", ledger_path=out / "ledger.jsonl")
    except TradeError as exc:
        err.print(f"error: {scenario.source}: {exc}")
        return ExitCode.USAGE
    summary = run_with_progress(console, args.quiet, f"{scenario.name} seed {scenario.seed}",
                                scenario.ticks_max, world.run)
    summary = summary.replace(
        reproduce=reproduce_command(args.file, scenario.seed, scenario.ticks_max))
    (out / "summary.json").write_text(
        json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n")
    from scenarios.report.run import write_report  # matplotlib loads only for a run, not for every command
    write_report(world, summary, out / "report.html")
    if args.json:
        print_json(summary.to_json())
    elif not args.quiet:
        console.print(summary_table(summary))
    console.print(f"wrote {out / 'summary.json'}, {out / 'report.html'}, {out / 'trace.jsonl'} "
                  f"and {out / 'ledger.jsonl'}")
    console.print(f"trace sha256 {summary.trace_sha256}")
    if summary.expect_ok:
        return ExitCode.OK
    if summary.unexpected_violations:
        err.print(f"BUG: a safety violation with Byzantine power "
                  f"{summary.byzantine_power_fraction:.3f} < 1/3; the protocol promises "
                  f"safety here")
    for line in expectation_failure(summary):
        err.print(line, markup=False)
    err.print(f"reproduce with: {summary.reproduce}", markup=False)
    return ExitCode.EXPECTATION_FAILED
