"""What every `chemtrace` command shares on its command line: the exit codes, the parser class and
the argument types. Command modules import from here (and from `scenarios.cli.output`), never
from `scenarios.cli.main`, so the CLI package has no import cycle."""

from __future__ import annotations

import argparse
import enum
import re
import sys
from pathlib import Path

# Where a command writes when it is given no --out: one folder per run, under this one.
RUNS_DIR = Path("runs")
_UNSAFE_IN_FOLDER_NAME = re.compile(r"[^A-Za-z0-9._-]")


class ExitCode(enum.IntEnum):
    """The process exit status of every command."""

    OK = 0
    EXPECTATION_FAILED = 1  # a scenario's [expect], a replayed hash or a mutant benchmark failed
    USAGE = 2  # a bad command line, scenario file or input file; the message names the fix
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), after cleaning up


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a bad command line too; this keeps its usage line and says so with
    `ExitCode.USAGE`."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message}\n")


def run_folder(label: str) -> Path:
    """The default output folder of a run, RUNS_DIR/<label>, with `label` (a scenario's name, a
    file's stem) made one plain folder name: a separator or other character outside letters,
    digits, '.', '_' and '-' becomes '-', and leading dots go, so a name such as `../../x`
    cannot lead the run's files out of RUNS_DIR."""
    return RUNS_DIR / (_UNSAFE_IN_FOLDER_NAME.sub("-", label).lstrip(".") or "run")


def non_negative(text: str) -> int:
    """A whole number >= 0 (seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def positive(text: str) -> int:
    """A whole number >= 1 (ticks, heights)."""
    value = non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number >= 1")
    return value


def positive_float(text: str) -> float:
    """A number above 0 (seconds, milliseconds); rejects nan."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


# What `--nations A..B` of fuzz and mutants may ask for, as the README's "Fuzzing" promises: at
# least 4 nations, the smallest consortium that tolerates one Byzantine nation (n = 3f + 1),
# and at most 10.
DRAWN_NATIONS_MIN, DRAWN_NATIONS_MAX = 4, 10


def nation_range(text: str) -> tuple[int, int]:
    """`--nations A..B` (or `A`) of the commands that draw scenarios: fuzz and mutants."""
    from scenarios.search.strategies import NATIONS_MAX
    lo_max, hi_max = DRAWN_NATIONS_MIN, min(DRAWN_NATIONS_MAX, NATIONS_MAX)
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a range such as 4..7, got {text!r}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if lo < lo_max:
        raise argparse.ArgumentTypeError(
            f"got {text}: at least {lo_max} nations, the fewest that tolerate one Byzantine "
            f"nation (n = 3f + 1); use for example {lo_max}..7")
    if not lo <= hi <= hi_max:
        raise argparse.ArgumentTypeError(f"expected {lo_max} <= A <= B <= {hi_max}, got {text}")
    return lo, hi


def mutant_names(text: str) -> list[str]:
    """`--only NAME,...` of `chemtrace mutants`: names of scenarios/faults/mutants.py's mutants."""
    from scenarios.faults.mutants import MUTANTS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MUTANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown mutant {', '.join(unknown) or '(none given)'}; use some of "
            + ", ".join(MUTANTS))
    return names
