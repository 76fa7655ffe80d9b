"""The layering checker: which module may import which, read from the syntax tree alone.

`check(root)` parses every `.py` file under `consensus/`, `nodes/` and `scenarios/` of the
repository at `root` (never importing it) and returns one `Violation` per problem, of four kinds:

- ``arrow``: an import that runs against `LAYERS` below (or breaks `ONLY_MAY_IMPORT`);
- ``cycle``: a set of the project's modules that import each other in a circle;
- ``io``: an import of asyncio, sqlite3 or subprocess under `nodes/` outside `nodes/live/`;
- ``path``: a comment, docstring or document that names a repository file that is not there.

Every import counts: at module level, inside a function, under ``if TYPE_CHECKING:``, except
that an import under ``if TYPE_CHECKING:`` is no link of a cycle: it runs nothing, and a callback
interface must name the type of the object that calls it (nodes/hooks.py names `Node`, which
imports it; consensus/rules.py names `Replica`). Such an import is still an arrow, so it may not
point up the layers. An import
is an arrow to the module it names (``import a.b.c`` and ``from a.b import c``, when ``a.b.c``
is one of the project's modules, both point at ``a.b.c``); the parent packages Python runs on
the way are not arrows, as in import-linter and most other import graph tools.

tests/test_layering.py runs it on the repository and on small synthetic trees. It is a plain
module (tests/ is on pytest's pythonpath), so `python tests/layering.py` prints the report too.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

# --------------------------------------------------------------------------- the table

LAYERS: tuple[dict[str, tuple[str, ...]], ...] = (
    # Top to bottom. Each line is one tier; a tier is a dict {layer: the modules it holds}.
    # A module may import modules of its own layer and of any layer in a LOWER tier. Layers
    # that share a tier are peers: neither may import the other.
    #
    # A module belongs to the layer of the longest entry that equals its name or is a
    # package above it: `scenarios.sim.world` is in `sim`, `nodes.chain.block` in
    # `nodes.chain`, and `nodes.node`, `nodes.hooks` and the package `nodes` itself fall to
    # `nodes`. The catch-all `scenarios` (the package's docstring-only __init__, and any
    # module put directly in scenarios/ without a line here) sits at the top, so nothing
    # below may lean on it.
    {"scenarios": ("scenarios",)},
    {"cli": ("scenarios.cli",)},                     # the `chemtrace` command
    {"api": ("scenarios.api",)},                     # the public API for scenario scripts
    {"bench": ("scenarios.bench",)},                 # benchmarks of worlds and live clusters
    {"search": ("scenarios.search",),                # fuzzing, shrinking, stories
     "studies": ("scenarios.studies",),              # weak links, variants, sweeps
     "cluster": ("scenarios.cluster",)},             # live clusters driven like a world
    {"report": ("scenarios.report",)},               # run, weak-link and sweep reports
    {"assemble": ("scenarios.assemble",)},           # the one place joining sim+faults+trade
    {"faults": ("scenarios.faults",),                # behaviours, adversaries, mutants
     "trade": ("scenarios.trade",)},                 # the precursor workload and its oracle
    {"sim": ("scenarios.sim",)},                     # the kernel: world, network, oracles
    {"spec": ("scenarios.spec",)},                   # the scenario language
    {"nodes.live": ("nodes.live",)},                 # asyncio, MQTT, SQLite, processes
    {"nodes": ("nodes",)},                           # node.py, hooks.py, nodes/__init__.py
    {"nodes.app": ("nodes.app",)},                   # registry, chaincode, events
    {"nodes.wire": ("nodes.wire",)},                 # codec of messages and records
    {"nodes.chain": ("nodes.chain",)},               # block, tx, ledger, mempool, identity
    {"consensus": ("consensus",)},                   # the pure Tendermint core
)

# Modules (and their submodules) that may import only the listed project modules, whatever
# their layer. A scenario script in the library is user code: it sees the public API alone.
ONLY_MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "scenarios.library": ("scenarios.api",),
}

# The packages whose modules are checked, and those where I/O modules are forbidden.
PACKAGES = ("consensus", "nodes", "scenarios")
IO_MODULES = frozenset({"asyncio", "sqlite3", "subprocess"})
IO_FORBIDDEN_UNDER = "nodes"
IO_ALLOWED_UNDER = "nodes.live"

# --------------------------------------------------------------------------- the path rule
#
# A *path token* in a comment, docstring or document is a run of the characters
# [A-Za-z0-9_./*-] that is not glued to a word character, `/`, `.`, `~` or `$` on its left,
# and that either
#   - starts with one of TOP_FOLDERS and a `/` (`nodes/chain/block.py`, `tests/`, `.ci/run`), or
#   - is a bare top-level file name: one of TOP_FILES, or any upper-case name ending in `.md`.
# It must name a file or folder under the repository root (a folder, if it ends in `/`).
# A trailing `.`, `,` or `-` is sentence punctuation, not part of it.
#
# Placeholders: from the first path component that holds a wildcard (`*`, `?`, `[`, `<`, `{`)
# or is a name in capitals other than a document (`NAME`, `NAME.toml`, but not `README.md`),
# only the folder before it must exist: `tests/regressions/*.toml` and
# `tests/regressions/NAME.toml` need tests/regressions/. MAY_BE_ABSENT lists the folders the
# project uses but git cannot keep while they are empty.
#
# So `runs/fuzz/...`, `~/my.toml`, `my_study.py` and `/tmp/nodes/x` never count: generated
# outputs and a user's own files are not the repository's. A Markdown link `[text](target)` in
# a .md file names `target` relative to that file, whatever it starts with (web addresses and
# #anchors aside).
#
# Scanned: every *.md file in the repository; the comments and docstrings of every .py file
# under PACKAGES and tests/; the comments of every *.toml file and of the Makefile.
TOP_FOLDERS = ("consensus", "nodes", "scenarios", "tests", "docs", ".ci")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml", "LICENSE")  # and any upper-case *.md
MAY_BE_ABSENT = ("tests/regressions/open",)  # fuzz findings not fixed yet; empty when none
SKIP_DIRS = frozenset({".git", ".venv", "venv", "runs", "build", "dist", "__pycache__",
                       ".pytest_cache", ".hypothesis", "node_modules"})

_PATH = re.compile(
    r"(?<![\w/.~$-])("
    + r"(?:" + "|".join(re.escape(f) for f in TOP_FOLDERS) + r")/[\w./*-]*"
    + r"|(?:" + "|".join(re.escape(f) for f in TOP_FILES) + r"|[A-Z][A-Z0-9_-]*\.md)(?![\w/])"
    + r")"
)
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PLACEHOLDER = re.compile(r"[*?\[<{]|^\.\.\.$|^[A-Z][A-Z0-9_]*(\.(?!md$)\w+)?$")


@dataclass(frozen=True, order=True)
class Violation:
    kind: str  # "arrow", "cycle", "io" or "path"
    file: str  # repository-relative, with `/`
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.kind}] {self.message}"


# --------------------------------------------------------------------------- modules and imports


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # a project module, or a top-level name outside the project
    line: int
    in_project: bool
    typing_only: bool = False  # under `if TYPE_CHECKING:`: an arrow, but no link of a cycle


def discover(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module under `packages`: {dotted name: file}."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if SKIP_DIRS.intersection(rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that `name` is or lies under, or None."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement in `path`, wherever it stands, as arrows out of `module`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    typing_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                typing_lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))

    def add(name: str, line: int) -> None:
        target = _resolve(name, modules)
        typing_only = line in typing_lines
        if target is not None:
            found.append(Import(module, target, line, True, typing_only))
        else:
            found.append(Import(module, name.split(".")[0], line, False, typing_only))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:
                full = f"{stem}.{alias.name}"
                add(full if full in modules else stem, node.lineno)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


# --------------------------------------------------------------------------- the checks


def layer_of(module: str, layers=LAYERS) -> tuple[str, int] | None:
    """(layer name, tier index, 0 at the top) of `module`, by the longest matching entry."""
    best: tuple[int, str, int] | None = None
    for tier, group in enumerate(layers):
        for layer, prefixes in group.items():
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), layer, tier)
    return None if best is None else (best[1], best[2])


def _only(module: str, only: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    for prefix, allowed in only.items():
        if module == prefix or module.startswith(prefix + "."):
            return allowed
    return None


def arrow_violations(edges: list[Import], files: dict[str, str], layers=LAYERS,
                     only=ONLY_MAY_IMPORT) -> list[Violation]:
    out: list[Violation] = []
    for e in edges:
        if not e.in_project or e.target == e.source:
            continue
        file = files[e.source]
        allowed = _only(e.source, only)
        if allowed is not None:
            if not any(e.target == a or e.target.startswith(a + ".") for a in allowed):
                out.append(Violation("arrow", file, e.line,
                                     f"{e.source} imports {e.target}; it may import only "
                                     + ", ".join(allowed)))
            continue
        src, dst = layer_of(e.source, layers), layer_of(e.target, layers)
        if src is None or dst is None:
            missing = e.source if src is None else e.target
            out.append(Violation("arrow", file, e.line,
                                 f"{missing} is in no layer of the table (tests/layering.py)"))
            continue
        if src[0] == dst[0] or dst[1] > src[1]:
            continue
        why = "a peer" if dst[1] == src[1] else "a higher layer"
        out.append(Violation("arrow", file, e.line,
                             f"{e.source} ({src[0]}) imports {e.target} ({dst[0]}), {why}"))
    return out


def io_violations(edges: list[Import], files: dict[str, str]) -> list[Violation]:
    out: list[Violation] = []
    for e in edges:
        under = e.source == IO_FORBIDDEN_UNDER or e.source.startswith(IO_FORBIDDEN_UNDER + ".")
        allowed = e.source == IO_ALLOWED_UNDER or e.source.startswith(IO_ALLOWED_UNDER + ".")
        if under and not allowed and not e.in_project and e.target in IO_MODULES:
            out.append(Violation("io", files[e.source], e.line,
                                 f"{e.source} imports {e.target}; only {IO_ALLOWED_UNDER} may"))
    return out


def cycle_violations(edges: list[Import], files: dict[str, str]) -> list[Violation]:
    """One violation per strongly connected component of more than one module, showing one
    circle through it with the line of each arrow."""
    graph: dict[str, dict[str, int]] = {}
    for e in edges:
        if e.in_project and e.target != e.source and not e.typing_only:
            # (a target equal to its source: `from . import NAME` in a package's __init__)
            graph.setdefault(e.source, {})
            graph[e.source].setdefault(e.target, e.line)
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    # Tarjan's algorithm, iterative.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    out: list[Violation] = []
    for component in sorted(components):
        members = set(component)
        first = component[0]
        if len(component) == 1:
            continue
        circle = _circle(first, members, graph)
        hops = list(zip(circle, circle[1:]))
        message = (f"import cycle among {', '.join(component)}; one circle: "
                   + ", ".join(f"{a} -> {b} ({files[a]}:{graph[a][b]})" for a, b in hops))
        inside = [(a, b) for a in component for b in sorted(graph.get(a, {})) if b in members]
        if len(inside) > len(hops):  # the other arrows to cut, so a fix sees them all at once
            message += "; every arrow inside: " + ", ".join(
                f"{a} -> {b} ({files[a]}:{graph[a][b]})" for a, b in inside)
        out.append(Violation("cycle", files[first], graph[first][circle[1]], message))
    return out


def _circle(start: str, members: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path start -> ... -> start inside one component (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, {})):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start] + path[::-1][1:] + [start]
                if child not in parent:
                    parent[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError("a component without a circle")


# --------------------------------------------------------------------------- dangling paths


def _python_prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring in a Python source."""
    out: list[tuple[int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                first = body[0].lineno
                for i, text in enumerate(body[0].value.value.splitlines()):
                    out.append((first + i, text))
    return out


def _hash_comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every `#` comment in a TOML file or Makefile (outside quoted strings)."""
    out: list[tuple[int, str]] = []
    for number, line in enumerate(source.splitlines(), 1):
        quote = None
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                out.append((number, line[i:]))
                break
    return out


def _exists(root: Path, base: Path, token: str) -> bool:
    kept: list[str] = []
    for part in token.split("/"):
        if _PLACEHOLDER.search(part):
            break
        kept.append(part)
    else:
        target = base.joinpath(*[p for p in kept if p])
        if target.is_dir() if token.endswith("/") else target.exists():
            return True
    folder = base.joinpath(*[p for p in kept if p])
    if folder.resolve().is_relative_to(root.resolve()) and any(
            folder.resolve() == (root / absent).resolve()
            or folder.resolve().is_relative_to((root / absent).resolve())
            for absent in MAY_BE_ABSENT):
        return True
    return len(kept) < len(token.rstrip("/").split("/")) and folder.is_dir()


def _scan(root: Path, rel: str, lines: list[tuple[int, str]], markdown: bool) -> list[Violation]:
    out: list[Violation] = []
    for number, text in lines:
        for match in _PATH.finditer(text):
            token = match.group(1).rstrip(".,-")
            if not _exists(root, root, token):
                out.append(Violation("path", rel, number, f"names {token}, which the "
                                     "repository does not have"))
        if markdown:
            for match in _MD_LINK.finditer(text):
                target = match.group(1).split("#")[0]
                if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                if not _exists(root, (root / rel).parent, target):
                    out.append(Violation("path", rel, number, f"links to {target}, which "
                                         "the repository does not have"))
    return out


def path_violations(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Violation]:
    out: list[Violation] = []

    def walk(pattern: str, where: Path = root):
        for path in sorted(where.rglob(pattern)):
            rel = path.relative_to(root)
            if not SKIP_DIRS.intersection(rel.parts) and not any(
                    p.endswith(".egg-info") for p in rel.parts):
                yield path, rel.as_posix()

    for path, rel in walk("*.md"):
        lines = list(enumerate(path.read_text(encoding="utf-8").splitlines(), 1))
        out += _scan(root, rel, lines, markdown=True)
    for package in (*packages, "tests"):
        if (root / package).is_dir():
            for path, rel in walk("*.py", root / package):
                out += _scan(root, rel, _python_prose(path.read_text(encoding="utf-8")), False)
    for path, rel in walk("*.toml"):
        out += _scan(root, rel, _hash_comments(path.read_text(encoding="utf-8")), False)
    if (root / "Makefile").is_file():
        out += _scan(root, "Makefile", _hash_comments((root / "Makefile").read_text()), False)
    return out


# --------------------------------------------------------------------------- all together


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES
                 ) -> tuple[list[Import], dict[str, str]]:
    modules = discover(root, packages)
    files = {m: p.relative_to(root).as_posix() for m, p in modules.items()}
    edges = [e for m, p in modules.items() for e in imports_of(m, p, modules)]
    return edges, files


def check(root: Path, packages: tuple[str, ...] = PACKAGES, layers=LAYERS,
          only=ONLY_MAY_IMPORT) -> list[Violation]:
    """Every layering violation in the repository at `root`, sorted by kind, file and line."""
    edges, files = import_graph(root, packages)
    found = (arrow_violations(edges, files, layers, only) + cycle_violations(edges, files)
             + io_violations(edges, files) + path_violations(root, packages))
    return sorted(set(found), key=lambda v: (v.kind, v.file, v.line, v.message))


if __name__ == "__main__":
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    problems = check(repo)
    print("\n".join(map(str, problems)) or "no violations")
    sys.exit(1 if problems else 0)
