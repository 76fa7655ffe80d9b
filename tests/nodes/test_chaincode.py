"""The chaincode's custody rules: one accept and one reject per rule, every flag, and properties.

The harness below builds real signed transactions: nations sign with their genesis keys
(`Genesis.simulated`), operators co-sign event bodies with keys derived by `Identity.derive(...,
purpose="operator")`, and the chaincode runs against the shipped registry (`load_registry()`).
The standard flow is: CHN registers an exporter (manufacture + export), MEX an importer
(import + manufacture); the exporter commissions a lot, files a PEN, MEX replies, the exporter
ships, customs record transit checkpoints, the importer receives into a new lot, transforms,
destroys; anyone in the consortium files incidents; the filer of an event may correct it.

Registry-driven control (licences and PEN tiers at the event's date), the importing authority's
`decide`, suspicious-order reports, missing checkpoints, inspections and per-step yields have
their own sections at the end.
"""

from __future__ import annotations

import datetime

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes import Genesis, Identity, Transaction, VerifyCache
from nodes.app.authority import REASONS, AuthorityRules, decide
from nodes.app.chaincode import Chaincode, DomainConfig, NationRules, TxResult
from nodes.app.control import event_date, licence_needed, pen_tier, scheduled
from nodes.app.events import COSIGNER_FIELD, encode_event, event_body, field_values
from nodes.app.registry import load_registry

CHAIN = "chaincode-test"
SEED = 11
GENESIS, NATIONS = Genesis.simulated(CHAIN, [("CHN", 1), ("MEX", 1), ("USA", 1), ("GTM", 1)],
                                     SEED)
NATION_KEYS = {code: GENESIS.public_key(code) for code in GENESIS.codes}
# GTM holds a genesis key but is outside the precursor consortium: it keeps no custody records.
MEMBERS = frozenset({"CHN", "MEX", "USA"})
REGISTRY = load_registry()
VERIFIER = VerifyCache()  # shared, as one process's nodes share it

FOREVER = 10**9
CHEM = "npp"
PRODUCT = "4-anpp"
EXPORTER = "cn-exporter"
IMPORTER = "mx-importer"
UNREGISTERED = "unobtainium"
AUTO = object()  # co-sign with the operator the event kind names (events.COSIGNER_FIELD)

_OPERATORS: dict[str, Identity] = {}


def operator(name: str) -> Identity:
    if name not in _OPERATORS:
        _OPERATORS[name] = Identity.derive(name, SEED, purpose="operator")
    return _OPERATORS[name]


# ---------------------------------------------------------------------------------- harness


class TxFactory:
    """Signed transactions; event ids and nonces are sequential unless given."""

    def __init__(self) -> None:
        self.nonces = itertools.count()
        self.ids = itertools.count()

    def make(self, signer: str, kind: str, fields: dict, t: int, *, event_id: str | None = None,
             cosigner=AUTO, key: Identity | None = None, cosigs=None,
             nonce: int | None = None) -> Transaction:
        event_id = event_id if event_id is not None else f"ev-{next(self.ids)}"
        if cosigs is None:
            if cosigner is AUTO:
                name = COSIGNER_FIELD[kind]
                cosigner = fields[name] if name else None
            cosigs = ()
            if cosigner is not None:
                body = event_body(CHAIN, kind, event_id, t, field_values(kind, fields))
                cosigs = ((cosigner, (key or operator(cosigner)).sign(body)),)
        payload = encode_event(kind, event_id, t, fields, cosigs)
        return Transaction.create(CHAIN, NATIONS[signer], kind,
                                  next(self.nonces) if nonce is None else nonce, payload)


class Ledger:
    """One chaincode and a block clock. Events default to the current block time."""

    def __init__(self, members=MEMBERS, rules: dict[str, NationRules] | None = None,
                 start: int = 100, **config) -> None:
        self.config = DomainConfig(members=frozenset(members), rules=dict(rules or {}), **config)
        self.cc = Chaincode(CHAIN, REGISTRY, self.config, NATION_KEYS, VERIFIER)
        self.factory = TxFactory()
        self.now = start
        self.cc.begin_block(start)

    @property
    def state(self):
        return self.cc.state

    def advance(self, ticks: int):
        """A new block `ticks` later; returns the flags its start raised."""
        self.now += ticks
        return self.cc.begin_block(self.now)

    def submit(self, signer: str, kind: str, fields: dict, t: int | None = None, **kw
               ) -> TxResult:
        tx = self.factory.make(signer, kind, fields, self.now if t is None else t, **kw)
        return self.cc.apply_tx(tx, self.now)


def accepted(result: TxResult) -> TxResult:
    assert result.accepted, f"rejected: {result.reason}"
    return result


def rejected(result: TxResult, reason: str) -> TxResult:
    assert not result.accepted, "accepted, expected " + reason
    assert result.reason == reason
    return result


def flag_kinds(result: TxResult) -> list[str]:
    return [f.kind for f in result.flags]


def licences(chemical: str, *activities: str, start: int = 0, until: int = FOREVER,
             quota: int = 0):
    return [(chemical, activity, start, until, quota) for activity in activities]


# Event helpers: each files one event and returns the chaincode's result.

def register(led, name, nation, lic, signer=None, **kw):
    fields = {"operator": name, "nation": nation, "public_key": operator(name).public_key,
              "licences": tuple(lic)}
    return led.submit(signer or nation, "register_operator", fields, **kw)


def register_exporter(led, name=EXPORTER, nation="CHN", chemical=CHEM, **kw):
    return register(led, name, nation, licences(chemical, "manufacture", "export"), **kw)


def register_importer(led, name=IMPORTER, nation="MEX", chemical=CHEM, **kw):
    return register(led, name, nation, licences(chemical, "import", "manufacture")
                    + licences(PRODUCT, "manufacture"), **kw)


def commission(led, lot="LOT-1", qty=100_000, chemical=CHEM, op=EXPORTER, signer="CHN", **kw):
    return led.submit(signer, "commission", {"lot": lot, "chemical": chemical,
                                             "quantity_g": qty, "operator": op}, **kw)


def pen_fields(pen_id, lot, exporter, importer, to, qty, via, consignee=None, entry="",
               dispatch=0, end_use="manufacture of pharmaceutical products", tier="full"):
    return {"pen": pen_id, "lot": lot, "exporter": exporter, "importer": importer,
            "to_nation": to, "quantity_g": qty, "via": tuple(via),
            "consignee": importer if consignee is None else consignee, "point_of_entry": entry,
            "dispatch_ticks": dispatch, "end_use": end_use, "tier": tier}


def pen(led, pen_id, lot="LOT-1", qty=100_000, importer=IMPORTER, to="MEX", via=(),
        exporter=EXPORTER, signer="CHN", consignee=None, dispatch=None,
        end_use="manufacture of pharmaceutical products", tier="full", **kw):
    fields = pen_fields(pen_id, lot, exporter, importer, to, qty, via, consignee, "Manzanillo",
                        led.now if dispatch is None else dispatch, end_use, tier)
    return led.submit(signer, "pen", fields, **kw)


def pen_reply(led, pen_id, decision="no_objection", signer="MEX", reasons="", **kw):
    return led.submit(signer, "pen_reply", {"pen": pen_id, "decision": decision,
                                            "reasons": reasons}, **kw)


def ship(led, shipment="SHP-1", lot="LOT-1", qty=40_000, pen="", importer=IMPORTER, to="MEX",
         via=(), exporter=EXPORTER, signer="CHN", hs_code="", declared="", **kw):
    return led.submit(signer, "ship", {"shipment": shipment, "lot": lot, "quantity_g": qty,
                                       "exporter": exporter, "importer": importer,
                                       "to_nation": to, "via": tuple(via), "pen": pen,
                                       "hs_code": hs_code, "declared_chemical": declared}, **kw)


def transit(led, shipment, nation, signer=None, **kw):
    return led.submit(signer or nation, "transit", {"shipment": shipment, "nation": nation}, **kw)


def receive(led, shipment="SHP-1", qty=40_000, new_lot="LOT-MX-1", importer=IMPORTER,
            signer="MEX", **kw):
    return led.submit(signer, "receive", {"shipment": shipment, "quantity_g": qty,
                                          "importer": importer, "new_lot": new_lot}, **kw)


def transform(led, lot, input_g, product_lot, output_g, product=PRODUCT, op=IMPORTER,
              signer="MEX", **kw):
    return led.submit(signer, "transform", {"lot": lot, "input_g": input_g,
                                            "product_lot": product_lot,
                                            "product_chemical": product, "output_g": output_g,
                                            "operator": op}, **kw)


