"""Byzantine behaviours and the network model on live `chemtrace node` processes, through a real
Mosquitto the test starts on a free loopback port (`chemtrace cluster --broker spawn`).

The behaviours are installed in each node process from its fault plan
(scenarios/faults/live.py) through the same hooks as in the simulated world; the tests that
need no broker check the plan and what it installs, and the refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_helpers import FOUR, require_mosquitto
from nodes import Genesis
from nodes.live.keyfile import key_path, make_key_dir, write_key
from nodes.live.shim import LinkParams

from scenarios.cluster.driver import ClusterError, LiveCluster
from scenarios.faults.behaviours import (AmnesiaHooks, CensorHooks, EquivocatingHooks,
                                         MutatingHooks)
from scenarios.faults.live import (FaultPlanError, fault_plan, inbound_links, node_faults,
                                   read_fault_plan, refusal, twin_half)
from scenarios.spec.loader import load_scenario, parse_scenario



def four(tmp_path: Path, name: str, extra: str, ticks: int = 4000) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(FOUR.format(name=name, seed=41, ticks=ticks, extra=extra, window=ticks))
    return path


# ---------------------------------------------------------------- live runs


def test_live_equivocating_nation_below_a_third_is_named_and_the_chain_stays_safe_and_live(
        tmp_path):
    require_mosquitto()
    path = four(tmp_path, "live-equivocate", """
[[behaviour]]
nations = ["CHN"]
kind = "equivocate"
params = { mode = "noisy" }
""")
    cluster = LiveCluster(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    assert summary.byzantine_nations == ["CHN"]
    assert summary.heights_committed >= 10 and summary.txs_committed > 0
    # Named by evidence: every record names CHN, seen by an honest nation, at several steps.
    assert summary.evidence and {e["nation"] for e in summary.evidence} == {"CHN"}
    assert {e["seen_by"] for e in summary.evidence} <= {"USA", "MEX", "CAN"}
    assert len({e["step"] for e in summary.evidence}) >= 2
    # Every record each node made reached the driver, though a status carries 64 at most.
    for nation in ("USA", "MEX", "CAN"):
        assert len(cluster._evidence_seen[nation]) == cluster.status[nation]["evidence_count"]
    assert max(s["evidence_count"] for s in cluster.status.values()) > 64
    assert summary.live["behaviours_in_nodes"] == {"CHN": ["equivocate"]}
    assert summary.live["network_model"] is False
    plan = json.loads((tmp_path / "run" / "faults" / "CHN.json").read_text())
    assert plan["behaviours"][0]["kind"] == "equivocate"
    assert sorted(p.name for p in (tmp_path / "run" / "faults").iterdir()) == ["CHN.json"]


def test_live_twin_runs_a_second_process_with_the_same_key_and_its_own_login(tmp_path):
    require_mosquitto()
    path = four(tmp_path, "live-twins", """
[[behaviour]]
nations = ["CHN"]
kind = "twin"
""", ticks=3000)
    cluster = LiveCluster(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    live = summary.live
    assert live["exit_codes"] == {"CAN": 0, "CHN": 0, "CHN~": 0, "MEX": 0, "USA": 0}
    # Each instance hears only its half of the peers: the other half's messages are dropped.
    assert summary.dropped_by_reason.get("twin_other_half", 0) > 0
    twin_log = (tmp_path / "run" / "nodes" / "CHN-twin" / "node.log").read_text()
    assert "stopped cleanly" in twin_log
    acl = (tmp_path / "run" / "broker" / "acl").read_text()
    assert "user CHN-twin\ntopic write chemtrace/live-twins/v1/CHN/#" in acl


def test_live_lossy_link_still_commits(tmp_path):
    """20% loss on every link to and from MEX, applied by the transport's shim."""
    require_mosquitto()
    links = "\n".join(f"""
[[network.link]]
from = "MEX"
to = "{peer}"
loss_probability = 0.2
""" for peer in ("USA", "CAN", "CHN"))
    path = four(tmp_path, "live-lossy", links)
    cluster = LiveCluster(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0)
    assert cluster.network_applied
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    assert summary.heights_committed >= 10 and summary.txs_committed > 0
    assert summary.live["network_model"] is True and summary.live["behaviours_in_nodes"] == {}
    lost = summary.dropped_by_reason.get("link_loss", 0)
    assert lost > 0
    mex = json.loads((tmp_path / "run" / "faults" / "MEX.json").read_text())["links"]
    assert set(mex) == {"USA", "CAN", "CHN"} and mex["USA"][0][1]["loss_probability"] == 0.2
    usa = json.loads((tmp_path / "run" / "faults" / "USA.json").read_text())["links"]
    # The whole model applies: the default latency on every link, the loss on MEX's alone;
    # one epoch each (no [[network.change]]).
    assert {p: [(first, l["latency_ticks"], l["jitter_ticks"], l["loss_probability"])
                for first, l in epochs] for p, epochs in usa.items()} == {
        "MEX": [(0, 20, 10, 0.2)], "CAN": [(0, 20, 10, 0.0)], "CHN": [(0, 20, 10, 0.0)]}


