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


def cmd_completion(args: argparse.Namespace) -> ExitCode:
    import shtab
    sys.stdout.write(shtab.complete(args.root_parser, args.shell))  # every command and flag
    return ExitCode.OK