def destroy(led, lot, qty, signer, reason="seized", **kw):
    return led.submit(signer, "destroy", {"lot": lot, "quantity_g": qty, "reason": reason}, **kw)


def incident(led, subject, signer, description="suspicious consignment", **kw):
    return led.submit(signer, "incident", {"subject": subject, "description": description}, **kw)


def correction(led, corrects, signer, field="quantity_g", value=0, **kw):
    return led.submit(signer, "correction", {"corrects": corrects, "field": field,
                                             "value": value}, **kw)


def trading(**config) -> Ledger:
    """Exporter in CHN and importer in MEX registered; LOT-1 (100 kg of NPP) commissioned."""
    led = Ledger(**config)
    accepted(register_exporter(led))
    accepted(register_importer(led))
    accepted(commission(led))
    return led


def export(led, shipment="SHP-1", lot="LOT-1", qty=40_000, via=(), pen_id=None, **kw):
    """PEN, no-objection reply, then the shipment; returns the ship result."""
    pen_id = pen_id or "PEN-" + shipment
    accepted(pen(led, pen_id, lot=lot, qty=qty, via=via))
    accepted(pen_reply(led, pen_id))
    return ship(led, shipment, lot=lot, qty=qty, pen=pen_id, via=via, **kw)


def delivered(**config) -> Ledger:
    """The standard flow up to SHP-1 (40 kg) received into LOT-MX-1."""
    led = trading(**config)
    accepted(export(led))
    accepted(receive(led))
    return led


# ---------------------------------------------------------------------------------- the flow


def test_standard_flow_end_to_end():
    led = delivered()
    s = led.state
    assert s.lots["LOT-1"].quantity_g == 60_000
    assert s.lots["LOT-MX-1"].quantity_g == 40_000
    assert s.lots["LOT-MX-1"].custodian == IMPORTER and s.lots["LOT-MX-1"].nation == "MEX"
    assert s.shipments["SHP-1"].received_g == 40_000
    r = accepted(transform(led, "LOT-MX-1", 10_000, "LOT-MX-P", 1_000))
    assert r.flags == ()
    accepted(destroy(led, "LOT-MX-1", 30_000, "MEX"))
    assert s.lots["LOT-MX-1"].closed and s.lots["LOT-MX-1"].quantity_g == 0
    accepted(incident(led, "LOT-1", "USA"))
    accepted(incident(led, "SHP-1", "MEX"))
    assert s.flags == []
    assert s.rejected == 0
    assert s.lot_history["SHP-1"][0] in s.events


def test_malformed_payload_and_plain_payload():
    led = Ledger()
    tx = Transaction.create(CHAIN, NATIONS["CHN"], "commission", 0, b"\x93garbage")
    rejected(led.cc.apply_tx(tx, led.now), "malformed")
    tx = Transaction.create(CHAIN, NATIONS["CHN"], "no_such_kind", 1, b"")
    rejected(led.cc.apply_tx(tx, led.now), "malformed")
    tx = Transaction.create(CHAIN, NATIONS["CHN"], "payload", 2, b"anything")
    accepted(led.cc.apply_tx(tx, led.now))


# ---------------------------------------------------------------------------------- rules


def test_wrong_authority_accept():
    led = trading()  # each event signed by the nation of its operator
    accepted(export(led))
    accepted(transit(led, "SHP-1", "USA"))
    accepted(receive(led, signer="MEX"))
    accepted(destroy(led, "LOT-1", 1, "CHN"))


def test_wrong_authority_reject():
    led = trading()
    rejected(register(led, "cn-other", "CHN", licences(CHEM, "manufacture"), signer="MEX"),
             "wrong_authority")
    rejected(commission(led, lot="LOT-X", signer="MEX"), "wrong_authority")
    rejected(pen(led, "PEN-1", signer="USA"), "wrong_authority")
    accepted(pen(led, "PEN-1"))
    rejected(pen_reply(led, "PEN-1", signer="USA"), "wrong_authority")
    accepted(pen_reply(led, "PEN-1"))
    rejected(ship(led, pen="PEN-1", signer="MEX"), "wrong_authority")
    accepted(ship(led, pen="PEN-1"))
    rejected(transit(led, "SHP-1", "USA", signer="MEX"), "wrong_authority")
    rejected(receive(led, signer="CHN"), "wrong_authority")
    rejected(destroy(led, "LOT-1", 1, "MEX"), "wrong_authority")
    rejected(incident(led, "LOT-1", "GTM"), "wrong_authority")  # outside the consortium
    assert "LOT-X" not in led.state.lots and "cn-other" not in led.state.operators


def test_missing_cosignature_accept():
    led = Ledger()
    accepted(register_exporter(led))
    accepted(commission(led))


def test_missing_cosignature_absent():
    led = Ledger()
    rejected(register_exporter(led, cosigs=()), "missing_cosignature")  # no proof of the key
    accepted(register_exporter(led))
    rejected(commission(led, cosigs=()), "missing_cosignature")
    assert "LOT-1" not in led.state.lots


def test_missing_cosignature_forged():
    led = trading()
    # the importer's key, under the exporter's name
    rejected(commission(led, lot="LOT-2", key=operator(IMPORTER)), "missing_cosignature")
    # a valid co-signature, but by the wrong operator
    rejected(commission(led, lot="LOT-2", cosigner=IMPORTER), "missing_cosignature")
    # the exporter's real signature over a different body (another event id)
    body = event_body(CHAIN, "commission", "other-id", led.now,
                      field_values("commission", {"lot": "LOT-2", "chemical": CHEM,
                                                  "quantity_g": 100_000, "operator": EXPORTER}))
    rejected(commission(led, lot="LOT-2", cosigs=((EXPORTER, operator(EXPORTER).sign(body)),)),
             "missing_cosignature")
    # register an operator claiming someone else's public key: the claimed key did not sign
    fields = {"operator": "mx-thief", "nation": "MEX",
              "public_key": operator(IMPORTER).public_key, "licences": ()}
    rejected(led.submit("MEX", "register_operator", fields), "missing_cosignature")
    # the importer's receive, co-signed by the exporter
    accepted(export(led))
    rejected(receive(led, key=operator(EXPORTER)), "missing_cosignature")
    assert "LOT-2" not in led.state.lots and led.state.shipments["SHP-1"].received_g is None


def test_unknown_operator():
    led = trading()
    rejected(commission(led, lot="LOT-2", op="ghost"), "unknown_operator")
    rejected(pen(led, "PEN-1", exporter="ghost"), "unknown_operator")
    rejected(ship(led, exporter="ghost", to="GTM", importer="gt-buyer"), "unknown_operator")
    accepted(export(led))
    rejected(receive(led, importer="ghost"), "unknown_operator")
    accepted(receive(led))


def test_duplicate_operator():
    led = Ledger()
    accepted(register_exporter(led))
    rejected(register_exporter(led), "duplicate_operator")


def test_unlicensed_accept_inside_window():
    led = Ledger(start=400)
    accepted(register(led, "cn-maker", "CHN", licences(CHEM, "manufacture", start=300,
                                                      until=500)))
    accepted(commission(led, op="cn-maker", t=300))
    accepted(commission(led, lot="LOT-2", op="cn-maker", t=400))


def test_unlicensed_wrong_chemical():
    led = trading()
    assert REGISTRY.is_registered("4-ap")
    rejected(commission(led, lot="LOT-2", chemical="4-ap"), "unlicensed")
    # the importer is not licensed to import 4-ANPP: a shipment of it to him is refused
    accepted(register_exporter(led, name="cn-anpp", chemical=PRODUCT))
    accepted(commission(led, lot="LOT-A", chemical=PRODUCT, op="cn-anpp"))
    accepted(pen(led, "PEN-A", lot="LOT-A", exporter="cn-anpp"))
    accepted(pen_reply(led, "PEN-A"))
    rejected(ship(led, lot="LOT-A", exporter="cn-anpp", pen="PEN-A"), "unlicensed")


def test_unlicensed_wrong_activity():
    led = trading()
    accepted(register(led, "cn-maker", "CHN", licences(CHEM, "manufacture")))
    accepted(commission(led, lot="LOT-M", op="cn-maker"))
    rejected(pen(led, "PEN-M", lot="LOT-M", exporter="cn-maker"), "unlicensed")  # no export
    rejected(ship(led, lot="LOT-M", exporter="cn-maker", to="GTM", importer="gt-buyer"),
             "unlicensed")
    accepted(register(led, "mx-trader", "MEX", licences(CHEM, "manufacture")))
    accepted(pen(led, "PEN-1", importer="mx-trader"))
    accepted(pen_reply(led, "PEN-1"))
    rejected(ship(led, importer="mx-trader", pen="PEN-1"), "unlicensed")  # no import licence


