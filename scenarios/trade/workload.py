"""The precursor economy as a plan: licit trade, insider diversions, illicit attempts, inspections.

Theory of operation
-------------------

`plan_trade` draws, from the `trade` random stream, every consignment of the run as a
`PlannedShipment`: a lane, a chemical, a mass, and a short script of the records that the
nations' authorities file about it (`Step`s: commission, PEN, PEN reply, ship, inspections,
transit checkpoints, receive, sometimes a transform). The world files each step with the nation
whose authority records it, once the previous step is committed, so a consignment's records
never race each other. Three economies share the lanes:

- **Licit trade** (`[workload] shipments`): registered manufacturers export to registered
  importers. A PEN is filed where the registry says one is required on the ship date (its
  tier, `nodes.app.control.pen_tier`), a light notification for a non-scheduled dual-use or
  watched chemical; licences are scoped per chemical and dated; each importer states a need
  (its licence quota) above its planned imports. Consignment sizes and the chemical mix come
  from `scenarios/data/economy.toml` (tonnes for bulk chemicals, kilograms for fentanyl
  precursors).
- **Insider diversions** (`[workload] diversions`, and the corrupt-official behaviours): a
  licensed operator or a corrupt official bends the records of a declared consignment:
  `under_report`, `false_origin`, `undeclared_transit`, `dark_hop`, `overdue`, `unregistered`,
  `yield_exceeded`, `false_report`, `collusion` (each described in `docs/domain.md`).
- **Illicit attempts** (`[workload] illicit`) that do not declare themselves:
  `smuggle` (concealed cargo: no record at all), `mislabel` (declared to customs as another,
  uncontrolled good, so the precursor ledger never hears of it), `pre_precursor` (a substitute
  not scheduled on the attempt's date, declared as what it is: legal, and visible only where
  customs record watched HS codes), `front_company` (a front holding a valid licence orders
  within the need it stated: every record is in order), `split` (a front orders more than its
  stated need, in parts, hoping each part passes).

Lanes are drawn so that each source carries its share of the total mass (`[[source]]`, or the
calibrated shares) and each lane its share of its source's: a lane is picked with weight
source share x lane share / the lane's mean consignment mass.

Physical ground truth. Every consignment has a real chemical and a real mass, which may differ
from its papers. Each member nation it enters or crosses inspects it with that nation's budget
(a share of consignments): an inspection finds a difference with `detection_probability`, and
weighs with the scale's error (`measurement_error_pct`, the source of false alarms on honest
cargo). It files what it physically found (`inspect`); the chaincode compares that with the
records. The inspection never reads the plan's diversion label: it files the cargo as found.
A nation whose officials are corrupt on a consignment (false_report, collude) does not inspect
it. Cargo found with no record, or under a false name, is seized.

The nodes know none of this; the oracle (`scenarios/trade/oracle.py`) does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from nodes.app.registry import Lane, Registry

from scenarios.spec.schema import DIVERSION_KINDS, ILLICIT_KINDS
from scenarios.trade.calibration import ChemicalTrade

# Trade time is in days; the planner turns days into ticks with the scenario's
# ticks_per_trade_day (100 by default: then a step waits 150 ticks and a leg takes 400).
STEP_DELAY_DAYS = 1.5  # between one step's commit and the next step's filing
LEG_DAYS = 4.0  # one leg of a route, port to port
DARK_HOP_DELAY_DAYS = 15.0  # the detour through a nation that keeps no records
DEFAULT_REPLY_WINDOW_TICKS = 1500
TRANSFORM_SHARE = 0.3
UNREGISTERED_CHEMICAL = "4-piperidone ethylene ketal"  # a pre-precursor outside the tables
UNREGISTERED_HS = "2933.39"
# How mislabelled cargo is declared to customs (documented cases: "antacid", "industrial
# chemical"); neither HS code is watched, so the precursor ledger hears nothing of it.
COVERS = (("antacid", "3004.90"), ("industrial chemical", "3824.99"))
NEED_HEADROOM = 1.5  # a licit importer states 1.5 times its planned imports as its need
SPLIT_PARTS = 4  # a split order goes in four parts ...
SPLIT_STATED_NEED = 0.4  # ... by a front that stated 40% of the total as its need
FRONTS_PER_NATION_MAX = 1000
LICENCE_MARGIN_TICKS = 10**9  # licences outlast the run


class TradeError(ValueError):
    """The scenario's trade cannot be planned (a user error: the message says how to fix it)."""


