"""Byzantine behaviour goes through the declared hook points (nodes/hooks.py), never around them.

Outside `nodes/`, no code may

1. define a class whose base is `Node` or `Replica` (by name, or as an attribute such as
   `nodes.Node`): a subclass overrides internals that may be renamed under it;
2. assign `__class__` (swapping a live object's class);
3. read or write `X._name` where `X` is not `self`/`cls` and `_name` is a private attribute or
   method of `nodes.node.Node` or `consensus.replica.Replica` (collected by parsing those two
   files: every `self._x = ...` and every `def _x`).

This test walks the syntax tree of every .py file under scenarios/ and tests/, and checks on
tiny synthetic sources that the walker catches each of the three.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUARDED = {"Node": ROOT / "nodes" / "node.py", "Replica": ROOT / "consensus" / "replica.py"}
WALKED = ("scenarios", "tests")


def private_names(source: str, class_name: str) -> set[str]:
    """The private attributes and methods of `class_name` in `source`: every `self._x = ...`
    (plain, annotated, augmented or in a tuple) and every `def _x` (dunders left out)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if inner.name.startswith("_") and not inner.name.startswith("__"):
                        names.add(inner.name)
                targets: list[ast.expr] = []
                if isinstance(inner, ast.Assign):
                    targets = list(inner.targets)
                elif isinstance(inner, (ast.AnnAssign, ast.AugAssign)):
                    targets = [inner.target]
                for target in targets:
                    for t in ast.walk(target):
                        if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                and t.value.id == "self" and t.attr.startswith("_")
                                and not t.attr.startswith("__")):
                            names.add(t.attr)
    return names


def guarded_privates() -> set[str]:
    names: set[str] = set()
    for class_name, path in GUARDED.items():
        found = private_names(path.read_text(encoding="utf-8"), class_name)
        assert found, f"no private names found in {class_name} ({path}): the parser is broken"
        names |= found
    return names


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return None


def violations(source: str, privates: set[str], filename: str = "<string>") -> list[str]:
    """Every breach of the three rules in `source`, as 'file:line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = _base_name(base)
                if name in GUARDED:
                    found.append(f"{filename}:{node.lineno}: class {node.name} subclasses "
                                 f"{name}; use nodes/hooks.py or consensus/rules.py")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and t.attr == "__class__":
                    found.append(f"{filename}:{t.lineno}: assigns __class__")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "setattr" and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == "__class__"):
            found.append(f"{filename}:{node.lineno}: assigns __class__ (setattr)")
        if (isinstance(node, ast.Attribute) and node.attr in privates
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{filename}:{node.lineno}: reaches the private {node.attr} of a "
                         "node or replica; use its public state or a hook")
    return found


def test_the_guarded_classes_have_private_names_to_guard():
    privates = guarded_privates()
    # a few that Byzantine code used to reach for
    assert {"_now", "_keys", "_run", "_ahead_height", "_proposals", "_prevotes"} <= privates


def test_no_code_outside_nodes_subclasses_a_node_or_replica_or_reaches_their_privates():
    privates = guarded_privates()
    found: list[str] = []
    for folder in WALKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            found += violations(path.read_text(encoding="utf-8"), privates, str(rel))
    assert not found, "\n".join(found)


# ------------------------------------------------------------------ the walker itself

PRIVATES = {"_proposals", "_now", "_emit"}


def test_the_walker_catches_a_subclass_of_node_or_replica_by_name_or_attribute():
    source = ("class A(Node):\n    pass\n"
              "class B(consensus.Replica):\n    pass\n"
              "class C(NodeHooks):\n    pass\n")
    found = violations(source, PRIVATES)
    assert len(found) == 2
    assert any("class A subclasses Node" in f for f in found)
    assert any("class B subclasses Replica" in f for f in found)


def test_the_walker_catches_an_assignment_to_class():
    found = violations("node.__class__ = Other\nx = node.__class__\n", PRIVATES)
    assert len(found) == 1 and "assigns __class__" in found[0]
    assert violations("setattr(node, '__class__', Other)\n", PRIVATES)


def test_the_walker_catches_a_private_read_or_write_but_not_on_self():
    source = ("p = node.replica._proposals.get(0)\n"
              "node._now = 3\n"
              "self._emit(x)\n"
              "cls._emit(x)\n"
              "world._other = 1\n")
    found = violations(source, PRIVATES)
    assert len(found) == 2
    assert any("_proposals" in f for f in found) and any("_now" in f for f in found)


def test_private_names_reads_assignments_and_methods_of_the_one_class():
    source = ("class Node:\n"
              "    def __init__(self):\n"
              "        self._a, self._b = 1, 2\n"
              "        self._c: int = 3\n"
              "        self.public = 4\n"
              "    def _m(self):\n"
              "        self._d += 1\n"
              "class Other:\n"
              "    def _n(self):\n"
              "        self._e = 1\n")
    assert private_names(source, "Node") == {"_a", "_b", "_c", "_d", "_m"}