def test_unlicensed_outside_window():
    led = Ledger(start=600)
    accepted(register(led, "cn-maker", "CHN", licences(CHEM, "manufacture", start=300,
                                                      until=500)))
    rejected(commission(led, op="cn-maker"), "unlicensed")  # expired at 500
    rejected(commission(led, op="cn-maker", t=299), "unlicensed")  # not yet valid


def test_unregistered_chemical():
    assert not REGISTRY.is_registered(UNREGISTERED)
    assert REGISTRY.is_registered(CHEM) and REGISTRY.is_registered(PRODUCT)
    led = Ledger()
    accepted(register(led, "cn-any", "CHN", licences("*", "manufacture", "export")))
    rejected(commission(led, chemical=UNREGISTERED, op="cn-any"), "unregistered_chemical")
    accepted(commission(led, chemical=CHEM, op="cn-any"))
    rejected(transform(led, "LOT-1", 1_000, "LOT-P", 100, product=UNREGISTERED, op="cn-any",
                       signer="CHN"), "unregistered_chemical")
    accepted(transform(led, "LOT-1", 1_000, "LOT-P", 100, product=PRODUCT, op="cn-any",
                       signer="CHN"))


def test_unknown_lot():
    led = trading()
    rejected(pen(led, "PEN-1", lot="NOPE"), "unknown_lot")
    rejected(ship(led, lot="NOPE", to="GTM", importer="gt-buyer"), "unknown_lot")
    rejected(destroy(led, "NOPE", 1, "CHN"), "unknown_lot")
    rejected(transform(led, "NOPE", 1, "LOT-P", 1, op=EXPORTER, signer="CHN"), "unknown_lot")
    rejected(incident(led, "NOPE", "USA"), "unknown_lot")
    accepted(incident(led, "LOT-1", "USA"))
    accepted(destroy(led, "LOT-1", 1, "CHN"))


def test_unknown_shipment():
    led = trading()
    rejected(transit(led, "NOPE", "USA"), "unknown_shipment")
    rejected(receive(led, shipment="NOPE"), "unknown_shipment")
    accepted(export(led))
    accepted(transit(led, "SHP-1", "USA"))


def test_unknown_pen_reply_and_duplicate_reply():
    led = trading()
    rejected(pen_reply(led, "NOPE"), "unknown_pen")
    accepted(pen(led, "PEN-1"))
    accepted(pen_reply(led, "PEN-1"))
    rejected(pen_reply(led, "PEN-1", decision="objection"), "duplicate_reply")
    assert led.state.pens["PEN-1"].reply == "no_objection"


def test_insufficient_quantity():
    led = trading()
    accepted(pen(led, "PEN-1", qty=200_000))
    accepted(pen_reply(led, "PEN-1"))
    rejected(ship(led, qty=100_001, pen="PEN-1"), "insufficient_quantity")
    rejected(ship(led, qty=0, pen="PEN-1"), "insufficient_quantity")
    rejected(destroy(led, "LOT-1", 100_001, "CHN"), "insufficient_quantity")
    rejected(destroy(led, "LOT-1", 0, "CHN"), "insufficient_quantity")
    assert led.state.lots["LOT-1"].quantity_g == 100_000
    accepted(ship(led, qty=100_000, pen="PEN-1"))  # exactly what is on hand
    assert led.state.lots["LOT-1"].quantity_g == 0 and led.state.lots["LOT-1"].closed
    accepted(receive(led, qty=100_000))
    rejected(transform(led, "LOT-MX-1", 100_001, "LOT-P", 1), "insufficient_quantity")
    accepted(transform(led, "LOT-MX-1", 100_000, "LOT-P", 1))


def test_not_custodian():
    led = trading()
    accepted(register_exporter(led, name="cn-rival"))
    rejected(pen(led, "PEN-R", exporter="cn-rival"), "not_custodian")
    rejected(ship(led, exporter="cn-rival", to="GTM", importer="gt-buyer"), "not_custodian")
    accepted(register_importer(led, name="mx-rival"))
    accepted(export(led))
    rejected(receive(led, importer="mx-rival"), "not_custodian")
    accepted(receive(led))
    rejected(transform(led, "LOT-MX-1", 1, "LOT-P", 1, op="mx-rival"), "not_custodian")
    accepted(transform(led, "LOT-MX-1", 1, "LOT-P", 1))


def test_closed():
    led = trading()
    accepted(export(led, qty=100_000))  # the whole lot: LOT-1 is closed
    rejected(ship(led, shipment="SHP-2", qty=1, to="GTM", importer="gt-buyer"), "closed")
    rejected(destroy(led, "LOT-1", 1, "CHN"), "closed")
    rejected(pen(led, "PEN-2", qty=1), "closed")
    accepted(receive(led, qty=100_000))
    rejected(receive(led, qty=100_000, new_lot="LOT-MX-2"), "closed")  # received twice
    rejected(transit(led, "SHP-1", "USA"), "closed")
    assert "LOT-MX-2" not in led.state.lots
    accepted(destroy(led, "LOT-MX-1", 100_000, "MEX"))
    rejected(destroy(led, "LOT-MX-1", 1, "MEX"), "closed")


def test_pen_required():
    led = trading()
    rejected(ship(led), "pen_required")
    assert led.state.lots["LOT-1"].quantity_g == 100_000
    accepted(export(led))


def test_pen_not_required_where_the_importer_does_not_ask():
    accepted(ship(trading(rules={"MEX": NationRules(requires_pen=False)})))
    # a destination outside the consortium runs no PEN workflow on this ledger
    accepted(ship(trading(), to="GTM", importer="gt-buyer"))


def test_pen_mismatch():
    led = trading()
    accepted(register_importer(led, name="mx-other"))
    accepted(register_importer(led, name="us-importer", nation="USA"))
    accepted(commission(led, lot="LOT-2"))
    accepted(pen(led, "PEN-1", qty=40_000))
    accepted(pen_reply(led, "PEN-1"))
    rejected(ship(led, pen="PEN-NOPE"), "pen_mismatch")
    rejected(ship(led, pen="PEN-1", lot="LOT-2"), "pen_mismatch")
    rejected(ship(led, pen="PEN-1", importer="mx-other"), "pen_mismatch")
    rejected(ship(led, pen="PEN-1", importer="us-importer", to="USA"), "pen_mismatch")
    rejected(ship(led, pen="PEN-1", qty=40_001), "pen_mismatch")
    accepted(ship(led, pen="PEN-1", qty=39_000))


def test_pen_quantity_is_not_reusable():
    """A 40 kg notification covers 40 kg in all, however it is split (was: 40 kg per shipment,
    any number of shipments)."""
    led = trading()
    accepted(pen(led, "PEN-1", qty=40_000))
    accepted(pen_reply(led, "PEN-1"))
    accepted(ship(led, "SHP-1", qty=25_000, pen="PEN-1"))
    rejected(ship(led, "SHP-2", qty=40_000, pen="PEN-1"), "pen_mismatch")
    rejected(ship(led, "SHP-2", qty=15_001, pen="PEN-1"), "pen_mismatch")
    accepted(ship(led, "SHP-2", qty=15_000, pen="PEN-1"))
    rejected(ship(led, "SHP-3", qty=1, pen="PEN-1"), "pen_mismatch")
    assert led.state.lots["LOT-1"].quantity_g == 60_000


def test_pen_objection_blocks_and_flags():
    led = trading()
    accepted(pen(led, "PEN-1"))
    accepted(pen_reply(led, "PEN-1", decision="objection"))
    r = rejected(ship(led, pen="PEN-1"), "pen_objection")
    assert flag_kinds(r) == ["objection_ignored"]
    assert [f.kind for f in led.state.flags] == ["objection_ignored"]
    assert led.state.flags[0].subject == "LOT-1"
    assert "SHP-1" not in led.state.shipments
    assert led.state.lots["LOT-1"].quantity_g == 100_000


def test_pen_no_objection_accepts():
    led = trading()
    r = accepted(export(led))
    assert r.flags == () and led.state.flags == []


def test_pen_pending():
    led = trading(rules={"MEX": NationRules(reply_window_ticks=100)})
    accepted(pen(led, "PEN-1"))
    rejected(ship(led, pen="PEN-1"), "pen_pending")
    led.advance(99)
    rejected(ship(led, pen="PEN-1"), "pen_pending")
    accepted(pen_reply(led, "PEN-1"))
    accepted(ship(led, pen="PEN-1"))


