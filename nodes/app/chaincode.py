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
- operators exist and hold a licence for the chemical and activity      `unknown_operator`,
  at the event's time                                                    `unlicensed`
- the chemical is registered (commission, transform)                    `unregistered_chemical`
- every event names an existing lot or shipment (lineage)               `unknown_lot`,
                                                                          `unknown_shipment`
- quantities are conserved: no shipping more than is on hand            `insufficient_quantity`
- a single custodian acts on a lot; a closed lot or shipment is final   `not_custodian`,
                                                                          `closed`
- a PEN is required where the importing nation asks for one             `pen_required`,
  and must match the shipment                                           `pen_mismatch`
- an objection blocks the shipment (and flags `objection_ignored`)      `pen_objection`
- no shipment before the reply window closes without a reply;           `pen_pending`
  after it, silence is consent or a block as the importer configured   `pen_silence_block`
- time runs forward per lot and never past the block                    `time_backwards`,
                                                                          `future_time`
- duplicate event ids are rejected                                      `duplicate_event`

Flags (accepted, but marked): `unregistered` (a shipment under a watched HS code with no
registered chemical), `discrepancy` (received differs from shipped beyond the tolerance),
`overdue` (shipped, not received by the deadline), `undeclared_transit` (a checkpoint in a nation
the route did not declare), `dark_hop` (a declared transit nation that keeps no records: outside
the consortium), `yield_exceeded`, `objection_ignored`, `late_report` (filed long after the event).

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
from nodes.app.events import Event, EventError, decode_event, event_body, field_values
from nodes.chain.identity import VerifyCache
from nodes.app.registry import Registry, load_registry
from nodes.chain.tx import Transaction

FLAG_KINDS = ("unregistered", "discrepancy", "overdue", "undeclared_transit", "dark_hop",
              "yield_exceeded", "objection_ignored", "late_report")
LOTS_MAX = 10_000_000
# What yield_max is measured in (nodes/data/chemicals.toml): licensed pharmaceutical products.
END_PRODUCTS = ("fentanyl", "acetylfentanyl")
UNLISTED_LOT = "-"  # the lot of a customs record of an unregistered chemical
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

    def rules_for(self, nation: str) -> NationRules:
        return self.rules.get(nation, NationRules())


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


@dataclass
class Pen:
    id: str
    lot: str
    exporter: str
    importer: str
    to_nation: str
    quantity_g: int
    via: tuple
    filed_ticks: int
    reply: str | None = None
    # Fix (tests/nodes/test_chaincode.py::test_pen_quantity_is_not_reusable): grams already shipped
    # under this PEN. Without it one 40 kg notification let any number of 40 kg shipments go.
    shipped_g: int = 0


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
                                                  "corrects") if k in e.fields), e.event_id)
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

    def _licensed(self, op: Operator, chemical: str, activity: str, now: int) -> None:
        for lic_chemical, lic_activity, from_ticks, until_ticks in op.licences:
            if (lic_chemical in (chemical, "*") and lic_activity == activity
                    and from_ticks <= now <= until_ticks):
                return
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
        if e["pen"] in self.state.pens:
            raise Reject("duplicate_pen")
        self._licensed(exporter, lot.chemical, "export", e.event_time_ticks)
        self.state.pens[e["pen"]] = self.state.adopt(Pen(e["pen"], lot.id, exporter.id,
                                                         e["importer"], e["to_nation"],
                                                         e["quantity_g"], e["via"], now))
        self._history(lot.id, e.event_id)
        return []

    def _on_pen_reply(self, e: Event, signer: str, now: int) -> list[Flag]:
        pen = self.state.pens.get(e["pen"])
        if pen is None:
            raise Reject("unknown_pen")
        self._authority(signer, pen.to_nation)
        if pen.reply is not None:
            raise Reject("duplicate_reply")
        self.state.mutable_pen(pen).reply = e["decision"]
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
        self._check_pen(e, lot, now)
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

    def _check_pen(self, e: Event, lot: Lot, now: int) -> None:
        rules = self.config.rules_for(e["to_nation"])
        pen_id = e["pen"]
        if not pen_id:
            if rules.requires_pen and e["to_nation"] in self.config.members:
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
        if pen.reply is None:
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
        flags = []
        diff = abs(e["quantity_g"] - shipment.quantity_g)
        if diff * 100 > shipment.quantity_g * self.config.discrepancy_tolerance_pct:
            flags.append(Flag("discrepancy", shipment.id, e.event_id, now,
                              f"shipped {shipment.quantity_g} g, received {e['quantity_g']} g"))
        shipment.flags.extend(flags)
        return flags

    def _on_transform(self, e: Event, signer: str, now: int) -> list[Flag]:
        op = self._operator(e["operator"])
        self._authority(signer, op.nation)
        self._cosigned(e, op)
        lot = self._lot(e["lot"], op.id, e.event_time_ticks)
        chemical = self.registry.chemicals.get(lot.chemical)
        if chemical is None or not (self.registry.is_registered(e["product_chemical"])
                                    or e["product_chemical"] in END_PRODUCTS):
            raise Reject("unregistered_chemical")
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
        if e["output_g"] > e["input_g"] * chemical.yield_max:
            return [Flag("yield_exceeded", e["product_lot"], e.event_id, now,
                         f"{e['output_g']} g from {e['input_g']} g of {lot.chemical} exceeds "
                         f"the maximum yield {chemical.yield_max}")]
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
