"""The precursor ledger end to end: legitimate trade, injected diversions, queries."""

from __future__ import annotations

import json

import pytest

from helpers import LIBRARY, nations_toml, run_library, run_text

from scenarios.spec.loader import ScenarioError, parse_scenario
from scenarios.cli.main import main
from scenarios.trade.custody import CustodyError, custody_chain, read_ledger


@pytest.fixture(scope="module")
def baseline():
    return run_library("baseline")


@pytest.fixture(scope="module")
def diversions():
    return run_library("diversions")


def test_baseline_traces_every_kilogram_without_false_flags(baseline):
    world, s = baseline
    d = s.domain
    assert d["shipments"] == 300 and d["shipped_kg"] > 10_000
    assert d["false_flags"] == 0, d["false_flag_examples"]
    assert d["traced_complete_pct"] == 100.0
    assert d["rejections_by_reason"] == {}
    assert sum(d["flags_by_kind"].values()) == 0


def test_every_honest_node_holds_the_same_state_root(baseline):
    world, _ = baseline
    roots = {}
    for nation, node in world.nodes.items():
        roots.setdefault(node.ledger.height, set()).add(node.chaincode.state.root)
    # Nodes at the same height agree; each block header carries the root of the height before.
    assert all(len(r) == 1 for r in roots.values())
    usa = world.nodes["USA"]
    last = usa.ledger.blocks[-1].block
    assert last.app_hash != usa.chaincode.state.root or not last.txs


def test_each_diversion_kind_is_detected(diversions):
    _, s = diversions
    d = s.domain
    injected, flagged = d["diversions_injected"], d["diversions_flagged"]
    assert sum(injected.values()) == 40
    for kind, rate in d["detection_rate_by_kind"].items():
        if kind != "dark_hop":
            assert rate > 0.9, (kind, rate)
    assert d["false_flags"] == 0, d["false_flag_examples"]
    assert d["detection_delay_ticks_p50"] is not None
    # The traced figure is licit trade's: diversions are reported apart, by kind.
    assert d["traced_complete_pct"] == 100.0 and d["licit_shipments"] == d["shipments"] - 40
    assert d["flags_by_kind"]["unregistered"] == injected["unregistered"]
    assert d["flags_by_kind"]["undeclared_transit"] == injected["undeclared_transit"]
    assert d["rejections_by_reason"]["unknown_lot"] == injected["false_origin"]


def test_dark_hop_is_only_caught_by_its_mass_trace(diversions):
    world, s = diversions
    for plan in world.workload.plans:
        if plan.diversion != "dark_hop":
            continue
        caught = plan.id in world.workload.domain.detected_tick
        skimmed_beyond_tolerance = plan.diverted_g * 100 > plan.quantity_g * 1.0
        assert caught == skimmed_beyond_tolerance, plan.id