def test_pen_silence_block():
    led = trading(rules={"MEX": NationRules(silence="block", reply_window_ticks=100)})
    accepted(pen(led, "PEN-1"))
    rejected(ship(led, pen="PEN-1"), "pen_pending")
    led.advance(100)
    rejected(ship(led, pen="PEN-1"), "pen_silence_block")
    led.advance(10_000)
    rejected(ship(led, pen="PEN-1"), "pen_silence_block")
    accepted(pen_reply(led, "PEN-1"))  # a late consent still releases the shipment
    accepted(ship(led, pen="PEN-1"))


def test_pen_silence_consent():
    led = trading(rules={"MEX": NationRules(silence="consent", reply_window_ticks=100)})
    accepted(pen(led, "PEN-1"))
    led.advance(99)
    rejected(ship(led, pen="PEN-1"), "pen_pending")
    led.advance(1)
    r = accepted(ship(led, pen="PEN-1"))
    assert r.flags == ()


def test_time_backwards():
    led = trading()  # LOT-1 commissioned at 100
    led.advance(100)
    accepted(pen(led, "PEN-1"))
    accepted(pen_reply(led, "PEN-1"))
    rejected(ship(led, pen="PEN-1", t=99), "time_backwards")
    rejected(destroy(led, "LOT-1", 1, "CHN", t=99), "time_backwards")
    accepted(ship(led, pen="PEN-1", t=150))
    rejected(destroy(led, "LOT-1", 1, "CHN", t=149), "time_backwards")
    accepted(destroy(led, "LOT-1", 1, "CHN", t=150))  # equal times are in order
    rejected(transit(led, "SHP-1", "USA", t=149), "time_backwards")
    accepted(transit(led, "SHP-1", "USA", t=150))
    rejected(receive(led, t=149), "time_backwards")
    accepted(receive(led, t=200))
    rejected(destroy(led, "LOT-MX-1", 1, "MEX", t=199), "time_backwards")


def test_future_time():
    led = trading()
    rejected(commission(led, lot="LOT-2", t=led.now + 1), "future_time")
    accepted(commission(led, lot="LOT-2", t=led.now))


def test_duplicate_event():
    led = trading()
    accepted(commission(led, lot="LOT-2", event_id="E-1"))
    rejected(commission(led, lot="LOT-3", event_id="E-1"), "duplicate_event")
    rejected(destroy(led, "LOT-2", 1, "CHN", event_id="E-1"), "duplicate_event")
    # a rejected event does not reserve its id
    rejected(commission(led, lot="LOT-4", event_id="E-2", t=led.now + 5), "future_time")
    accepted(commission(led, lot="LOT-4", event_id="E-2"))
    assert "LOT-3" not in led.state.lots


def test_replayed_transaction_is_a_duplicate():
    led = trading()
    tx = led.factory.make("CHN", "destroy", {"lot": "LOT-1", "quantity_g": 1_000,
                                             "reason": "spill"}, led.now)
    accepted(led.cc.apply_tx(tx, led.now))
    rejected(led.cc.apply_tx(tx, led.now), "duplicate_event")
    assert led.state.lots["LOT-1"].quantity_g == 99_000


# ---------------------------------------------------------------------------------- flags


def test_unregistered_flag_on_watched_hs_code():
    watched = sorted(REGISTRY.watched_hs_codes)
    assert watched
    led = Ledger()
    r = accepted(ship(led, shipment="SHP-U", lot="-", exporter="unknown-broker",
                      importer="unknown-buyer", signer="MEX", hs_code=watched[0],
                      declared="monomethylamine", cosigs=()))
    assert flag_kinds(r) == ["unregistered"] and r.flags[0].subject == "SHP-U"
    assert [f.kind for f in led.state.flags] == ["unregistered"]
    assert r.event_id in led.state.events


def test_unregistered_rejected_when_hs_code_not_watched():
    not_watched = "0101.21"  # live pure-bred horses
    assert not_watched not in REGISTRY.watched_hs_codes
    led = Ledger()
    rejected(ship(led, shipment="SHP-U", lot="-", signer="MEX", hs_code=not_watched,
                  cosigs=()), "unregistered_chemical")
    rejected(ship(led, shipment="SHP-U", lot="-", signer="MEX", hs_code="", cosigs=()),
             "unregistered_chemical")
    watched = sorted(REGISTRY.watched_hs_codes)[0]
    rejected(ship(led, shipment="SHP-U", lot="-", signer="GTM", hs_code=watched, cosigs=()),
             "wrong_authority")  # customs of a nation outside the consortium
    assert led.state.flags == []


def test_discrepancy_beyond_tolerance():
    led = trading()
    accepted(export(led, qty=100_000))
    r = accepted(receive(led, qty=90_000))
    assert flag_kinds(r) == ["discrepancy"] and r.flags[0].subject == "SHP-1"
    assert led.state.lots["LOT-MX-1"].quantity_g == 90_000  # the measured quantity is booked
    led = trading()
    accepted(export(led, qty=100_000))
    assert flag_kinds(accepted(receive(led, qty=98_999))) == ["discrepancy"]
    led = trading()
    accepted(export(led, qty=100_000))
    assert flag_kinds(accepted(receive(led, qty=101_001))) == ["discrepancy"]  # over, too


def test_discrepancy_within_tolerance():
    for measured in (100_000, 99_500, 99_000, 101_000):  # tolerance 1 %: the edge is inside
        led = trading()
        accepted(export(led, qty=100_000))
        r = accepted(receive(led, qty=measured))
        assert r.flags == (), measured
        assert led.state.flags == []


def test_overdue_after_deadline():
    led = trading(transit_deadline_ticks=1_000)
    shipped_at = led.now
    accepted(export(led))
    assert led.advance(1_000) == []  # exactly at the deadline: not yet
    raised = led.advance(1)
    assert [f.kind for f in raised] == ["overdue"] and raised[0].subject == "SHP-1"
    assert raised[0].time_ticks == shipped_at + 1_000
    assert led.state.shipments["SHP-1"].overdue
    assert [f.kind for f in led.state.flags] == ["overdue"]
    assert led.advance(5_000) == []  # raised once
    accepted(receive(led))  # a late arrival is still booked; the flag stays
    assert [f.kind for f in led.state.flags] == ["overdue"]


def test_not_overdue_when_received():
    led = trading(transit_deadline_ticks=1_000)
    accepted(export(led))
    led.advance(500)
    accepted(receive(led))
    assert led.advance(10_000) == []
    assert led.state.flags == [] and not led.state.shipments["SHP-1"].overdue


def test_undeclared_transit():
    led = trading()
    accepted(export(led, via=()))
    r = accepted(transit(led, "SHP-1", "USA"))
    assert flag_kinds(r) == ["undeclared_transit"] and r.flags[0].subject == "SHP-1"
    assert led.state.shipments["SHP-1"].checkpoints == ["USA"]


def test_declared_transit_not_flagged():
    led = trading()
    accepted(export(led, via=("USA",)))
    assert accepted(transit(led, "SHP-1", "CHN")).flags == ()  # origin
    assert accepted(transit(led, "SHP-1", "USA")).flags == ()  # declared
    assert accepted(transit(led, "SHP-1", "MEX")).flags == ()  # destination
    assert led.state.flags == []


def test_dark_hop_via_non_member():
    led = trading()
    r = accepted(export(led, via=("USA", "GTM")))
    assert flag_kinds(r) == ["dark_hop"] and "GTM" in r.flags[0].detail
    assert [f.kind for f in led.state.shipments["SHP-1"].flags] == ["dark_hop"]


def test_dark_hop_destination_non_member():
    led = trading()
    r = accepted(ship(led, to="GTM", importer="gt-buyer"))
    assert flag_kinds(r) == ["dark_hop"] and "GTM" in r.flags[0].detail


def test_no_dark_hop_via_members():
    led = trading()
    assert accepted(export(led, via=("USA",))).flags == ()


def test_yield_exceeded_and_within():
    ym = REGISTRY.transformations[(CHEM, PRODUCT)].yield_max
    within = int(10_000 * ym)
    led = delivered()
    assert accepted(transform(led, "LOT-MX-1", 10_000, "LOT-P1", within)).flags == ()
    r = accepted(transform(led, "LOT-MX-1", 10_000, "LOT-P2", within + 1))
    assert flag_kinds(r) == ["yield_exceeded"] and r.flags[0].subject == "LOT-P2"
    assert led.state.lots["LOT-MX-1"].quantity_g == 20_000
    assert led.state.lots["LOT-P2"].quantity_g == within + 1
    assert [f.kind for f in led.state.flags] == ["yield_exceeded"]


