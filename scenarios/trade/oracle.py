"""The domain oracle: what the ledger caught of the trade, judged against what really happened.

It knows every planned consignment, which are licit, which are diversions of declared trade by
insiders and which are illicit attempts; the nodes do not. It reads each committed block once
(its begin-block flags and its transaction results) and then reports, masses in kg:

- `licit_shipments`, `licit_kg`, and `traced_complete_pct`: mass-weighted over licit trade only,
  the share whose custody chain is whole on the ledger (a commissioned lot, an accepted
  shipment, an accepted checkpoint in every transit nation it really crossed, so none outside
  the consortium, and an accepted receipt);
- `traced_kg_by_nation`, `dark_kg_by_nation`: for each nation on a licit route, the licit mass
  through it whose chain is whole, and the mass through it that goes dark somewhere;
- `diversions_injected`, `diversions_flagged` by kind, `detection_rate`: a diversion or an
  illicit attempt counts as detected when any flag or rejection names one of its lots,
  shipments, PENs or inspections, whatever its route. The exceptions state facts about a
  declared route that licit trade on it gets too, and betray nothing: a `dark_hop` flag, and
  an `overdue` flag on a consignment bound for a nation that keeps no records (nobody there
  files a receipt);
- `missed`: the undetected ones (kind, shipment, lot, kg), and `leaked_kg`, their mass;
- `illicit`: the attempts that never declared themselves, apart (count, kg, detected, seized,
  leaked); `illicit_kg_by_year` by kind and the chemical's status on the attempt's date
  (controlled, unscheduled, unregistered), and `substitutes_kg_by_year`, the pre-precursor
  attempts' chemicals by year (what traffickers switch to after each scheduling round);
- `inspections`: how many, how many found a difference, kg seized;
- `false_flags`: flags and rejections on licit trade, except `coverage_gap_flags`: the dark_hop
  and overdue flags that truly say a licit route crosses a nation keeping no records;
- `detection_delay_ticks_p50` (and in trade days), `flags_by_kind`, `rejections_by_reason`.
"""

from __future__ import annotations

import datetime
import math

from nodes.app.chaincode import FLAG_KINDS, Flag, TxResult

from scenarios.spec.schema import ILLICIT_KINDS
from scenarios.trade.workload import DIVERSION_KINDS, PlannedShipment

# Diversions injected by corrupt-official behaviours, beside the workload's own kinds.
CORRUPTION_KINDS = ("false_report", "collusion")
ALL_KINDS = DIVERSION_KINDS + CORRUPTION_KINDS + ILLICIT_KINDS
MISSED_LISTED_MAX = 50
# Flags that state a fact about a declared route, not about a consignment's misconduct.
ROUTE_FLAGS = ("dark_hop",)


