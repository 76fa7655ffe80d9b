"""The precursor workload: legitimate trade along the lanes, plus injected diversions.

Theory of operation
-------------------

`plan_trade` draws, from the `trade` random stream, a list of `PlannedShipment`s: a lane (by its
mass share), a chemical typical of the lane, a quantity, and, for the injected diversions, how
the shipment departs from honest trade. Each plan is a short script of custody events
(`Step`s): commission, PEN, PEN reply, ship, transit checkpoints, receive, and sometimes a
transform. The world files each step with the nation whose authority records it, once the
previous step is committed, so legitimate trade never races its own events.

The diversion kinds, and what honest records make of them:

- `under_report`: the receiving records show less than was shipped (skimmed in transit):
  `discrepancy`.
- `false_origin`: the exporter ships a lot that was never commissioned (a mislabelled origin):
  the ship and receive events are rejected (`unknown_lot`, `unknown_shipment`).
- `undeclared_transit`: the cargo passes a member nation not on the declared route, whose
  customs logs a checkpoint: `undeclared_transit`.
- `dark_hop`: the cargo detours, undeclared, through a nation outside the consortium; nobody
  there records anything. Half the time the mass arrives unchanged (relabelled, swapped one for
  one, or just unseen); otherwise 0.5% to 5% is taken. Only a skim above the discrepancy
  tolerance (or a delay past the deadline) gives it away, so about 4 in 9 are caught.
- `overdue`: the cargo never arrives: `overdue` once the transit deadline passes.
- `unregistered`: customs records a shipment of an unscheduled chemical under a watched HS code:
  `unregistered`.
- `yield_exceeded`: the importer reports more product than the input can yield:
  `yield_exceeded`.

The nodes know none of this; the oracle (`scenarios/trade/oracle.py`) does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from nodes.app.chaincode import DomainConfig
from nodes.app.control import event_date, pen_tier
from nodes.app.registry import Lane, Registry

from scenarios.spec.schema import DIVERSION_KINDS

SHIPMENT_KG_MIN = 50
SHIPMENT_KG_MAX = 500
STEP_DELAY_TICKS = 150  # between one step's commit and the next step's filing
LEG_TICKS = 400  # one leg of a route: port to port
DARK_HOP_DELAY_TICKS = 1500
TRANSFORM_SHARE = 0.3
UNREGISTERED_CHEMICAL = "4-piperidone ethylene ketal"  # a pre-precursor outside the tables
UNREGISTERED_HS = "2933.39"
TRADE_DATES = DomainConfig(frozenset())  # the chaincode's default calendar (epoch, ticks a day)


class TradeError(ValueError):
    """The scenario's trade cannot be planned (a user error: the message says how to fix it)."""


@dataclass
class Step:
    nation: str  # whose authority files it (the tx signer)
    kind: str
    event_id: str
    fields: dict
    cosigner: str | None  # operator id that must co-sign
    delay_ticks: int = STEP_DELAY_TICKS


@dataclass
class PlannedShipment:
    id: str
    lane: Lane
    chemical: str
    quantity_g: int
    from_nation: str
    to_nation: str
    declared_via: tuple[str, ...]
    actual_via: tuple[str, ...]
    diversion: str | None
    start_tick: int
    steps: list[Step] = field(default_factory=list)
    diverted_g: int = 0  # mass the diversion takes out of honest custody
    subjects: set[str] = field(default_factory=set)  # lot and shipment ids it touches
    declared_factor: float = 1.0  # a false ship declaration: declared = real x factor
    received_factor: float = 1.0  # a false receipt: reported = real x factor
    dark: bool = False  # some of its route keeps no records
    silent: bool = False  # the importer withholds its reply to the PEN


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


