"""`chemtrace mutants`: the mutant benchmark, which proves that the fuzzer finds real bugs.

    chemtrace mutants [--max-scenarios N] [--budget-s S] [--shrink-s S] [--seed N]
                      [--nations A..B] [--workers N] [--only NAME,...] [--no-honest]
                      [--json] [--json-file FILE]

Every mutant of scenarios/faults/mutants.py is fuzzed with the same budget and seed, then the honest
protocol as a control. The budget is in scenarios by default (MAX_SCENARIOS_DEFAULT per mutant),
so one seed gives one table on any machine; --budget-s adds a time limit. Exit 0 when every mutant is killed and the honest protocol is not; 1
otherwise (a mutant that survives is a finding, as is an honest failure); 2 for a bad command
line. --json prints the result on stdout instead of the table (progress lines go to stderr); --json-file FILE
writes it to FILE (this was `--json FILE` before).
"""

from __future__ import annotations

import argparse
import math

from rich.table import Table

from scenarios.cli.args import ExitCode, mutant_names, nation_range, positive, positive_float
from scenarios.cli.output import (add_json_file_flag, add_json_flag, human_console, print_json,
                                  stderr_console, styled, write_json_file)
from scenarios.faults.mutants import MUTANTS
from scenarios.search.mutants import HONEST, run_benchmark

COMMANDS = ("mutants",)
MAX_SCENARIOS_DEFAULT = 1000


def add_parsers(sub) -> None:
    p = sub.add_parser("mutants", help="fuzz each deliberately broken protocol variant and "
                       "report which the fuzzer kills")
    p.add_argument("--max-scenarios", type=positive, default=MAX_SCENARIOS_DEFAULT,
                   help="scenarios per mutant at most (default "
                        f"{MAX_SCENARIOS_DEFAULT}): the same table on any machine")
    p.add_argument("--budget-s", type=positive_float,
                   help="also stop each mutant's search after this many seconds")
    p.add_argument("--shrink-s", type=positive_float,
                   help="shrinking budget per killed mutant, in seconds (default 30, or "
                        "--budget-s if shorter)")
    p.add_argument("--workers", type=positive, default=1,
                   help="processes per search (default 1), as in chemtrace fuzz")
    p.add_argument("--seed", type=int, default=0, help="seed of the fuzzer (default 0)")
    p.add_argument("--nations", type=nation_range, default=(4, 7), metavar="A..B",
                   help="nations per scenario (default 4..7)")
    p.add_argument("--only", type=mutant_names, metavar="NAME,...",
                   help="only these mutants (default: all of " + ", ".join(MUTANTS) + ")")
    p.add_argument("--no-honest", action="store_true",
                   help="skip the control run of the honest protocol")
    p.add_argument("--prompt-decisions", action="store_true",
                   help="also judge by the first-correct-proposer oracle, as chemtrace fuzz "
                        "--prompt-decisions")
    add_json_flag(p, "the table, with each shrunk counterexample,")
    add_json_file_flag(p, "the table, with each shrunk counterexample,")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_mutants(args)


def cmd_mutants(args: argparse.Namespace) -> ExitCode:
    console = human_console(args)
    names = args.only or list(MUTANTS)
    budget = f"{args.max_scenarios:,} scenarios" + (
        f" or {args.budget_s:g} s" if args.budget_s else "")
    console.print(f"fuzzing {len(names)} mutant(s)"
                  f"{'' if args.no_honest else ' and the honest protocol'}, {budget} each, "
                  f"seed {args.seed}, {args.nations[0]}..{args.nations[1]} nations, "
                  f"{args.workers} worker(s)", markup=False)

    def progress(name: str, row) -> None:
        console.print(f"  {name}: {progress_text(row)}", markup=False)

    try:
        result = run_benchmark(args.budget_s or math.inf, args.seed, args.nations, names,
                               honest=not args.no_honest, progress=progress,
                               shrink_budget_s=args.shrink_s,
                               max_scenarios=args.max_scenarios, workers=args.workers,
                               prompt=args.prompt_decisions)
    except ValueError as exc:
        stderr_console().print(f"error: {exc}")
        return ExitCode.USAGE
    if not args.json:
        console.print(table(result))
    console.print(f"fuzzer: {result['fuzzer']}; killed {result['killed']} of {result['total']}; "
                  "passed over: scenarios the honest protocol fails too (they kill nothing)",
                  markup=False)
    if args.json:
        print_json(result)
    if args.json_file:
        write_json_file(result, args.json_file)
        console.print(f"wrote {args.json_file}", markup=False)
    survivors = [r["mutant"] for r in result["mutants"] if not r["killed"]]
    ok = True
    if survivors:
        ok = False
        console.print(f"FINDING: not killed within {budget}: {', '.join(survivors)}",
                      markup=False)
    if not result["honest_survived"]:
        ok = False
        console.print("FINDING: the honest protocol failed a fuzzed scenario too; see its "
                      "counterexample in the JSON", markup=False)
    return ExitCode.OK if ok else ExitCode.EXPECTATION_FAILED


def progress_text(row) -> str:
    """A mutant's progress line, with the table's time to kill, then the shrinking time."""
    if not row.killed:
        return f"survived {row.scenarios_run} scenario(s) in {row.seconds:.1f} s"
    return (f"killed after {row.scenarios_run} scenario(s), {row.seconds_to_kill:.1f} s to kill, "
            f"then {row.shrink_seconds:.1f} s shrinking ({row.seconds:.1f} s in all)")


def table(result: dict) -> Table:
    parts = ([f"{result['max_scenarios']:,} scenarios"] if result.get("max_scenarios") else []) \
        + ([f"{result['budget_s']:g} s"] if result.get("budget_s") else [])
    t = Table(title=f"mutant benchmark ({' or '.join(parts)} each, seed {result['seed']})")
    for col, justify in (("mutant", "left"), ("killed", "left"), ("s to kill", "right"),
                         ("scenarios", "right"), ("shrunk: TOML lines", "right"),
                         ("faults", "right"), ("nations", "right"), ("violation", "left"),
                         ("passed over", "right")):
        t.add_column(col, justify=justify)
    rows = list(result["mutants"]) + ([result["honest"]] if result.get("honest") else [])
    for r in rows:
        s = r["shrunk"]
        if r["mutant"] == HONEST:
            killed = styled("FAILED", "red") if r["killed"] else styled("survived (ok)", "green")
        else:
            killed = styled("yes", "green") if r["killed"] else styled("NO", "red")
        t.add_row(r["mutant"], killed,
                  "" if r["seconds_to_kill"] is None else f"{r['seconds_to_kill']:.1f}",
                  str(r["scenarios_run"]), str(s.get("toml_lines", "")),
                  str(s.get("faults", "")), str(s.get("nations", "")), r["violation"],
                  "" if r["mutant"] == HONEST else str(r.get("honest_also_failed", 0)))
    return t
