"""Write a `Scenario` back as a TOML scenario file that `load_scenario` reads to an equal one.

The fuzzer shrinks a failing case to a `Scenario` and writes it with `scenario_to_toml`, so a
counterexample is an ordinary scenario file: readable, editable, and replayed by `chemtrace run`.
Python-only parts (custom behaviours) cannot be written and are refused.
"""

from __future__ import annotations

import tomli_w

from scenarios.spec.loader import Scenario, ScenarioError
from scenarios.spec.schema import REQUIRED, SCHEMA


def scenario_to_toml(s: Scenario, header: str = "") -> str:
    if s.custom:
        raise ScenarioError(f"{s.source}: custom Python behaviours cannot be written as TOML")
    doc: dict = {
        "scenario": {"name": s.name, "description": s.description, "seed": s.seed,
                     "ticks_max": s.ticks_max, "ticks_per_trade_day": s.ticks_per_trade_day,
                     "trade_epoch": s.trade_epoch},
        "nation": [_nation(code, power, (s.nation_rules or {}).get(code))
                   for code, power in s.nations],
        "network": _clean(s.network),
        "partition": [_clean({"groups": [list(g) for g in p.groups], "from_tick": p.from_tick,
                              "until_tick": p.until_tick, "direction": p.direction,
                              "rounds": list(p.rounds) or None,
                              "heights": list(p.heights) or None,
                              "leaders": list(p.leaders) or None})
                      for p in s.partitions],
        "behaviour": [_clean({"nations": list(b.nations), "kind": b.kind,
                              "from_tick": b.from_tick, "until_tick": b.until_tick,
                              "params": _clean(b.params)})
                      for b in s.behaviours],
        "workload": _clean(s.workload),
        "consensus": dict(s.consensus),
        "domain": dict(s.domain or {}),
        "inspection": dict(s.inspection or {}),
        "source": [{"nation": src["nation"], "share": src["share"]} for src in s.sources],
        "lane": [_clean({"from": lane["from"], "to": lane["to"], "via": list(lane["via"]),
                         "share": lane["share"], "chemicals": list(lane["chemicals"])})
                 for lane in s.lanes],
        "expect": dict(s.expect),
    }
    doc = {name: _prune(name, value) for name, value in doc.items()}
    if s.privacy is not None:  # a written [privacy] table, even at its defaults, stays
        doc["privacy"] = {"mode": s.privacy["mode"], **_prune("privacy", s.privacy)}
    doc = {k: v for k, v in doc.items() if v != [] and v != {}}
    text = tomli_w.dumps(doc)
    if header:
        text = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + "\n" \
            + text
    return text


def _nation(code: str, power: int, rules: dict | None) -> dict:
    out: dict = {"id": code, "power": power}
    if rules:
        out.update(_clean(rules))
    return out


def _prune(table: str, value):
    """Leave out keys at their schema default: the file stays short, and keys that only apply
    to another mode (latency_scale under the uniform model, say) are not written."""
    spec = SCHEMA.get(table)
    if spec is None:
        return value
    def prune_one(d: dict, keys) -> dict:
        out = {}
        for k, v in d.items():
            key = keys.get(k)
            if key is not None and key.default is not REQUIRED and v == key.default:
                continue
            if key is not None and key.table is not None and isinstance(v, list):
                v = [prune_one(item, key.table.keys) for item in v]
            out[k] = v
        return out
    if isinstance(value, list):
        return [prune_one(item, spec.keys) for item in value]
    return prune_one(value, spec.keys)


def _clean(value):
    """TOML has no null: drop None entries, recursively; tuples become lists."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