@dataclass
class Step:
    nation: str  # whose authority files it (the tx signer)
    kind: str
    event_id: str
    fields: dict
    cosigner: str | None  # operator id that must co-sign
    delay_ticks: int | None = None  # None: the plan's step delay (STEP_DELAY_DAYS)


@dataclass
class PlannedShipment:
    id: str
    lane: Lane
    chemical: str  # the real chemical in the consignment
    quantity_g: int  # the real mass loaded
    from_nation: str
    to_nation: str
    declared_via: tuple[str, ...]
    actual_via: tuple[str, ...]
    diversion: str | None
    start_tick: int
    steps: list[Step] = field(default_factory=list)
    diverted_g: int = 0  # mass the diversion takes out of honest custody
    subjects: set[str] = field(default_factory=set)  # lot, shipment, inspection ids it touches
    declared_factor: float = 1.0  # a false ship declaration: declared = real x factor
    received_factor: float = 1.0  # a false receipt: reported = real x factor
    dark: bool = False  # some of its route keeps no records
    silent: bool = False  # the importer withholds its reply to the PEN
    economy: str = "licit"  # "licit" (and its insider diversions) or "illicit"
    importer: str = ""  # the operator that receives it
    inspections: list[tuple[str, bool]] = field(default_factory=list)  # (nation, found it)
    seized_g: int = 0  # mass seized by inspections
    status: str = ""  # illicit: the chemical on its start date: controlled, unscheduled, unregistered


@dataclass(frozen=True)
class OperatorSpec:
    """An operator the nation registers at tick 1: its licences (chemical, activity,
    from_ticks, until_ticks, quota_g)."""

    nation: str
    licences: tuple[tuple[str, str, int, int, int], ...]


@dataclass
class TradePlan:
    shipments: list[PlannedShipment]
    operators: dict[str, OperatorSpec]
    source_shares: dict[str, float]  # each source's share of the mass, over the lanes used


def operator_ids(nation: str) -> tuple[str, str]:
    """Each member nation has one manufacturer-exporter and one importer-processor."""
    return f"{nation}-MFG", f"{nation}-IMP"


@dataclass(frozen=True)
class Corruption:
    """What corrupt officials do to the records (behaviours withhold_objection, false_report,
    collude); the oracle knows, the nodes do not."""

    withhold: frozenset[str] = frozenset()
    reply_window_ticks: dict = field(default_factory=dict)
    silence_blocks: dict = field(default_factory=dict)  # nation -> silence means a block
    false_report: dict = field(default_factory=dict)  # nation -> (rate, pct)
    collude: tuple = ()  # (frozenset of nations, rate, pct)


@dataclass(frozen=True)
class Inspection:
    """The physical checks: per-nation budgets, the chance a check finds a real difference,
    and the scale's error."""

    budget: dict = field(default_factory=dict)  # nation -> share of consignments inspected
    detection_probability: float = 0.9
    measurement_error_pct: float = 0.3
    tolerance_pct: float = 1.0  # the chaincode's discrepancy tolerance

    def budget_of(self, nation: str) -> float:
        return self.budget.get(nation, 0.0)


@dataclass(frozen=True)
class Rules:
    """What the registry says on a date, as the workload needs it (nodes.app.control, bound to
    the registry and the trade calendar by the runner)."""

    pen_tier: Callable[[str, str, str, int], str]  # (chemical, from, to, tick)
    controlled_anywhere: Callable[[str, tuple[str, ...], int], bool]  # (chemical, nations, tick)


def log_uniform_mean(lo: float, hi: float) -> float:
    return lo if hi <= lo else (hi - lo) / math.log(hi / lo)