def test_late_report():
    led = trading(start=10_000)
    r = accepted(commission(led, lot="LOT-OLD", t=led.now - 2_001))
    assert flag_kinds(r) == ["late_report"] and r.flags[0].subject == "LOT-OLD"
    assert accepted(commission(led, lot="LOT-RECENT", t=led.now - 2_000)).flags == ()
    assert [f.kind for f in led.state.flags] == ["late_report"]


def test_correction_appends_never_deletes():
    led = delivered()
    receive_id = led.state.lot_history["LOT-MX-1"][0]
    before = dict(led.state.events)
    r = accepted(correction(led, receive_id, "MEX", field="quantity_g", value=39_000))
    assert led.state.events[receive_id] == before[receive_id]  # the original stays
    assert r.event_id in led.state.events and set(before) < set(led.state.events)
    assert led.state.lots["LOT-MX-1"].quantity_g == 40_000  # nothing rewritten
    rejected(correction(led, receive_id, "CHN"), "wrong_authority")  # only its filer
    rejected(correction(led, "NOPE", "MEX"), "unknown_event")
    accepted(correction(led, r.event_id, "MEX", value=39_500))  # a correction of a correction
    assert receive_id in led.state.events and r.event_id in led.state.events


# ---------------------------------------------------------------------------------- properties

PROPS = settings(max_examples=100, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])

TRADERS = (("op-cn", "CHN"), ("op-mx", "MEX"), ("op-us", "USA"))


def traders_ledger(total_g: int) -> Ledger:
    """Three traders licensed for everything on NPP; no PEN, to keep the sequences short."""
    led = Ledger(rules={n: NationRules(requires_pen=False) for n in MEMBERS})
    for name, nation in TRADERS:
        accepted(register(led, name, nation, licences(CHEM, "manufacture", "export", "import")))
    accepted(commission(led, lot="LOT-0", qty=total_g, op="op-cn"))
    return led


op_ship = st.tuples(st.just("ship"), st.integers(0, 50), st.integers(0, 1000), st.integers(0, 1))
op_receive = st.tuples(st.just("receive"), st.integers(0, 50))
op_destroy = st.tuples(st.just("destroy"), st.integers(0, 50), st.integers(0, 1000))


@PROPS
@given(total_g=st.integers(1, 10**7),
       ops=st.lists(st.one_of(op_ship, op_receive, op_destroy), min_size=5, max_size=40))
def test_property_mass_is_conserved(total_g, ops):
    led = traders_ledger(total_g)
    s = led.state
    nation_of = dict(TRADERS)
    destroyed = 0
    n = 0
    for op in ops:
        led.advance(1)
        n += 1
        open_lots = sorted(lid for lid, lot in s.lots.items() if not lot.closed)
        if op[0] == "ship" and open_lots:
            lot = s.lots[open_lots[op[1] % len(open_lots)]]
            others = [name for name, _ in TRADERS if name != lot.custodian]
            to = others[op[3] % len(others)]
            qty = lot.quantity_g * op[2] // 1000  # may be 0: rejected, changes nothing
            r = ship(led, f"S{n}", lot=lot.id, qty=qty, exporter=lot.custodian, importer=to,
                     to=nation_of[to], signer=lot.nation)
            assert r.accepted == (qty > 0), r.reason
        elif op[0] == "receive":
            pending = sorted(sid for sid, sh in s.shipments.items() if sh.received_g is None)
            if pending:
                sh = s.shipments[pending[op[1] % len(pending)]]
                accepted(receive(led, sh.id, sh.quantity_g, f"L{n}", importer=sh.importer,
                                 signer=sh.to_nation))
        elif op[0] == "destroy" and open_lots:
            lot = s.lots[open_lots[op[1] % len(open_lots)]]
            qty = lot.quantity_g * op[2] // 1000
            r = destroy(led, lot.id, qty, lot.nation)
            assert r.accepted == (qty > 0), r.reason
            destroyed += qty if r.accepted else 0
        on_hand = sum(lot.quantity_g for lot in s.lots.values() if not lot.closed)
        in_transit = sum(sh.quantity_g for sh in s.shipments.values() if sh.received_g is None)
        assert on_hand + in_transit + destroyed == total_g
        assert all(lot.quantity_g >= 0 for lot in s.lots.values())
        assert all(lot.quantity_g == 0 for lot in s.lots.values() if lot.closed)
    assert s.flags == [] or {f.kind for f in s.flags} <= {"overdue"}


@PROPS
@given(total_g=st.integers(1, 10**6),
       attempts=st.lists(st.tuples(st.integers(0, 9),  # shipment id
                                   st.integers(0, 10**6 + 2),  # quantity
                                   st.sampled_from(["pen", "gtm", "replay", "destroy"])),
                         max_size=25))
def test_property_no_double_shipping(total_g, attempts):
    led = trading(rules={"MEX": NationRules(reply_window_ticks=10)})
    accepted(commission(led, lot="LOT-Q", qty=total_g))
    accepted(pen(led, "PEN-Q", lot="LOT-Q", qty=total_g))
    accepted(pen_reply(led, "PEN-Q"))  # one PEN for the whole lot, reused by every attempt
    lot = led.state.lots["LOT-Q"]
    shipped = destroyed = 0
    accepted_ids: set[str] = set()
    last_tx = None
    for sid, qty, how in attempts:
        if how == "replay" and last_tx is not None:
            rejected(led.cc.apply_tx(last_tx, led.now), "duplicate_event")
            continue
        if how == "destroy":
            r = destroy(led, "LOT-Q", qty, "CHN")
            destroyed += qty if r.accepted else 0
            continue
        fields = {"shipment": f"S{sid}", "lot": "LOT-Q", "quantity_g": qty,
                  "exporter": EXPORTER, "importer": IMPORTER if how == "pen" else "gt-buyer",
                  "to_nation": "MEX" if how == "pen" else "GTM", "via": (),
                  "pen": "PEN-Q" if how == "pen" else "", "hs_code": "",
                  "declared_chemical": ""}
        tx = led.factory.make("CHN", "ship", fields, led.now)
        r = led.cc.apply_tx(tx, led.now)
        if r.accepted:
            assert fields["shipment"] not in accepted_ids  # a shipment id is used once
            accepted_ids.add(fields["shipment"])
            shipped += qty
            last_tx = tx
        assert shipped + destroyed <= total_g
        assert lot.quantity_g == total_g - shipped - destroyed
        assert lot.closed == (lot.quantity_g == 0)
    assert sum(led.state.shipments[s].quantity_g for s in accepted_ids) == shipped


# A random script of events, valid or not, built without reading any state so two chaincodes
# can be fed exactly the same transactions.
LOTS = ("LOT-1", "LOT-2", "LOT-MX-1", "NOPE")
SHIPMENTS = ("SHP-1", "SHP-2", "NOPE")
NATION_CODES = ("CHN", "MEX", "USA", "GTM")

QTY = st.integers(0, 60_000)
event_op = st.one_of(
    st.tuples(st.just("commission"), st.sampled_from(LOTS), QTY,
              st.sampled_from(("CHN", "CHN", "CHN", "MEX"))),
    st.tuples(st.just("pen"), st.sampled_from(("PEN-1", "PEN-2")), st.sampled_from(LOTS), QTY),
    st.tuples(st.just("reply"), st.sampled_from(("PEN-1", "PEN-2")),
              st.sampled_from(("no_objection", "objection")),
              st.sampled_from(("MEX", "MEX", "USA"))),
    st.tuples(st.just("ship"), st.sampled_from(SHIPMENTS), st.sampled_from(LOTS), QTY,
              st.sampled_from(("PEN-1", "PEN-1", "", "PEN-2")),
              st.sampled_from(((), ("USA",), ("GTM",))), st.sampled_from(("MEX", "MEX", "GTM"))),
    st.tuples(st.just("transit"), st.sampled_from(SHIPMENTS), st.sampled_from(NATION_CODES)),
    st.tuples(st.just("receive"), st.sampled_from(SHIPMENTS), QTY,
              st.sampled_from(("LOT-MX-1", "LOT-MX-2"))),
    st.tuples(st.just("destroy"), st.sampled_from(LOTS), QTY, st.sampled_from(NATION_CODES)),
    st.tuples(st.just("transform"), st.sampled_from(LOTS), QTY, st.integers(0, 100_000)),
)
script_op = st.one_of(st.tuples(st.just("tick"), st.integers(1, 4_000)), event_op)


