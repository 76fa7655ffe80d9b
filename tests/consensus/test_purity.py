"""The consensus core is pure: standard library only, and no clock, randomness, I/O or threads.

docs/architecture.md (the layers): `consensus/` imports the standard library alone, with no asyncio, clock,
`random`, msgpack, nacl or file I/O. This test reads every module's syntax tree and enforces it.
Relative imports (`from .io import ...`, the core's own effect types) are fine.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CONSENSUS = Path(__file__).resolve().parents[2] / "consensus"

FORBIDDEN = frozenset({
    "asyncio", "time", "random", "socket", "os", "io", "datetime", "threading", "secrets",
    "subprocess", "pathlib",
    # Not in the brief's list, but each would smuggle in one of the above.
    "importlib", "multiprocessing", "concurrent", "selectors", "signal", "shutil", "tempfile",
    "sqlite3",
})
FORBIDDEN_CALLS = frozenset({"open", "__import__", "exec", "eval", "compile", "input", "print"})


def violations(source: str, filename: str = "<string>") -> list[str]:
    """Every forbidden import or call in `source`, as 'file:line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        for module in modules:
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names:
                found.append(f"{filename}:{node.lineno}: imports {module!r}, not standard library")
            elif top in FORBIDDEN:
                found.append(f"{filename}:{node.lineno}: imports {module!r}, which the core "
                             "must not use (clock, randomness, I/O or threads)")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS):
            found.append(f"{filename}:{node.lineno}: calls builtin {node.func.id}()")
    return found


def test_the_checker_catches_what_it_must() -> None:
    bad = (
        "import time\n"
        "import os.path\n"
        "from io import StringIO\n"
        "from random import Random\n"
        "import msgpack\n"
        "from nacl.signing import SigningKey\n"
        "open('wal.db')\n"
        "__import__('socket')\n"
    )
    assert len(violations(bad)) == 8
    good = (
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from .io import Broadcast\n"
        "from . import io\n"
        "import enum, typing\n"
        "f.open()\n"  # a method called open is not the builtin
    )
    assert violations(good) == []


def test_consensus_imports_only_pure_standard_library() -> None:
    files = sorted(CONSENSUS.rglob("*.py"))
    assert CONSENSUS / "replica.py" in files, f"no consensus package at {CONSENSUS}"
    found = [v for f in files for v in violations(f.read_text(encoding="utf-8"), str(f))]
    assert found == [], "\n".join(found)