def plan_trade(rng: random.Random, registry: Registry, lanes: list[Lane],
               members: tuple[str, ...], nations_all: tuple[str, ...], shipments: int,
               diversions: dict[str, int], start_tick: int, until_tick: int,
               participants: tuple[str, ...] | None = None,
               corruption: Corruption | None = None) -> list[PlannedShipment]:
    """Plan the trade. Lanes run between `participants` (the scenario's nations, members or
    not); a nation outside `members` keeps no records, so its side of a shipment goes dark.
    Injected diversions use only lanes whose both ends keep records."""
    participants = participants or members
    corruption = corruption or Corruption()
    usable = [lane for lane in lanes if lane.from_ in participants and lane.to in participants]
    recorded = [lane for lane in usable if lane.from_ in members and lane.to in members]
    if shipments + sum(diversions.values()) > 0 and not recorded:
        raise TradeError("no trade lane both starts and ends in a consortium nation; add "
                         "[[lane]] tables whose from and to are [[nation]] ids")
    weights = [lane.share for lane in usable]
    kinds: list[str | None] = [None] * shipments
    for kind in DIVERSION_KINDS:
        kinds += [kind] * diversions.get(kind, 0)
    rng.shuffle(kinds)
    outsiders = sorted(set(nations_all) - set(members))
    plans = []
    span = max(1, until_tick - start_tick)
    recorded_weights = [lane.share for lane in recorded]
    for i, kind in enumerate(kinds):
        if kind is None:
            lane = rng.choices(usable, weights)[0]
        else:
            lane = rng.choices(recorded, recorded_weights)[0]
        chemicals = [c for c in lane.chemicals if registry.is_registered(c)] or \
            sorted(registry.chemicals)
        chemical = rng.choice(chemicals)
        quantity_g = rng.randint(SHIPMENT_KG_MIN, SHIPMENT_KG_MAX) * 1000
        start = start_tick + (i * span) // max(1, len(kinds))
        plan = PlannedShipment(f"S{i + 1:05d}", lane, chemical, quantity_g, lane.from_, lane.to,
                               tuple(lane.via), tuple(lane.via), kind, start)
        if kind is None:
            _corrupt(plan, rng, corruption)
        _script(plan, rng, registry, members, outsiders, corruption)
        plans.append(plan)
    return plans


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