def script_tx(factory: TxFactory, op: tuple, now: int, skew: int, event_id: str,
              nonce: int | None = None) -> Transaction:
    kind = op[0]
    t = max(0, now + skew)
    if kind == "commission":
        _, lot, qty, signer = op
        return factory.make(signer, "commission", {"lot": lot, "chemical": CHEM,
                                                   "quantity_g": qty, "operator": EXPORTER},
                            t, event_id=event_id, nonce=nonce)
    if kind == "pen":
        _, pen_id, lot, qty = op
        return factory.make("CHN", "pen", pen_fields(pen_id, lot, EXPORTER, IMPORTER, "MEX", qty,
                                                     (), dispatch=t),
                            t, event_id=event_id, nonce=nonce)
    if kind == "reply":
        _, pen_id, decision, signer = op
        return factory.make(signer, "pen_reply", {"pen": pen_id, "decision": decision,
                                                  "reasons": ""}, t,
                            event_id=event_id, nonce=nonce)
    if kind == "ship":
        _, shipment, lot, qty, pen_id, via, to = op
        return factory.make("CHN", "ship", {
            "shipment": shipment, "lot": lot, "quantity_g": qty, "exporter": EXPORTER,
            "importer": IMPORTER if to == "MEX" else "gt-buyer", "to_nation": to, "via": via,
            "pen": pen_id, "hs_code": "", "declared_chemical": ""},
            t, event_id=event_id, nonce=nonce)
    if kind == "transit":
        _, shipment, nation = op
        return factory.make(nation, "transit", {"shipment": shipment, "nation": nation}, t,
                            event_id=event_id, nonce=nonce)
    if kind == "receive":
        _, shipment, qty, new_lot = op
        return factory.make("MEX", "receive", {"shipment": shipment, "quantity_g": qty,
                                               "importer": IMPORTER, "new_lot": new_lot},
                            t, event_id=event_id, nonce=nonce)
    if kind == "destroy":
        _, lot, qty, signer = op
        return factory.make(signer, "destroy", {"lot": lot, "quantity_g": qty,
                                                "reason": "seized"},
                            t, event_id=event_id, nonce=nonce)
    _, lot, input_g, output_g = op
    return factory.make("MEX", "transform", {"lot": lot, "input_g": input_g,
                                             "product_lot": "LOT-P", "product_chemical": PRODUCT,
                                             "output_g": output_g, "operator": IMPORTER},
                        t, event_id=event_id, nonce=nonce)


def twin_chaincodes() -> tuple[Chaincode, Chaincode, list[Transaction]]:
    """Two nodes' chaincodes, and the setup both apply: the standard exporter and importer, two
    lots and a PEN for the first, answered, so that a fair share of the script is valid."""
    led = Ledger(rules={"MEX": NationRules(reply_window_ticks=500)},
                 transit_deadline_ticks=3_000)
    f = led.factory
    setup = [
        f.make("CHN", "register_operator", {
            "operator": EXPORTER, "nation": "CHN", "public_key": operator(EXPORTER).public_key,
            "licences": tuple(licences(CHEM, "manufacture", "export"))}, 0),
        f.make("MEX", "register_operator", {
            "operator": IMPORTER, "nation": "MEX", "public_key": operator(IMPORTER).public_key,
            "licences": tuple(licences(CHEM, "import", "manufacture")
                              + licences(PRODUCT, "manufacture"))}, 0),
        script_tx(f, ("commission", "LOT-1", 200_000, "CHN"), 0, 0, "S-1"),
        script_tx(f, ("commission", "LOT-2", 50_000, "CHN"), 0, 0, "S-2"),
        script_tx(f, ("pen", "PEN-1", "LOT-1", 200_000), 0, 0, "S-3"),
        script_tx(f, ("reply", "PEN-1", "no_objection", "MEX"), 0, 0, "S-4"),
    ]
    a = Chaincode(CHAIN, REGISTRY, led.config, NATION_KEYS, VERIFIER)
    b = Chaincode(CHAIN, REGISTRY, led.config, NATION_KEYS, VERIFIER)
    return a, b, setup


@PROPS
@given(ops=st.lists(st.tuples(script_op, st.sampled_from((0, 0, 0, 0, 0, -3, -2_500, 1)),
                              st.integers(0, 60)), min_size=10, max_size=40),
       data=st.data())
def test_property_same_transactions_same_root(ops, data):
    a, b, setup = twin_chaincodes()
    factory = TxFactory()
    now = 10
    for cc in (a, b):
        cc.begin_block(now)
        for tx in setup:
            assert cc.apply_tx(tx, now).accepted
    assert a.state.root == b.state.root
    events_at = [i for i, (op, _, _) in enumerate(ops) if op[0] != "tick"]
    diverge_at = data.draw(st.sampled_from(events_at), label="diverge_at") if events_at else -1
    diverged = False
    for i, (op, skew, eid) in enumerate(ops):
        if op[0] == "tick":
            now += op[1]
            assert a.begin_block(now) == b.begin_block(now)
        else:
            # event ids from a small pool, so duplicates happen
            tx = script_tx(factory, op, now, skew, f"E{eid}")
            ra = a.apply_tx(tx, now)
            if i == diverge_at:
                other = data.draw(event_op, label="other")
                # a distinct nonce: a different transaction even when the event is the same
                rb = b.apply_tx(script_tx(factory, other, now, 0, f"X{eid}", nonce=2**40 + i),
                                now)
                diverged = True
            else:
                rb = b.apply_tx(tx, now)
                if not diverged:
                    assert ra == rb
        if diverged:
            assert a.state.root != b.state.root, f"roots equal again after op {i}"
        else:
            assert a.state.root == b.state.root
            assert (a.state.applied, a.state.rejected) == (b.state.applied, b.state.rejected)
            assert a.state.flags == b.state.flags


# ---------------------------------------------------------------------------------- registry-driven control


def test_event_date_counts_whole_days_from_the_epoch():
    config = DomainConfig(frozenset())
    assert (config.epoch_date, config.ticks_per_day) == ("2025-01-01", 100)
    assert event_date(0, config) == event_date(99, config) == "2025-01-01"
    assert event_date(100, config) == "2025-01-02"
    assert event_date(365 * 100, config) == "2026-01-01"
    assert event_date(10**15, config) == "9999-12-31"  # the calendar's end, not an error
    assert event_date(250, DomainConfig(frozenset(), epoch_date="2024-11-30",
                                        ticks_per_day=50)) == "2024-12-05"


def test_control_functions_follow_the_registry_dates():
    assert scheduled(REGISTRY, "npp", "2017-10-18") and not scheduled(REGISTRY, "npp",
                                                                       "2017-10-17")
    assert not scheduled(REGISTRY, "aniline", "2099-01-01")
    assert not scheduled(REGISTRY, UNREGISTERED, "2099-01-01")
    assert pen_tier(REGISTRY, "npp", "CHN", "MEX", "2025-01-01") == "full"
    assert pen_tier(REGISTRY, "aniline", "CHN", "MEX", "2025-01-01") == "light"  # dual use
    assert pen_tier(REGISTRY, UNREGISTERED, "CHN", "MEX", "2025-01-01") == "none"
    # not scheduled: full once the importing nation controls it (USA, from the registry's date)
    usa = REGISTRY.chemicals["propionyl-chloride"].national["USA"].effective
    day_before = (datetime.date.fromisoformat(usa) - datetime.timedelta(days=1)).isoformat()
    assert pen_tier(REGISTRY, "propionyl-chloride", "CHN", "USA", day_before) == "light"
    assert pen_tier(REGISTRY, "propionyl-chloride", "CHN", "USA", usa) == "full"
    # watched in CHN, scheduled from 2024-12-03
    assert pen_tier(REGISTRY, "4-piperidone", "CHN", "GTM", "2024-12-02") == "light"
    assert pen_tier(REGISTRY, "4-piperidone", "CHN", "GTM", "2024-12-03") == "full"
    assert not licence_needed(REGISTRY, "aniline", "USA", "2099-01-01")
    assert licence_needed(REGISTRY, "propionyl-chloride", "MEX", "2025-01-01")
    assert not licence_needed(REGISTRY, "propionyl-chloride", "CHN", "2025-01-01")


def test_aniline_ships_with_no_pen_and_no_licence():
    """Uncontrolled and unscheduled: no licence anywhere, no PEN, and no flag."""
    led = Ledger()
    accepted(register(led, "cn-bare", "CHN", []))
    accepted(register(led, "mx-bare", "MEX", []))
    accepted(commission(led, lot="LOT-A", chemical="aniline", op="cn-bare"))
    r = accepted(ship(led, "SHP-A", lot="LOT-A", qty=40_000, exporter="cn-bare",
                      importer="mx-bare"))
    assert r.flags == ()
    accepted(receive(led, "SHP-A", 40_000, "LOT-MX-A", importer="mx-bare"))
    assert led.state.flags == [] and led.state.pens == {}


