"""The layers hold: imports run downwards, no module imports itself round a circle, nothing under
nodes/ but nodes/live/ does I/O, and no comment or document names a file that is not there.

The table and the rules are in tests/layering.py. The first tests run the checker on the
repository, one kind of violation each, so a failure says which rule broke and where. The rest
check the checker itself on small trees written to tmp_path, laid out like this repository.
"""

from __future__ import annotations

import functools
from pathlib import Path

import layering

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _repository() -> tuple[layering.Violation, ...]:
    return tuple(layering.check(ROOT))


def _report(kind: str) -> list[str]:
    return [str(v) for v in _repository() if v.kind == kind]


# --------------------------------------------------------------------------- the repository


def test_imports_run_down_the_layers() -> None:
    found = _report("arrow")
    assert found == [], "imports against the layers of tests/layering.py:\n" + "\n".join(found)


def test_no_import_cycles() -> None:
    found = _report("cycle")
    assert found == [], "\n".join(found)


def test_only_nodes_live_does_io_under_nodes() -> None:
    found = _report("io")
    assert found == [], "\n".join(found)


def test_comments_and_documents_name_files_that_exist() -> None:
    found = _report("path")
    assert found == [], "\n".join(found)


def test_the_table_places_every_module_once() -> None:
    names = [layer for tier in layering.LAYERS for layer in tier]
    prefixes = [p for tier in layering.LAYERS for ps in tier.values() for p in ps]
    assert len(names) == len(set(names)) and len(prefixes) == len(set(prefixes))
    edges, files = layering.import_graph(ROOT)
    assert "consensus.replica" in files and "scenarios.sim.world" in files
    assert layering.layer_of("consensus.replica") == ("consensus", len(layering.LAYERS) - 1)
    assert layering.layer_of("nodes.node")[0] == "nodes"
    assert layering.layer_of("nodes.chain.block")[0] == "nodes.chain"
    assert layering.layer_of("scenarios.sim.world")[0] == "sim"
    assert layering.layer_of("scenarios.cli.main")[0] == "cli"
    # Function-level imports count: bench/sim.py imports the fuzzer inside a function.
    assert any(e.source == "scenarios.bench.sim" and e.target == "scenarios.search.fuzz"
               for e in edges)


# --------------------------------------------------------------------------- the checker itself


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


# A small repository that keeps every rule: each test below adds one mistake to it.
CLEAN = {
    "README.md": "# tiny\n\nThe core is `consensus/core.py`; see [the layers](docs/architecture.md)\n"
                 "and docs/. `chemtrace run my_study.toml` writes runs/tiny-1/summary.json.\n",
    "docs/architecture.md": "# layers\n\nBack to the [README](../README.md).\n",
    "pyproject.toml": "[project]\nname = 'tiny'  # the README.md says why\n",
    "consensus/__init__.py": '"""The core."""\nfrom .core import Replica\n',
    "consensus/core.py": "class Replica:\n    pass\n",
    "nodes/__init__.py": "from nodes.node import Node\n",
    "nodes/node.py": "import hashlib\nfrom consensus import Replica\nfrom .chain import block\n"
                     "class Node:\n    pass\n",
    "nodes/chain/__init__.py": "",
    "nodes/chain/block.py": "from consensus.core import Replica\n",
    "nodes/live/__init__.py": "",
    "nodes/live/runtime.py": "import asyncio\nimport sqlite3\nfrom nodes import Node\n",
    "scenarios/__init__.py": '"""Everything above a node (docs/architecture.md)."""\n',
    "scenarios/spec/__init__.py": "",
    "scenarios/spec/loader.py": "from nodes import Node\n",
    "scenarios/sim/__init__.py": "",
    "scenarios/sim/world.py": "from ..spec import loader\n\ndef run():\n"
                              "    from scenarios.spec.loader import Node  # see tests/regressions/NAME.toml\n",
    "scenarios/faults/__init__.py": "",
    "scenarios/faults/behaviours.py": "from scenarios.sim import world\n",
    "scenarios/trade/__init__.py": "",
    "scenarios/trade/workload.py": "from scenarios.sim.world import run\n",
    "nodes/app/__init__.py": "",
    "nodes/app/registry.py": "import csv\n",
    "scenarios/report/__init__.py": "",
    "scenarios/report/run.py": "from scenarios.spec import loader\n",
    "scenarios/assemble.py": "from scenarios.faults import behaviours\nfrom scenarios.trade import workload\n",
    "scenarios/api.py": "from scenarios.assemble import behaviours\n",
    "scenarios/library/my-script.py": "import dataclasses\nfrom scenarios.api import behaviours\n",
    "scenarios/cli/__init__.py": "import subprocess\nfrom scenarios import api\nfrom nodes.live import runtime\n",
    "tests/regressions/keep.toml": "# tests/regressions/*.toml are replayed; see .ci/\n",
    ".ci/run": "make test\n",
}


