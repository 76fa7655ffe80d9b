"""What several commands print alike: the consoles and the table of a run's summary (`chemtrace
run` and `chemtrace cluster`)."""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from scenarios.sim.summary import RunSummary


# Every console of the CLI prints text as it is: Rich markup is off, so a message that quotes a
# scenario's `[scenario]` or `[[nation]]` keeps its brackets. Colour comes from `Text` styles
# (`styled`), never from markup in a string.


def plain_console(**kwargs) -> Console:
    """stdout (or stderr=True), markup off, no highlighting, lines never wrapped."""
    return Console(highlight=False, soft_wrap=True, markup=False, **kwargs)


def wide_console(width: int = 200) -> Console:
    """Tables are wide: when output goes to a file or pipe, do not squeeze them to 80 columns.
    A positive COLUMNS in the environment wins, on a terminal or not."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return plain_console(width=int(columns))
    return plain_console(width=None if sys.stdout.isatty() else width)


# `--json` means one thing in every command: machine output on stdout, and nothing else there
# (tables are left out, other lines go to stderr). Where a file is wanted too, `--json-file FILE`
# writes the same document (bench, bench-live and mutants took `--json FILE` for that before).


def add_json_flag(parser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as JSON on stdout, and no table (other lines go to "
                             "stderr)")


def add_json_file_flag(parser, what: str) -> None:
    parser.add_argument("--json-file", type=Path, metavar="FILE",
                        help=f"also write {what} as JSON to FILE")


def human_console(args) -> Console:
    """Where a command's tables and messages go: stdout, or stderr when `--json` claims stdout."""
    return stderr_console() if getattr(args, "json", False) else wide_console()


def print_json(document: object) -> None:
    """The `--json` output: one indented JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def write_json_file(document: object, path: Path) -> None:
    """The `--json-file FILE` output: the same document, its folder made if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def stderr_console() -> Console:
    """Errors and failure stories, on stderr, never wrapped."""
    return plain_console(stderr=True)


def styled(text: str, style: str) -> Text:
    """`text` shown in `style` (a table cell, a verdict), with no markup read in it."""
    return Text(text, style=style)


def liveness_text(summary: RunSummary) -> str:
    """`ok`, `stalled`, or `not judged` with the reason (the run was too short to say)."""
    if summary.liveness_verdict == "not judged":
        return f"not judged: {summary.liveness}"
    return summary.liveness_verdict


def new_run_folder(root: Path, prefix: str) -> Path:
    """A folder of its own for one run: `root/<prefix>-<n>`, n one more than the highest taken
    (made here, so two runs started together cannot both get it), and `root/latest` pointing
    at it. Output of an earlier run is never overwritten. The prefix is made one plain
    folder name first (`args.run_folder`), so no name leads out of `root`."""
    from scenarios.cli.args import run_folder
    prefix = run_folder(prefix).name
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in root.glob(f"{glob.escape(prefix)}-*")
             if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", p.name))]
    n = max(taken, default=0) + 1
    while True:
        folder = root / f"{prefix}-{n}"
        try:
            folder.mkdir()
            break
        except FileExistsError:
            n += 1
    latest = root / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(folder.name, target_is_directory=True)
    return folder


def summary_table(summary: RunSummary) -> Table:
    table = Table(title=f"{summary.scenario} (seed {summary.seed})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    ok = styled("ok", "green") if summary.expect_ok else styled("FAILED", "red")
    rows = [
        ("nations", summary.nations),
        ("ticks", f"{summary.ticks:,}"),
        ("heights committed", f"{summary.heights_committed:,}"),
        ("txs committed", f"{summary.txs_committed:,} of {summary.txs_submitted:,}"),
        ("safety", "ok" if summary.safety_ok else "VIOLATED"),
        ("liveness", liveness_text(summary)),
        ("expectation", ok),
        ("latency p50 / p99 (ticks)", summary.latency_text()),
        ("messages sent / dropped", f"{summary.messages_sent:,} / "
                                    f"{summary.messages_dropped:,}"),
        ("equivocation evidence", len(summary.evidence)),
        ("wall time (s)", f"{summary.wall_s:.2f}"),
        ("txs per wall second", f"{summary.txs_per_wall_s:,.0f}"),
    ]
    if summary.signatures != "ed25519":  # the default goes unsaid, as in the trace
        rows.append(("signatures", f"{summary.signatures} (not Ed25519: docs/performance.md)"))
    d = summary.domain or {}
    if d.get("shipments"):
        rows += [
            ("licit shipments (kg)", f"{d['licit_shipments']:,} ({d['licit_kg']:,.0f} kg)"),
            ("licit traced complete", "-" if d["traced_complete_pct"] is None
             else f"{d['traced_complete_pct']}%"),
        ]
        illicit = d.get("illicit") or {}
        if illicit.get("attempts"):
            rows.append(("illicit attempts (kg)",
                         f"{illicit['attempts']:,} ({illicit['kg']:,.0f} kg)"))
        rows += [
            ("diversions flagged", f"{sum(d['diversions_flagged'].values())} of "
                                   f"{sum(d['diversions_injected'].values())}"),
            ("false flags", d["false_flags"]),
            ("leaked kg", f"{d['leaked_kg']:,.1f}"),
        ]
        if (d.get("inspections") or {}).get("count"):
            rows.append(("inspections (kg seized)", f"{d['inspections']['count']:,} "
                         f"({d['inspections']['seized_kg']:,.1f} kg)"))
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else str(value))
    return table


def expectation_failure(summary: RunSummary) -> list[str]:
    """Why a run missed its [expect], one plain line each (print them with markup off): the
    verdicts against the expectation, what a `not judged` run lacks, the first violations."""
    lines = [f"expectation failed: safety {'ok' if summary.safety_ok else 'VIOLATED'} (expected "
             f"{summary.expect['safety']}), liveness {summary.liveness_verdict} (expected "
             f"{summary.expect['liveness']})"]
    if summary.liveness_verdict == "not judged" and summary.expect["liveness"] != "any":
        lines.append(f"liveness not judged: {summary.liveness}")
    lines += [f"  {json.dumps(v, sort_keys=True)}" for v in summary.violations[:5]]
    return lines


def run_with_progress(console: Console, quiet: bool, description: str, total_ticks: int,
                      run):
    """`run(progress)` (a world's or a cluster's `run`), with a tick bar on `console` that is
    cleared when it ends, or with no bar when `quiet`."""
    if quiet:
        return run(None)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("tick {task.completed:,.0f}/{task.total:,.0f}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(description, total=total_ticks)
        return run(lambda tick, total: progress.update(task, completed=tick))