# ---------------------------------------------------------------- no broker


def test_behaviours_that_cannot_run_live_are_refused_with_the_reason(tmp_path):
    fork = four(tmp_path, "fork2", """
[[behaviour]]
nations = ["CHN", "MEX"]
kind = "fork"
""")
    with pytest.raises(ClusterError, match="share one mind.*Give the behaviour one nation"):
        LiveCluster(load_scenario(fork), tmp_path / "run", "spawn")
    split = parse_scenario(FOUR.format(name="split2", seed=41, ticks=100, window=100, extra="""
[[behaviour]]
nations = ["CHN", "MEX"]
kind = "equivocate"
params = { mode = "split" }
"""))
    assert "split equivocators (CHN, MEX)" in refusal(split)
    one = parse_scenario(FOUR.format(name="split1", seed=41, ticks=100, window=100, extra="""
[[behaviour]]
nations = ["CHN"]
kind = "equivocate"
params = { mode = "split" }
"""))
    assert refusal(one) is None
    at_lock = parse_scenario(FOUR.format(name="lock", seed=41, ticks=100, window=100, extra="""
[[behaviour]]
nations = ["CHN"]
kind = "crash"
from_tick = 10
params = { at = "lock" }
"""))
    assert "protocol point (at = \"lock\")" in refusal(at_lock)
    rounds = parse_scenario(FOUR.format(name="rounds", seed=41, ticks=100, window=100, extra="""
[[partition]]
groups = [["CHN"]]
from_tick = 0
rounds = [0]
"""))
    assert "round partition" in refusal(rounds)
    from scenarios.api import CustomBehaviour, with_custom
    scripted = with_custom(one, CustomBehaviour(("CHN",)))
    assert "custom behaviours" in refusal(scripted)


def test_a_fault_plan_installs_the_same_hooks_and_wire_faults(tmp_path):
    scenario = parse_scenario(FOUR.format(name="plan", seed=41, ticks=100, window=100, extra="""
[[behaviour]]
nations = ["CHN"]
kind = "censor"
params = { nations = ["MEX"] }

[[behaviour]]
nations = ["CHN"]
kind = "delay"
from_tick = 10
until_tick = 20
params = { ticks = 30 }

[[behaviour]]
nations = ["CHN"]
kind = "crash"
from_tick = 50

[[behaviour]]
nations = ["CAN"]
kind = "mute"

[[behaviour]]
nations = ["MEX"]
kind = "invalid_signature"
params = { rate = 0.5 }
"""))
    plan = fault_plan(scenario, "CHN", ["USA", "MEX", "CAN"], {"USA": ((0, LinkParams(5)),)})
    assert [b["kind"] for b in plan["behaviours"]] == ["censor", "delay"]  # crash: the driver's
    path = tmp_path / "CHN.json"
    path.write_text(json.dumps(plan))
    now = [15]
    hooks, faults = node_faults(read_fault_plan(path), "CHN", lambda: now[0], 2.0)
    assert isinstance(hooks, CensorHooks) and hooks.behaviour.params["nations"] == ["MEX"]
    assert faults.outbound(b"x") == [(0.06, b"x")]
    now[0] = 20
    assert faults.outbound(b"x") == [(0.0, b"x")]
    hooks, faults = node_faults(fault_plan(scenario, "CAN", [], {}), "CAN", lambda: 0, 2.0)
    assert hooks is None and faults.outbound(b"x") == []
    hooks, faults = node_faults(fault_plan(scenario, "USA", [], {}), "USA", lambda: 0, 2.0)
    assert hooks is None and faults is None
    for kind, cls in (("equivocate", EquivocatingHooks), ("amnesia", AmnesiaHooks),
                      ("mutate", MutatingHooks)):
        s = parse_scenario(FOUR.format(name="k", seed=41, ticks=100, window=100, extra=f"""
[[behaviour]]
nations = ["CHN"]
kind = "{kind}"
"""))
        assert isinstance(node_faults(fault_plan(s, "CHN", [], {}), "CHN", lambda: 0, 2.0)[0],
                          cls)
    path.write_text(json.dumps({"behaviours": [{"kind": "crash", "nations": ["CHN"]}]}))
    with pytest.raises(FaultPlanError, match="not run by a node process"):
        read_fault_plan(path)
    # A damaged plan is refused whole, naming the file, before the node starts.
    for damaged in ({"behaviours": [{"kind": "delay", "nations": ["CHN"]}]},
                    {"behaviours": [{"kind": "delay", "nations": ["CHN"], "from_tick": 0,
                                     "until_tick": None, "params": {"ticks": "many"}}]},
                    {"behaviours": [], "links": {"USA": [[0, {"loss_probability": 2}]]}},
                    {"behaviours": [], "links": {"USA": {"loss_probability": 0.5}}},
                    {"behaviours": [], "seed": "x"}, ["not", "an", "object"]):
        path.write_text(json.dumps(damaged))
        with pytest.raises(FaultPlanError, match=str(path)):
            read_fault_plan(path)
    assert twin_half(["USA", "MEX", "CAN"], False) == ["CAN", "MEX"]
    assert twin_half(["USA", "MEX", "CAN"], True) == ["USA"]


