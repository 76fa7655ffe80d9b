"""The chaincode: custody rules for precursor lots, applied identically by every honest node.

Theory of operation
-------------------

`Chaincode.apply_tx(tx, block_time_ticks)` is a deterministic function of the transaction and
the current `DomainState`. It returns a `TxResult`: accepted or rejected with a reason code, plus
the flags the event raised. A rejected event changes nothing but is still a result, recorded in
the trace; flags are what policy users read. `begin_block` raises the time-driven flags
(`overdue`) before the block's transactions apply.

Rules (README.md, "The precursor ledger"), with the reason code a violation gives:

- the tx signer is the nation whose authority must file the event      `wrong_authority`
- the operator named by the event co-signed it with its registered key  `missing_cosignature`
- operators exist                                                       `unknown_operator`
- a registration's licences name registered chemicals                   `unknown_chemical`
- where the registry says a licence is needed, the operator holds one   `unlicensed`
  for the chemical and activity, valid at the event's time
- the chemical is registered (commission, transform)                    `unregistered_chemical`
- a transformation is a step the registry lists (or ends in an end      `unknown_transformation`
  product)
- every event names an existing lot or shipment (lineage)               `unknown_lot`,
                                                                          `unknown_shipment`
- quantities are conserved: no shipping more than is on hand            `insufficient_quantity`
- a single custodian acts on a lot; a closed lot or shipment is final   `not_custodian`,
                                                                          `closed`
- a PEN is required where the chemical's tier is "full" and the         `pen_required`,
  importing member asks for one, and must match the shipment            `pen_mismatch`
- a PEN is filed at the chemical's tier or above                        `pen_tier_too_low`
- an objection blocks the shipment (and flags `objection_ignored`)      `pen_objection`
- no shipment under a full PEN before the reply window closes without   `pen_pending`
  a reply; after it, silence is consent or a block as the importer      `pen_silence_block`
  configured (a light PEN awaits no reply)
- a suspicious-order report names a PEN, lot, shipment or operator      `unknown_subject`
- time runs forward per lot and never past the block                    `time_backwards`,
                                                                          `future_time`
- duplicate event ids are rejected                                      `duplicate_event`

Registry-driven control (nodes/app/control.py), always at the EVENT's date (`event_time_ticks`
as a calendar date: tick 0 is `DomainConfig.epoch_date`, a day is `ticks_per_day` ticks):

- a licence is needed where the chemical is scheduled (1988 Convention Table I/II in force) or
  controlled in the operator's nation; making an end product (fentanyl, acetylfentanyl) always
  needs a manufacture licence. The wildcard licence "*" covers every chemical: a convenience for
  tests and simulations, not something a real authority issues. A licence may name a registry
  id, an end product, or "*"; anything else is refused at registration.
- `pen_tier`: "full" when scheduled, or controlled in the exporting or importing nation; "light"
  when dual-use or watched at either end; else "none". A PEN is required only for "full" to a
  member whose `NationRules.requires_pen` is set. Over-notifying (a full PEN for a lighter
  chemical) is accepted and then awaits its reply like any full PEN.
- The importing authority's decision is its own (nodes/app/authority.py, `decide`); the
  chaincode records the importer's PEN'd grams per chemical and import-licence period
  (`DomainState.pen_need_g`, period (-1, -1) when no import licence covers the dispatch time)
  and stamps each PEN with the total so far (`Pen.need_total_g`), so the decision does not
  depend on PENs filed after it.

Flags (accepted, but marked), with their subject:

- `unregistered` (shipment): a shipment under a watched HS code with no registered chemical;
- `discrepancy` (shipment): received differs from shipped beyond the tolerance;
- `overdue` (shipment): shipped, not received by the deadline;
- `undeclared_transit` (shipment): a checkpoint in a nation the route did not declare;
- `dark_hop` (shipment): a declared transit or destination outside the consortium;
- `missing_checkpoint` (shipment): on receipt, a declared member transit logged no checkpoint;
- `yield_exceeded` (product lot): more product than the step's yield allows;
- `objection_ignored` (lot): a shipment attempted despite an objection;
- `reply_contradicts_rules` (the PEN's lot): "no_objection" where `decide` objects;
- `suspicious_order` (its subject): a member authority's report;
- `unrecorded_cargo` (inspection id): an inspection found a registered chemical on no shipment;
- `mislabelled` (shipment): an inspection found another chemical than the shipment's (or a
  registered one in a shipment customs recorded as unregistered);
- `quantity_mismatch` (shipment): the weighed mass differs from the shipment's beyond the
  discrepancy tolerance;
- `late_report`: filed long after the event.

Inspections (`inspect`) are signed by a member's authority for its own territory, and are a
fact beside the records: the seized grams are summed on the shipment (`Shipment.seized_g`) and
no lot changes. Seizing more than was found is `insufficient_quantity`; an inspection id is used
once (`duplicate_inspection`). A clean inspection raises no flag and is still recorded in the
subject's history.

Copy on write: `DomainState.fork()` makes a new state that shares every lot, shipment, PEN and
history list with its parent, and copies one only when the chaincode is about to change it
(`mutable_lot` and friends; nothing is changed in place any other way). The parent stays exactly
as it was. The simulated world uses this to apply a block once for all the honest nodes that hold
the same state (nodes/app/shared.py); a node alone simply owns its state and changes it in place.

The state root is a running hash: root' = sha256(root, canonical result of each applied tx and
each begin-block flag). Two nodes that applied the same blocks with the same chaincode hold the
same root; a node whose state diverged differs from the first diverging outcome on, and the next
block's header (which carries the proposer's root) exposes it.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
from dataclasses import dataclass, field, replace

from nodes.chain.block import GENESIS_STATE_ROOT
from nodes.chain.codec import pack
from nodes.app.authority import AuthorityRules, decide
from nodes.app.control import WILDCARD, event_date, licence_for, licence_needed, pen_tier
from nodes.app.events import Event, EventError, decode_event, event_body, field_values
from nodes.chain.identity import VerifyCache
from nodes.app.registry import END_PRODUCTS, Registry, load_registry
from nodes.chain.tx import Transaction

FLAG_KINDS = ("unregistered", "discrepancy", "overdue", "undeclared_transit", "dark_hop",
              "yield_exceeded", "objection_ignored", "late_report", "missing_checkpoint",
              "suspicious_order", "unrecorded_cargo", "mislabelled", "quantity_mismatch",
              "reply_contradicts_rules")
LOTS_MAX = 10_000_000
INSPECTIONS_MAX = 10_000_000
UNLISTED_LOT = "-"  # the lot of a customs record of an unregistered chemical
NO_SHIPMENT = "-"  # an inspection of a consignment that matches no shipment on the ledger
NO_LICENCE_PERIOD = (-1, -1)  # the need table's period of a PEN no import licence covers
FLAGS_MAX = 10_000_000


@dataclass(frozen=True)
class NationRules:
    """What an importing nation asks of exporters (INCB PEN Online; national rules)."""

    requires_pen: bool = True
    silence: str = "consent"  # or "block": what no reply by the deadline means
    reply_window_ticks: int = 1500


@dataclass(frozen=True)
class DomainConfig:
    members: frozenset[str]  # nations that keep records (consortium members)
    rules: dict[str, NationRules] = field(default_factory=dict)
    transit_deadline_ticks: int = 6000
    discrepancy_tolerance_pct: float = 1.0
    late_report_ticks: int = 2000
    epoch_date: str = "2025-01-01"  # the ISO date of tick 0
    ticks_per_day: int = 100  # a trade day (a tick is a millisecond of network time)
    authority: dict[str, AuthorityRules] = field(default_factory=dict)  # per importing nation

    def rules_for(self, nation: str) -> NationRules:
        return self.rules.get(nation, NationRules())

    def authority_for(self, nation: str) -> AuthorityRules:
        return self.authority.get(nation, AuthorityRules())


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str
    subject: str  # lot or shipment id
    event_id: str
    time_ticks: int
    detail: str = ""

    def to_wire(self) -> tuple:
        return (self.kind, self.subject, self.event_id, self.time_ticks, self.detail)


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_id: bytes
    kind: str
    event_id: str
    accepted: bool
    reason: str
    flags: tuple[Flag, ...]

    def to_wire(self) -> tuple:
        return (self.tx_id, self.kind, self.event_id, self.accepted, self.reason,
                tuple(f.to_wire() for f in self.flags))


@dataclass
class Operator:
    id: str
    nation: str
    public_key: bytes
    licences: tuple


@dataclass
class Lot:
    id: str
    chemical: str
    custodian: str  # operator id
    nation: str
    quantity_g: int
    last_time_ticks: int
    origin: str  # the commission event, shipment or transform that created it
    closed: bool = False


@dataclass
class Shipment:
    id: str
    lot: str
    chemical: str
    quantity_g: int
    exporter: str
    importer: str
    from_nation: str
    to_nation: str
    via: tuple
    shipped_ticks: int
    deadline_ticks: int
    checkpoints: list = field(default_factory=list)
    received_g: int | None = None
    overdue: bool = False
    flags: list = field(default_factory=list)
    seized_g: int = 0  # grams inspections seized: a fact beside the records, lots keep theirs


@dataclass
class Pen:
    id: str
    lot: str
    chemical: str
    exporter: str
    importer: str
    to_nation: str
    quantity_g: int
    via: tuple
    consignee: str
    point_of_entry: str
    dispatch_ticks: int
    end_use: str
    tier: str  # "full" (a reply is awaited) or "light" (a notice: no reply)
    filed_ticks: int
    # the importer's PEN'd grams of the chemical in its import licence's period, this PEN
    # included, when it was filed (authority.decide, `above_need`)
    need_total_g: int
    reply: str | None = None
    reply_reasons: str = ""
    # Fix (tests/nodes/test_chaincode.py::test_pen_quantity_is_not_reusable): grams already shipped
    # under this PEN. Without it one 40 kg notification let any number of 40 kg shipments go.
    shipped_g: int = 0


@dataclass(frozen=True, slots=True)
class Inspection:
    """A physical inspection: what customs found, beside what the records say. Never changed."""

    id: str
    shipment: str  # a ledger shipment id, or NO_SHIPMENT
    nation: str
    declared_chemical: str
    found_chemical: str
    found_g: int
    seized_g: int
    time_ticks: int


class Reject(Exception):
    def __init__(self, reason: str, flags: tuple[Flag, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.flags = flags


class DomainState:
    """Everything the chaincode knows. Only `Chaincode` mutates it, and only through the
    `mutable_*` methods for objects it did not create itself (see fork())."""

    def __init__(self) -> None:
        self.operators: dict[str, Operator] = {}
        self.lots: dict[str, Lot] = {}
        self.shipments: dict[str, Shipment] = {}
        self.pens: dict[str, Pen] = {}
        self.events: dict[str, tuple[str, str]] = {}  # event_id -> (kind, tx signer)
        self.flags: list[Flag] = []
        self.lot_history: dict[str, list[str]] = {}  # lot or shipment id -> event ids
        self.deadlines: list[tuple[int, str]] = []  # heap of (deadline_ticks, shipment id)
        self.unlisted: set[str] = set()  # shipments of unregistered chemicals (lot "-")
        # (importer, chemical, licence from_ticks, until_ticks) -> grams PEN'd in that period;
        # the period is NO_LICENCE_PERIOD for PENs no import licence covers. Values are ints:
        # a fork copies the table and never shares a changeable entry.
        self.pen_need_g: dict[tuple[str, str, int, int], int] = {}
        self.inspections: dict[str, Inspection] = {}
        self.root = GENESIS_STATE_ROOT
        self.applied = 0
        self.rejected = 0
        # ids of the lots, shipments, PENs and history lists this state may change in place;
        # None: all of them (a state nobody forked from). Objects listed here are referenced
        # by this state's own containers, so their ids cannot be reused while listed.
        self._owned: set[int] | None = None

    def fork(self) -> "DomainState":
        """A copy that shares every entry with this state until it changes one: the
        containers are copied (C speed), the entries are copied on first write."""
        new = DomainState.__new__(DomainState)
        new.operators = dict(self.operators)  # operators are never changed once registered
        new.lots = dict(self.lots)
        new.shipments = dict(self.shipments)
        new.pens = dict(self.pens)
        new.events = dict(self.events)
        new.flags = list(self.flags)
        new.lot_history = dict(self.lot_history)
        new.deadlines = list(self.deadlines)
        new.unlisted = set(self.unlisted)
        new.pen_need_g = dict(self.pen_need_g)
        new.inspections = dict(self.inspections)  # entries are frozen
        new.root, new.applied, new.rejected = self.root, self.applied, self.rejected
        new._owned = set()
        self._owned = set()  # every entry is shared now: this state copies before writing too
        return new

    def _mine(self, obj: object) -> bool:
        return self._owned is None or id(obj) in self._owned

    def adopt(self, obj):
        """Register an object this state created (so changing it later needs no copy)."""
        if self._owned is not None:
            self._owned.add(id(obj))
        return obj

    def _mutable(self, obj, table: dict, **lists):
        """`obj` if this state may change it, else its copy (with `lists` copied too), put in
        its place in `table`."""
        if self._mine(obj):
            return obj
        own = self.adopt(replace(obj, **{k: list(v) for k, v in lists.items()}))
        table[obj.id] = own
        return own

    def mutable_lot(self, lot: "Lot") -> "Lot":
        return self._mutable(lot, self.lots)

    def mutable_shipment(self, shipment: "Shipment") -> "Shipment":
        return self._mutable(shipment, self.shipments, checkpoints=shipment.checkpoints,
                             flags=shipment.flags)

    def mutable_pen(self, pen: "Pen") -> "Pen":
        return self._mutable(pen, self.pens)

    def history(self, subject: str) -> list[str]:
        """The (changeable) list of event ids of a lot or shipment."""
        events = self.lot_history.get(subject)
        if events is None:
            events = self.lot_history[subject] = self.adopt([])
        elif not self._mine(events):
            events = self.lot_history[subject] = self.adopt(list(events))
        return events


class Chaincode:
    def __init__(self, chain_id: str, registry: Registry, config: DomainConfig,
                 nation_keys: dict[str, bytes], verifier: VerifyCache) -> None:
        self.chain_id = chain_id
        self.registry = registry
        self.config = config
        self.nation_keys = nation_keys
        self.verifier = verifier
        self.state = DomainState()

    # ------------------------------------------------------------------ blocks

    def begin_block(self, time_ticks: int) -> list[Flag]:
        """Time-driven flags: shipments past their deadline and not received are overdue."""
        s = self.state
        raised: list[Flag] = []
        while s.deadlines and s.deadlines[0][0] < time_ticks:
            deadline, shipment_id = heapq.heappop(s.deadlines)
            shipment = s.shipments[shipment_id]
            if shipment.received_g is None and not shipment.overdue:
                shipment = s.mutable_shipment(shipment)
                shipment.overdue = True
                flag = Flag("overdue", shipment_id, "", deadline,
                            f"not received {self.config.transit_deadline_ticks} ticks after "
                            f"shipping")
                shipment.flags.append(flag)
                raised.append(flag)
        for flag in raised:
            self._record_flag(flag)
            self._fold(("flag",) + flag.to_wire())
        return raised

    def apply_tx(self, tx: Transaction, time_ticks: int) -> TxResult:
        s = self.state
        if tx.kind == "payload":
            result = TxResult(tx.tx_id, tx.kind, "", True, "", ())
            self._fold(result.to_wire())
            return result
        try:
            event = decode_event(tx.kind, tx.payload)
        except EventError as exc:
            result = TxResult(tx.tx_id, tx.kind, "", False, "malformed", ())
            del exc
        else:
            try:
                flags = self._apply(event, tx.signer, time_ticks)
                result = TxResult(tx.tx_id, tx.kind, event.event_id, True, "", tuple(flags))
                s.events[event.event_id] = (event.kind, tx.signer)
                s.applied += 1
            except Reject as rejection:
                result = TxResult(tx.tx_id, tx.kind, event.event_id, False, rejection.reason,
                                  rejection.flags)
                s.rejected += 1
        for flag in result.flags:
            self._record_flag(flag)
        self._fold(result.to_wire())
        return result

    def _fold(self, item: tuple) -> None:
        self.state.root = hashlib.sha256(self.state.root + pack(item)).digest()

    def _record_flag(self, flag: Flag) -> None:
        if len(self.state.flags) < FLAGS_MAX:
            self.state.flags.append(flag)

    # ------------------------------------------------------------------ shared checks

    def _apply(self, e: Event, signer: str, now: int) -> list[Flag]:
        s = self.state
        if e.event_id in s.events:
            raise Reject("duplicate_event")
        if e.event_time_ticks > now:
            raise Reject("future_time")
        handler = getattr(self, "_on_" + e.kind)
        flags = handler(e, signer, now)
        if now - e.event_time_ticks > self.config.late_report_ticks:
            subject = next((e.fields[k] for k in ("lot", "shipment", "pen", "operator", "subject",
                                                  "corrects", "inspection")
                            if e.fields.get(k, UNLISTED_LOT) != UNLISTED_LOT), e.event_id)
            flags.append(Flag("late_report", subject, e.event_id, now,
                              f"filed {now - e.event_time_ticks} ticks after the event"))
        return flags

    def _authority(self, signer: str, nation: str) -> None:
        if signer != nation:
            raise Reject("wrong_authority")

    def _operator(self, operator_id: str) -> Operator:
        op = self.state.operators.get(operator_id)
        if op is None:
            raise Reject("unknown_operator")
        return op

    def _cosigned(self, e: Event, operator: Operator) -> None:
        body = event_body(self.chain_id, e.kind, e.event_id, e.event_time_ticks,
                          field_values(e.kind, e.fields))
        for who, sig in e.cosigs:
            if who == operator.id and self.verifier.verify(operator.public_key, body, sig):
                return
        raise Reject("missing_cosignature")

    def _date(self, time_ticks: int) -> str:
        return event_date(time_ticks, self.config)

    def _licensed(self, op: Operator, chemical: str, activity: str, event_time: int) -> None:
        """Where the chemical needs a licence in the operator's nation at the event's date, the
        operator holds one for the chemical and the activity, valid at the event's time. An end
        product (fentanyl) always needs one: it is a narcotic drug, not a precursor."""
        if chemical not in END_PRODUCTS and not licence_needed(
                self.registry, chemical, op.nation, self._date(event_time)):
            return
        if licence_for(op.licences, chemical, activity, event_time) is None:
            raise Reject("unlicensed")

    def _lot(self, lot_id: str, custodian: str | None, event_time: int) -> Lot:
        lot = self.state.lots.get(lot_id)
        if lot is None:
            raise Reject("unknown_lot")
        if lot.closed:
            raise Reject("closed")
        if custodian is not None and lot.custodian != custodian:
            raise Reject("not_custodian")
        if event_time < lot.last_time_ticks:
            raise Reject("time_backwards")
        return lot

    def _history(self, subject: str, event_id: str) -> None:
        self.state.history(subject).append(event_id)

    # ------------------------------------------------------------------ event kinds

    def _on_register_operator(self, e: Event, signer: str, now: int) -> list[Flag]:
        self._authority(signer, e["nation"])
        if e["operator"] in self.state.operators:
            raise Reject("duplicate_operator")
        for lic in e["licences"]:
            if not (lic[0] == WILDCARD or lic[0] in END_PRODUCTS
                    or self.registry.is_registered(lic[0])):
                raise Reject("unknown_chemical")
        op = Operator(e["operator"], e["nation"], e["public_key"], e["licences"])
        self._cosigned(e, op)  # proves the operator holds the key being registered
        self.state.operators[op.id] = op
        return []

    def _on_commission(self, e: Event, signer: str, now: int) -> list[Flag]:
        op = self._operator(e["operator"])
        self._authority(signer, op.nation)
        self._cosigned(e, op)
        if not self.registry.is_registered(e["chemical"]):
            raise Reject("unregistered_chemical")
        self._licensed(op, e["chemical"], "manufacture", e.event_time_ticks)
        if e["lot"] == UNLISTED_LOT:
            raise Reject("reserved_id")
        if e["lot"] in self.state.lots or len(self.state.lots) >= LOTS_MAX:
            raise Reject("duplicate_lot")
        self.state.lots[e["lot"]] = self.state.adopt(Lot(e["lot"], e["chemical"], op.id,
                                                         op.nation, e["quantity_g"],
                                                         e.event_time_ticks, e.event_id))
        self._history(e["lot"], e.event_id)
        return []

    def _on_pen(self, e: Event, signer: str, now: int) -> list[Flag]:
        exporter = self._operator(e["exporter"])
        self._authority(signer, exporter.nation)
        self._cosigned(e, exporter)
        lot = self._lot(e["lot"], exporter.id, e.event_time_ticks)
        s = self.state
        if e["pen"] in s.pens:
            raise Reject("duplicate_pen")
        if e["tier"] == "light" and pen_tier(self.registry, lot.chemical, exporter.nation,
                                             e["to_nation"],
                                             self._date(e.event_time_ticks)) == "full":
            raise Reject("pen_tier_too_low")
        self._licensed(exporter, lot.chemical, "export", e.event_time_ticks)
        importer = s.operators.get(e["importer"])
        licence = None if importer is None else licence_for(
            importer.licences, lot.chemical, "import", e["dispatch_ticks"])
        period = NO_LICENCE_PERIOD if licence is None else (licence[2], licence[3])
        need_key = (e["importer"], lot.chemical) + period
        need_total_g = s.pen_need_g.get(need_key, 0) + e["quantity_g"]
        s.pen_need_g[need_key] = need_total_g
        s.pens[e["pen"]] = s.adopt(Pen(
            e["pen"], lot.id, lot.chemical, exporter.id, e["importer"], e["to_nation"],
            e["quantity_g"], e["via"], e["consignee"], e["point_of_entry"], e["dispatch_ticks"],
            e["end_use"], e["tier"], now, need_total_g))
        self._history(lot.id, e.event_id)
        return []

    def _on_pen_reply(self, e: Event, signer: str, now: int) -> list[Flag]:
        pen = self.state.pens.get(e["pen"])
        if pen is None:
            raise Reject("unknown_pen")
        self._authority(signer, pen.to_nation)
        if pen.reply is not None:
            raise Reject("duplicate_reply")
        pen = self.state.mutable_pen(pen)
        pen.reply, pen.reply_reasons = e["decision"], e["reasons"]
        if e["decision"] == "no_objection":
            verdict, reasons = decide(self.state, self.registry, self.config, pen)
            if verdict == "objection":
                return [Flag("reply_contradicts_rules", pen.lot, e.event_id, now,
                             f"{pen.to_nation} did not object to {pen.id} although the rules "
                             f"object: {','.join(reasons)}")]
        return []

    def _on_ship(self, e: Event, signer: str, now: int) -> list[Flag]:
        s = self.state
        if e["lot"] == UNLISTED_LOT:
            return self._unlisted_shipment(e, signer, now)
        exporter = self._operator(e["exporter"])
        self._authority(signer, exporter.nation)
        self._cosigned(e, exporter)
        lot = self._lot(e["lot"], exporter.id, e.event_time_ticks)
        if e["shipment"] in s.shipments or e["shipment"] in s.unlisted:
            raise Reject("duplicate_shipment")
        self._licensed(exporter, lot.chemical, "export", e.event_time_ticks)
        importer = s.operators.get(e["importer"])
        if importer is None and e["to_nation"] in self.config.members:
            raise Reject("unknown_operator")  # a member's importers are registered, or nobody
            # could ever file the receipt
        if importer is not None:
            if importer.nation != e["to_nation"]:
                raise Reject("importer_nation_mismatch")
            self._licensed(importer, lot.chemical, "import", e.event_time_ticks)
        if e["quantity_g"] <= 0 or e["quantity_g"] > lot.quantity_g:
            raise Reject("insufficient_quantity")
        self._check_pen(e, lot, exporter.nation, now)
        lot = s.mutable_lot(lot)
        lot.quantity_g -= e["quantity_g"]
        lot.last_time_ticks = e.event_time_ticks
        if lot.quantity_g == 0:
            lot.closed = True
        shipment = Shipment(e["shipment"], lot.id, lot.chemical, e["quantity_g"], exporter.id,
                            e["importer"], exporter.nation, e["to_nation"], e["via"],
                            e.event_time_ticks,
                            e.event_time_ticks + self.config.transit_deadline_ticks)
        s.shipments[shipment.id] = s.adopt(shipment)
        heapq.heappush(s.deadlines, (shipment.deadline_ticks, shipment.id))
        self._history(lot.id, e.event_id)
        self._history(shipment.id, e.event_id)
        flags = [Flag("dark_hop", shipment.id, e.event_id, now,
                      f"declared transit through {v}, which keeps no records")
                 for v in e["via"] if v not in self.config.members]
        if e["to_nation"] not in self.config.members:
            flags.append(Flag("dark_hop", shipment.id, e.event_id, now,
                              f"destination {e['to_nation']} keeps no records"))
        shipment.flags.extend(flags)
        return flags

    def _check_pen(self, e: Event, lot: Lot, from_nation: str, now: int) -> None:
        """A full-tier chemical to a member that asks for PENs (1988 Convention art. 12(10)(a))
        needs one; a cited PEN must match, and a full one must be answered (or its window
        passed, where silence is consent). A light PEN is a notice: no reply is awaited."""
        rules = self.config.rules_for(e["to_nation"])
        pen_id = e["pen"]
        if not pen_id:
            if (rules.requires_pen and e["to_nation"] in self.config.members
                    and pen_tier(self.registry, lot.chemical, from_nation, e["to_nation"],
                                 self._date(e.event_time_ticks)) == "full"):
                raise Reject("pen_required")
            return
        pen = self.state.pens.get(pen_id)
        if (pen is None or pen.lot != lot.id or pen.importer != e["importer"]
                or pen.to_nation != e["to_nation"]
                or pen.shipped_g + e["quantity_g"] > pen.quantity_g):  # cumulative, see Pen
            raise Reject("pen_mismatch")
        if pen.reply == "objection":
            raise Reject("pen_objection", (Flag("objection_ignored", lot.id, e.event_id, now,
                                                f"shipment attempted despite objection to "
                                                f"{pen_id}"),))
        if pen.reply is None and pen.tier == "full":
            if now < pen.filed_ticks + rules.reply_window_ticks:
                raise Reject("pen_pending")
            if rules.silence == "block":
                raise Reject("pen_silence_block")
        # the last check of _on_ship: the shipment is accepted
        self.state.mutable_pen(pen).shipped_g += e["quantity_g"]

    def _unlisted_shipment(self, e: Event, signer: str, now: int) -> list[Flag]:
        """Customs records a declared shipment of a chemical outside the registry."""
        if signer not in self.config.members:
            raise Reject("wrong_authority")
        if e["hs_code"] not in self.registry.watched_hs_codes:
            raise Reject("unregistered_chemical")
        if e["shipment"] in self.state.shipments or e["shipment"] in self.state.unlisted:
            raise Reject("duplicate_shipment")
        self.state.unlisted.add(e["shipment"])
        self._history(e["shipment"], e.event_id)
        return [Flag("unregistered", e["shipment"], e.event_id, now,
                     f"{e['declared_chemical'] or 'undeclared chemical'} under watched HS "
                     f"{e['hs_code']} is not in the registry")]

    def _on_transit(self, e: Event, signer: str, now: int) -> list[Flag]:
        self._authority(signer, e["nation"])
        shipment = self.state.shipments.get(e["shipment"])
        if shipment is None:
            raise Reject("unknown_shipment")
        if shipment.received_g is not None:
            raise Reject("closed")
        if e.event_time_ticks < shipment.shipped_ticks:
            raise Reject("time_backwards")
        shipment = self.state.mutable_shipment(shipment)
        shipment.checkpoints.append(e["nation"])
        self._history(shipment.id, e.event_id)
        if e["nation"] not in shipment.via and e["nation"] not in (shipment.from_nation,
                                                                    shipment.to_nation):
            flag = Flag("undeclared_transit", shipment.id, e.event_id, now,
                        f"checkpoint in {e['nation']}, not on the declared route")
            shipment.flags.append(flag)
            return [flag]
        return []

    def _on_receive(self, e: Event, signer: str, now: int) -> list[Flag]:
        s = self.state
        shipment = s.shipments.get(e["shipment"])
        if shipment is None:
            raise Reject("unknown_shipment")
        if shipment.received_g is not None:
            raise Reject("closed")
        self._authority(signer, shipment.to_nation)
        importer = self._operator(e["importer"])
        if importer.id != shipment.importer:
            raise Reject("not_custodian")
        self._cosigned(e, importer)
        self._licensed(importer, shipment.chemical, "import", e.event_time_ticks)
        if e.event_time_ticks < shipment.shipped_ticks:
            raise Reject("time_backwards")
        if e["new_lot"] in s.lots or e["new_lot"] == UNLISTED_LOT:
            raise Reject("duplicate_lot")
        shipment = s.mutable_shipment(shipment)
        shipment.received_g = e["quantity_g"]
        s.lots[e["new_lot"]] = s.adopt(Lot(e["new_lot"], shipment.chemical, importer.id,
                                           importer.nation, e["quantity_g"], e.event_time_ticks,
                                           shipment.id))
        self._history(shipment.id, e.event_id)
        self._history(e["new_lot"], e.event_id)
        flags = [Flag("missing_checkpoint", shipment.id, e.event_id, now,
                      f"declared transit through {v}, which logged no checkpoint")
                 for v in shipment.via
                 if v in self.config.members and v not in shipment.checkpoints]
        if self._beyond_tolerance(e["quantity_g"], shipment.quantity_g):
            flags.append(Flag("discrepancy", shipment.id, e.event_id, now,
                              f"shipped {shipment.quantity_g} g, received {e['quantity_g']} g"))
        shipment.flags.extend(flags)
        return flags

    def _beyond_tolerance(self, measured_g: int, recorded_g: int) -> bool:
        return (abs(measured_g - recorded_g) * 100
                > recorded_g * self.config.discrepancy_tolerance_pct)

    def _on_transform(self, e: Event, signer: str, now: int) -> list[Flag]:
        op = self._operator(e["operator"])
        self._authority(signer, op.nation)
        self._cosigned(e, op)
        lot = self._lot(e["lot"], op.id, e.event_time_ticks)
        chemical = self.registry.chemicals.get(lot.chemical)
        if chemical is None or not (self.registry.is_registered(e["product_chemical"])
                                    or e["product_chemical"] in END_PRODUCTS):
            raise Reject("unregistered_chemical")
        step = self.registry.transformations.get((lot.chemical, e["product_chemical"]))
        if step is not None:
            yield_max = step.yield_max
        elif e["product_chemical"] in END_PRODUCTS:
            yield_max = chemical.yield_max  # the whole route, as far as the registry knows
        else:
            raise Reject("unknown_transformation")
        self._licensed(op, e["product_chemical"], "manufacture", e.event_time_ticks)
        if e["input_g"] <= 0 or e["input_g"] > lot.quantity_g:
            raise Reject("insufficient_quantity")
        if e["product_lot"] in self.state.lots or e["product_lot"] == UNLISTED_LOT:
            raise Reject("duplicate_lot")
        lot = self.state.mutable_lot(lot)
        lot.quantity_g -= e["input_g"]
        lot.last_time_ticks = e.event_time_ticks
        lot.closed = lot.quantity_g == 0
        self.state.lots[e["product_lot"]] = self.state.adopt(
            Lot(e["product_lot"], e["product_chemical"], op.id, op.nation, e["output_g"],
                e.event_time_ticks, lot.id))
        self._history(lot.id, e.event_id)
        self._history(e["product_lot"], e.event_id)
        if e["output_g"] > e["input_g"] * yield_max:
            return [Flag("yield_exceeded", e["product_lot"], e.event_id, now,
                         f"{e['output_g']} g from {e['input_g']} g of {lot.chemical} exceeds "
                         f"the maximum yield {yield_max} of {e['product_chemical']}")]
        return []

    def _on_destroy(self, e: Event, signer: str, now: int) -> list[Flag]:
        lot = self._lot(e["lot"], None, e.event_time_ticks)
        self._authority(signer, lot.nation)
        if e["quantity_g"] <= 0 or e["quantity_g"] > lot.quantity_g:
            raise Reject("insufficient_quantity")
        lot = self.state.mutable_lot(lot)
        lot.quantity_g -= e["quantity_g"]
        lot.last_time_ticks = e.event_time_ticks
        lot.closed = lot.quantity_g == 0
        self._history(lot.id, e.event_id)
        return []

    def _on_incident(self, e: Event, signer: str, now: int) -> list[Flag]:
        if signer not in self.config.members:
            raise Reject("wrong_authority")
        if e["subject"] not in self.state.lots and e["subject"] not in self.state.shipments:
            raise Reject("unknown_lot")
        self._history(e["subject"], e.event_id)
        return []

    def _on_suspicious_order(self, e: Event, signer: str, now: int) -> list[Flag]:
        """A member's authority reports a suspicious order or transaction (1988 Convention art.
        12(9)(b)) about a PEN, lot, shipment or operator."""
        s = self.state
        if signer not in self.config.members:
            raise Reject("wrong_authority")
        subject = e["subject"]
        if not (subject in s.pens or subject in s.lots or subject in s.shipments
                or subject in s.operators):
            raise Reject("unknown_subject")
        self._history(subject, e.event_id)
        return [Flag("suspicious_order", subject, e.event_id, now,
                     f"reported by {signer}: {e['reason']}")]

    def _on_inspect(self, e: Event, signer: str, now: int) -> list[Flag]:
        """Customs weighed and tested a consignment: ground truth beside the paperwork."""
        s = self.state
        self._authority(signer, e["nation"])
        if signer not in self.config.members:
            raise Reject("wrong_authority")
        if e["inspection"] in s.inspections or len(s.inspections) >= INSPECTIONS_MAX:
            raise Reject("duplicate_inspection")
        if e["seized_g"] > e["found_g"]:
            raise Reject("insufficient_quantity")
        found = e["found_chemical"]
        flags = []
        if e["shipment"] == NO_SHIPMENT:
            subject = e["inspection"]
            if self.registry.is_registered(found):
                flags.append(Flag("unrecorded_cargo", subject, e.event_id, now,
                                  f"{e['found_g']} g of {found} in {e['nation']} (declared "
                                  f"{e['declared_chemical'] or 'nothing'}) on no shipment"))
        elif e["shipment"] in s.unlisted:
            subject = e["shipment"]  # recorded by customs as an unregistered chemical
            if self.registry.is_registered(found):
                flags.append(Flag("mislabelled", subject, e.event_id, now,
                                  f"recorded as unregistered, found {found}"))
        else:
            shipment = s.shipments.get(e["shipment"])
            if shipment is None:
                raise Reject("unknown_shipment")
            subject = shipment.id
            if found != shipment.chemical:
                flags.append(Flag("mislabelled", subject, e.event_id, now,
                                  f"shipped as {shipment.chemical}, found {found or 'nothing'}"))
            if self._beyond_tolerance(e["found_g"], shipment.quantity_g):
                flags.append(Flag("quantity_mismatch", subject, e.event_id, now,
                                  f"shipped {shipment.quantity_g} g, weighed {e['found_g']} g"))
            shipment = s.mutable_shipment(shipment)
            shipment.seized_g += e["seized_g"]
            shipment.flags.extend(flags)
        s.inspections[e["inspection"]] = Inspection(
            e["inspection"], e["shipment"], e["nation"], e["declared_chemical"], found,
            e["found_g"], e["seized_g"], e.event_time_ticks)
        self._history(subject, e.event_id)
        return flags

    def _on_correction(self, e: Event, signer: str, now: int) -> list[Flag]:
        """Appended, never deleted: a correction names the event it amends; both stay."""
        original = self.state.events.get(e["corrects"])
        if original is None:
            raise Reject("unknown_event")
        if original[1] != signer:
            raise Reject("wrong_authority")
        return []


@functools.lru_cache(maxsize=1)
def _shipped_registry() -> Registry:
    return load_registry()


def precursor_chaincode(genesis, verifier: VerifyCache) -> Chaincode:
    """The application a node runs when its runtime gives it none (`chemtrace node`, tests):
    the shipped registry, every genesis nation a member, their keys. A runtime that knows more
    (the simulated world's trade workload: opted-out nations, national rules, licences) builds
    its own `Chaincode` and gives it to the node."""
    return Chaincode(genesis.chain_id, _shipped_registry(), DomainConfig(frozenset(genesis.codes)),
                     {n.code: n.public_key for n in genesis.nations}, verifier)