def test_trace_query_follows_a_lot_from_manufacture_to_product(tmp_path, capsys):
    assert main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "6000", "--out",
                 str(tmp_path), "--quiet"]) == 0
    events = read_ledger(tmp_path)
    # the first product of a chemical that travelled under a PEN (a full-tier chemical: aniline,
    # for one, needs none)
    products = [e["fields"]["product_lot"] for e in events
                if e["kind"] == "transform" and e["accepted"]]
    chains = [custody_chain(events, p) for p in products]
    product, chain = next((p, c) for p, c in zip(products, chains)
                          if any(e["kind"] == "pen" and e["fields"]["tier"] == "full"
                                 for e in c["events"]))
    kinds = [e["kind"] for e in chain["events"]]
    assert kinds[0] == "commission" and kinds[-1] == "transform"
    assert {"pen", "pen_reply", "ship", "receive"} <= set(kinds)
    assert chain["root_lot"].endswith("-L0")
    capsys.readouterr()
    assert main(["trace", product, "--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "commission" in out and "receive" in out and "flags: none" in out
    assert main(["trace", product, "--run", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["root_lot"] == chain["root_lot"]


def test_trace_of_a_diverted_lot_shows_its_flag(tmp_path, capsys):
    text = f"""
[scenario]
name = "skim"
seed = 4
ticks_max = 6000
{nations_toml(["CHN", "MEX", "USA", "CAN"])}
[workload]
txs_per_tick = 0.0
shipments = 0
trade_until_tick = 1000
diversions = {{ under_report = 2 }}
[[lane]]
from = "CHN"
to = "MEX"
share = 1.0
"""
    path = tmp_path / "skim.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    events = read_ledger(tmp_path / "out")
    lot = next(e["fields"]["lot"] for e in events if e["kind"] == "commission")
    chain = custody_chain(events, lot)
    assert [f["kind"] for f in chain["flags"]] == ["discrepancy"]
    capsys.readouterr()
    main(["trace", lot, "--run", str(tmp_path / "out")])
    assert "discrepancy" in capsys.readouterr().out


def test_trace_errors_name_the_fix(tmp_path, capsys):
    with pytest.raises(CustodyError, match="ledger.jsonl"):
        read_ledger(tmp_path)
    (tmp_path / "ledger.jsonl").write_text("")
    with pytest.raises(CustodyError, match="not on the ledger"):
        custody_chain([], "X")
    assert main(["trace", "X", "--run", str(tmp_path)]) == 2


def test_registry_command_lists_the_chemicals(capsys):
    assert main(["registry"]) == 0
    out = capsys.readouterr().out
    assert "39742-60-4" in out and "2933.37" in out
    assert main(["registry", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ids = {c["id"] for c in data["chemicals"]}
    assert {"npp", "4-anpp", "4-ap", "aniline"} <= ids
    assert "2933.39" in data["watched_hs_codes"]


@pytest.mark.parametrize("lanes, needles", [
    ('[[lane]]\nfrom = "CHN"\nto = "XXX"\nshare = 1.0\n', ["lane[0].to", "unknown nation 'XXX'"]),
    ('[[lane]]\nfrom = "CHN"\nto = "MEX"\nvia = ["MEX"]\nshare = 1.0\n',
     ["lane[0].via", "end of the lane"]),
    ('[[lane]]\nfrom = "CHN"\nto = "MEX"\nshare = 0.5\n', ["shares of lanes from CHN", "sum to 1"]),
    ('[[lane]]\nfrom = "CHN"\nto = "MEX"\nshare = 1.0\nchemicals = ["sugar"]\n',
     ["lane[0].chemicals", "unknown chemical 'sugar'", "npp"]),
    ('[workload]\ndiversions = { teleport = 3 }\n',
     ["workload.diversions.teleport", "unknown key", "under_report"]),
])
def test_lane_and_diversion_errors(lanes, needles):
    text = '[scenario]\nname = "x"\n' + nations_toml(["CHN", "MEX"]) + lanes
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "study.toml")
    for needle in needles:
        assert needle in str(exc.value), str(exc.value)


def test_scenario_without_usable_lanes_exits_2(tmp_path, capsys):
    path = tmp_path / "nolanes.toml"
    path.write_text('[scenario]\nname = "x"\n' + nations_toml(["USA", "CAN"]) +
                    '[workload]\nshipments = 3\n')
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    assert "no trade lane" in capsys.readouterr().err


def test_pen_silence_block_stops_trade_to_a_silent_importer():
    """An importer that requires PENs and treats silence as a block: with replies withheld,
    shipments would be rejected; with replies, trade flows. Here replies come, so all pass."""
    text = f"""
[scenario]
name = "pen"
seed = 2
ticks_max = 8000
[[nation]]
id = "CHN"
[[nation]]
id = "MEX"
pen_silence = "block"
pen_reply_window_ticks = 400
[[nation]]
id = "USA"
[[nation]]
id = "CAN"
[workload]
txs_per_tick = 0.0
shipments = 5
trade_until_tick = 2000
[[lane]]
from = "CHN"
to = "MEX"
share = 1.0
"""
    _, s = run_text(text)
    assert s.domain["traced_complete_pct"] == 100.0
    assert s.domain["false_flags"] == 0


def test_route_graph_weights_hops_by_mass_share():
    from nodes.app.registry import Lane
    from scenarios.trade.routes import dark_nations, route_graph
    lanes = [Lane("CHN", "MEX", (), 0.6, (), ""), Lane("CHN", "MEX", ("PAN",), 0.4, (), ""),
             Lane("IND", "USA", ("PAN",), 1.0, (), "")]
    g = route_graph(lanes, {"CHN", "MEX", "IND", "USA"})
    assert g["CHN"]["PAN"]["mass_share"] == pytest.approx(0.2)
    assert g["IND"]["PAN"]["mass_share"] == pytest.approx(0.5)
    assert g["CHN"]["MEX"]["mass_share"] == pytest.approx(0.3)
    assert dark_nations(g) == [("PAN", 0.7)]


def test_summary_names_route_nations_outside_the_consortium(diversions):
    _, s = diversions
    assert s.domain["route_nations_outside_consortium"] == []