def test_network_changes_become_epochs_of_each_link(tmp_path):
    text = FOUR.format(name="changes", seed=41, ticks=3000, window=3000, extra="""
[network]
latency_ticks = 10
jitter_ticks = 0

[[network.change]]
at_tick = 1000
loss_probability = 0.3

[[network.change]]
at_tick = 2000
loss_probability = 0.0
latency_ticks = 5
""")
    cluster = LiveCluster(parse_scenario(text), tmp_path / "run", "spawn")
    assert cluster.network_applied
    plan = read_fault_plan(cluster.fault_plans["USA"])
    assert inbound_links(plan)["MEX"] == ((0, LinkParams(10)), (1000, LinkParams(10, 0, 0.3)),
                                          (2000, LinkParams(5)))


def test_the_network_model_applies_when_the_scenario_sets_one_or_when_asked(tmp_path):
    library = Path(__file__).resolve().parents[2] / "scenarios" / "library"
    honest = LiveCluster(load_scenario(library / "live-four.toml"), tmp_path / "a", "spawn")
    assert not honest.network_applied and not (tmp_path / "a" / "faults").exists()
    asked = LiveCluster(load_scenario(library / "live-four.toml"), tmp_path / "b", "spawn",
                        network="on")
    assert asked.network_applied and sorted(asked.fault_plans) == ["CAN", "CHN", "MEX", "USA"]
    lossy = load_scenario(library / "live-lossy-link.toml")
    off = LiveCluster(lossy, tmp_path / "c", "spawn", network="off")
    assert not off.network_applied and off.fault_plans == {}
    assert LiveCluster(lossy, tmp_path / "d", "spawn").network_applied
    with pytest.raises(ClusterError, match="auto, on, off"):
        LiveCluster(lossy, tmp_path / "e", "spawn", network="sometimes")


def test_node_refuses_a_second_process_with_a_key_unless_the_plan_makes_it_a_twin(tmp_path):
    genesis, identities = Genesis.simulated("chemtrace-test", [("USA", 1), ("MEX", 1)], 3)
    keys = make_key_dir(tmp_path / "keys")
    write_key(key_path(keys, "USA"), "USA", identities["USA"])
    (tmp_path / "genesis.json").write_text(genesis.to_json())
    argv = [sys.executable, "-m", "chemtrace", "node", "--genesis", str(tmp_path / "genesis.json"),
            "--key", str(key_path(keys, "USA")), "--broker", "mqtt://USA-twin:x@127.0.0.1:1",
            "--data", str(tmp_path / "data"), "--twin"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "gives USA no twin behaviour" in done.stderr
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"seed": 1, "behaviours": [
        {"kind": "twin", "nations": ["USA"], "from_tick": 0, "until_tick": None}]}))
    argv[argv.index("mqtt://USA-twin:x@127.0.0.1:1")] = "mqtt://USA:x@127.0.0.1:1"
    done = subprocess.run(argv + ["--faults", str(plan)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "log in as USA-twin" in done.stderr
