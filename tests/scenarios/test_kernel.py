"""The simulation kernel apart from the trade: the workload and fleet contracts
(scenarios/sim/workload.py, scenarios/sim/fleet.py), and who may use which part of `World`."""

from __future__ import annotations

import ast
from pathlib import Path

from nodes import MemoryStorage, Node
from scenarios.assemble import build_world
from scenarios.cluster.driver import LiveCluster
from scenarios.sim.workload import Workload
from scenarios.sim.world import World
from scenarios.spec.loader import load_scenario

from helpers import LIBRARY, ROOT


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_kernel_imports_nothing_of_the_trade():
    for path in sorted((ROOT / "scenarios" / "sim").glob("*.py")):
        wrong = {m for m in _imports(path) if m == "scenarios.trade"
                 or m.startswith("scenarios.trade.")
                 or m in ("nodes.app.chaincode", "nodes.app.events")}
        assert not wrong, f"{path.name} imports {sorted(wrong)}"


def test_no_world_subclass_outside_the_kernel_overrides_a_private_method():
    # Read from the syntax tree of every module outside scenarios/sim/ (tests included): a class
    # that subclasses World, or a subclass of it, may add to it but override nothing private.
    private = {n for n in vars(World) if n.startswith("_") and not n.startswith("__")}
    found = []
    for path in sorted((ROOT / "scenarios").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")):
        if (ROOT / "scenarios" / "sim") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                     for b in node.bases}
            if not any(b.endswith("World") for b in bases):
                continue
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and item.name in private:
                    found.append(f"{path.relative_to(ROOT)}:{item.lineno} {node.name}.{item.name}")
    assert not found, f"private World methods overridden outside the kernel: {found}"
    assert LiveCluster in World.__subclasses__()  # a subclass the walk must have read


class Recording(Workload):
    """Files one payload transaction at a scheduled tick and notes what the kernel tells it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.heights: list[int] = []
        self.filed: list[tuple[int, bool]] = []

    def attach(self, world) -> None:
        super().attach(world)
        self.calls.append("attach")

    def begin(self) -> None:
        self.calls.append("begin")
        self.world.schedule(300, self.file, "CHN")

    def file(self, nation: str) -> None:
        from nodes import Transaction
        world = self.world
        tx = Transaction.create(world.genesis.chain_id, world.identities[nation], "payload", 1,
                                b"hello")
        self.filed.append((world.now, world.submit(nation, tx)))

    def on_canonical(self, block, committed) -> None:
        self.heights.append(block.height)

    def summary(self) -> dict:
        return {"recording": {"canonical": len(self.heights)}}

    def txs_submitted(self) -> int:
        return len(self.filed)

    def close(self) -> None:
        self.calls.append("close")


def test_a_workload_plugs_into_the_kernel_through_its_contract():
    scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=1500)
    workload = Recording()
    summary = World(scenario, workload=workload).run()
    assert workload.calls == ["attach", "begin", "close"]
    assert workload.filed == [(300, True)]
    # once per height, in height order, only heights the chain has
    assert workload.heights == list(range(1, summary.heights_committed + 1))
    # the workload's section leads the summary, as the trade's `domain` does
    assert summary.sections == {"recording": {"canonical": summary.heights_committed}}
    assert next(iter(summary.to_json())) == "recording"
    assert summary.domain is None and "domain" not in summary.to_json()  # no trade here
    trade = build_world(scenario).run()
    assert trade.domain is not None and trade.txs_submitted > summary.txs_submitted


class MemoryFleet:
    """In-process nodes through the fleet contract: the kernel's bookkeeping is the same."""

    def __init__(self) -> None:
        self.world = None
        self.disks: dict[str, MemoryStorage] = {}
        self.log: list[tuple[str, str, int]] = []

    def start(self, instance: str) -> Node:
        w = self.world
        self.log.append(("start", instance, w.now))
        disk = self.disks.setdefault(instance, MemoryStorage())
        return Node(w.identities[instance], w.genesis, w.verifier, disk, w.node_config,
                    w.workload.new_chaincode())

    def kill(self, instance: str) -> None:
        self.log.append(("kill", instance, self.world.now))

    def wipe(self, instance: str) -> None:
        self.log.append(("wipe", instance, self.world.now))
        self.disks[instance].wipe()


def test_a_fleet_is_told_when_to_start_kill_and_wipe():
    scenario = load_scenario(LIBRARY / "crash-wipe.toml")
    fleet = MemoryFleet()
    world = build_world(scenario, fleet=fleet)
    fleet.world = world
    summary = world.run()
    kills = [e for e in fleet.log if e[0] == "kill"]
    wipes = [e for e in fleet.log if e[0] == "wipe"]
    assert kills and wipes
    assert len([e for e in fleet.log if e[0] == "start"]) == len(world.nations) + len(kills)
    assert summary.safety_ok
