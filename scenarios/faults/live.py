"""Byzantine behaviours on live node processes: which run there, and how a node installs them.

`chemtrace cluster` runs each nation as its own `chemtrace node` process. A Byzantine nation's
process is given its behaviours as a JSON fault plan (`--faults FILE`, written by the driver
with `fault_plan`), and installs them with `node_faults`, through the same declared points as
the simulated world:

- the hooks kinds (`behaviours.HOOKS`: equivocate, amnesia, censor, mutate, forge_votes,
  forge_sync, fork, invalid_block) become the node's `NodeHooks`, built by the same classes;
- the kinds the simulated world applies on the wire (mute, invalid_signature, delay) become the
  transport's `SenderFaults` (nodes/live/shim.py), the live wire;
- twin runs a second process with the same key (`chemtrace node --twin`), its own broker login
  and data folder; each instance talks to half of the other nations, as in the simulation;
- crash (with or without wipe) is the driver's SIGKILL and restart; opt_out leaves the nation
  out of the genesis; withhold_objection, false_report and collude are what the trade workload
  files, and the workload runs in the driver as in the simulated world.

What cannot run live is refused with its reason (`refusal`): a behaviour whose nations share
one mind (equivocate in split mode, fork) with more than one nation, since that mind is one
process's memory and separate processes have no channel for it but the protocol's own; a
scenario script's custom behaviours, which are Python objects in the driver's process; a crash
at a protocol point (`at` other than "tick"), which stops a node inside its own step where the
driver can only kill a process from outside; and a round partition, which cuts chosen rounds'
messages where the live partition filter cuts whole links.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from nodes import NodeHooks
from nodes.live.shim import Epochs, LinkParams, SenderFaults, Window

from scenarios.faults.base import Shared
from scenarios.faults.behaviours import HOOKS, SplitAdversary, halves
from scenarios.spec.loader import Behaviour, Scenario
from scenarios.spec.schema import BEHAVIOURS, BehaviourKind

WIRE_KINDS = frozenset({BehaviourKind.MUTE, BehaviourKind.INVALID_SIGNATURE,
                        BehaviourKind.DELAY})
DRIVER_KINDS = frozenset({BehaviourKind.CRASH, BehaviourKind.OPT_OUT,
                          BehaviourKind.WITHHOLD_OBJECTION, BehaviourKind.FALSE_REPORT,
                          BehaviourKind.COLLUDE})
LIVE_KINDS = frozenset(HOOKS) | WIRE_KINDS | DRIVER_KINDS | {BehaviourKind.TWIN}
FAULT_PLAN_BYTES_MAX = 256 * 1024


class FaultPlanError(ValueError):
    """A fault plan a node cannot install; the message names the file and the fix."""


def refusal(scenario: Scenario) -> str | None:
    """Why `scenario` cannot run on live processes, or None when it can."""
    if scenario.custom:
        return ("its script's custom behaviours are Python objects in the driver's process; "
                "a node process cannot run them")
    if any(getattr(p, "rounds", ()) for p in scenario.partitions):
        return ("a round partition cuts the messages of chosen consensus rounds; the live "
                "partition filter (the control topic) cuts whole links and never reads a "
                "message's round")
    for b in scenario.behaviours:
        if b.kind not in LIVE_KINDS:  # every kind is listed today; a new one must be placed
            return f"behaviour {b.kind} has no live form yet"
        if b.kind == BehaviourKind.CRASH and b.params.get("at", "tick") != "tick":
            return (f"a crash at a protocol point (at = \"{b.params['at']}\") stops the node "
                    f"inside its own step; the driver kills a live process at a tick, from "
                    f"outside")
        shared_mind = b.kind == BehaviourKind.FORK or (
            b.kind == BehaviourKind.EQUIVOCATE and b.params.get("mode") == "split")
        if shared_mind and len(b.nations) > 1:
            what = "fork coalition" if b.kind == BehaviourKind.FORK else "split equivocators"
            return (f"the {what} ({', '.join(b.nations)}) share one mind, which is one "
                    f"process's memory in the simulated world; separate node processes have no "
                    f"channel for it but the protocol's own. Give the behaviour one nation")
    return None


def byzantine_behaviours(scenario: Scenario, nation: str) -> list[Behaviour]:
    """The behaviours a node process of `nation` installs itself (hooks, wire, twin)."""
    return [b for b in scenario.behaviours if nation in b.nations
            and (b.kind in HOOKS or b.kind in WIRE_KINDS or b.kind == BehaviourKind.TWIN)]


def fault_plan(scenario: Scenario, nation: str, honest: list[str],
               links: dict[str, Epochs]) -> dict:
    """The JSON a node of `nation` is started with: its behaviours, the honest nations (for the
    split equivocator's halves), the scenario's seed and the model of its inbound links, each
    a list of [first tick, settings] epochs."""
    return {
        "nation": nation,
        "seed": scenario.seed,
        "honest": sorted(honest),
        "behaviours": [{"kind": str(b.kind), "nations": list(b.nations),
                        "from_tick": b.from_tick, "until_tick": b.until_tick,
                        "params": dict(b.params)}
                       for b in byzantine_behaviours(scenario, nation)],
        "links": {peer: [[first, link.to_json()] for first, link in epochs]
                  for peer, epochs in sorted(links.items())},
    }


def read_fault_plan(path: Path) -> dict:
    """A fault plan from `path`, checked: every behaviour kind is known and runs live."""
    try:
        if path.stat().st_size > FAULT_PLAN_BYTES_MAX:
            raise ValueError(f"larger than {FAULT_PLAN_BYTES_MAX} bytes")
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict) or not isinstance(raw.get("behaviours", []), list):
            raise ValueError("not an object with a list of behaviours")
        for b in raw.get("behaviours", []):
            if b.get("kind") not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour kind {b.get('kind')!r}")
            if b["kind"] not in LIVE_KINDS - DRIVER_KINDS:
                raise ValueError(f"behaviour {b['kind']} is not run by a node process")
        inbound_links(raw)
        int(raw.get("seed", 0))
        for nation in {n for b in raw.get("behaviours", []) for n in b["nations"]}:
            node_faults(raw, nation, lambda: 0, 1.0)  # every field and param, as a node reads it
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise FaultPlanError(f"{path}: cannot read the fault plan: {exc}") from None
    return raw


def _behaviour(raw: dict) -> Behaviour:
    params = {**{k: key.default for k, key in BEHAVIOURS[raw["kind"]][1].items()},
              **raw.get("params", {})}
    return Behaviour(tuple(raw["nations"]), BehaviourKind(raw["kind"]), int(raw["from_tick"]),
                     raw["until_tick"], params)


def is_twin(plan: dict | None, nation: str) -> bool:
    """Whether the plan makes `nation` a twin (the one behaviour `--twin` is allowed for)."""
    return plan is not None and any(b["kind"] == BehaviourKind.TWIN and nation in b["nations"]
                                    for b in plan.get("behaviours", []))


def twin_half(peers: list[str], twin: bool) -> list[str]:
    """The peers one instance of a twinned nation talks to: the first half (sorted) for the
    first instance, the rest for the second, as the simulated world's `_twin_side`."""
    ordered = sorted(peers)
    cut = (len(ordered) + 1) // 2
    return ordered[cut:] if twin else ordered[:cut]


def node_faults(plan: dict, nation: str, now_ticks: Callable[[], int], tick_ms: float
                ) -> tuple[NodeHooks | None, SenderFaults | None]:
    """The hooks and the wire faults of `nation`'s node under `plan` (`read_fault_plan`): the
    first hooks kind of the nation, as the simulated world's `assign.node_hooks_for` picks."""
    behaviours = [_behaviour(b) for b in plan.get("behaviours", []) if nation in b["nations"]]
    hooks = None
    shared = Shared()
    for b in behaviours:
        if b.kind in HOOKS:
            if b.kind == BehaviourKind.EQUIVOCATE and b.params.get("mode") == "split":
                first, second = halves(list(plan.get("honest", [])))
                shared.split = SplitAdversary(first, second, frozenset(b.nations))
            hooks = HOOKS[b.kind](b, shared)
            break
    wire = [b for b in behaviours if b.kind in WIRE_KINDS]
    if not wire:
        return hooks, None

    def window(b: Behaviour) -> Window:
        return Window(b.from_tick, b.until_tick)

    faults = SenderFaults(
        now_ticks, tick_ms, seed=int(plan.get("seed", 0)),
        mute=tuple(window(b) for b in wire if b.kind == BehaviourKind.MUTE),
        corrupt=tuple((window(b), float(b.params["rate"])) for b in wire
                      if b.kind == BehaviourKind.INVALID_SIGNATURE),
        delay=tuple((window(b), int(b.params["ticks"])) for b in wire
                    if b.kind == BehaviourKind.DELAY))
    return hooks, faults


def inbound_links(plan: dict | None) -> dict[str, Epochs]:
    """The model of each link into the node (peer -> epochs) the plan gives."""
    if plan is None:
        return {}
    return {peer: tuple((int(first), LinkParams.from_json(raw)) for first, raw in epochs)
            for peer, epochs in plan.get("links", {}).items()}