def _script(p: PlannedShipment, rng: random.Random, registry: Registry,
            members: tuple[str, ...], outsiders: list[str], corruption: Corruption) -> None:
    exporter, _ = operator_ids(p.from_nation)
    _, importer = operator_ids(p.to_nation)
    lot = f"{p.id}-L0"
    shipment = p.id
    received_lot = f"{p.id}-L1"
    p.subjects = {lot, shipment, received_lot}
    kind = p.diversion
    add = p.steps.append

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
        if outsiders:
            p.actual_via = p.declared_via + (rng.choice(outsiders),)
        # Half the detours leave the mass as it was (the cargo is relabelled or swapped one
        # for one, or the hop simply goes unseen); the rest skim 0.5% to 5%.
        skim = 0.0 if rng.random() < 0.5 else rng.uniform(0.005, 0.05)
        p.diverted_g = int(p.quantity_g * skim)
    elif kind in ("false_origin", "overdue"):
        p.diverted_g = p.quantity_g

    p.dark = any(n not in members for n in (p.from_nation, *p.declared_via, p.to_nation))
    if p.from_nation not in members:
        # The exporter keeps no records: the goods travel off the ledger; only member transit
        # customs could log them, and they have no shipment to log them against.
        p.diverted_g = 0
        return
    # A false declaration under-states what leaves; the rest is taken before arrival, so the
    # receipt matches the (false) declaration.
    declared_g = int(p.quantity_g * p.declared_factor)
    if kind in ("false_report", "collusion") and p.declared_factor < 1:
        p.diverted_g = p.quantity_g - declared_g
    importer_keeps_records = p.to_nation in members
    if kind != "false_origin":
        add(Step(p.from_nation, "commission", f"{p.id}-commission", dict(
            lot=lot, chemical=p.chemical, quantity_g=p.quantity_g, operator=exporter), exporter))
    ship_lot = f"{p.id}-FAKE" if kind == "false_origin" else lot
    pen = ""
    ship_delay = STEP_DELAY_TICKS
    # A PEN only where the chemical's tier is "full" (an estimate at the plan's start date).
    tier = pen_tier(registry, p.chemical, p.from_nation, p.to_nation,
                    event_date(p.start_tick, TRADE_DATES))
    if kind != "false_origin" and importer_keeps_records and tier == "full":
        pen = f"{p.id}-pen"
        add(Step(p.from_nation, "pen", pen, dict(
            pen=pen, lot=lot, exporter=exporter, importer=importer, to_nation=p.to_nation,
            quantity_g=declared_g, via=p.declared_via, consignee=importer, point_of_entry="",
            dispatch_ticks=p.start_tick + 3 * STEP_DELAY_TICKS,
            end_use=f"manufacture of {p.chemical} products", tier=tier), exporter))
        if p.silent:
            # No answer comes: the exporter waits out the window, then silence decides.
            ship_delay = corruption.reply_window_ticks.get(p.to_nation, 1500) + STEP_DELAY_TICKS
        else:
            add(Step(p.to_nation, "pen_reply", f"{p.id}-reply", dict(
                pen=pen, decision="no_objection", reasons=""), None))
    if not pen:
        p.silent = False  # no PEN awaits a reply: there is nothing to withhold
    add(Step(p.from_nation, "ship", f"{p.id}-ship", dict(
        shipment=shipment, lot=ship_lot, quantity_g=declared_g, exporter=exporter,
        importer=importer, to_nation=p.to_nation, via=p.declared_via, pen=pen,
        hs_code=registry.chemicals[p.chemical].hs_code, declared_chemical=p.chemical), exporter,
        ship_delay))
    for i, nation in enumerate(p.actual_via):
        if nation in members:
            add(Step(nation, "transit", f"{p.id}-transit-{i}", dict(
                shipment=shipment, nation=nation), None, LEG_TICKS))
    if kind == "overdue" or not importer_keeps_records:
        return
    if p.silent and corruption.silence_blocks.get(p.to_nation, False):
        return  # the shipment is refused at the border: nothing arrives to receive
    received_g = declared_g
    if kind == "under_report":
        p.diverted_g = int(p.quantity_g * rng.uniform(0.05, 0.3))
        received_g -= p.diverted_g
    elif kind == "dark_hop":
        received_g -= p.diverted_g
    elif kind == "false_report" and p.received_factor < 1:
        received_g = int(declared_g * p.received_factor)
        p.diverted_g = declared_g - received_g
    delay = LEG_TICKS + (DARK_HOP_DELAY_TICKS if kind == "dark_hop" else 0)
    add(Step(p.to_nation, "receive", f"{p.id}-receive", dict(
        shipment=shipment, quantity_g=received_g, importer=importer, new_lot=received_lot),
        importer, delay))
    if kind == "yield_exceeded" or (kind is None and rng.random() < TRANSFORM_SHARE):
        yield_max = registry.chemicals[p.chemical].yield_max
        factor = 1.25 if kind == "yield_exceeded" else rng.uniform(0.5, 0.95)
        output_g = int(received_g * yield_max * factor)
        product = f"{p.id}-P"
        p.subjects.add(product)
        if kind == "yield_exceeded":
            p.diverted_g = output_g - int(received_g * yield_max)
        add(Step(p.to_nation, "transform", f"{p.id}-transform", dict(
            lot=received_lot, input_g=received_g, product_lot=product,
            product_chemical=end_product(p.chemical), output_g=output_g, operator=importer),
            importer))


def end_product(chemical: str) -> str:
    """yield_max is kg of this product per kg of the chemical (nodes/data/chemicals.toml)."""
    return "acetylfentanyl" if chemical == "acetic-anhydride" else "fentanyl"