def check(tmp_path: Path, changes: dict[str, str]) -> list[str]:
    root = write(tmp_path / "repo", {**CLEAN, **changes})
    return [f"{v.kind} {v.file}:{v.line} {v.message}" for v in layering.check(root)]


def test_a_clean_tree_has_no_violations(tmp_path: Path) -> None:
    assert check(tmp_path, {}) == []


def test_a_wrong_arrow_is_reported(tmp_path: Path) -> None:
    found = check(tmp_path, {
        # the kernel reaching up to the reports, inside a function
        "scenarios/sim/world.py": CLEAN["scenarios/sim/world.py"]
        + "    import scenarios.report.run\n",
        # a relative import from the chain up to the application
        "nodes/chain/block.py": "from consensus.core import Replica\nfrom ..app import registry\n",
    })
    assert found == [
        "arrow nodes/chain/block.py:2 nodes.chain.block (nodes.chain) imports "
        "nodes.app.registry (nodes.app), a higher layer",
        "arrow scenarios/sim/world.py:5 scenarios.sim.world (sim) imports scenarios.report.run "
        "(report), a higher layer",
    ]


def test_peers_and_library_scripts_are_held_to_their_table(tmp_path: Path) -> None:
    found = check(tmp_path, {
        "scenarios/trade/workload.py": "from scenarios.faults.behaviours import world\n",
        "scenarios/library/my-script.py": "from scenarios.sim.world import run\n",
        "scenarios/orphan.py": "import json\n",
        "scenarios/spec/loader.py": "import scenarios.orphan\n",
    })
    assert found == [
        "arrow scenarios/library/my-script.py:1 scenarios.library.my-script imports "
        "scenarios.sim.world; it may import only scenarios.api",
        "arrow scenarios/spec/loader.py:1 scenarios.spec.loader (spec) imports scenarios.orphan "
        "(scenarios), a higher layer",
        "arrow scenarios/trade/workload.py:1 scenarios.trade.workload (trade) imports "
        "scenarios.faults.behaviours (faults), a peer",
    ]


def test_an_import_cycle_is_reported(tmp_path: Path) -> None:
    found = check(tmp_path, {
        # one layer, so no arrow is wrong; the circle closes through a function-level import
        "scenarios/spec/schema.py": "from scenarios.spec.loader import Node\n",
        "scenarios/spec/loader.py": "from nodes import Node\n\ndef load():\n"
                                    "    from scenarios.spec import schema\n",
    })
    assert found == [
        "cycle scenarios/spec/loader.py:4 import cycle among scenarios.spec.loader, "
        "scenarios.spec.schema; one circle: scenarios.spec.loader -> scenarios.spec.schema "
        "(scenarios/spec/loader.py:4), scenarios.spec.schema -> scenarios.spec.loader "
        "(scenarios/spec/schema.py:1)",
    ]


