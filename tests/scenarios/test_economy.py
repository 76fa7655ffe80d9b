"""The precursor economy through whole worlds: illicit attempts that write nothing, inspections
that make them visible, authorities that object, a dark route that does not hide a diversion,
and the scenario keys' errors."""

from __future__ import annotations

import json

import pytest

from helpers import nations_toml, run_text

from scenarios.assemble import build_world
from scenarios.spec.loader import ScenarioError, parse_scenario

NATIONS = ["CHN", "MEX", "USA"]
LANES = """
[[lane]]
from = "CHN"
to = "MEX"
share = 0.7
chemicals = ["npp", "4-ap", "1-boc-4-piperidone"]

[[lane]]
from = "CHN"
to = "USA"
share = 0.3
chemicals = ["npp", "4-ap", "1-boc-4-piperidone"]
"""


def economy(workload: str, extra: str = "", nations=NATIONS, lanes: str = LANES, seed: int = 3,
            ledger_path=None, **overrides):
    text = f"""
[scenario]
name = "economy"
seed = {seed}
ticks_max = 9000
{nations_toml(nations)}
[workload]
txs_per_tick = 0.0
trade_until_tick = 4000
{workload}
{extra}
{lanes}
"""
    if ledger_path is None:
        return run_text(text, **overrides)
    world = build_world(parse_scenario(text, "<test>").with_overrides(**overrides),
                        ledger_path=ledger_path)
    return world, world.run()


def ledger_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_smuggling_writes_no_ledger_event_and_leaks_without_inspections(tmp_path):
    world, s = economy("shipments = 20\nillicit = { smuggle = 15, mislabel = 10 }",
                       ledger_path=tmp_path / "ledger.jsonl")
    d = s.domain
    smuggled = [p for p in world.workload.plans if p.economy == "illicit"]
    assert len(smuggled) == 25 and all(not p.steps for p in smuggled)
    ids = {p.id for p in smuggled}
    rows = ledger_rows(tmp_path / "ledger.jsonl")
    assert rows, "the licit trade is on the ledger"
    mentioned = {str(v) for r in rows for v in r["fields"].values()} | {r["event"] for r in rows}
    assert not any(m.startswith(i) for m in mentioned for i in ids)
    assert d["diversions_flagged"]["smuggle"] == d["diversions_flagged"]["mislabel"] == 0
    assert d["illicit"]["leaked_kg"] == pytest.approx(sum(p.quantity_g for p in smuggled) / 1000,
                                                      abs=0.01)
    assert d["false_flags"] == 0 and d["traced_complete_pct"] == 100.0


def test_inspections_make_smuggling_visible_at_a_measurable_rate():
    _, s = economy("shipments = 10\nillicit = { smuggle = 60 }", "[inspection]\nbudget = 0.5")
    d = s.domain
    rate = d["detection_rate_by_kind"]["smuggle"]
    # One inspection point (the destination), budget 0.5, detection 0.9: about 45% found.
    assert 0.25 < rate < 0.65
    assert d["flags_by_kind"]["unrecorded_cargo"] == d["diversions_flagged"]["smuggle"]
    assert d["illicit"]["seized_kg"] > 0 and d["false_flags"] == 0


CORRUPT_EXPORTER = """[[behaviour]]
nations = ["CHN"]
kind = "false_report"
params = { rate = 1.0, under_report_pct = 25 }
"""


def test_a_corrupt_exporter_is_caught_more_often_as_the_budget_grows():
    rates = []
    for budget in (0.0, 0.3, 1.0):
        _, s = economy("shipments = 40", CORRUPT_EXPORTER + f"[inspection]\nbudget = {budget}")
        d = s.domain
        assert d["diversions_injected"]["false_report"] == 40
        rates.append(d["detection_rate_by_kind"]["false_report"])
    assert rates[0] == 0.0 < rates[1] < rates[2]
    assert rates[2] > 0.8  # every consignment weighed; 90% of the weighings see the 25%


def test_an_overdue_diversion_on_a_route_through_an_opted_out_hub_is_detected():
    lanes = """
[[lane]]
from = "CHN"
to = "MEX"
via = ["PAN"]
share = 1.0
chemicals = ["npp"]
"""
    _, s = economy("shipments = 10\ndiversions = { overdue = 6 }",
                   '[[behaviour]]\nnations = ["PAN"]\nkind = "opt_out"\n'
                   "[domain]\ntransit_deadline_ticks = 2000",
                   nations=["CHN", "MEX", "PAN", "USA"], lanes=lanes)
    d = s.domain
    assert d["detection_rate_by_kind"]["overdue"] == 1.0
    assert d["false_flags"] == 0
    # Every shipment declared through PAN gets a dark_hop flag: a gap in coverage, not a finding.
    assert d["coverage_gap_flags"] >= 16 and d["traced_complete_pct"] == 0.0