def draw_kg(rng: random.Random, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return lo if hi <= lo else math.exp(rng.uniform(math.log(lo), math.log(hi)))


class _Planner:
    def __init__(self, rng: random.Random, registry: Registry, rules: Rules,
                 chemicals: dict[str, ChemicalTrade], members: tuple[str, ...],
                 outsiders: list[str], corruption: Corruption, inspection: Inspection,
                 licence_until_ticks: int, ticks_per_day: int = 100,
                 inspect_rng: random.Random | None = None) -> None:
        self.rng = rng
        self.inspect_rng = inspect_rng or random.Random(rng.random())
        self.step_ticks = max(1, round(STEP_DELAY_DAYS * ticks_per_day))
        self.leg_ticks = max(1, round(LEG_DAYS * ticks_per_day))
        self.dark_hop_ticks = max(1, round(DARK_HOP_DELAY_DAYS * ticks_per_day))
        self.registry = registry
        self.rules = rules
        self.chemicals = chemicals
        self.members = members
        self.outsiders = outsiders
        self.corruption = corruption
        self.inspection = inspection
        self.licence_until = licence_until_ticks
        self.imports_g: dict[tuple[str, str], int] = {}  # (importer, chemical) -> planned grams
        self.exports: set[tuple[str, str]] = set()  # (exporter, chemical)
        self.products: set[tuple[str, str]] = set()  # (processor, product)
        self.fronts: dict[str, OperatorSpec] = {}

    # ------------------------------------------------------------------ choices

    def licit_chemical(self, lane: Lane) -> str:
        names = self.lane_chemicals(lane)
        weights = [self.chemicals[c].licit_share if c in self.chemicals else 0.0 for c in names]
        if sum(weights) <= 0:
            weights = [1.0] * len(names)
        return self.rng.choices(names, weights)[0]

    def lane_chemicals(self, lane: Lane) -> list[str]:
        return [c for c in lane.chemicals if self.registry.is_registered(c)] or \
            sorted(self.registry.chemicals)

    def mean_licit_kg(self, lane: Lane) -> float:
        names = self.lane_chemicals(lane)
        weights = [self.chemicals[c].licit_share if c in self.chemicals else 0.0 for c in names]
        if sum(weights) <= 0:
            weights = [1.0] * len(names)
        return sum(w * log_uniform_mean(*self.sizes(c, "licit"))
                   for c, w in zip(names, weights)) / sum(weights)

    def mean_illicit_kg(self, lane: Lane) -> float:
        names = self.lane_chemicals(lane)
        return sum(log_uniform_mean(*self.sizes(c, "illicit")) for c in names) / len(names)

    def sizes(self, chemical: str, economy: str) -> tuple[float, float]:
        trade = self.chemicals.get(chemical)
        if trade is None:
            return (50.0, 500.0)
        return trade.licit_kg if economy == "licit" else trade.illicit_kg

    def grams(self, chemical: str, economy: str) -> int:
        return max(1, int(draw_kg(self.rng, self.sizes(chemical, economy)) * 1000))

    # ------------------------------------------------------------------ licit and insider trade

    def declared(self, p: PlannedShipment) -> None:
        """The records of a declared consignment (licit, or bent by an insider)."""
        rng, corruption = self.rng, self.corruption
        exporter, _ = operator_ids(p.from_nation)
        if not p.importer:
            p.importer = operator_ids(p.to_nation)[1]
        importer = p.importer
        lot, shipment, received_lot = f"{p.id}-L0", p.id, f"{p.id}-L1"
        p.subjects |= {lot, shipment, received_lot}
        kind = p.diversion
        add = p.steps.append
        members = self.members

        if kind == "unregistered":
            add(Step(p.from_nation, "ship", f"{p.id}-ship", dict(
                shipment=shipment, lot="-", quantity_g=p.quantity_g, exporter=exporter,
                importer=importer, to_nation=p.to_nation, via=p.declared_via, pen="",
                hs_code=UNREGISTERED_HS, declared_chemical=UNREGISTERED_CHEMICAL), None))
            p.chemical = UNREGISTERED_CHEMICAL
            p.diverted_g = p.quantity_g
            return

        if kind == "undeclared_transit":
            candidates = [m for m in members if m not in (p.from_nation, p.to_nation)
                          and m not in p.declared_via]
            if candidates:
                p.actual_via = p.declared_via + (rng.choice(candidates),)
            p.diverted_g = p.quantity_g
        elif kind == "dark_hop":
            if self.outsiders:
                p.actual_via = p.declared_via + (rng.choice(self.outsiders),)
            # Half the detours leave the mass as it was (relabelled, swapped one for one, or
            # unseen); the rest skim 0.5% to 5%.
            skim = 0.0 if rng.random() < 0.5 else rng.uniform(0.005, 0.05)
            p.diverted_g = int(p.quantity_g * skim)
        elif kind in ("false_origin", "overdue"):
            p.diverted_g = p.quantity_g

        p.dark = any(n not in members for n in (p.from_nation, *p.declared_via, p.to_nation))
        if p.from_nation not in members:
            # The exporter keeps no records: the goods travel off the ledger.
            p.diverted_g = 0
            return
        declared_g = int(p.quantity_g * p.declared_factor)
        if kind in ("false_report", "collusion") and p.declared_factor < 1:
            p.diverted_g = p.quantity_g - declared_g
        importer_keeps_records = p.to_nation in members
        ship_tick = p.start_tick + 4 * self.step_ticks
        self.exports.add((exporter, p.chemical))
        if p.economy == "licit" and importer_keeps_records:
            # What the importer plans to take in: its licence and stated need cover it.
            key = (importer, p.chemical)
            self.imports_g[key] = self.imports_g.get(key, 0) + declared_g
        if kind != "false_origin":
            add(Step(p.from_nation, "commission", f"{p.id}-commission", dict(
                lot=lot, chemical=p.chemical, quantity_g=p.quantity_g, operator=exporter),
                exporter))
        ship_lot = f"{p.id}-FAKE" if kind == "false_origin" else lot
        pen = ""
        ship_delay = self.step_ticks
        tier = self.tier(p.chemical, p.from_nation, p.to_nation, p.start_tick, ship_tick)
        if kind != "false_origin" and importer_keeps_records and tier != "none":
            pen = f"{p.id}-pen"
            p.subjects.add(pen)
            add(Step(p.from_nation, "pen", pen, pen_fields(
                pen, lot, exporter, importer, p.to_nation, declared_g, p.declared_via,
                ship_tick, f"manufacture with {p.chemical}", tier), exporter))
            if tier == "light":
                pass  # a light notification needs no reply
            elif p.silent:
                # No answer comes: the exporter waits out the window, then silence decides.
                ship_delay = corruption.reply_window_ticks.get(p.to_nation, 1500) + \
                    self.step_ticks
            else:
                add(Step(p.to_nation, "pen_reply", f"{p.id}-reply", dict(
                    pen=pen, decision=None, reasons=""), None))
        if not pen or tier != "full":
            p.silent = False  # no PEN awaits a reply: there is nothing to withhold
        add(Step(p.from_nation, "ship", f"{p.id}-ship", dict(
            shipment=shipment, lot=ship_lot, quantity_g=declared_g, exporter=exporter,
            importer=importer, to_nation=p.to_nation, via=p.declared_via, pen=pen,
            hs_code=self.registry.chemicals[p.chemical].hs_code, declared_chemical=p.chemical),
            exporter, ship_delay))
        # On the way: a dark hop skims before entry; everything else arrives as loaded.
        at_entry_g = p.quantity_g - (p.diverted_g if kind == "dark_hop" else 0)
        corrupt = self.corrupt_nations(p)
        for i, nation in enumerate(p.actual_via):
            if nation not in members:
                continue
            if kind != "false_origin":
                self.inspect(p, nation, shipment, p.chemical, p.quantity_g, p.chemical,
                             declared_g, corrupt)
            add(Step(nation, "transit", f"{p.id}-transit-{i}", dict(
                shipment=shipment, nation=nation), None, self.leg_ticks))
        if kind == "overdue" or not importer_keeps_records:
            return
        if p.silent and corruption.silence_blocks.get(p.to_nation, False):
            return  # the shipment is refused at the border: nothing arrives to receive
        if kind != "false_origin" and self.inspect(
                p, p.to_nation, shipment, p.chemical, at_entry_g, p.chemical, declared_g,
                corrupt):
            return  # seized at entry
        received_g = declared_g
        if kind == "under_report":
            p.diverted_g = int(p.quantity_g * rng.uniform(0.05, 0.3))
            received_g -= p.diverted_g
        elif kind == "dark_hop":
            received_g -= p.diverted_g
        elif kind == "false_report" and p.received_factor < 1:
            received_g = int(declared_g * p.received_factor)
            p.diverted_g = declared_g - received_g
        delay = self.leg_ticks + (self.dark_hop_ticks if kind == "dark_hop" else 0)
        add(Step(p.to_nation, "receive", f"{p.id}-receive", dict(
            shipment=shipment, quantity_g=received_g, importer=importer, new_lot=received_lot),
            importer, delay))
        if kind == "yield_exceeded" or (kind is None and rng.random() < TRANSFORM_SHARE):
            self.transform(p, importer, received_lot, received_g)

    def transform(self, p: PlannedShipment, importer: str, lot: str, received_g: int) -> None:
        product, yield_max = transformation_of(self.registry, p.chemical)
        factor = 1.25 if p.diversion == "yield_exceeded" else self.rng.uniform(0.5, 0.95)
        output_g = int(received_g * yield_max * factor)
        product_lot = f"{p.id}-P"
        p.subjects.add(product_lot)
        if p.diversion == "yield_exceeded":
            p.diverted_g = output_g - int(received_g * yield_max)
        self.products.add((importer, product))
        p.steps.append(Step(p.to_nation, "transform", f"{p.id}-transform", dict(
            lot=lot, input_g=received_g, product_lot=product_lot, product_chemical=product,
            output_g=output_g, operator=importer), importer))

    def tier(self, chemical: str, from_nation: str, to_nation: str, *ticks: int) -> str:
        """The highest PEN tier the chemical needs on any of these dates: a PEN filed for the
        planned ship date is never too low if the ship slips a little."""
        tiers = {self.rules.pen_tier(chemical, from_nation, to_nation, t) for t in ticks}
        return "full" if "full" in tiers else "light" if "light" in tiers else "none"

    def corrupt_nations(self, p: PlannedShipment) -> set[str]:
        """Nations whose officials are in on this consignment: they do not inspect it."""
        if p.diversion == "collusion":
            return {p.from_nation, p.to_nation}
        if p.diversion == "false_report":
            return {p.from_nation if p.declared_factor < 1 else p.to_nation}
        return set()

    # ------------------------------------------------------------------ inspections

    def inspect(self, p: PlannedShipment, nation: str, shipment: str, real_chemical: str,
                real_g: int, papers_chemical: str, papers_g: int, corrupt: set[str],
                cover: tuple[str, str] | None = None) -> bool:
        """Perhaps inspect the consignment in `nation`; add the inspection's record. True when
        the cargo is seized there (it goes no further)."""
        spec = self.inspection
        if nation not in self.members:
            return False
        # Three draws for every point a consignment passes, whatever the budget, from a stream
        # of their own: the trade plan is the same at every budget, and a larger budget
        # inspects a superset of the consignments (paired comparisons across budgets).
        rng = self.inspect_rng
        u_inspect, u_found = rng.random(), rng.random()
        error = rng.gauss(0.0, spec.measurement_error_pct / 100)
        if nation in corrupt or u_inspect >= spec.budget_of(nation):
            return False
        differs = real_chemical != papers_chemical or real_g != papers_g
        found = differs and u_found < spec.detection_probability
        p.inspections.append((nation, found))
        if shipment == "-" and not found:
            return False  # nothing found on cargo with no precursor papers: nothing to record
        chemical, grams = (real_chemical, real_g) if found else (papers_chemical, papers_g)
        found_g = max(0, int(grams * (1 + error)))
        seize = found and (shipment == "-" or real_chemical != papers_chemical)
        declared_chemical, hs_code = cover if cover else (
            papers_chemical, self.registry.chemicals[papers_chemical].hs_code
            if papers_chemical in self.registry.chemicals else UNREGISTERED_HS)
        inspection = f"{p.id}-inspect-{nation}"
        p.subjects.add(inspection)
        if seize:
            p.seized_g += real_g
        p.steps.append(Step(nation, "inspect", inspection, dict(
            inspection=inspection, shipment=shipment, nation=nation,
            declared_chemical=declared_chemical, hs_code=hs_code, found_chemical=chemical,
            found_g=found_g, seized_g=found_g if seize else 0), None, self.leg_ticks))
        return seize

    # ------------------------------------------------------------------ illicit attempts

    def illicit(self, p: PlannedShipment, date_tick: int) -> None:
        kind = p.diversion
        p.economy = "illicit"
        p.dark = any(n not in self.members for n in (p.from_nation, *p.declared_via,
                                                     p.to_nation))
        p.diverted_g = p.quantity_g
        if kind in ("smuggle", "mislabel"):
            cover = self.rng.choice(COVERS) if kind == "mislabel" else ("", "")
            p.subjects.add(p.id)
            for nation in (*p.actual_via, p.to_nation):
                if self.inspect(p, nation, "-", p.chemical, p.quantity_g, "", 0, set(), cover):
                    return
            return
        if kind == "pre_precursor":
            # Declared as what it is: legal where it is not controlled. Customs of a member
            # exporter record it when its HS code is watched.
            hs_code = (self.registry.chemicals[p.chemical].hs_code
                       if p.chemical in self.registry.chemicals else UNREGISTERED_HS)
            if p.from_nation in self.members and self.registry.is_watched(hs_code) \
                    and p.chemical not in self.registry.chemicals:
                p.subjects.add(p.id)
                p.steps.append(Step(p.from_nation, "ship", f"{p.id}-ship", dict(
                    shipment=p.id, lot="-", quantity_g=p.quantity_g,
                    exporter=operator_ids(p.from_nation)[0], importer=f"{p.to_nation}-BUYER",
                    to_nation=p.to_nation, via=p.declared_via, pen="", hs_code=hs_code,
                    declared_chemical=p.chemical), None))
            return
        # front_company and split: a front holding a valid licence orders through the
        # declared trade; the importing authority's rules are the only check.
        if p.to_nation not in self.members or p.from_nation not in self.members:
            p.diverted_g = p.quantity_g  # no authority to ask: it simply goes
            return
        self.declared(p)

    def front(self, nation: str, chemical: str, need_g: int) -> str:
        count = sum(1 for spec in self.fronts.values() if spec.nation == nation)
        if count >= FRONTS_PER_NATION_MAX:
            raise TradeError(f"more than {FRONTS_PER_NATION_MAX} front companies in {nation}: "
                             "lower [workload] illicit front_company and split")
        op = f"{nation}-FRONT{count + 1}"
        self.fronts[op] = OperatorSpec(nation, ((chemical, "import", 0, self.licence_until,
                                                 need_g),))
        return op

    # ------------------------------------------------------------------ operators

    def operators(self) -> dict[str, OperatorSpec]:
        """Every member's manufacturer-exporter and importer-processor, with licences for what
        it is planned to trade, and the fronts."""
        out: dict[str, OperatorSpec] = {}
        until = self.licence_until
        for nation in self.members:
            mfg, imp = operator_ids(nation)
            mfg_licences = [(c, a, 0, until, 0) for (op, c) in sorted(self.exports) if op == mfg
                            for a in ("manufacture", "export")]
            imp_licences = [(c, "import", 0, until, int(g * NEED_HEADROOM))
                            for (op, c), g in sorted(self.imports_g.items()) if op == imp]
            imp_licences += [(c, "manufacture", 0, until, 0)
                             for (op, c) in sorted(self.products) if op == imp]
            out[mfg] = OperatorSpec(nation, tuple(mfg_licences))
            out[imp] = OperatorSpec(nation, tuple(imp_licences))
        out.update(self.fronts)
        return out


def pen_fields(pen: str, lot: str, exporter: str, importer: str, to_nation: str,
               quantity_g: int, via: tuple[str, ...], dispatch_ticks: int, end_use: str,
               tier: str) -> dict:
    """A PEN's content (1988 Convention art. 12(10)(a)): the importer is the consignee."""
    return dict(pen=pen, lot=lot, exporter=exporter, importer=importer, to_nation=to_nation,
                quantity_g=quantity_g, via=via, consignee=importer,
                point_of_entry=f"{to_nation} port of entry", dispatch_ticks=dispatch_ticks,
                end_use=end_use, tier=tier)


def transformation_of(registry: Registry, chemical: str) -> tuple[str, float]:
    """The product an importer makes of `chemical` and the step's stoichiometric yield: a
    listed step (nodes/data/chemicals.toml [[transformation]]) if there is one, else the
    chemical's overall yield to the end product."""
    steps = sorted((product, t.yield_max) for (source, product), t
                   in getattr(registry, "transformations", {}).items() if source == chemical)
    if steps:
        return steps[0]
    return end_product(chemical), registry.chemicals[chemical].yield_max


def end_product(chemical: str) -> str:
    """yield_max is kg of this product per kg of the chemical (nodes/data/chemicals.toml)."""
    return "acetylfentanyl" if chemical == "acetic-anhydride" else "fentanyl"


def lane_weights(lanes: list[Lane], source_shares: dict[str, float],
                 mean_kg: Callable[[Lane], float]) -> list[float]:
    """Weights to draw lanes with, so that each lane's expected mass is its source's share
    times its own share of the source: source share x lane share / the lane's mean
    consignment mass (a lane of heavy consignments is drawn less often)."""
    return [source_shares.get(lane.from_, 0.0) * lane.share / mean_kg(lane)
            if mean_kg(lane) > 0 else 0.0 for lane in lanes]


def plan_trade(rng: random.Random, registry: Registry, lanes: list[Lane],
               members: tuple[str, ...], nations_all: tuple[str, ...], shipments: int,
               diversions: dict[str, int], start_tick: int, until_tick: int,
               participants: tuple[str, ...] | None = None,
               corruption: Corruption | None = None, *,
               rules: Rules, chemicals: dict[str, ChemicalTrade],
               source_shares: dict[str, float], illicit: dict[str, int] | None = None,
               inspection: Inspection | None = None,
               licence_until_ticks: int = LICENCE_MARGIN_TICKS,
               ticks_per_day: int = 100, inspect_rng: random.Random | None = None) -> TradePlan:
    """Plan the trade. Lanes run between `participants` (the scenario's nations, members or
    not); a nation outside `members` keeps no records, so its side of a shipment goes dark.
    Insider diversions use only lanes whose both ends keep records; illicit attempts use any
    lane. `source_shares` gives each source's share of the mass (rescaled over the sources
    that have a usable lane)."""
    participants = participants or members
    corruption = corruption or Corruption()
    illicit = illicit or {}
    usable = [lane for lane in lanes if lane.from_ in participants and lane.to in participants]
    recorded = [lane for lane in usable if lane.from_ in members and lane.to in members]
    total = shipments + sum(diversions.values()) + sum(illicit.values())
    if shipments + sum(diversions.values()) > 0 and not recorded:
        raise TradeError("no trade lane both starts and ends in a consortium nation; add "
                         "[[lane]] tables whose from and to are [[nation]] ids")
    if sum(illicit.values()) > 0 and not usable:
        raise TradeError("no trade lane runs between the scenario's nations; add [[lane]] "
                         "tables whose from and to are [[nation]] ids")
    outsiders = sorted(set(nations_all) - set(members))
    planner = _Planner(rng, registry, rules, chemicals, members, outsiders, corruption,
                       inspection or Inspection(), licence_until_ticks, ticks_per_day,
                       inspect_rng)
    shares = _shares(source_shares, usable)
    licit_w = lane_weights(usable, shares, planner.mean_licit_kg)
    recorded_w = lane_weights(recorded, _shares(source_shares, recorded), planner.mean_licit_kg)
    illicit_w = lane_weights(usable, shares, planner.mean_illicit_kg)
    kinds: list[str | None] = [None] * shipments
    for kind in DIVERSION_KINDS:
        kinds += [kind] * diversions.get(kind, 0)
    for kind in ILLICIT_KINDS:
        kinds += [kind] * illicit.get(kind, 0)
    rng.shuffle(kinds)
    plans: list[PlannedShipment] = []
    span = max(1, until_tick - start_tick)
    inspect_seeds = planner.inspect_rng
    for i, kind in enumerate(kinds):
        # Each consignment draws from generators of its own, seeded in turn: what one
        # consignment draws (fewer records where a nation opts out, more inspections at a
        # larger budget) never shifts another's, so variants of a scenario stay paired.
        planner.rng = random.Random(rng.getrandbits(64))
        planner.inspect_rng = random.Random(inspect_seeds.getrandbits(64))
        start = start_tick + (i * span) // max(1, total)
        pid = f"S{i + 1:05d}"
        if kind in ILLICIT_KINDS:
            lane = planner.rng.choices(usable, illicit_w)[0]
            _illicit_attempt(planner, plans, pid, lane, kind, start)
            continue
        lane = planner.rng.choices(usable if kind is None else recorded,
                                   licit_w if kind is None else recorded_w)[0]
        chemical = planner.licit_chemical(lane)
        plan = PlannedShipment(pid, lane, chemical, planner.grams(chemical, "licit"),
                               lane.from_, lane.to, tuple(lane.via), tuple(lane.via), kind, start)
        if kind is None:
            _corrupt(plan, planner.rng, corruption)
        planner.declared(plan)
        plans.append(plan)
    for p in plans:
        for step in p.steps:
            if step.delay_ticks is None:
                step.delay_ticks = planner.step_ticks
    return TradePlan(plans, planner.operators(), shares)


def _illicit_attempt(planner: _Planner, plans: list[PlannedShipment], pid: str, lane: Lane,
                     kind: str, start: int) -> None:
    rng = planner.rng
    chemical = _illicit_chemical(planner, lane, kind, start)
    grams = planner.grams(chemical, "illicit") if chemical in planner.registry.chemicals \
        else max(1000, int(draw_kg(rng, (25.0, 500.0)) * 1000))
    if kind == "split" and lane.from_ in planner.members and lane.to in planner.members:
        part_g = grams // SPLIT_PARTS
        front = planner.front(lane.to, chemical, int(grams * SPLIT_STATED_NEED))
        for k in range(SPLIT_PARTS):
            plan = PlannedShipment(f"{pid}{'abcdefgh'[k]}", lane, chemical, part_g, lane.from_,
                                   lane.to, tuple(lane.via), tuple(lane.via), kind,
                                   start + k * 2 * planner.leg_ticks, importer=front,
                                   status=_status(planner, chemical, lane, start))
            planner.illicit(plan, start)
            plans.append(plan)
        return
    importer = ""
    if kind == "front_company" and lane.to in planner.members:
        importer = planner.front(lane.to, chemical, grams)
    plan = PlannedShipment(pid, lane, chemical, grams, lane.from_, lane.to, tuple(lane.via),
                           tuple(lane.via), kind, start, importer=importer,
                           status=_status(planner, chemical, lane, start))
    planner.illicit(plan, start)
    plans.append(plan)


def _status(planner: _Planner, chemical: str, lane: Lane, tick: int) -> str:
    if not planner.registry.is_registered(chemical):
        return "unregistered"
    ends = (lane.from_, lane.to)
    return "controlled" if planner.rules.controlled_anywhere(chemical, ends, tick) \
        else "unscheduled"


def _illicit_chemical(planner: _Planner, lane: Lane, kind: str, tick: int) -> str:
    """Traffickers buy what is not controlled where they buy and sell, when they can: a
    pre-precursor attempt takes a substitute unscheduled on its date (or the unregistered one
    when every chemical of the lane is controlled); the other kinds move controlled chemicals,
    which is why they hide."""
    names = planner.lane_chemicals(lane)
    ends = (lane.from_, lane.to)
    free = [c for c in names if not planner.rules.controlled_anywhere(c, ends, tick)]
    if kind == "pre_precursor":
        return planner.rng.choice(free + [UNREGISTERED_CHEMICAL])
    controlled = [c for c in names if c not in free] or names
    return planner.rng.choice(controlled)


def _shares(source_shares: dict[str, float], lanes: list[Lane]) -> dict[str, float]:
    sources = sorted({lane.from_ for lane in lanes})
    if not sources:
        return {}
    missing = [s for s in sources if s not in source_shares]
    if missing:
        raise TradeError(f"the lanes start in {', '.join(missing)}, which has no share of the "
                         f"total mass; add [[source]] tables (nation, share) for every lane "
                         f"source: {', '.join(sources)}")
    total = sum(source_shares[s] for s in sources)
    if total <= 0:
        raise TradeError("the [[source]] shares of the lanes' sources sum to 0; give them "
                         "shares above 0")
    return {s: source_shares[s] / total for s in sources}


def _corrupt(p: PlannedShipment, rng: random.Random, c: Corruption) -> None:
    """Turn a legitimate shipment into a corrupt one where the behaviours say so."""
    for group, rate, pct in c.collude:
        if p.from_nation in group and p.to_nation in group and rng.random() < rate:
            p.diversion, p.declared_factor = "collusion", 1 - pct / 100
            return
    exporter = c.false_report.get(p.from_nation)
    if exporter is not None and rng.random() < exporter[0]:
        p.diversion, p.declared_factor = "false_report", 1 - exporter[1] / 100
        return
    importer = c.false_report.get(p.to_nation)
    if importer is not None and rng.random() < importer[0]:
        p.diversion, p.received_factor = "false_report", 1 - importer[1] / 100
        return
    if p.to_nation in c.withhold:
        p.silent = True  # not a diversion: the importer's silence rule decides