def test_a_type_only_import_is_an_arrow_but_no_link_of_a_cycle(tmp_path: Path) -> None:
    # nodes/hooks.py names the Node that calls it, for types only: no cycle with nodes/node.py.
    hooks = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
             "    from nodes.node import Node\n")
    assert check(tmp_path / "a", {
        "nodes/hooks.py": hooks,
        "nodes/node.py": CLEAN["nodes/node.py"] + "from nodes.hooks import NodeHooks\n",
    }) == []
    # The same back-import at run time is a cycle ...
    found = check(tmp_path / "b", {
        "nodes/hooks.py": "from nodes.node import Node\n",
        "nodes/node.py": CLEAN["nodes/node.py"] + "from nodes.hooks import NodeHooks\n",
    })
    assert [f.split(" ")[0] for f in found] == ["cycle"]
    # ... and a type-only import up the layers is still a wrong arrow.
    found = check(tmp_path / "c", {
        "nodes/chain/block.py": "import typing\nif typing.TYPE_CHECKING:\n"
                                "    from nodes.app import registry\n",
    })
    assert found == ["arrow nodes/chain/block.py:3 nodes.chain.block (nodes.chain) imports "
                     "nodes.app.registry (nodes.app), a higher layer"]


def test_io_under_nodes_outside_live_is_reported(tmp_path: Path) -> None:
    found = check(tmp_path, {
        "nodes/node.py": CLEAN["nodes/node.py"] + "def run():\n    import asyncio.subprocess\n",
        "nodes/chain/block.py": "from consensus.core import Replica\nfrom sqlite3 import connect\n",
    })
    assert found == [
        "io nodes/chain/block.py:2 nodes.chain.block imports sqlite3; only nodes.live may",
        "io nodes/node.py:7 nodes.node imports asyncio; only nodes.live may",
    ]


def test_a_dangling_path_is_reported(tmp_path: Path) -> None:
    found = check(tmp_path, {
        "consensus/core.py": '"""Rules from ROADMAP.md section 2."""\n\nclass Replica:\n'
                             "    pass  # as nodes/gone.py did, and tests/nowhere/*.toml\n",
        "pyproject.toml": "[project]\nname = 'tiny'  # see docs/missing.md\n",
        "README.md": CLEAN["README.md"] + "Pictures: ![plot](docs/img/plot.png).\n",
    })
    assert found == [
        "path README.md:5 links to docs/img/plot.png, which the repository does not have",
        "path README.md:5 names docs/img/plot.png, which the repository does not have",
        "path consensus/core.py:1 names ROADMAP.md, which the repository does not have",
        "path consensus/core.py:4 names nodes/gone.py, which the repository does not have",
        "path consensus/core.py:4 names tests/nowhere/*.toml, which the repository does not "
        "have",
        "path pyproject.toml:2 names docs/missing.md, which the repository does not have",
    ]


def test_a_longer_cycle_is_shown_whole(tmp_path: Path) -> None:
    found = check(tmp_path, {
        "nodes/chain/a.py": "from . import b\nfrom . import c\n",
        "nodes/chain/b.py": "import nodes.chain.c\n",
        "nodes/chain/c.py": "def f():\n    from nodes.chain.a import f\n",
    })
    assert found == [
        "cycle nodes/chain/a.py:2 import cycle among nodes.chain.a, nodes.chain.b, "
        "nodes.chain.c; one circle: nodes.chain.a -> nodes.chain.c (nodes/chain/a.py:2), "
        "nodes.chain.c -> nodes.chain.a (nodes/chain/c.py:2); every arrow inside: "
        "nodes.chain.a -> nodes.chain.b (nodes/chain/a.py:1), nodes.chain.a -> nodes.chain.c "
        "(nodes/chain/a.py:2), nodes.chain.b -> nodes.chain.c (nodes/chain/b.py:1), "
        "nodes.chain.c -> nodes.chain.a (nodes/chain/c.py:2)",
    ]
