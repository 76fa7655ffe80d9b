"""`chemtrace list`: the scenario library (scenarios/library/) and the question each file answers.

    chemtrace list [--json]

It lists the scenario files and the sweep specs in scenarios/library/sweeps/ (run those with
`chemtrace sweep`), each with its question.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

from rich.table import Table

from scenarios.cli.args import ExitCode
from scenarios.cli.output import styled, wide_console

COMMANDS = ("list",)
LIBRARY = Path(__file__).resolve().parents[1] / "library"


def add_parsers(sub) -> None:
    lib = sub.add_parser("list", help="list the library scenarios and the question each answers")
    lib.add_argument("--json", action="store_true", help="print JSON instead of a table")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_list(args)


def scenario_path(text: str) -> str:
    """A scenario argument as given (a file that exists), or a library scenario by name:
    `baseline` is scenarios/library/baseline.toml (or .py). Otherwise unchanged, for the
    loader to report as missing."""
    if Path(text).exists() or "/" in text:
        return text
    for suffix in (".toml", ".py"):
        candidate = LIBRARY / f"{text}{suffix}"
        if candidate.exists():
            return str(candidate)
    return text


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
        while lines and not lines[0].strip().startswith(("Question:", "Sweep:")):
            lines.pop(0)
        if lines and lines[0].strip().startswith("Sweep:"):  # a sweep spec: its question
            text = " ".join(line.strip() for line in lines if line.strip())
            text = text.removeprefix("Sweep:").strip()
            return text[:text.index("?") + 1] if "?" in text else text
    parts: list[str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("Look at"):
            break
        parts.append(line)
    return " ".join(parts).removeprefix("Question:").strip()


def cmd_list(args: argparse.Namespace) -> ExitCode:
    files = sorted(p for p in LIBRARY.iterdir() if p.suffix in (".toml", ".py")
                   and not p.name.startswith("_"))
    rows = [{"file": p.name, "name": p.stem, "path": str(p), "kind": "scenario",
             "question": library_question(p)} for p in files]
    sweeps = sorted((LIBRARY / "sweeps").glob("*.toml"))
    rows += [{"file": f"sweeps/{p.name}", "name": p.stem, "path": str(p), "kind": "sweep",
              "question": library_question(p)} for p in sweeps]
    console = wide_console()
    if args.json:
        console.print_json(json.dumps({"library": str(LIBRARY), "scenarios": rows}))
        return ExitCode.OK
    table = Table(title=f"Scenario library ({LIBRARY})")
    table.add_column("file", no_wrap=True)
    table.add_column("question")
    for r in rows:
        table.add_row(r["file"], r["question"] or styled("(no question)", "dim"))
    table.caption = "sweeps/ files are sweep specs: chemtrace sweep FILE"
    console.print(table)
    console.print("run one with: chemtrace run scenarios/library/FILE", markup=False)
    return ExitCode.OK
