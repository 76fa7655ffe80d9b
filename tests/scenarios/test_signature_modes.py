"""`[consensus] signatures`: a world runs with Ed25519 (the default) or modelled signatures.

Modelled signatures change what a signature costs, not what the protocol does: the same
scenario and seed make the same deliveries, drops, timeouts and decisions in either mode (only
the ids of blocks and transactions, which hash signatures, differ), forged signatures are still
dropped, and the trace and summary say which mode ran.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from helpers import LIBRARY, nations_toml
from nodes.chain.genesis import Genesis
from scenarios.assemble import build_world
from scenarios.search.fuzz import fuzz
from scenarios.spec.loader import ScenarioError, load_scenario, parse_scenario
from scenarios.sim.world import World

FOUR = ["USA", "MEX", "CAN", "CHN"]
MODES = ("ed25519", "modelled")


def _with(scenario, signatures: str):
    return replace(scenario, consensus={**scenario.consensus, "signatures": signatures})


def _trace_without_ids(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        for key in ("block", "tx", "signatures"):
            record.pop(key, None)
        out.append(record)
    return out


@pytest.mark.parametrize("name, ticks", [("invalid-signature", 3000), ("crash-wipe", 4000),
                                         ("equivocate-f", 3000)])
def test_a_modelled_run_is_the_ed25519_run_but_for_ids(tmp_path, name, ticks):
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(ticks_max=ticks)
    runs = {}
    for mode in MODES:
        world = build_world(_with(scenario, mode), trace_path=tmp_path / f"{mode}.jsonl")
        runs[mode] = (world, world.run())
    (_, ed), (world, modelled) = runs["ed25519"], runs["modelled"]
    assert ed.signatures == "ed25519" and modelled.signatures == "modelled"
    assert modelled.to_json()["signatures"] == "modelled"
    assert ed.trace_sha256 != modelled.trace_sha256
    assert (_trace_without_ids(tmp_path / "ed25519.jsonl")
            == _trace_without_ids(tmp_path / "modelled.jsonl"))
    for figure in ("heights_committed", "txs_committed", "dropped_by_reason", "messages_sent",
                   "expect_ok", "signatures_verified"):
        assert getattr(ed, figure) == getattr(modelled, figure), figure
    assert modelled.heights_committed > 0 and modelled.safety_ok
    assert world.genesis.public_key("USA") != runs["ed25519"][0].genesis.public_key("USA")


def test_the_trace_names_a_modelled_run_and_an_ed25519_trace_is_as_before(tmp_path):
    scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=600)
    ends = {}
    for mode in MODES:
        path = tmp_path / f"{mode}.jsonl"
        build_world(_with(scenario, mode), trace_path=path).run()
        ends[mode] = json.loads(path.read_text().splitlines()[-1])
    assert ends["modelled"]["signatures"] == "modelled" and ends["modelled"]["ev"] == "end"
    assert "signatures" not in ends["ed25519"]  # so every recorded Ed25519 hash still holds
    # the default is Ed25519, and the same run as naming it
    plain = build_world(scenario).run()
    assert plain.signatures == "ed25519"
    assert plain.trace_sha256 == build_world(_with(scenario, "ed25519")).run().trace_sha256


def test_a_live_cluster_refuses_modelled_signatures():
    scenario = parse_scenario(f"""
[scenario]
name = "live"
{nations_toml(FOUR)}
[consensus]
signatures = "modelled"
""", "live.toml")

    def fresh_keys(powers):
        return Genesis.simulated("live", powers, 1)

    with pytest.raises(ScenarioError, match=r"live.toml: \[consensus\] signatures = 'modelled'"):
        World(scenario, make_genesis=fresh_keys)


def test_an_unknown_scheme_is_a_scenario_error_naming_the_key():
    with pytest.raises(ScenarioError, match=r"consensus.signatures: unknown value 'rsa'.*"
                                            r"ed25519, modelled"):
        parse_scenario(f'[scenario]\nname = "x"\n{nations_toml(FOUR)}\n[consensus]\n'
                       f'signatures = "rsa"\n', "bad.toml")


def test_fuzz_with_modelled_signatures_runs_the_same_scenarios():
    results = {mode: fuzz(budget_s=60, max_scenarios=6, seed=3, nations=(4, 4), max_heights=2,
                          signatures=mode) for mode in MODES}
    ed, modelled = results["ed25519"], results["modelled"]
    assert ed.scenarios_run == modelled.scenarios_run == 6
    assert not ed.failed and not modelled.failed
    assert modelled.parameters["signatures"] == "modelled"
    assert ed.heights_committed == modelled.heights_committed
    assert ed.distinct_schedules == modelled.distinct_schedules


def test_custody_records_cosigned_by_operators_count_the_same_in_both_modes():
    # The trade's operators derive their keys through the world's scheme, so the chaincode
    # checks their co-signatures with it: the same records are accepted and traced.
    scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=3000)
    ed, modelled = (build_world(_with(scenario, mode)).run() for mode in MODES)
    assert modelled.domain["traced_complete_pct"] > 0
    assert modelled.domain == ed.domain
    assert modelled.txs_committed == ed.txs_committed > 0