def test_a_chemical_scheduled_later_needs_pen_and_licence_only_from_that_date():
    """4-piperidone: watched in CHN, Table I and controlled in MEX from 2024-12-03. With the
    epoch on 2024-11-30, that is tick 300; the EVENT's date counts, not the block's."""
    led = Ledger(start=100, epoch_date="2024-11-30")
    chem = "4-piperidone"
    accepted(register(led, "cn-pip", "CHN", licences(chem, "manufacture", "export")))
    accepted(register(led, "mx-pip", "MEX", licences(chem, "import")))
    accepted(register(led, "cn-bare", "CHN", []))
    accepted(register(led, "mx-bare", "MEX", []))
    accepted(commission(led, lot="LOT-B", chemical=chem, op="cn-bare"))  # 2024-12-01
    accepted(commission(led, lot="LOT-P", chemical=chem, op="cn-pip"))
    accepted(ship(led, "SHP-0", lot="LOT-B", qty=10_000, exporter="cn-bare",
                  importer="mx-bare"))  # no licence, no PEN: not yet controlled
    accepted(pen(led, "PEN-L", lot="LOT-P", qty=10_000, exporter="cn-pip", importer="mx-pip",
                 tier="light"))
    led.advance(250)  # block at 350 (2024-12-03)
    accepted(ship(led, "SHP-1", lot="LOT-P", qty=10_000, exporter="cn-pip", importer="mx-pip",
                  t=299))  # filed late, dated 2024-12-02: no PEN needed
    rejected(ship(led, "SHP-2", lot="LOT-P", qty=10_000, exporter="cn-pip",
                  importer="mx-pip"), "pen_required")
    rejected(commission(led, lot="LOT-B2", chemical=chem, op="cn-bare"), "unlicensed")
    accepted(commission(led, lot="LOT-B3", chemical=chem, op="cn-bare", t=299))
    rejected(ship(led, "SHP-3", lot="LOT-B", qty=1_000, exporter="cn-bare", importer="mx-bare"),
             "unlicensed")
    rejected(pen(led, "PEN-L2", lot="LOT-P", qty=10_000, exporter="cn-pip", importer="mx-pip",
                 tier="light"), "pen_tier_too_low")
    accepted(pen(led, "PEN-F", lot="LOT-P", qty=10_000, exporter="cn-pip", importer="mx-pip"))
    accepted(pen_reply(led, "PEN-F"))
    accepted(ship(led, "SHP-2", lot="LOT-P", qty=10_000, exporter="cn-pip", importer="mx-pip",
                  pen="PEN-F"))


def test_a_light_pen_awaits_no_reply_and_a_full_one_for_a_light_chemical_does():
    led = Ledger(rules={"MEX": NationRules(reply_window_ticks=100)})
    accepted(register(led, "cn-any", "CHN", licences("*", "manufacture", "export")))
    accepted(register(led, "mx-any", "MEX", licences("*", "import")))
    accepted(commission(led, lot="LOT-A", chemical="aniline", op="cn-any"))
    accepted(pen(led, "PEN-L", lot="LOT-A", qty=10_000, exporter="cn-any", importer="mx-any",
                 tier="light"))
    accepted(ship(led, "SHP-L", lot="LOT-A", qty=10_000, exporter="cn-any", importer="mx-any",
                  pen="PEN-L"))
    accepted(pen(led, "PEN-F", lot="LOT-A", qty=10_000, exporter="cn-any", importer="mx-any"))
    rejected(ship(led, "SHP-F", lot="LOT-A", qty=10_000, exporter="cn-any", importer="mx-any",
                  pen="PEN-F"), "pen_pending")  # over-notified: a full PEN awaits its reply


def test_licences_are_scoped_by_chemical_and_date_and_name_known_chemicals():
    led = Ledger(start=400)
    accepted(register(led, "cn-4ap", "CHN", licences("4-ap", "manufacture")))
    rejected(commission(led, op="cn-4ap"), "unlicensed")  # NPP under a 4-AP licence
    accepted(register(led, "cn-dated", "CHN", licences(CHEM, "manufacture", start=300,
                                                       until=500)))
    accepted(commission(led, op="cn-dated"))
    rejected(commission(led, lot="LOT-2", op="cn-dated", t=299), "unlicensed")
    rejected(register(led, "cn-odd", "CHN", licences("unobtainium", "manufacture")),
             "unknown_chemical")
    rejected(register(led, "cn-odd", "CHN", licences(CHEM, "export")
                      + licences("npp-typo", "export")), "unknown_chemical")
    accepted(register(led, "mx-pharma", "MEX", licences("fentanyl", "manufacture",
                                                        quota=5_000_000)))
    assert led.state.operators["mx-pharma"].licences[0][4] == 5_000_000


# ---------------------------------------------------------------------------------- authorities


def authority_ledger(quota=0, **config) -> Ledger:
    """Exporter, LOT-1 (100 kg NPP), importer licensed to import NPP with a stated need."""
    led = Ledger(**config)
    accepted(register_exporter(led))
    accepted(register(led, IMPORTER, "MEX", licences(CHEM, "import", quota=quota)))
    accepted(commission(led))
    return led


def decision(led, pen_id):
    return decide(led.state, REGISTRY, led.config, led.state.pens[pen_id])


def test_decide_objects_on_each_ground_alone():
    led = authority_ledger(quota=50_000)
    accepted(register(led, "mx-nolicence", "MEX", licences(CHEM, "manufacture")))
    accepted(register(led, "us-importer", "USA", licences(CHEM, "import")))
    accepted(pen(led, "PEN-OK", qty=40_000))
    assert decision(led, "PEN-OK") == ("no_objection", ())
    accepted(pen(led, "PEN-C", qty=1, consignee="mx-ghost"))
    assert decision(led, "PEN-C") == ("objection", ("unknown_consignee",))
    accepted(pen(led, "PEN-C2", qty=1, consignee="us-importer"))  # registered, but elsewhere
    assert decision(led, "PEN-C2") == ("objection", ("unknown_consignee",))
    accepted(pen(led, "PEN-U", qty=1, importer="mx-nolicence"))
    assert decision(led, "PEN-U") == ("objection", ("unlicensed_importer",))
    accepted(pen(led, "PEN-U2", qty=1, dispatch=FOREVER + 1))  # after the licence ends
    assert decision(led, "PEN-U2") == ("objection", ("unlicensed_importer",))
    accepted(pen(led, "PEN-E", qty=1, end_use=""))
    assert decision(led, "PEN-E") == ("objection", ("missing_end_use",))
    # 40 kg + 3 x 1 g so far (PEN-U2's period is none, PEN-U's importer another): 40_003 g
    accepted(pen(led, "PEN-N", qty=10_000))
    assert decision(led, "PEN-N") == ("objection", ("above_need",))
    assert led.state.pens["PEN-N"].need_total_g == 50_003
    assert decision(led, "PEN-OK") == ("no_objection", ())  # a later PEN changes no decision


def test_decide_need_margin_and_no_stated_need():
    led = authority_ledger(quota=50_000, authority={"MEX": AuthorityRules(need_margin_pct=25)})
    accepted(pen(led, "PEN-1", qty=60_000))
    assert decision(led, "PEN-1") == ("no_objection", ())
    accepted(pen(led, "PEN-2", qty=2_500))
    assert decision(led, "PEN-2") == ("no_objection", ())  # exactly 125%
    accepted(pen(led, "PEN-3", qty=1))
    assert decision(led, "PEN-3") == ("objection", ("above_need",))
    led = authority_ledger(quota=0)
    accepted(pen(led, "PEN-1", qty=100_000))
    assert decision(led, "PEN-1") == ("no_objection", ())  # no stated need: no such ground


