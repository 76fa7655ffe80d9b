"""Question: if Panama's customs stop recording one chemical (4-piperidone) but keep recording
everything else, does any rule notice, and how much traced mass would be lost?

Panama stays a member and a declared transit, so every 4-piperidone shipment through it now
arrives with a hole in its custody chain: at receipt, the chaincode raises `missing_checkpoint`
(a declared member transit that filed no checkpoint). The oracle counts each such shipment as a
diversion ("pan_skips_4_piperidone") and each is flagged: the gap is visible on the chain.

Look at: domain.diversions_injected["pan_skips_4_piperidone"] and
domain.diversions_flagged["pan_skips_4_piperidone"] (equal), domain.flags_by_kind
["missing_checkpoint"] (one per skipped shipment), domain.false_flags (0), and
domain.traced_complete_pct (100: the figure is licit trade's, and the skipped shipments are
counted apart).

This is the worked example of a Python scenario script (see scenarios/api.py): the scenario is
ordinary TOML text, and one custom behaviour, written here, removes the PAN transit records of
one chemical from the planned trade. Run it like a TOML file:

    chemtrace run scenarios/library/opt-out-one-chemical.py
"""

from scenarios.api import CustomBehaviour, parse_scenario, with_custom

TOML = """
[scenario]
name = "opt-out-one-chemical"
seed = 31
ticks_max = 12000

[[nation]]
id = "CHN"
[[nation]]
id = "IND"
[[nation]]
id = "MEX"
[[nation]]
id = "USA"
[[nation]]
id = "PAN"

[workload]
txs_per_tick = 0.0
shipments = 80
trade_until_tick = 5000

[[lane]]
from = "CHN"
to = "MEX"
via = ["PAN"]
share = 1.0
chemicals = ["4-piperidone", "4-ap", "npp"]

[[lane]]
from = "IND"
to = "USA"
via = ["PAN"]
share = 1.0
chemicals = ["4-piperidone", "propionyl-chloride"]
"""


class SkipsOneChemical(CustomBehaviour):
    """The nation's customs file no transit record for shipments of one chemical."""

    def __init__(self, nations, chemical):
        super().__init__(nations)
        self.chemical = chemical

    def adjust_shipment(self, plan, members, rng):
        if plan.diversion is not None or plan.chemical != self.chemical:
            return
        skipped = [s for s in plan.steps if s.kind == "transit" and s.nation in self.nations]
        if not skipped:
            return
        plan.steps[:] = [s for s in plan.steps if s not in skipped]
        plan.diversion = "pan_skips_4_piperidone"  # known to the oracle, not to the nodes
        plan.dark = True


def scenario():
    return with_custom(parse_scenario(TOML, __file__), SkipsOneChemical(["PAN"], "4-piperidone"))
