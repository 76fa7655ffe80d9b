"""The trade plan on its own (scenarios/trade/workload.py): source weighting, illicit attempts
that write nothing, inspections that file what they find. The registry's rules are stubbed here
so each property is checked apart from the chaincode; tests/scenarios/test_economy.py runs the
same economy through whole worlds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from nodes.app.registry import Lane, load_registry
from scenarios.trade.calibration import ChemicalTrade
from scenarios.trade.workload import (Inspection, Rules, TradeError, lane_weights,
                                      log_uniform_mean, plan_trade)

REGISTRY = load_registry()
CHEMICALS = {c: ChemicalTrade((100.0, 1000.0), (20.0, 200.0), 1.0, "") for c in REGISTRY.chemicals}
CONTROLLED = Rules(pen_tier=lambda c, a, b, t: "full",
                   controlled_anywhere=lambda c, ns, t: True)
MEMBERS = ("CHN", "IND", "MEX", "PAN", "USA")


def plan(lanes, shipments=0, illicit=None, shares=None, budget=0.0, seed=1, members=MEMBERS,
         rules=CONTROLLED, detection=0.9, diversions=None):
    return plan_trade(random.Random(seed), REGISTRY, lanes, members, members, shipments,
                      diversions or {}, 500, 20_000, rules=rules, chemicals=CHEMICALS,
                      source_shares=shares or {"CHN": 0.7, "IND": 0.3},
                      illicit=illicit or {},
                      inspection=Inspection({n: budget for n in members}, detection, 0.3))


def test_sources_carry_their_share_of_the_mass():
    """Shares 0.7 and 0.3 split the shipped mass about 70/30, although China's lanes carry a
    chemical shipped in far larger consignments (mass, not counts, is weighted)."""
    chemicals = dict(CHEMICALS, aniline=ChemicalTrade((10_000.0, 20_000.0), (20.0, 200.0), 1.0, ""))
    lanes = [Lane("CHN", "MEX", (), 1.0, ("aniline", "npp"), ""),
             Lane("IND", "USA", (), 1.0, ("npp",), "")]
    shipments = plan_trade(random.Random(3), REGISTRY, lanes, MEMBERS, MEMBERS, 3000, {}, 500,
                           20_000, rules=CONTROLLED, chemicals=chemicals,
                           source_shares={"CHN": 0.7, "IND": 0.3}).shipments
    by_source = {"CHN": 0, "IND": 0}
    for p in shipments:
        by_source[p.from_nation] += p.quantity_g
    share = by_source["CHN"] / sum(by_source.values())
    assert 0.66 < share < 0.74
    # Counts are not 70/30: China ships fewer, heavier consignments.
    china = sum(1 for p in shipments if p.from_nation == "CHN")
    assert china < 0.5 * len(shipments)


@given(st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.floats(1.0, 1e4),
       st.floats(1.0, 1e4), st.floats(1.0, 1e4))
@settings(max_examples=60, deadline=None)
def test_lane_weights_give_each_lane_its_expected_mass(share, lane_share, mean_a, mean_b,
                                                       mean_c):
    lanes = [Lane("CHN", "MEX", (), lane_share, (), ""),
             Lane("CHN", "USA", (), 1 - lane_share, (), ""), Lane("IND", "USA", (), 1.0, (), "")]
    means = {("CHN", "MEX"): mean_a, ("CHN", "USA"): mean_b, ("IND", "USA"): mean_c}
    weights = lane_weights(lanes, {"CHN": share, "IND": 1 - share},
                           lambda lane: means[(lane.from_, lane.to)])
    mass = [w * means[(lane.from_, lane.to)] for lane, w in zip(lanes, weights)]
    total = sum(mass)
    assert (mass[0] + mass[1]) / total == pytest.approx(share, rel=1e-9)
    assert mass[0] / (mass[0] + mass[1]) == pytest.approx(lane_share, rel=1e-9)


def test_log_uniform_mean():
    rng = random.Random(0)
    import math
    draws = [math.exp(rng.uniform(math.log(10), math.log(1000))) for _ in range(200_000)]
    assert sum(draws) / len(draws) == pytest.approx(log_uniform_mean(10, 1000), rel=0.02)


def test_a_source_without_a_share_is_a_clear_error():
    lanes = [Lane("DEU", "MEX", (), 1.0, (), "")]
    with pytest.raises(TradeError, match=r"DEU.*\[\[source\]\]"):
        plan(lanes, shipments=3, members=("DEU", "MEX"))


def test_smuggling_writes_nothing_without_inspections():
    lanes = [Lane("CHN", "MEX", ("PAN",), 1.0, ("npp",), "")]
    shipments = plan(lanes, illicit={"smuggle": 40, "mislabel": 20}).shipments
    assert len(shipments) == 60
    assert all(p.steps == [] and p.economy == "illicit" for p in shipments)
    assert all(p.diverted_g == p.quantity_g for p in shipments)


def test_inspections_find_smuggled_cargo_and_seize_it():
    lanes = [Lane("CHN", "MEX", ("PAN",), 1.0, ("npp",), "")]
    shipments = plan(lanes, illicit={"smuggle": 200}, budget=0.5).shipments
    found = [p for p in shipments if p.steps]
    # Two inspection points (PAN, MEX), each 0.5 x 0.9: about 1 - (1 - 0.45)^2 = 70% found.
    assert 0.6 < len(found) / len(shipments) < 0.8
    for p in found:
        [step] = p.steps  # seized at the first point that finds it
        assert step.kind == "inspect" and step.fields["shipment"] == "-"
        assert step.fields["found_chemical"] == "npp"
        assert step.fields["seized_g"] > 0 and p.seized_g == p.quantity_g


def test_inspection_files_what_it_found_not_the_plan_label():
    """A consignment whose papers match its cargo is found as declared, whatever happens to
    it later (an under_report skims after entry): the inspection has nothing to report."""
    lanes = [Lane("CHN", "MEX", (), 1.0, ("npp",), "")]
    shipments = plan(lanes, diversions={"under_report": 50}, budget=1.0, detection=1.0,
                     shares={"CHN": 1.0}).shipments
    for p in shipments:
        [inspect] = [s for s in p.steps if s.kind == "inspect"]
        ship = next(s for s in p.steps if s.kind == "ship")
        assert inspect.fields["found_chemical"] == ship.fields["declared_chemical"]
        assert abs(inspect.fields["found_g"] - ship.fields["quantity_g"]) \
            < 0.03 * ship.fields["quantity_g"]
        assert inspect.fields["seized_g"] == 0


def test_no_pen_where_the_registry_asks_none():
    lanes = [Lane("CHN", "MEX", (), 1.0, ("aniline",), "")]
    free = Rules(pen_tier=lambda c, a, b, t: "none",
                 controlled_anywhere=lambda c, ns, t: False)
    shipments = plan(lanes, shipments=20, rules=free, shares={"CHN": 1.0}).shipments
    kinds = {s.kind for p in shipments for s in p.steps}
    assert "pen" not in kinds and "pen_reply" not in kinds and "ship" in kinds


def test_a_light_tier_pen_gets_no_reply():
    lanes = [Lane("CHN", "MEX", (), 1.0, ("aniline",), "")]
    light = Rules(pen_tier=lambda c, a, b, t: "light",
                  controlled_anywhere=lambda c, ns, t: False)
    shipments = plan(lanes, shipments=10, rules=light, shares={"CHN": 1.0}).shipments
    for p in shipments:
        pens = [s for s in p.steps if s.kind == "pen"]
        assert [s.fields["tier"] for s in pens] == ["light"]
        assert not any(s.kind == "pen_reply" for s in p.steps)


def test_split_orders_go_through_one_front_with_a_small_stated_need():
    lanes = [Lane("CHN", "MEX", (), 1.0, ("npp",), "")]
    tp = plan(lanes, illicit={"split": 2}, shares={"CHN": 1.0})
    parts = [p for p in tp.shipments if p.diversion == "split"]
    assert len(parts) == 8
    fronts = {p.importer for p in parts}
    assert len(fronts) == 2
    for front in fronts:
        [licence] = tp.operators[front].licences
        ordered = sum(p.quantity_g for p in parts if p.importer == front)
        assert licence[1] == "import" and licence[4] < ordered


def test_the_plan_is_a_function_of_the_seed():
    lanes = [Lane("CHN", "MEX", ("PAN",), 1.0, (), ""), Lane("IND", "USA", (), 1.0, (), "")]
    a = plan(lanes, shipments=50, illicit={"smuggle": 5, "split": 2}, budget=0.3, seed=9)
    b = plan(lanes, shipments=50, illicit={"smuggle": 5, "split": 2}, budget=0.3, seed=9)
    assert [(p.id, p.quantity_g, [s.fields for s in p.steps]) for p in a.shipments] == \
        [(p.id, p.quantity_g, [s.fields for s in p.steps]) for p in b.shipments]


def test_variants_stay_paired_consignment_by_consignment():
    """Opting a nation out, or raising the inspection budget, changes the records of the
    consignments it touches and nothing else: each consignment draws from its own generator."""
    lanes = [Lane("CHN", "MEX", ("PAN",), 0.5, (), ""), Lane("CHN", "USA", (), 0.5, (), ""),
             Lane("IND", "USA", (), 1.0, (), "")]
    everyone = plan(lanes, shipments=80, illicit={"smuggle": 10}, seed=4).shipments
    no_pan = plan(lanes, shipments=80, illicit={"smuggle": 10}, seed=4,
                  members=("CHN", "IND", "MEX", "USA")).shipments
    inspected = plan(lanes, shipments=80, illicit={"smuggle": 10}, seed=4, budget=0.5).shipments
    assert [(p.id, p.lane, p.chemical, p.quantity_g) for p in everyone] == \
        [(p.id, p.lane, p.chemical, p.quantity_g) for p in no_pan] == \
        [(p.id, p.lane, p.chemical, p.quantity_g) for p in inspected]
    untouched = [(a, b) for a, b in zip(everyone, no_pan) if "PAN" not in a.lane.path]
    assert untouched and all([s.fields for s in a.steps] == [s.fields for s in b.steps]
                             for a, b in untouched)
