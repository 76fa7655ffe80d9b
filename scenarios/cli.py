"""The `chemtrace` command line.

    chemtrace run FILE [--seed N] [--out DIR] [--ticks-max N] [--quiet]

Exit codes: 0 when the scenario's [expect] holds, 1 when it does not, 2 for a bad command line or
scenario file.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .loader import ScenarioError, load_scenario
from .world import World

EXIT_OK, EXIT_EXPECT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chemtrace",
                     description="Simulate nations tracing precursor chemicals on a BFT ledger.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a scenario file on the simulated world")
    run.add_argument("file", help="scenario file (TOML)")
    run.add_argument("--seed", type=_non_negative, help="override [scenario].seed")
    run.add_argument("--out", type=Path, help="output folder (default runs/<name>-<seed>/)")
    run.add_argument("--ticks-max", type=_positive, help="override [scenario].ticks_max")
    run.add_argument("--quiet", action="store_true", help="no progress bar or table")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number >= 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    return EXIT_USAGE  # pragma: no cover - argparse enforces the sub-command


def reproduce_command(file: str, seed: int, ticks_max: int) -> str:
    return f"chemtrace run {shlex.quote(file)} --seed {seed} --ticks-max {ticks_max}"


def cmd_run(args: argparse.Namespace) -> int:
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        scenario = load_scenario(args.file)
    except ScenarioError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        return EXIT_USAGE
    scenario = scenario.with_overrides(seed=args.seed, ticks_max=args.ticks_max)
    out = args.out or Path("runs") / f"{scenario.name}-{scenario.seed}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"error: cannot create output folder {out}: {exc.strerror}")
        return EXIT_USAGE
    world = World(scenario, trace_path=out / "trace.jsonl")
    if args.quiet:
        summary = world.run()
    else:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("tick {task.completed:,.0f}/{task.total:,.0f}"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task(f"{scenario.name} seed {scenario.seed}",
                                     total=scenario.ticks_max)
            summary = world.run(lambda tick, total: progress.update(task, completed=tick))
    summary["reproduce"] = reproduce_command(args.file, scenario.seed, scenario.ticks_max)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    if not args.quiet:
        console.print(summary_table(summary))
    console.print(f"wrote {out / 'summary.json'} and {out / 'trace.jsonl'}")
    console.print(f"trace sha256 {summary['trace_sha256']}")
    if summary["expect_ok"]:
        return EXIT_OK
    err.print(f"[bold red]expectation failed[/]: safety_ok={summary['safety_ok']} "
              f"(expected {summary['expect']['safety']}), liveness_ok={summary['liveness_ok']} "
              f"(expected {summary['expect']['liveness']})")
    for violation in summary["violations"][:5]:
        err.print(f"  {json.dumps(violation, sort_keys=True)}", markup=False)
    err.print(f"reproduce with: {summary['reproduce']}", markup=False)
    return EXIT_EXPECT_FAILED


def summary_table(summary: dict) -> Table:
    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    ok = "[green]ok[/]" if summary["expect_ok"] else "[red]FAILED[/]"
    rows = [
        ("nations", summary["nations"]),
        ("ticks", f"{summary['ticks']:,}"),
        ("heights committed", f"{summary['heights_committed']:,}"),
        ("txs committed", f"{summary['txs_committed']:,} of {summary['txs_submitted']:,}"),
        ("safety", "ok" if summary["safety_ok"] else "VIOLATED"),
        ("liveness", "ok" if summary["liveness_ok"] else "stalled"),
        ("expectation", ok),
        ("latency p50 / p99 (ticks)",
         f"{summary['latency_ticks_p50']} / {summary['latency_ticks_p99']}"),
        ("messages sent / dropped", f"{summary['messages_sent']:,} / "
                                    f"{summary['messages_dropped']:,}"),
        ("equivocation evidence", len(summary["evidence"])),
        ("wall time (s)", f"{summary['wall_s']:.2f}"),
        ("txs per wall second", f"{summary['txs_per_wall_s']:,.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
