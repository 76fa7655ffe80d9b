"""`chemtrace schema` and `chemtrace completion`: files for the user's editor and shell.

    chemtrace schema [--out FILE]          the scenario format as a JSON Schema
    chemtrace completion {bash,zsh,tcsh}   a shell completion script

`schema` prints docs/scenario.schema.json (generated from scenarios/spec/schema.py); point an
editor's TOML support at it to check and complete scenario files. `completion` prints a script
for the shell to source, e.g. `eval "$(chemtrace completion bash)"` in ~/.bashrc.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scenarios.cli.args import ExitCode

COMMANDS = ("schema", "completion")
SHELLS = ("bash", "zsh", "tcsh")


def add_parsers(sub) -> None:
    schema = sub.add_parser("schema", help="print the scenario format as a JSON Schema")
    schema.add_argument("--out", metavar="FILE",
                        help="write the schema to FILE instead of standard output")
    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=SHELLS,
                            help='the shell; e.g. eval "$(chemtrace completion bash)"')


def dispatch(args: argparse.Namespace) -> ExitCode:
    if args.command == "schema":
        return cmd_schema(args)
    return cmd_completion(args)


def cmd_schema(args: argparse.Namespace) -> ExitCode:
    from scenarios.spec.json_schema import schema_text
    text = schema_text()
    if args.out is None:
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return ExitCode.OK


# Arguments that name a file: the scenario, spec and replay positionals, and every option whose
# type is a Path or whose metavar is FILE. The shell completes file names for them.
FILE_DESTS = ("file", "scenario", "spec")


def cmd_completion(args: argparse.Namespace) -> ExitCode:
    import shtab
    parser = args.root_parser
    for sub in _subparsers(parser):
        for action in sub._actions:
            if (action.dest in FILE_DESTS and not action.option_strings) or \
                    action.type is Path or action.metavar == "FILE":
                action.complete = shtab.FILE  # type: ignore[attr-defined]
    sys.stdout.write(shtab.complete(parser, args.shell))  # every command and flag
    return ExitCode.OK


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [p for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for p in action.choices.values()]
