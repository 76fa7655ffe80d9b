"""`chemtrace fuzz` and `chemtrace replay`.

    chemtrace fuzz (--budget-s S | --max-scenarios N | --profile ci|nightly) [--seed N]
                   [--nations A..B] [--byzantine below|third] [--max-heights H]
                   [--signatures ed25519|modelled] [--out DIR] [--junit FILE]
                   [--quiet] [--json]
    chemtrace replay FILE [--out DIR] [--record] [--json]

`fuzz` exits 0 when every generated scenario kept its expectation (and writes DIR/fuzz.json),
1 when one did not (and writes DIR/counterexample.toml, DIR/trace.jsonl and DIR/fuzz.json, and
prints the story), 2 for a bad command line. `replay` exits 0 when the scenario's trace hash
equals the `trace_sha256:` line of its header, 1 when it differs, 2 when the file is bad or has
no such line. With --json, stdout holds the JSON result (fuzz.json's document; for replay the
hashes, the verdict and the run's summary) and nothing else.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scenarios.cli.args import ExitCode, nation_range, non_negative, positive, positive_float
from scenarios.cli.output import (add_json_flag, human_console, print_json, stderr_console,
                                  styled)

COMMANDS = ("fuzz", "replay")
# The protocol events of fuzz.json's "coverage", as the table names them.
COVERAGE_LABELS = {
    "lock": "locks taken", "relock": "locks moved to another value",
    "unlock": "locks released by a later polka", "valid_update": "valid values moved",
    "round_skip": "round skips", "reproposal": "re-proposals with a valid round",
    "restart_locked": "restarts holding a lock", "state_sync": "blocks by state sync",
    "evidence": "equivocation evidence", "crash_point": "crashes at a protocol point",
    "prompt_heights": "heights judged for a prompt decision"}
HASH_LINE = re.compile(r"^#\s*trace_sha256:\s*([0-9a-f]{64})\s*$", re.M)
CLASS_LINE = re.compile(r"^#\s*node_class:\s*([\w.]+:[\w.]+)\s*$", re.M)


def add_parsers(sub) -> None:
    from scenarios.search.fuzz import PROFILES
    fz = sub.add_parser("fuzz", help="run generated scenarios for a time budget; shrink and "
                                     "write a failing one")
    fz.add_argument("--budget-s", type=positive_float,
                    help="seconds of scenarios to run (shrinking has its own budget)")
    fz.add_argument("--max-scenarios", type=positive,
                    help="stop after this many scenarios: the same seed then runs the same "
                         "scenarios on any machine, however loaded (with --budget-s, whichever "
                         "comes first)")
    fz.add_argument("--profile", choices=sorted(PROFILES),
                    help="preset budget, nations and heights: ci (10 s) or nightly (600 s); "
                         "other options override it")
    fz.add_argument("--seed", type=non_negative, default=0,
                    help="seed of the scenario sequence (default 0)")
    fz.add_argument("--nations", type=nation_range, help="range of nations, e.g. 4..7")
    fz.add_argument("--byzantine", choices=("below", "third"),
                    help="below: Byzantine power under 1/3, safety must hold (default); third: "
                         "1/3 or more, violations are expected")
    fz.add_argument("--max-heights", type=positive,
                    help="heights each scenario commits after its faults end (default 5)")
    fz.add_argument("--shrink-budget-s", type=positive_float,
                    help="seconds for shrinking a failure (default 120)")
    fz.add_argument("--steer", action="store_true",
                    help="steer the search towards scenarios with more rare protocol events "
                         "(locks moved or released, valid values moved, re-proposals, restarts "
                         "with a lock) with hypothesis's targeting; changes the sequence a "
                         "seed draws")
    fz.add_argument("--prompt-decisions", action="store_true",
                    help="also judge every scenario by the first-correct-proposer oracle: "
                         "after the last fault, with no Byzantine nation and no loss, each "
                         "height is decided in the first round whose proposer is correct "
                         "([expect] prompt_decisions)")
    fz.add_argument("--signatures", choices=("ed25519", "modelled"), default="ed25519",
                    help="how nations sign in every scenario: ed25519 (default) or modelled, "
                         "unforgeable by construction at a fraction of the cost "
                         "(docs/performance.md); the same seed draws the same scenarios")
    fz.add_argument("--workers", type=positive, default=1,
                    help="processes to search in (default 1); each runs whole chunks of the "
                         "seed's scenario sequence, and the failure reported is the first in "
                         "that sequence, whichever worker found it")
    fz.add_argument("--dask", metavar="ADDRESS",
                    help="search on the Dask cluster whose scheduler is at ADDRESS instead "
                         "(e.g. tcp://127.0.0.1:8786), as chemtrace sweep does")
    fz.add_argument("--out", type=Path, default=Path("runs/fuzz"),
                    help="output folder (default runs/fuzz)")
    fz.add_argument("--junit", type=Path, help="also write JUnit XML here")
    fz.add_argument("--quiet", action="store_true",
                    help="no progress bar and no table: the one-line result")
    add_json_flag(fz, "the result (the document of fuzz.json)")
    rp = sub.add_parser("replay", help="re-run a counterexample and check its trace hash")
    rp.add_argument("file", help="scenario file whose header has a trace_sha256: line")
    rp.add_argument("--out", type=Path, help="also write trace.jsonl and summary.json here")
    rp.add_argument("--record", action="store_true",
                    help="write this run's hash into the file's trace_sha256: line")
    add_json_flag(rp, "the hashes, the verdict and the run's summary")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_fuzz(args) if args.command == "fuzz" else cmd_replay(args)


# ---------------------------------------------------------------------- fuzz


def cmd_fuzz(args: argparse.Namespace) -> ExitCode:
    from scenarios.spec.dump import scenario_to_toml
    from scenarios.search.fuzz import PROFILES, SHRINK_BUDGET_S, FuzzSetupError, junit_xml
    err = stderr_console()
    console = human_console(args)
    base = dict(PROFILES[args.profile]) if args.profile else {}
    if args.budget_s is None and args.max_scenarios is None and not base:
        err.print("error: give --budget-s S, --max-scenarios N, or --profile ci or --profile "
                  "nightly", markup=False)
        return ExitCode.USAGE
    budget_s = args.budget_s or (math.inf if args.max_scenarios else base["budget_s"])
    nations = args.nations or base.get("nations", (4, 7))
    byzantine = args.byzantine or base.get("byzantine", "below")
    max_heights = args.max_heights or base.get("max_heights", 5)
    shrink_budget_s = args.shrink_budget_s or SHRINK_BUDGET_S
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"error: cannot create output folder {out}: {exc.strerror}", markup=False)
        return ExitCode.USAGE
    for stale in ("counterexample.toml", "trace.jsonl"):  # from an earlier run in this folder
        (out / stale).unlink(missing_ok=True)
    command = fuzz_command(args.seed, nations, byzantine, budget_s, max_heights, out,
                           args.max_scenarios, args.workers, args.dask, args.steer,
                           args.prompt_decisions, args.signatures)
    kwargs = dict(budget_s=budget_s, max_scenarios=args.max_scenarios, seed=args.seed,
                  workers=args.workers, dask_address=args.dask, steer=args.steer,
                  prompt=args.prompt_decisions, signatures=args.signatures,
                  nations=nations,
                  byzantine=byzantine, max_heights=max_heights, shrink_budget_s=shrink_budget_s,
                  trace_path=out / "trace.jsonl")
    try:
        result = _search(args, kwargs, console, budget_s, base)
    except FuzzSetupError as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    report = result.to_json()
    report["command"] = command
    path = out / "counterexample.toml"
    if result.failed:
        report["counterexample"] = str(path)
        report["replay"] = f"chemtrace replay {shlex.quote(str(path))}"
        path.write_text(scenario_to_toml(result.counterexample, counterexample_header(
            result, command, path)), encoding="utf-8")
    (out / "fuzz.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_text(junit_xml(result, command, path if result.failed else None),
                              encoding="utf-8")
    if args.json:
        print_json(report)
    elif not args.quiet:
        console.print(_table(result, byzantine))
    if not result.failed:
        console.print(f"no failure: {result.scenarios_run:,} scenarios kept their "
                      f"expectation; wrote {out / 'fuzz.json'}", markup=False)
        if args.junit:
            console.print(f"wrote {args.junit}", markup=False)
        return ExitCode.OK
    err.print(f"FAILED: {result.failure}")
    err.print(result.story, markup=False)
    err.print(f"wrote {path}, {out / 'trace.jsonl'} and {out / 'fuzz.json'}"
              + (f" and {args.junit}" if args.junit else ""), markup=False)
    err.print(f"replay with: chemtrace replay {shlex.quote(str(path))}", markup=False)
    return ExitCode.EXPECTATION_FAILED


def _search(args: argparse.Namespace, kwargs: dict, console, budget_s: float, base: dict):
    """Run the search, with a progress bar unless --quiet or --json."""
    from scenarios.search.fuzz import fuzz
    if args.quiet or args.json:
        return fuzz(**kwargs)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[runs]}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        by_count = args.max_scenarios is not None and (args.budget_s is None or not base)
        task = bar.add_task(f"fuzz seed {args.seed}",
                            total=args.max_scenarios if by_count else budget_s, runs="")

        def progress(p: dict) -> None:
            if p["phase"] == "search":
                done = p["scenarios_run"] if by_count else min(p["elapsed_s"], budget_s)
                bar.update(task, completed=done, runs=f"{p['scenarios_run']:,} scenarios")
            else:
                bar.update(task, description="shrinking", total=None,
                           runs=f"{p['shrink_runs']:,} shrink runs")
        return fuzz(progress=progress, **kwargs)


def fuzz_command(seed: int, nations: tuple[int, int], byzantine: str, budget_s: float,
                 max_heights: int, out: Path, max_scenarios: int | None = None,
                 workers: int = 1, dask: str | None = None, steer: bool = False,
                 prompt: bool = False, signatures: str = "ed25519") -> str:
    budget = "" if math.isinf(budget_s) else f"--budget-s {budget_s:g} "
    if max_scenarios is not None:
        budget += f"--max-scenarios {max_scenarios} "
    if workers > 1:
        budget += f"--workers {workers} "
    if dask:
        budget += f"--dask {shlex.quote(dask)} "
    if steer:
        budget += "--steer "
    if prompt:
        budget += "--prompt-decisions "
    if signatures != "ed25519":
        budget += f"--signatures {signatures} "
    return (f"chemtrace fuzz {budget}--seed {seed} --nations "
            f"{nations[0]}..{nations[1]} --byzantine {byzantine} --max-heights {max_heights} "
            f"--out {shlex.quote(str(out))}")


def counterexample_header(result, command: str, path: Path) -> str:
    """The comment block of counterexample.toml: how it was found, how to replay it, and the
    hash its trace must have."""
    from nodes import Node

    from scenarios.search.fuzz import class_path
    lines = [
        f"Counterexample: {result.failure}",
        f"Found by: {command}",
        f"after {result.found_after:,} scenarios ({result.seconds_to_failure:.1f} s); shrunk "
        f"in {result.shrink_runs:,} runs ({result.shrink_seconds:.1f} s).",
        f"Replay (checks the trace hash): chemtrace replay {shlex.quote(str(path))}",
        f"Run it (the same trace, byte for byte): chemtrace run {shlex.quote(str(path))}",
        "",
        "Story:",
        *result.story.splitlines(),
        "",
    ]
    node_class = result.parameters.get("honest_node_class", class_path(Node))
    if node_class != class_path(Node):
        lines.append(f"node_class: {node_class}")
        lines.append("(chemtrace run uses the honest node; chemtrace replay uses this class)")
    if result.trace_sha256:
        lines.append(f"trace_sha256: {result.trace_sha256}")
    return "\n".join(lines)


def _table(result, byzantine: str) -> Table:
    table = Table(title=f"chemtrace fuzz (seed {result.seed}, byzantine {byzantine})",
                  show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("scenarios run", f"{result.scenarios_run:,}"),
        ("scenarios per second", f"{result.scenarios_per_s:,.1f}"),
        ("heights committed", f"{result.heights_committed:,}"),
        ("distinct schedules", f"{result.distinct_schedules:,}"),
        ("liveness checked", f"{result.liveness_checked:,}"),
        ("expected violations", f"{result.expected_violations:,}"),
        ("result", styled("FAILED", "red") if result.failed else styled("ok", "green")),
    ]
    if result.failed:
        rows += [("found after", f"{result.found_after:,} scenarios"),
                 ("shrink runs", f"{result.shrink_runs:,}")]
    for event, label in COVERAGE_LABELS.items():
        seen = result.coverage.get(event)
        if seen is not None:
            rows.append((label, f"{seen['total']:,} in {seen['scenarios']:,} scenarios"))
    for name, value in rows:
        table.add_row(name, value)
    return table


# ---------------------------------------------------------------------- replay


def cmd_replay(args: argparse.Namespace) -> ExitCode:
    from scenarios.spec.loader import ScenarioError, load_scenario
    from scenarios.assemble import build_world
    err = stderr_console()
    console = human_console(args)
    path = Path(args.file)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    text = path.read_text(encoding="utf-8") if path.suffix != ".py" else ""
    recorded = HASH_LINE.search(text)
    if recorded is None and not args.record:
        err.print(f"error: {path}: no '# trace_sha256: <64 hex digits>' line in its header. "
                  f"Add one with: chemtrace replay {shlex.quote(str(path))} --record",
                  markup=False)
        return ExitCode.USAGE
    try:
        honest_hooks = _honest_hooks(text)
    except ValueError as exc:
        err.print(f"error: {path}: node_class: {exc}", markup=False)
        return ExitCode.USAGE
    trace_path = None
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        trace_path = args.out / "trace.jsonl"
    summary = build_world(scenario, honest_hooks, trace_path=trace_path).run()
    if args.out:
        (args.out / "summary.json").write_text(json.dumps(summary.to_json(), indent=2,
                                                          sort_keys=True) + "\n")
    replayed = summary.trace_sha256
    expect = "holds" if summary.expect_ok else "FAILS"
    console.print(f"expectation {expect}: safety_ok={summary.safety_ok}, "
                  f"liveness_ok={summary.liveness_ok}", markup=False)
    if args.record:
        line = f"# trace_sha256: {replayed}"
        new = HASH_LINE.sub(line, text, count=1) if recorded else f"{line}\n{text}"
        path.write_text(new, encoding="utf-8")
        console.print(f"recorded trace_sha256 {replayed} in {path}", markup=False)
        return ExitCode.OK
    console.print(f"recorded trace_sha256 {recorded.group(1)}", markup=False)
    console.print(f"replayed trace_sha256 {replayed}", markup=False)
    if args.json:
        print_json({"file": str(path), "recorded_trace_sha256": recorded.group(1),
                    "replayed_trace_sha256": replayed, "matches": replayed == recorded.group(1),
                    "summary": summary.to_json()})
    if replayed == recorded.group(1):
        console.print("trace hash matches", markup=False)
        return ExitCode.OK
    err.print("trace hash DIFFERS: the run is not the one recorded", markup=False)
    return ExitCode.EXPECTATION_FAILED


def replayable_node_classes() -> dict:
    """What a `# node_class:` line may name, by its `module:QualName`: the honest node
    (None), the mutants of `scenarios/faults/mutants.py` and any class this process fuzzed
    with (`scenarios.search.fuzz.register_node_class`)."""
    from scenarios.faults.mutants import MUTANTS
    from scenarios.search.fuzz import class_path, registered_node_classes
    return {class_path(m): m for m in MUTANTS.values()} | registered_node_classes()


def _honest_hooks(text: str):
    """The honest nations' hooks named by a `# node_class: module:QualName` header line: a
    registered mutant, or `nodes.node:Node` (None, the honest node; also when there is no such
    line). The name is looked up among the registered classes, so a replay file cannot make
    this process import a module of its choosing."""
    m = CLASS_LINE.search(text)
    if m is None:
        return None
    registered = replayable_node_classes()
    if m.group(1) not in registered:
        raise ValueError(f"{m.group(1)} is not a registered node class; use one of "
                         + ", ".join(sorted(registered)))
    return registered[m.group(1)]

