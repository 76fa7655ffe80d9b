"""The `chemtrace` command line: builds the parser from each command group's `add_parsers` and
hands the parsed arguments to that group's `dispatch`.

    chemtrace run FILE [--seed N] [--out DIR] [--ticks-max N] [--quiet]   run.py
    chemtrace bench [--quick] [--json-file FILE] | bench-global-day | bench-targets  bench.py
    chemtrace registry [--json]                                            registry.py
    chemtrace trace LOT --run DIR [--json]                                 trace.py
    chemtrace weak-links | sweep                                           studies.py
    chemtrace mutants [--budget-s S] [--json FILE]                         mutants.py
    chemtrace fuzz --budget-s S [--seed N] [--nations A..B] [--out DIR] [--junit FILE]
    chemtrace replay FILE                                                  fuzz.py (both)
    chemtrace keys | genesis | broker-config                               chain.py
    chemtrace node | cluster | compare | bench-live                        live.py
    chemtrace list [--json]                                                library.py
    chemtrace schema [--out FILE] | completion SHELL                       tools.py

(modules of scenarios/cli/; the docstring of each shows its commands in full)

Exit codes (`scenarios.cli.args.ExitCode`): 0 when the scenario's [expect] holds, 1 when it does
not, 2 for a bad command line or scenario file, 130 for a cluster stopped by Ctrl-C.

A command group is a module with `COMMANDS` (the names it registers), `add_parsers(sub)` and
`dispatch(args) -> ExitCode`; add a command by adding it to a group, or a group to `GROUPS`.
"""

from __future__ import annotations

import argparse
import sys

from scenarios.cli import (bench, chain, fuzz, library, live, mutants, registry, run, studies,
                           tools, trace)
from scenarios.cli.args import ExitCode, Parser

# In the order `chemtrace --help` lists the commands.
GROUPS = (run, bench, registry, trace, studies, mutants, fuzz, chain, live, library, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="chemtrace",
                    description="Simulate nations tracing precursor chemicals on a BFT ledger.")
    parser.add_argument("--version", action="version", version=f"chemtrace {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in GROUPS:
        group.add_parsers(sub)
    # `chemtrace completion` describes the whole command line, and command modules may not
    # import this one: it finds the parser in its arguments.
    parser.set_defaults(root_parser=parser)
    return parser


def _version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" when not installed."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("chemtrace")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for group in GROUPS:
        if args.command in group.COMMANDS:
            return int(group.dispatch(args))
    return int(ExitCode.USAGE)  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