@settings(max_examples=24, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(present=st.tuples(*[st.booleans()] * 4), enabled=st.tuples(*[st.booleans()] * 4))
def test_property_decide_objects_exactly_on_present_enabled_grounds(present, enabled):
    unknown, unlicensed, no_end_use, above = present
    rules = AuthorityRules(*enabled)
    led = authority_ledger(quota=10_000, authority={"MEX": rules})
    importer = IMPORTER
    if unlicensed:
        importer = "mx-nolicence"
        accepted(register(led, importer, "MEX", licences(CHEM, "manufacture")))
    accepted(pen(led, "PEN-1", qty=10_001 if above else 10_000, importer=importer,
                 consignee="mx-ghost" if unknown else importer,
                 end_use="" if no_end_use else "resins"))
    expected = tuple(reason for reason, p, e in zip(REASONS, present, enabled) if p and e)
    # an unlicensed importer has no licence, hence no stated need to exceed
    expected = tuple(r for r in expected if not (r == "above_need" and unlicensed))
    assert decision(led, "PEN-1") == (("objection", expected) if expected
                                      else ("no_objection", ()))


def test_objection_then_shipment_is_blocked_and_flagged():
    led = authority_ledger()
    accepted(pen(led, "PEN-1", end_use=""))
    verdict, reasons = decision(led, "PEN-1")
    r = accepted(pen_reply(led, "PEN-1", verdict, reasons=",".join(reasons)))
    assert r.flags == () and led.state.pens["PEN-1"].reply_reasons == "missing_end_use"
    r = rejected(ship(led, pen="PEN-1"), "pen_objection")
    assert flag_kinds(r) == ["objection_ignored"]


def test_a_consent_that_contradicts_the_rules_is_accepted_and_flagged():
    led = authority_ledger()
    accepted(pen(led, "PEN-1", qty=40_000, consignee="mx-front-company"))
    r = accepted(pen_reply(led, "PEN-1", "no_objection"))
    assert flag_kinds(r) == ["reply_contradicts_rules"] and r.flags[0].subject == "LOT-1"
    assert "unknown_consignee" in r.flags[0].detail
    accepted(ship(led, pen="PEN-1"))  # the chaincode does not overrule the authority
    accepted(pen(led, "PEN-2", qty=40_000))
    assert accepted(pen_reply(led, "PEN-2", "no_objection")).flags == ()  # honest consent
    accepted(pen(led, "PEN-3", qty=1))
    assert accepted(pen_reply(led, "PEN-3", "objection")).flags == ()  # stricter is allowed


def test_pen_need_is_copied_on_write():
    led = authority_ledger(quota=50_000)
    accepted(pen(led, "PEN-1", qty=30_000))
    parent = led.state
    before = dict(parent.pen_need_g)
    led.cc.state = parent.fork()
    accepted(pen(led, "PEN-2", qty=30_000))
    assert parent.pen_need_g == before and "PEN-2" not in parent.pens
    assert sum(led.state.pen_need_g.values()) == 60_000
    assert decision(led, "PEN-2") == ("objection", ("above_need",))
    led.cc.state = parent  # the parent still decides as before
    assert decision(led, "PEN-1") == ("no_objection", ())


# ---------------------------------------------------------------------------------- checkpoints, reports, inspections


def test_missing_checkpoint_for_a_member_transit_that_did_not_check_in():
    led = trading()
    accepted(export(led, via=("USA",)))
    r = accepted(receive(led))
    assert flag_kinds(r) == ["missing_checkpoint"] and r.flags[0].subject == "SHP-1"
    assert "USA" in r.flags[0].detail


def test_no_missing_checkpoint_when_checked_in_or_outside_the_consortium():
    led = trading()
    accepted(export(led, via=("USA",)))
    accepted(transit(led, "SHP-1", "USA"))
    assert accepted(receive(led)).flags == ()
    led = trading()
    assert flag_kinds(accepted(export(led, via=("GTM",)))) == ["dark_hop"]
    assert accepted(receive(led)).flags == ()


def suspicious(led, subject, signer="USA", report="SOR-1", **kw):
    return led.submit(signer, "suspicious_order", {"report": report, "subject": subject,
                                                   "reason": "order far above need"}, **kw)


def test_suspicious_order_flags_its_subject():
    led = trading()
    accepted(pen(led, "PEN-1"))
    for subject in ("LOT-1", "PEN-1", IMPORTER):
        r = accepted(suspicious(led, subject))
        assert flag_kinds(r) == ["suspicious_order"] and r.flags[0].subject == subject
    accepted(pen_reply(led, "PEN-1"))
    accepted(ship(led, pen="PEN-1"))
    assert accepted(suspicious(led, "SHP-1", signer="MEX")).flags[0].subject == "SHP-1"
    rejected(suspicious(led, "NOPE"), "unknown_subject")
    rejected(suspicious(led, "LOT-1", signer="GTM"), "wrong_authority")


def inspect(led, inspection, shipment, nation="MEX", found=CHEM, found_g=40_000, seized_g=0,
            signer=None, declared="", **kw):
    return led.submit(signer or nation, "inspect", {
        "inspection": inspection, "shipment": shipment, "nation": nation,
        "declared_chemical": declared, "hs_code": "2933.37", "found_chemical": found,
        "found_g": found_g, "seized_g": seized_g}, **kw)


def test_inspection_flags_and_clean_record():
    led = trading()
    accepted(export(led))
    r = accepted(inspect(led, "INS-1", "SHP-1"))
    assert r.flags == () and r.event_id in led.state.lot_history["SHP-1"]  # clean, recorded
    r = accepted(inspect(led, "INS-2", "SHP-1", found="4-ap"))
    assert flag_kinds(r) == ["mislabelled"] and r.flags[0].subject == "SHP-1"
    r = accepted(inspect(led, "INS-3", "SHP-1", found_g=30_000, seized_g=30_000))
    assert flag_kinds(r) == ["quantity_mismatch"] and r.flags[0].subject == "SHP-1"
    assert led.state.shipments["SHP-1"].seized_g == 30_000
    assert led.state.lots["LOT-1"].quantity_g == 60_000  # seizure changes no lot
    r = accepted(inspect(led, "INS-4", "-", found="1-boc-4-piperidone", declared="antacid",
                         seized_g=40_000))
    assert flag_kinds(r) == ["unrecorded_cargo"] and r.flags[0].subject == "INS-4"
    assert accepted(inspect(led, "INS-5", "-", found="calcium carbonate")).flags == ()
    rejected(inspect(led, "INS-6", "NOPE"), "unknown_shipment")
    rejected(inspect(led, "INS-1", "SHP-1"), "duplicate_inspection")
    rejected(inspect(led, "INS-7", "SHP-1", found_g=1, seized_g=2), "insufficient_quantity")
    accepted(receive(led))  # received as recorded: the inspections are beside the records


def test_inspection_wrong_authority():
    led = trading()
    accepted(export(led))
    rejected(inspect(led, "INS-1", "SHP-1", nation="MEX", signer="USA"), "wrong_authority")
    rejected(inspect(led, "INS-1", "SHP-1", nation="GTM"), "wrong_authority")  # not a member


# ---------------------------------------------------------------------------------- per-step yields


def test_per_step_yield_and_unknown_transformation():
    led = Ledger()
    accepted(register(led, "cn-any", "CHN", licences("*", "manufacture", "export")))
    accepted(commission(led, lot="LOT-PIP", chemical="4-piperidone", op="cn-any"))
    within = transform(led, "LOT-PIP", 10_000, "LOT-NPP-1", 20_000, product="npp", op="cn-any",
                       signer="CHN")
    assert accepted(within).flags == ()
    r = accepted(transform(led, "LOT-PIP", 10_000, "LOT-NPP-2", 30_000, product="npp",
                           op="cn-any", signer="CHN"))  # 3.0 kg/kg: the whole-route yield
    assert flag_kinds(r) == ["yield_exceeded"] and "2.051" in r.flags[0].detail
    rejected(transform(led, "LOT-NPP-1", 1_000, "LOT-X", 1, product="4-ap", op="cn-any",
                       signer="CHN"), "unknown_transformation")
    # into an end product with no listed step: the chemical's overall yield_max
    assert accepted(transform(led, "LOT-NPP-1", 1_000, "LOT-F", 1_655, product="fentanyl",
                              op="cn-any", signer="CHN")).flags == ()
    r = accepted(transform(led, "LOT-NPP-1", 1_000, "LOT-F2", 1_656, product="fentanyl",
                           op="cn-any", signer="CHN"))
    assert flag_kinds(r) == ["yield_exceeded"]


def test_pen_tier_and_licence_shape_are_checked_at_decode():
    led = trading()
    r = rejected(pen(led, "PEN-1", tier="none"), "malformed")
    assert r.event_id == "" and "PEN-1" not in led.state.pens
    fields = {"operator": "cn-old", "nation": "CHN", "public_key": operator("cn-old").public_key,
              "licences": ((CHEM, "export", 0, FOREVER),)}  # the old 4-tuple
    rejected(led.submit("CHN", "register_operator", fields), "malformed")
