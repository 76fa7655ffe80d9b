"""Question: over a year of licit trade at the scale of INCB's PEN Online (30,000 consignments
among 145 nations), with illicit attempts of every kind mixed in and customs inspecting 5% of
what enters or crosses them, how much illicit mass is caught, how much leaks, and at what cost
in false alarms and objections to honest trade?

Scale (docs/domain.md, "Calibration"): PEN Online handles more than 30,000 pre-export
notifications a year among about 145 countries and territories. Here the consortium is 145
nations (the first 144 UN members in alpha-3 order, which include CHN, IND, MEX and the large
European and Asian exporters, plus the USA), every one a validator and a record keeper. A
trade day is 10 ticks, so the year is 3,650 ticks; the run lasts 5,000 so that the last
consignments arrive. Licit trade runs from eight exporting nations to every other member, with
export shares that are estimates (the largest exporters of organic chemicals; no source read
gives shares for these chemicals); consignment sizes and the chemical mix are calibrated
(scenarios/data/economy.toml). 30,000 is the number of licit consignments; how many of them
need a full PEN (the registry's tier on the ship date) is in domain.flags and the ledger.

This is a Python scenario script because its lanes are generated: eight exporters times 144
importers. Run it like a TOML file (it takes minutes; docs/domain.md gives the wall time):

    chemtrace run scenarios/library/pen-online-year.py

Look at: domain.illicit (attempts, kg, detected, seized_kg, leaked_kg), domain.leaked_kg_by_kind,
domain.detection_rate_by_kind, domain.false_flags, domain.pen_objections, domain.inspections,
domain.traced_complete_pct (licit), and wall_s.
"""

from scenarios.api import parse_scenario, un_members

# Licit export shares: ESTIMATES (see the module docstring), summing to 1.
EXPORTERS = {"CHN": 0.35, "IND": 0.15, "USA": 0.10, "DEU": 0.10, "BEL": 0.075, "NLD": 0.075,
             "JPN": 0.075, "KOR": 0.075}
NATIONS_COUNT = 145


def nations() -> list[str]:
    members = un_members()
    chosen = [n for n in members if n != "USA"][:NATIONS_COUNT - 1] + ["USA"]
    missing = sorted(set(EXPORTERS) - set(chosen))
    assert not missing, missing
    return chosen


def toml_text() -> str:
    codes = nations()
    parts = ["""
[scenario]
name = "pen-online-year"
description = "A year of licit trade at PEN Online's scale among 145 nations, illicit mixed in"
seed = 81
ticks_max = 5000
ticks_per_trade_day = 10
"""]
    parts += [f'[[nation]]\nid = "{code}"\n' for code in codes]
    parts.append("""
[network]
latency_ticks = 20
jitter_ticks = 10

[workload]
txs_per_tick = 0.0
shipments = 30000
trade_start_tick = 50
trade_until_tick = 3650
illicit = { smuggle = 300, mislabel = 150, pre_precursor = 150, front_company = 50, split = 50 }

[inspection]
budget = 0.05

[domain]
transit_deadline_ticks = 900
late_report_ticks = 500

[consensus]
block_txs_max = 40000
gossip_batch_ticks = 10
gossip_peers = 4
""")
    for exporter, share in EXPORTERS.items():
        parts.append(f'[[source]]\nnation = "{exporter}"\nshare = {share}\n')
        importers = [c for c in codes if c != exporter]
        lane_share = 1 / len(importers)
        for importer in importers:
            parts.append(f'[[lane]]\nfrom = "{exporter}"\nto = "{importer}"\n'
                         f'share = {lane_share!r}\n')
    parts.append("[expect]\nsafety = true\nliveness = true\n")
    return "\n".join(parts)


def scenario():
    return parse_scenario(toml_text(), __file__)