def test_an_authority_objects_to_a_split_order_and_the_shipment_made_anyway_is_flagged():
    _, s = economy("shipments = 10\nillicit = { split = 3 }")
    d = s.domain
    assert d["diversions_injected"]["split"] == 12  # three orders in four parts each
    # The front stated 40% of the order as its need: parts 2 to 4 go above it.
    assert d["diversions_flagged"]["split"] == 9
    assert d["pen_objections"] == {"licit": 0, "illicit": 9}
    assert d["flags_by_kind"]["objection_ignored"] == 9
    assert d["flags_by_kind"]["suspicious_order"] == 9
    assert d["rejections_by_reason"] == {"pen_objection": 9} and d["false_flags"] == 0


def test_an_authority_that_objects_to_nothing_lets_the_split_order_through():
    lax = nations_toml(["CHN", "USA"]) + '\n[[nation]]\nid = "MEX"\nobjects_to = []\n'
    _, s = run_text(f"""
[scenario]
name = "lax"
seed = 3
ticks_max = 9000
{lax}
[workload]
txs_per_tick = 0.0
trade_until_tick = 4000
shipments = 10
illicit = {{ split = 3 }}
{LANES}
""")
    d = s.domain
    mex = [p for p in s.domain["missed"] if p["kind"] == "split"]
    assert d["pen_objections"]["illicit"] < 9 and d["flags_by_kind"]["objection_ignored"] < 9
    assert len(mex) > 3


def test_a_front_company_within_its_stated_need_is_invisible():
    _, s = economy("shipments = 10\nillicit = { front_company = 5 }", "[inspection]\nbudget = 1.0")
    d = s.domain
    assert d["diversions_injected"]["front_company"] == 5
    assert d["diversions_flagged"]["front_company"] == 0 and d["leaked_kg"] > 0


def test_the_economy_is_deterministic():
    mix = ("shipments = 30\ndiversions = { under_report = 3 }\n"
           "illicit = { smuggle = 5, mislabel = 3, pre_precursor = 3, split = 1, "
           "front_company = 1 }")
    extra = CORRUPT_EXPORTER.replace("1.0", "0.3") + "[inspection]\nbudget = 0.3"
    a = economy(mix, extra)[1]
    b = economy(mix, extra)[1]
    c = economy(mix, extra, seed=4)[1]
    assert a.trace_sha256 == b.trace_sha256 and a.domain == b.domain
    assert a.trace_sha256 != c.trace_sha256


def test_time_reads_in_trade_days():
    _, s = economy("shipments = 10\ndiversions = { under_report = 4 }",
                   extra="", ticks_max=9000)
    d = s.domain
    assert d["detection_delay_days_p50"] == pytest.approx(d["detection_delay_ticks_p50"] / 100)


BASE = """
[scenario]
name = "bad"
ticks_max = 5000
{scenario}
[[nation]]
id = "CHN"
[[nation]]
id = "MEX"
[workload]
shipments = 5
{rest}
[[lane]]
from = "CHN"
to = "MEX"
share = 1.0
"""


@pytest.mark.parametrize("scenario, rest, needle", [
    ("", "[[source]]\nnation = \"CHN\"\nshare = 0.6", "the [[source]] shares sum to 0.6"),
    ("", "[[source]]\nnation = \"IND\"\nshare = 1.0", "'IND' is the source of no lane"),
    ("", "[inspection]\nbudget = 1.5", "1.5 is above the maximum 1.0"),
    ("", "[inspection]\ndetection_probability = -0.1", "below the minimum"),
    ('trade_epoch = "2025-13-01"', "", "'2025-13-01' is not a date"),
    ("ticks_per_trade_day = 0", "", "below the minimum"),
    ("", "[workload.illicit]\nsmugle = 3", "Allowed keys are: smuggle"),
])
def test_bad_economy_keys_are_clear_errors(scenario, rest, needle):
    text = BASE.format(scenario=scenario, rest=rest)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    message = str(info.value)
    assert needle in message and "bad.toml" in message


def test_a_bad_objection_ground_names_the_allowed_ones():
    text = BASE.format(scenario="", rest="").replace('id = "MEX"', 'id = "MEX"\nobjects_to = ["rude"]')
    with pytest.raises(ScenarioError, match=r"unknown value 'rude'.*above_need"):
        parse_scenario(text, "bad.toml")


def test_the_pen_online_year_is_at_scale_and_starts_clean():
    """The year study's file, run for its first 300 ticks (the whole year takes minutes: see
    docs/domain.md): 145 nations, 30,000 licit consignments planned with the illicit mix."""
    from helpers import LIBRARY
    from scenarios.spec.loader import load_scenario
    scenario = load_scenario(LIBRARY / "pen-online-year.py")
    assert len(scenario.nations) == 145 and scenario.ticks_per_trade_day == 10
    assert {"CHN", "IND", "MEX", "USA", "DEU"} <= set(scenario.nation_ids)
    world = build_world(scenario.with_overrides(ticks_max=300))
    plans = world.workload.plans
    assert sum(1 for p in plans if p.economy == "licit") == 30_000
    assert sum(1 for p in plans if p.economy == "illicit") == 850
    s = world.run()
    assert s.safety_ok and s.heights_committed >= 2 and s.domain["false_flags"] == 0
