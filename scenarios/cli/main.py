"""The `chemtrace` command line.

    chemtrace run FILE [--seed N] [--out DIR] [--ticks-max N] [--quiet]
    chemtrace registry [--json]
    chemtrace bench [--quick] [--json FILE]
    chemtrace trace LOT --run DIR [--json]
    chemtrace list [--json]
    chemtrace mutants [--budget-s S] [--json FILE]   (scenarios/cli/mutants.py)
    chemtrace fuzz --budget-s S [--seed N] [--nations A..B] [--out DIR] [--junit FILE]
    chemtrace replay FILE                            (both in scenarios/cli/fuzz.py)
    chemtrace keys | genesis | broker-config         (scenarios/cli/chain.py)
    chemtrace node | cluster | bench-live            (scenarios/cli/live.py)

Exit codes: 0 when the scenario's [expect] holds, 1 when it does not, 2 for a bad command line or
scenario file.
"""

from __future__ import annotations

import argparse
import re
import ast
import json
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nodes.app.registry import load_registry

from scenarios.trade.custody import CustodyError, custody_chain, read_ledger
from scenarios.spec.loader import ScenarioError, load_scenario
from scenarios.trade.workload import TradeError
from scenarios.assemble import build_world
from scenarios.sim.summary import RunSummary

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
    bench = sub.add_parser("bench", help="measure throughput against the signature floor")
    bench.add_argument("--quick", action="store_true", help="a shorter run")
    bench.add_argument("--json", type=Path, help="also write the results to this file")
    reg = sub.add_parser("registry", help="list the tracked chemicals")
    reg.add_argument("--json", action="store_true", help="print JSON instead of a table")
    trace = sub.add_parser("trace", help="print one lot's custody chain from a run's ledger")
    trace.add_argument("lot", help="lot id, e.g. S00001-L0")
    trace.add_argument("--run", type=Path, required=True, help="output folder of a run")
    trace.add_argument("--json", action="store_true", help="print JSON instead of a table")
    from scenarios.cli.studies import add_parsers
    add_parsers(sub)
    from scenarios.cli.mutants import add_parser as add_mutants_parser
    add_mutants_parser(sub)
    from scenarios.cli.fuzz import add_parsers as add_fuzz_parsers
    add_fuzz_parsers(sub)
    from scenarios.cli.chain import add_parsers as add_live_parsers
    add_live_parsers(sub)
    from scenarios.cli.live import add_parsers as add_cluster_parsers
    add_cluster_parsers(sub)
    lib = sub.add_parser("list", help="list the library scenarios and the question each answers")
    lib.add_argument("--json", action="store_true", help="print JSON instead of a table")
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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _nation_range(text: str) -> tuple[int, int]:
    """`--nations A..B` (or `A`) of the commands that draw scenarios: fuzz and mutants."""
    from scenarios.search.strategies import NATIONS_MAX, NATIONS_MIN
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a range such as 4..7, got {text!r}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if not NATIONS_MIN <= lo <= hi <= NATIONS_MAX:
        raise argparse.ArgumentTypeError(f"expected {NATIONS_MIN} <= A <= B <= {NATIONS_MAX}, "
                                         f"got {text}")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "registry":
        return cmd_registry(args)
    if args.command == "bench":
        return cmd_bench(args)
    if args.command == "trace":
        return cmd_trace(args)
    if args.command == "list":
        return cmd_list(args)
    if args.command == "mutants":
        from scenarios.cli.mutants import cmd_mutants
        return cmd_mutants(args)
    if args.command in ("fuzz", "replay"):
        from scenarios.cli.fuzz import dispatch as fuzz_dispatch
        return fuzz_dispatch(args)
    if args.command in ("weak-links", "sweep"):
        from scenarios.cli.studies import dispatch
        return dispatch(args)
    if args.command in ("keys", "genesis", "broker-config"):
        from scenarios.cli.chain import dispatch as live_dispatch
        return live_dispatch(args)
    if args.command in ("node", "cluster", "bench-live"):
        from scenarios.cli.live import dispatch as cluster_dispatch
        return cluster_dispatch(args)
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
    try:
        world = build_world(scenario, trace_path=out / "trace.jsonl", ledger_path=out / "ledger.jsonl")
    except TradeError as exc:
        err.print(f"error: {scenario.source}: {exc}")
        return EXIT_USAGE
    if args.quiet:
        summary = world.run()
    else:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("tick {task.completed:,.0f}/{task.total:,.0f}"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task(f"{scenario.name} seed {scenario.seed}",
                                     total=scenario.ticks_max)
            summary = world.run(lambda tick, total: progress.update(task, completed=tick))
    summary = summary.replace(
        reproduce=reproduce_command(args.file, scenario.seed, scenario.ticks_max))
    (out / "summary.json").write_text(
        json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n")
    from scenarios.report.run import write_report  # matplotlib loads only for a run, not for every command
    write_report(world, summary, out / "report.html")
    if not args.quiet:
        console.print(summary_table(summary))
    console.print(f"wrote {out / 'summary.json'}, {out / 'report.html'}, {out / 'trace.jsonl'} "
                  f"and {out / 'ledger.jsonl'}")
    console.print(f"trace sha256 {summary.trace_sha256}")
    if summary.expect_ok:
        return EXIT_OK
    if summary.unexpected_violations:
        err.print(f"[bold red]BUG[/]: a safety violation with Byzantine power "
                  f"{summary.byzantine_power_fraction:.3f} < 1/3; the protocol promises "
                  f"safety here")
    err.print(f"[bold red]expectation failed[/]: safety_ok={summary.safety_ok} "
              f"(expected {summary.expect['safety']}), liveness_ok={summary.liveness_ok} "
              f"(expected {summary.expect['liveness']})")
    for violation in summary.violations[:5]:
        err.print(f"  {json.dumps(violation, sort_keys=True)}", markup=False)
    err.print(f"reproduce with: {summary.reproduce}", markup=False)
    return EXIT_EXPECT_FAILED


def summary_table(summary: RunSummary) -> Table:
    table = Table(title=f"{summary.scenario} (seed {summary.seed})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    ok = "[green]ok[/]" if summary.expect_ok else "[red]FAILED[/]"
    rows = [
        ("nations", summary.nations),
        ("ticks", f"{summary.ticks:,}"),
        ("heights committed", f"{summary.heights_committed:,}"),
        ("txs committed", f"{summary.txs_committed:,} of {summary.txs_submitted:,}"),
        ("safety", "ok" if summary.safety_ok else "VIOLATED"),
        ("liveness", "ok" if summary.liveness_ok else "stalled"),
        ("expectation", ok),
        ("latency p50 / p99 (ticks)",
         f"{summary.latency_ticks_p50} / {summary.latency_ticks_p99}"),
        ("messages sent / dropped", f"{summary.messages_sent:,} / "
                                    f"{summary.messages_dropped:,}"),
        ("equivocation evidence", len(summary.evidence)),
        ("wall time (s)", f"{summary.wall_s:.2f}"),
        ("txs per wall second", f"{summary.txs_per_wall_s:,.0f}"),
    ]
    d = summary.domain or {}
    if d.get("shipments"):
        rows += [
            ("shipments (kg)", f"{d['shipments']:,} ({d['shipped_kg']:,.0f} kg)"),
            ("traced complete", f"{d['traced_complete_pct']}%"),
            ("diversions flagged", f"{sum(d['diversions_flagged'].values())} of "
                                   f"{sum(d['diversions_injected'].values())}"),
            ("false flags", d["false_flags"]),
            ("leaked kg", f"{d['leaked_kg']:,.1f}"),
        ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def cmd_bench(args: argparse.Namespace) -> int:
    from scenarios.bench.sim import FUZZ_TARGET_PER_S, RATIO_TARGETS, run_bench, write_json, write_plot
    console = _wide_console()
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
    console.print(table)
    sim, chain = result["sections"]["sim"], result["sections"]["chaincode"]
    growth = sim["cost_growth_exponent"]
    console.print(f"floor: Ed25519 sign + verify per second  {result['floor_tx_per_s']:,} at "
                  "the start (each row's ratio is to the floor timed beside its runs)")
    console.print(f"cost per committed tx grows as n^{growth} from n = 16"
                  if growth is not None else "cost growth: needs two sizes from n = 16")
    console.print(f"chaincode us per custody event (cold / warm cache)  "
                  f"{chain['cold_us_per_event']} / {chain['warm_us_per_event']}")
    console.print(f"fuzz: n=4 scenarios (~5 heights) per core second  "
                  f"{result['fuzz_scenarios_per_s']:,.1f} (target >= {FUZZ_TARGET_PER_S:g})")
    if args.json:
        write_json(result, args.json)
        console.print(f"wrote {args.json}")
    if not args.quick:
        plot = (args.json or Path("runs/bench.json")).with_suffix(".png")
        write_plot(result, plot)
        console.print(f"wrote {plot}")
    return EXIT_OK


def _wide_console() -> Console:
    """Tables are wide: when output goes to a file or pipe, do not squeeze them to 80 columns."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def cmd_registry(args: argparse.Namespace) -> int:
    registry = load_registry()
    rows = []
    for c in registry.chemicals.values():
        rows.append({
            "id": c.id, "name": c.names[0], "cas": c.cas, "hs_code": c.hs_code,
            "convention_table": c.convention_table, "convention_effective":
            c.convention_effective, "dual_use": c.dual_use, "yield_max": c.yield_max,
            "national": {n: {"status": nc.status, "effective": nc.effective}
                         for n, nc in sorted(c.national.items())},
        })
    console = _wide_console()
    if args.json:
        console.print_json(json.dumps({"chemicals": rows,
                                       "watched_hs_codes": sorted(registry.watched_hs_codes)}))
        return EXIT_OK
    table = Table(title="Tracked chemicals (nodes/data/chemicals.toml)")
    for col in ("id", "name", "CAS", "HS", "1988 table", "USA", "CHN", "MEX", "CAN"):
        table.add_column(col)
    for r in rows:
        nat = [(_control(r["national"].get(n))) for n in ("USA", "CHN", "MEX", "CAN")]
        table.add_row(r["id"], r["name"], r["cas"], r["hs_code"],
                      f"{r['convention_table'] or '-'} {r['convention_effective']}".strip(), *nat)
    console.print(table)
    console.print("watched HS codes: " + ", ".join(sorted(registry.watched_hs_codes)))
    return EXIT_OK


def _control(national: dict | None) -> str:
    if not national:
        return "-"
    if national["status"] == "uncontrolled":
        return "no"
    return f"{national['status']} {national['effective']}".strip()


def cmd_trace(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        chain = custody_chain(read_ledger(args.run), args.lot)
    except CustodyError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    console = _wide_console()
    if args.json:
        console.print_json(json.dumps(chain))
        return EXIT_OK
    table = Table(title=f"custody of {args.lot} (from {chain['root_lot']})")
    for col in ("height", "tick", "event", "kind", "filed by", "co-signed", "where", "qty kg",
                "result"):
        table.add_column(col)
    for e in chain["events"]:
        f = e["fields"]
        where = f.get("nation") or f.get("to_nation") or (e["signer"] or "")
        qty = next((f[k] for k in ("quantity_g", "input_g") if k in f), None)
        result = "ok" if e["accepted"] else f"REJECTED {e['reason']}"
        if e["flags"]:
            result += " | " + ", ".join(fl["kind"] for fl in e["flags"])
        table.add_row(str(e["h"]), str(e["event_time"]), e["event"] or "(deadline)", e["kind"],
                      e["signer"] or "chaincode", ", ".join(e["cosigners"]), where,
                      "" if qty is None else f"{qty / 1000:,.3f}", result)
    console.print(table)
    if chain["flags"]:
        console.print("flags:")
        for fl in chain["flags"]:
            console.print(f"  {fl['kind']} on {fl['subject']}: {fl['detail']}", markup=False)
    else:
        console.print("flags: none")
    return EXIT_OK


LIBRARY = Path(__file__).resolve().parents[1] / "library"


def library_question(path: Path) -> str:
    """The question a library file answers: a TOML file's first `# Question:` comment, or a
    Python script's docstring, up to the first blank line (or blank comment) or "Look at"."""
    if path.suffix == ".py":
        lines = (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").splitlines()
    else:
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            lines.append(line[1:])
        while lines and not lines[0].strip().startswith("Question:"):
            lines.pop(0)
    parts: list[str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("Look at"):
            break
        parts.append(line)
    return " ".join(parts).removeprefix("Question:").strip()


def cmd_list(args: argparse.Namespace) -> int:
    files = sorted(p for p in LIBRARY.iterdir() if p.suffix in (".toml", ".py")
                   and not p.name.startswith("_"))
    rows = [{"file": p.name, "name": p.stem, "path": str(p), "question": library_question(p)}
            for p in files]
    console = _wide_console()
    if args.json:
        console.print_json(json.dumps({"library": str(LIBRARY), "scenarios": rows}))
        return EXIT_OK
    table = Table(title=f"Scenario library ({LIBRARY})")
    table.add_column("file", no_wrap=True)
    table.add_column("question")
    for r in rows:
        table.add_row(escape(r["file"]), escape(r["question"]) or "[dim](no question)[/]")
    console.print(table)
    console.print("run one with: chemtrace run scenarios/library/FILE", markup=False)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
