"""A small lane-private trade with high-entropy sentinels in one consignment's hidden fields,
for the leakage scans of tests/scenarios/test_privacy_runs.py (simulated) and
tests/live/test_live_private.py (live nodes)."""

from __future__ import annotations

from helpers import nations_toml
from scenarios.spec.loader import parse_scenario

# High-entropy sentinels in the hidden fields of one CHN -> MEX consignment: a 1 to 5 byte
# quantity would match random signature bytes by chance, these do not.
SENTINEL_G = 734_219_865_431
RECEIVED_G = SENTINEL_G - 10**10  # ten tonnes (1.4%) short
SENTINEL_TEXT = "consignee-9f3b7c1d5e2a8046b1c3"
SENTINEL_END_USE = "end-use-51d0e6a4c2b9f7380e1d"

SCENARIO = """
[scenario]
name = "privacy-small"
seed = 5
ticks_max = 7000

""" + nations_toml(["CHN", "USA", "CAN"]) + """
[[nation]]
id = "MEX"
objects_to = []

[workload]
txs_per_tick = 0.0
shipments = 8
trade_start_tick = 300
trade_until_tick = 1500
{diversions}

[[lane]]
from = "CHN"
to = "MEX"
share = 0.6

[[lane]]
from = "CHN"
to = "USA"
share = 0.4

[expect]
liveness = "any"
"""


def privacy_scenario(mode: str | None, diversions: str = "", extra: str = ""):
    text = SCENARIO.format(diversions=diversions)
    if mode is not None:
        text += f'\n[privacy]\nmode = "{mode}"\n{extra}'
    return parse_scenario(text, "<privacy test>")


def sentinel_plan(world):
    """Put the sentinels into one licit CHN -> MEX consignment's hidden fields."""
    plan = next(p for p in world.workload.plans if p.to_nation == "MEX" and p.diversion is None
                and any(s.kind == "pen" for s in p.steps))
    plan.steps[:] = [s for s in plan.steps if s.kind != "transform"]
    for step in plan.steps:
        if "quantity_g" in step.fields:
            # ten tonnes (1.4%) short on receipt: the lane flags a discrepancy, whose
            # detail quotes both masses
            step.fields["quantity_g"] = RECEIVED_G if step.kind == "receive" else SENTINEL_G
        if step.kind == "pen":
            step.fields.update(consignee=SENTINEL_TEXT, end_use=SENTINEL_END_USE)
    return plan


def needles(value: int) -> list[bytes]:
    return [value.to_bytes(8, "big")[3:], str(value).encode()]