class DomainOracle:
    def __init__(self, plans: list[PlannedShipment], members: tuple[str, ...],
                 ticks_per_day: int = 100, epoch: str = "2025-01-01") -> None:
        self.plans = plans
        self.epoch = datetime.date.fromisoformat(epoch)
        self.members = set(members)
        self.ticks_per_day = ticks_per_day
        self.by_subject: dict[str, PlannedShipment] = {}
        self.by_event: dict[str, PlannedShipment] = {}
        for p in plans:
            for s in p.subjects:
                self.by_subject[s] = p
            for step in p.steps:
                self.by_event[step.event_id] = p
        self.results: dict[str, TxResult] = {}
        self.first_commit_tick: dict[str, int] = {}
        self.detected_tick: dict[str, int] = {}
        self.false_flags = 0
        self.coverage_gap_flags = 0
        self.blocked_by_silence = 0
        self.false_flag_examples: list[dict] = []
        self.flags_by_kind = {k: 0 for k in FLAG_KINDS}
        self.rejections_by_reason: dict[str, int] = {}

    def on_block(self, tick: int, flags: tuple[Flag, ...], results: tuple[TxResult, ...]) -> None:
        for flag in flags:
            self._flag(flag, tick)
        for result in results:
            if not result.event_id:
                continue
            self.results.setdefault(result.event_id, result)
            plan = self.by_event.get(result.event_id)
            if plan is not None:
                self.first_commit_tick.setdefault(plan.id, tick)
            for flag in result.flags:
                self._flag(flag, tick, plan)
            if not result.accepted:
                self.rejections_by_reason[result.reason] = \
                    self.rejections_by_reason.get(result.reason, 0) + 1
                self._blame(plan, tick, {"rejected": result.event_id, "reason": result.reason})

    def _flag(self, flag: Flag, tick: int, plan: PlannedShipment | None = None) -> None:
        self.flags_by_kind[flag.kind] = self.flags_by_kind.get(flag.kind, 0) + 1
        plan = self.by_subject.get(flag.subject) or plan or self.by_event.get(flag.event_id)
        self._blame(plan, tick, {"flag": flag.kind, "subject": flag.subject})

    def _blame(self, plan: PlannedShipment | None, tick: int, what: dict) -> None:
        if plan is not None and self.is_coverage_gap(plan, what.get("flag")):
            # A true statement about a declared route through a nation that keeps no records: a
            # gap in coverage, neither a false alarm nor the detection of a diversion.
            self.coverage_gap_flags += 1
            return
        if plan is not None and plan.silent and what.get("reason") in (
                "pen_silence_block", "unknown_shipment"):
            self.blocked_by_silence += 1  # the importer's rule working as configured
            return
        if plan is not None and plan.diversion is not None:
            self.detected_tick.setdefault(plan.id, tick)
            return
        self.false_flags += 1
        if len(self.false_flag_examples) < 20:
            self.false_flag_examples.append({"tick": tick, "shipment": plan.id if plan else None,
                                             **what})

    def is_coverage_gap(self, plan: PlannedShipment, flag: str | None) -> bool:
        """A flag that states a fact about the consignment's declared route, which licit
        trade on that route gets too: a `dark_hop`, or an `overdue` where nobody at the
        destination keeps records (for licit trade, overdue on any dark route)."""
        return plan.dark and (flag in ROUTE_FLAGS or (flag == "overdue" and (
            plan.diversion is None or plan.to_nation not in self.members)))

    def _accepted(self, event_id: str) -> bool:
        r = self.results.get(event_id)
        return r is not None and r.accepted

    def _complete(self, p: PlannedShipment) -> bool:
        if p.diversion == "unregistered" or any(
                v not in self.members for v in (p.from_nation, *p.actual_via, p.to_nation)):
            return False
        needed = [f"{p.id}-commission", f"{p.id}-ship", f"{p.id}-receive"]
        needed += [s.event_id for s in p.steps if s.kind == "transit"]
        transits = {s.fields["nation"] for s in p.steps if s.kind == "transit"}
        return all(self._accepted(e) for e in needed) and set(p.actual_via) <= transits

    def summary(self) -> dict:
        licit = [p for p in self.plans if p.economy == "licit" and p.diversion is None]
        licit_g = sum(p.quantity_g for p in licit)
        complete = {p.id for p in licit if self._complete(p)}
        complete_g = sum(p.quantity_g for p in licit if p.id in complete)
        traced_by_nation: dict[str, int] = {}
        dark_by_nation: dict[str, int] = {}
        for p in licit:
            path = (p.from_nation, *p.actual_via, p.to_nation)
            whole = p.id in complete
            goes_dark = any(n not in self.members for n in path)
            for n in path:
                if whole:
                    traced_by_nation[n] = traced_by_nation.get(n, 0) + p.quantity_g
                if goes_dark:
                    dark_by_nation[n] = dark_by_nation.get(n, 0) + p.quantity_g
        kinds = list(ALL_KINDS) + sorted({p.diversion for p in self.plans
                                          if p.diversion and p.diversion not in ALL_KINDS})
        injected = {k: 0 for k in kinds}  # custom behaviours may name kinds of their own
        flagged = {k: 0 for k in kinds}
        delays = []
        leaked_g = 0
        missed = []
        illicit = {"attempts": 0, "kg": 0.0, "detected": 0, "seized_kg": 0.0, "leaked_kg": 0.0}
        by_year: dict[str, dict[str, float]] = {}
        leaked_by_kind: dict[str, int] = {}
        substitutes: dict[str, dict[str, float]] = {}  # pre_precursor kg by year and chemical
        for p in self.plans:
            if p.diversion is None:
                continue
            injected[p.diversion] += 1
            tick = self.detected_tick.get(p.id)
            if p.economy == "illicit":
                illicit["attempts"] += 1
                illicit["kg"] += p.quantity_g / 1000
                illicit["seized_kg"] += p.seized_g / 1000
                year = str((self.epoch + datetime.timedelta(
                    days=p.start_tick // self.ticks_per_day)).year)
                cell = by_year.setdefault(year, {})
                key = f"{p.diversion}:{p.status}"
                cell[key] = round(cell.get(key, 0.0) + p.quantity_g / 1000, 3)
                if p.diversion == "pre_precursor":
                    cell = substitutes.setdefault(year, {})
                    cell[p.chemical] = round(cell.get(p.chemical, 0.0) + p.quantity_g / 1000, 3)
            if tick is None:
                leaked_g += p.diverted_g
                leaked_by_kind[p.diversion] = leaked_by_kind.get(p.diversion, 0) + p.diverted_g
                if p.economy == "illicit":
                    illicit["leaked_kg"] += p.diverted_g / 1000
                missed.append({"kind": p.diversion, "shipment": p.id, "lot": f"{p.id}-L0",
                               "chemical": p.chemical, "kg": round(p.diverted_g / 1000, 3)})
                continue
            if p.economy == "illicit":
                illicit["detected"] += 1
            flagged[p.diversion] += 1
            delays.append(tick - self.first_commit_tick.get(p.id, tick))
        total = sum(injected.values())
        delays.sort()
        delay = delays[max(0, math.ceil(len(delays) / 2) - 1)] if delays else None
        inspections = [found for p in self.plans for _, found in p.inspections]
        missed.sort(key=lambda m: (-m["kg"], m["shipment"]))
        return {
            "shipments": len(self.plans),
            "shipped_kg": round(sum(p.quantity_g for p in self.plans) / 1000, 3),
            "licit_shipments": len(licit),
            "licit_kg": round(licit_g / 1000, 3),
            "traced_complete_pct": round(100 * complete_g / licit_g, 2) if licit_g else None,
            "traced_kg_by_nation": _kg(traced_by_nation),
            "dark_kg_by_nation": _kg(dark_by_nation),
            "diversions_injected": injected,
            "diversions_flagged": flagged,
            "detection_rate": round(sum(flagged.values()) / total, 4) if total else None,
            "detection_rate_by_kind": {k: round(flagged[k] / injected[k], 4)
                                       for k in kinds if injected[k]},
            "detection_delay_ticks_p50": delay,
            "detection_delay_days_p50": round(delay / self.ticks_per_day, 2)
            if delay is not None else None,
            "false_flags": self.false_flags,
            "coverage_gap_flags": self.coverage_gap_flags,
            "shipped_on_silence": sum(1 for p in self.plans if p.silent),
            "blocked_by_silence": self.blocked_by_silence,
            "dark_shipments": sum(1 for p in licit if p.dark),
            "dark_kg": round(sum(p.quantity_g for p in licit if p.dark) / 1000, 3),
            "false_flag_examples": self.false_flag_examples,
            "leaked_kg": round(leaked_g / 1000, 3),
            "leaked_kg_by_kind": _kg(leaked_by_kind),
            "missed_count": len(missed),
            "missed": missed[:MISSED_LISTED_MAX],
            "illicit": {k: round(v, 3) if isinstance(v, float) else v
                        for k, v in illicit.items()},
            "illicit_kg_by_year": {y: dict(sorted(c.items())) for y, c in sorted(by_year.items())},
            "substitutes_kg_by_year": {y: dict(sorted(c.items()))
                                       for y, c in sorted(substitutes.items())},
            "inspections": {"count": len(inspections),
                            "found_difference": sum(1 for f in inspections if f),
                            "seized_kg": round(sum(p.seized_g for p in self.plans) / 1000, 3)},
            "flags_by_kind": dict(self.flags_by_kind),
            "rejections_by_reason": dict(sorted(self.rejections_by_reason.items())),
        }


def _kg(grams: dict[str, int]) -> dict[str, float]:
    return {n: round(g / 1000, 3) for n, g in sorted(grams.items(), key=lambda kv: (-kv[1],
                                                                                    kv[0]))}
