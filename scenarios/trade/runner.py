"""The precursor trade as a workload of the simulation kernel (`scenarios.sim.workload`).

`TradeWorkload` plans the scenario's trade (`plan_trade`), registers every member's operators
at tick 1, then files each shipment's custody events one after the other with the nation whose
authority records them, each once the one before is committed. It files an event again when
it is not committed `TRADE_RESUBMIT_TICKS` later (a crash loses a mempool), and waits
`TRADE_RETRY_TICKS` when the filing nation is down or the operators are not registered yet.

It gives every node its application (the chemical `Chaincode`, with the scenario's custody
rules), feeds each canonical block to the domain oracle (`DomainOracle`), writes the ledger
export (`ledger.jsonl`: one row per custody event and per begin-block flag), and adds the
`domain` section to the run's summary.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from nodes import Transaction
from nodes.app.authority import AuthorityRules, decide
from nodes.app.chaincode import Chaincode, DomainConfig, NationRules
from nodes.app.control import event_date, licence_needed, pen_tier
from nodes.app.events import EventError, decode_event, encode_event, event_body, field_values
from nodes.app.privacy import LANE_ACTS, rules_checkable_share
from nodes.app.registry import Lane, load_lanes, load_nations, load_registry

from scenarios.sim.workload import Kernel, Workload
from scenarios.spec.loader import DEFAULT_LANES_PATH, Scenario
from scenarios.spec.schema import OBJECTION_GROUNDS
from scenarios.trade.oracle import DomainOracle
from scenarios.trade.privacy import PrivateLanes, chain_bytes
from scenarios.trade.routes import dark_nations, route_graph
from scenarios.trade.calibration import load_economy
from scenarios.trade.workload import (STEP_DELAY_DAYS, Corruption, Inspection,
                                      Rules, Step, plan_trade)

TRADE_RETRY_TICKS = 100  # the filing nation is down, or operators are not registered yet
TRADE_RESUBMIT_TICKS = 3000  # a filed event not committed by then is filed again
DEFAULT_LANES = DEFAULT_LANES_PATH


class TradeWorkload(Workload):
    def __init__(self, scenario: Scenario, ledger_path: Path | None = None) -> None:
        """`ledger_path`: where to write the ledger export (None: nowhere)."""
        self.scenario = scenario
        self.ledger_path = ledger_path
        self._ledger_file = None

    def attach(self, world: Kernel) -> None:
        """Registry, lanes, custody rules, the trade plan and its oracle."""
        self.world = world
        scenario = self.scenario
        records_opted_out = {n for b in scenario.behaviours if b.kind == "opt_out"
                             for n in b.nations}
        self.record_keepers = tuple(n for n in world.nations if n not in records_opted_out)
        self.iso_nations, self.registry, default_lanes = _reference_data()
        economy = load_economy()
        if scenario.lanes:
            self.lanes = [Lane(lane["from"], lane["to"], tuple(lane["via"]), lane["share"],
                               tuple(lane["chemicals"]), "scenario") for lane in scenario.lanes]
        else:
            self.lanes = list(default_lanes)
        rules = scenario.nation_rules or {}
        d = scenario.domain or {}
        self.domain_config = DomainConfig(
            frozenset(self.record_keepers),
            {n: NationRules(r["requires_pen"], r["pen_silence"], r["pen_reply_window_ticks"])
             for n, r in rules.items()},
            transit_deadline_ticks=d.get("transit_deadline_ticks", 6000),
            discrepancy_tolerance_pct=d.get("discrepancy_tolerance_pct", 1.0),
            late_report_ticks=d.get("late_report_ticks", 2000),
            epoch_date=scenario.trade_epoch, ticks_per_day=scenario.ticks_per_trade_day,
            authority={n: authority_rules(r.get("objects_to", OBJECTION_GROUNDS))
                       for n, r in rules.items()})
        source_shares = ({s["nation"]: s["share"] for s in scenario.sources}
                         or dict(economy.source_shares))
        w = scenario.workload
        insp = scenario.inspection or {}
        inspection = Inspection(
            {n: (rules.get(n, {}).get("inspection_budget") if rules.get(n, {}).get(
                "inspection_budget") is not None else insp.get("budget", 0.0))
             for n in self.record_keepers},
            insp.get("detection_probability", 0.9), insp.get("measurement_error_pct", 0.3),
            self.domain_config.discrepancy_tolerance_pct)
        plan = plan_trade(world.stream("trade"), self.registry, self.lanes,
                          self.record_keepers, tuple(sorted(self.iso_nations)),
                          w.get("shipments", 0), w.get("diversions", {}),
                          w.get("trade_start_tick", 500),
                          w.get("trade_until_tick") or scenario.ticks_max * 6 // 10,
                          participants=scenario.nation_ids,
                          corruption=self._corruption(scenario),
                          rules=registry_rules(self.registry, self.domain_config),
                          chemicals=economy.chemicals,
                          source_shares=source_shares, illicit=w.get("illicit", {}),
                          inspection=inspection, ticks_per_day=scenario.ticks_per_trade_day,
                          inspect_rng=world.stream("inspection"))
        self.plans = plan.shipments
        custom_rng = world.stream("custom")
        for behaviour in scenario.custom:
            for shipment in self.plans:
                behaviour.adjust_shipment(shipment, self.record_keepers, custom_rng)
        self.domain = DomainOracle(self.plans, self.record_keepers, scenario.ticks_per_trade_day,
                                   scenario.trade_epoch)
        self.source_shares = plan.source_shares  # over the sources that trade here
        self.routes = route_graph(self.lanes, frozenset(self.record_keepers), self.source_shares)
        self.operator_specs = {op: spec for op, spec in plan.operators.items()
                               if spec.nation in self.record_keepers}
        self.operators = {op: world.signatures.derive(op, scenario.seed, purpose="operator")
                          for op in self.operator_specs}
        self.trade_txs: dict[bytes, tuple[int, int]] = {}
        self.registrations: dict[bytes, str] = {}
        self.registered = False
        self.trade_nonce = 0
        # The authorities' view of the chain: the state every honest node holds, applied once
        # per height in order, for the importing authorities' decisions on PENs.
        self.view = self.plaintext_chaincode()
        self.view_height = 0
        # [privacy]: None is plaintext without the table (nothing below runs); a private mode
        # seals each event for the chain and sends its record to its lane (docs/privacy.md).
        self.privacy = scenario.privacy
        self.private = None
        self.chain_bytes = self.chain_events = self.encode_ns = self.encoded = 0
        if self.privacy is not None and self.privacy["mode"] != "plaintext":
            grantors = self.privacy.get("grantors")
            self.private = PrivateLanes(world, self.privacy["mode"],
                                        tuple(self.privacy["oversight"]),
                                        self.privacy["tolerance_g"], self.view,
                                        self.privacy["oversight_access"],
                                        None if grantors is None else tuple(grantors))
            self.private.file = self._file_lane_act
        self.lane_acts: dict[bytes, str] = {}  # a lane's signed acts not yet committed
        self.view_pending: dict[int, object] = {}
        self.objections = {"licit": 0, "illicit": 0}
        if self.ledger_path is not None:
            self._ledger_file = self.ledger_path.open("w")

    @staticmethod
    def _corruption(scenario: Scenario) -> Corruption:
        bs = scenario.behaviours
        return Corruption(
            withhold=frozenset(n for b in bs if b.kind == "withhold_objection" for n in b.nations),
            reply_window_ticks={n: r["pen_reply_window_ticks"]
                                for n, r in (scenario.nation_rules or {}).items()},
            silence_blocks={n: r["pen_silence"] == "block"
                            for n, r in (scenario.nation_rules or {}).items()},
            false_report={n: (b.params["rate"], b.params["under_report_pct"])
                          for b in bs if b.kind == "false_report" for n in b.nations},
            collude=tuple((frozenset(b.nations), b.params["rate"], b.params["under_report_pct"])
                          for b in bs if b.kind == "collude"))

    def new_chaincode(self):
        """The application of every node: the precursor chaincode, or in a private mode the
        shared chain's checks on sealed envelopes (nodes/app/privacy.py)."""
        if self.private is not None:
            return self.private.chaincode(self.world.genesis.chain_id)
        return self.plaintext_chaincode()

    def plaintext_chaincode(self) -> Chaincode:
        world = self.world
        keys = {n.code: n.public_key for n in world.genesis.nations}
        return Chaincode(world.genesis.chain_id, self.registry, self.domain_config, keys,
                         world.verifier)

    # ------------------------------------------------------------------ filing

    def begin(self) -> None:
        """Each member registers its operators at tick 1, with the licences (per chemical,
        dated, with a stated need) that its planned trade calls for."""
        if not self.plans:
            return
        for op, spec in self.operator_specs.items():
            fields = dict(operator=op, nation=spec.nation,
                          public_key=self.operators[op].public_key, licences=spec.licences)
            tx = self._event_tx(spec.nation, "register_operator", f"register-{op}", fields, op, 0,
                                (spec.nation,))
            self.registrations[tx.tx_id] = spec.nation
            self.world.schedule(1, self._recheck, tx, spec.nation, -1, -1)

    def _event_tx(self, nation: str, kind: str, event_id: str, fields: dict,
                  cosigner: str | None, event_time: int, route: tuple[str, ...] = ()
                  ) -> Transaction:
        """The event signed by `nation`'s authority (and co-signed by the operator); in a
        private mode, sealed, its record sent to the nations of `route` and the oversight."""
        chain_id = self.world.genesis.chain_id
        cosigs = ()
        if cosigner is not None:
            body = event_body(chain_id, kind, event_id, event_time, field_values(kind, fields))
            cosigs = ((cosigner, self.operators[cosigner].sign(body)),)
        if self.private is not None:
            payload = self.private.seal(nation, kind, event_id, event_time, fields, cosigs,
                                        route)
        elif self.privacy is not None:  # plaintext, measured as the private modes are
            start = time.perf_counter_ns()
            payload = encode_event(kind, event_id, event_time, fields, cosigs)
            self.encode_ns += time.perf_counter_ns() - start
            self.encoded += 1
        else:
            payload = encode_event(kind, event_id, event_time, fields, cosigs)
        self.trade_nonce += 1
        return Transaction.create(chain_id, self.world.identities[nation], kind,
                                  self.trade_nonce, payload)

    def _trade_step(self, plan_index: int, step_index: int) -> None:
        world = self.world
        plan = self.plans[plan_index]
        step = plan.steps[step_index]
        if not self.registered or not world.is_up(step.nation):
            world.schedule(world.now + TRADE_RETRY_TICKS, self._trade_step, plan_index,
                           step_index)
            return
        if step.kind == "pen_reply" and step.fields["decision"] is None:
            self._decide(plan, step)
        tx = self._event_tx(step.nation, step.kind, step.event_id, step.fields, step.cosigner,
                            world.now, (plan.from_nation, *plan.declared_via, plan.to_nation))
        self.trade_txs[tx.tx_id] = (plan_index, step_index)
        world.trace.write({"t": world.now, "ev": "file", "node": step.nation, "kind": step.kind,
                           "event": step.event_id})
        world.submit(step.nation, tx)
        world.schedule(world.now + TRADE_RESUBMIT_TICKS, self._recheck, tx, step.nation,
                       plan_index, step_index)

    def _decide(self, plan, step) -> None:
        """The importing authority answers the PEN by its rules, on the chain as it stands.
        After an objection, a licit exporter stops; an illicit one ships anyway (the chain
        refuses it and flags objection_ignored). Either way the authority reports the
        suspicious order (1988 Convention art. 12(9)(b))."""
        pen = self.view.state.pens.get(step.fields["pen"])
        decision, reasons = ("no_objection", ()) if pen is None else decide(
            self.view.state, self.registry, self.domain_config, pen)
        step.fields.update(decision=decision, reasons=",".join(reasons))
        if decision != "objection":
            return
        self.objections[plan.economy] += 1
        index = plan.steps.index(step)
        report = Step(step.nation, "suspicious_order", f"{plan.id}-report", dict(
            report=f"{plan.id}-report", subject=step.fields["pen"], reason=",".join(reasons)),
            None)
        rest = plan.steps[index + 1:]
        ship = [s for s in rest if s.kind == "ship"][:1]
        # The chain refuses the shipment of a PEN objected to: an illicit exporter tries it
        # anyway (and is flagged); after that no record of the consignment can follow.
        plan.steps[index + 1:] = [report] + (ship if plan.economy == "illicit" else [])

    def _file_lane_act(self, nation: str, kind: str, payload: bytes) -> None:
        """A lane member's signed verdict or grant (PrivateLanes), as a transaction of its
        nation, filed again until it is committed."""
        world = self.world
        self.trade_nonce += 1
        tx = Transaction.create(world.genesis.chain_id, world.identities[nation], kind,
                                self.trade_nonce, payload)
        self.lane_acts[tx.tx_id] = nation
        world.trace.write({"t": world.now, "ev": "file", "node": nation, "kind": kind,
                           "event": tx.tx_id.hex()[:16]})
        world.submit(nation, tx)
        world.schedule(world.now + TRADE_RESUBMIT_TICKS, self._recheck, tx, nation, -1, -1)

    def _recheck(self, tx: Transaction, nation: str, plan_index: int, step_index: int) -> None:
        """File `tx` (again) if it is not committed yet: mempools are lost in crashes."""
        if (tx.tx_id not in self.trade_txs and tx.tx_id not in self.registrations
                and tx.tx_id not in self.lane_acts):
            return
        world = self.world
        world.submit(nation, tx)
        world.schedule(world.now + TRADE_RESUBMIT_TICKS, self._recheck, tx, nation, plan_index,
                       step_index)

    # ------------------------------------------------------------------ the chain's blocks

    def on_canonical(self, block, committed) -> None:
        """The first honest commit of a height: feed the oracle, export, advance the trade."""
        now, trace, ledger = self.world.now, self.world.trace, self._ledger_file
        flags, results = committed.flags, committed.results
        if self.private is not None:  # the lanes' verdicts, sorted by who can check them
            flags, results = self.private.verdicts(block, committed)
            self.view_height = block.height
        if self.privacy is not None:
            for tx, result in zip(block.txs, results):
                if result.kind != "payload":  # a lane's signed acts cost bytes, are no event
                    self.chain_bytes += chain_bytes(tx)
                    self.chain_events += result.kind not in LANE_ACTS
        self.domain.on_block(now, flags, results)
        for flag in flags:
            trace.write({"t": now, "ev": "flag", "h": block.height, "kind": flag.kind,
                         "subject": flag.subject, "event": flag.event_id})
            if ledger is not None:
                ledger.write(json.dumps({
                    "h": block.height, "t": block.time_ticks, "tx": None, "kind": "flag",
                    "event": "", "event_time": flag.time_ticks, "signer": None, "cosigners": [],
                    "fields": {"shipment": flag.subject}, "accepted": True, "reason": "",
                    "flags": [{"kind": flag.kind, "subject": flag.subject,
                               "detail": flag.detail}]}, sort_keys=True) + "\n")
        for tx, result in zip(block.txs, results):
            if result.kind != "payload":
                self._export(block, tx, result)
            if not result.accepted:
                trace.write({"t": now, "ev": "reject", "h": block.height,
                             "kind": result.kind, "event": result.event_id,
                             "reason": result.reason})
            for flag in result.flags:
                trace.write({"t": now, "ev": "flag", "h": block.height,
                             "kind": flag.kind, "subject": flag.subject,
                             "event": flag.event_id})
        self.on_chain(block)

    def on_chain(self, block) -> None:
        """The workload's next steps once `block` is the chain's: operators registered, and
        each committed custody event schedules its shipment's next one. Each transaction is
        followed up once, however often its block is seen."""
        world = self.world
        self._update_view(block)
        for tx in block.txs:
            self.lane_acts.pop(tx.tx_id, None)
            if self.registrations.pop(tx.tx_id, None) is not None and not self.registrations:
                self.registered = True
                for i, plan in enumerate(self.plans):
                    if plan.steps:
                        world.schedule(max(world.now, plan.start_tick), self._trade_step, i, 0)
            entry = self.trade_txs.pop(tx.tx_id, None)
            if entry is not None:
                plan_index, step_index = entry
                steps = self.plans[plan_index].steps
                if step_index + 1 < len(steps):
                    nxt = steps[step_index + 1]
                    delay = nxt.delay_ticks if nxt.delay_ticks is not None else \
                        round(STEP_DELAY_DAYS * self.scenario.ticks_per_trade_day)
                    world.schedule(world.now + delay, self._trade_step, plan_index,
                                   step_index + 1)

    def _update_view(self, block) -> None:
        """Apply the chain's blocks to the authorities' view, each once, in height order (in
        a private mode the lanes' verdicts apply them, PrivateLanes.verdicts)."""
        if block.height <= self.view_height or self.private is not None:
            return
        self.view_pending[block.height] = block
        view = self.view
        while self.view_height + 1 in self.view_pending:
            nxt = self.view_pending.pop(self.view_height + 1)
            view.begin_block(nxt.time_ticks)
            for tx in nxt.txs:
                view.apply_tx(tx, nxt.time_ticks)
            self.view_height += 1

    def _export(self, block, tx: Transaction, result) -> None:
        if self._ledger_file is None:
            return
        event_id = result.event_id
        if self.private is not None:  # the shared chain's view: public fields only
            (fields, when), cosigners = self.private.public_fields(tx), []
            if tx.kind in LANE_ACTS:  # a lane's act on an event, made when its block was
                event_id, when = fields.get("event", ""), block.time_ticks
        else:
            fields, cosigners, when = self._plain_fields(tx)
        self._ledger_file.write(json.dumps({
            "h": block.height, "t": block.time_ticks, "tx": tx.tx_id.hex(), "kind": tx.kind,
            "event": event_id, "event_time": when, "signer": tx.signer,
            "cosigners": cosigners, "fields": fields, "accepted": result.accepted,
            "reason": result.reason,
            "flags": [{"kind": f.kind, "subject": f.subject, "detail": f.detail}
                      for f in result.flags]}, sort_keys=True, default=list) + "\n")

    @staticmethod
    def _plain_fields(tx: Transaction) -> tuple[dict, list, int | None]:
        try:
            event = decode_event(tx.kind, tx.payload)
            fields = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in event.fields.items()}
            cosigners = [who for who, _ in event.cosigs]
            when = event.event_time_ticks
        except EventError:
            fields, cosigners, when = {}, [], None
        return fields, cosigners, when

    # ------------------------------------------------------------------ results

    def summary(self) -> dict:
        domain = self.domain.summary()
        domain["pen_objections"] = dict(self.objections)
        domain["route_nations_outside_consortium"] = [
            {"nation": n, "mass_share": share} for n, share in dark_nations(self.routes)]
        if self.privacy is not None:
            privacy = self.private.summary() if self.private is not None else {
                "mode": "plaintext", "rules_checkable_share": rules_checkable_share("plaintext"),
                "seal_us_per_event": round(self.encode_ns / 1000 / self.encoded, 1)
                if self.encoded else None}
            privacy["chain_bytes_per_event"] = round(self.chain_bytes / self.chain_events, 1) \
                if self.chain_events else None
            domain["privacy"] = privacy
        return {"domain": domain}

    def txs_submitted(self) -> int:
        return self.trade_nonce

    def close(self) -> None:
        if self.private is not None and self.ledger_path is not None:
            self.private.write_collections(self.ledger_path.with_name("collections.jsonl"))
        if self._ledger_file is not None:
            self._ledger_file.close()
            self._ledger_file = None


def authority_rules(grounds) -> AuthorityRules:
    """A nation's `objects_to` list as the chaincode's AuthorityRules."""
    return AuthorityRules(object_unknown_consignee="unknown_consignee" in grounds,
                          object_unlicensed="unlicensed_importer" in grounds,
                          object_missing_end_use="missing_end_use" in grounds,
                          object_above_need="above_need" in grounds)


def registry_rules(registry, config: DomainConfig) -> Rules:
    """The registry's rules on a tick's date, for the planner."""
    def date(tick: int) -> str:
        return event_date(tick, config)
    return Rules(
        pen_tier=lambda c, a, b, t: pen_tier(registry, c, a, b, date(t)),
        controlled_anywhere=lambda c, nations, t: registry.is_registered(c) and any(
            licence_needed(registry, c, n, date(t)) for n in nations))


@functools.lru_cache(maxsize=1)
def _reference_data():
    """The shipped nations, registry and lanes, parsed once per process (a fuzzer builds
    thousands of worlds). They are read-only after loading."""
    nations = load_nations()
    registry = load_registry(nations=nations)
    return nations, registry, tuple(load_lanes(DEFAULT_LANES, nations, registry))
