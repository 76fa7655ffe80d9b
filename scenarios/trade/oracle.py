"""The domain oracle: what the ledger caught of the trade, judged against what really happened.

It knows every planned shipment and which ones are diversions; the nodes do not. It reads each
committed block once (its begin-block flags and its transaction results) and then reports:

- `shipments`, `shipped_kg`: all planned shipments and their mass;
- `traced_complete_pct`: mass-weighted, the share of shipped mass whose custody chain is whole on
  the ledger: a commissioned lot, an accepted shipment, an accepted checkpoint in every transit
  nation it really crossed (so none outside the consortium), and an accepted receipt;
- `diversions_injected`, `diversions_flagged` by kind, `detection_rate`: a diversion counts as
  flagged when a flag names one of its lots or its shipment, or one of its events is rejected;
- `detection_delay_ticks_p50`: from the commit of the diversion's first event to its first flag;
- `false_flags`: flags and rejections on legitimate trade, except `coverage_gap_flags`: the
  dark_hop and overdue flags that truly say a legitimate route crosses a nation keeping no
  records (an opted-out hub, say);
- `leaked_kg`: the mass that undetected diversions took out of honest custody;
- `flags_by_kind`, `rejections_by_reason`.
"""

from __future__ import annotations

import math

from nodes.app.chaincode import FLAG_KINDS, Flag, TxResult

from scenarios.trade.workload import DIVERSION_KINDS, PlannedShipment

# Diversions injected by corrupt-official behaviours, beside the workload's own kinds.
CORRUPTION_KINDS = ("false_report", "collusion")
ALL_KINDS = DIVERSION_KINDS + CORRUPTION_KINDS


class DomainOracle:
    def __init__(self, plans: list[PlannedShipment], members: tuple[str, ...]) -> None:
        self.plans = plans
        self.members = set(members)
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
        if plan is not None and plan.dark and what.get("flag") in ("dark_hop", "overdue"):
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

    def _complete(self, p: PlannedShipment) -> bool:
        def accepted(event_id: str) -> bool:
            r = self.results.get(event_id)
            return r is not None and r.accepted
        if p.diversion == "unregistered" or any(
                v not in self.members for v in (p.from_nation, *p.actual_via, p.to_nation)):
            return False
        needed = [f"{p.id}-commission", f"{p.id}-ship", f"{p.id}-receive"]
        needed += [s.event_id for s in p.steps if s.kind == "transit"]
        transits = {s.fields["nation"] for s in p.steps if s.kind == "transit"}
        return all(accepted(e) for e in needed) and set(p.actual_via) <= transits

    def summary(self) -> dict:
        shipped_g = sum(p.quantity_g for p in self.plans)
        complete_g = sum(p.quantity_g for p in self.plans if self._complete(p))
        kinds = list(ALL_KINDS) + sorted({p.diversion for p in self.plans
                                          if p.diversion and p.diversion not in ALL_KINDS})
        injected = {k: 0 for k in kinds}  # custom behaviours may name kinds of their own
        flagged = {k: 0 for k in kinds}
        delays = []
        leaked_g = 0
        for p in self.plans:
            if p.diversion is None:
                continue
            injected[p.diversion] += 1
            tick = self.detected_tick.get(p.id)
            if tick is None:
                leaked_g += p.diverted_g
                continue
            flagged[p.diversion] += 1
            delays.append(tick - self.first_commit_tick.get(p.id, tick))
        total = sum(injected.values())
        delays.sort()
        return {
            "shipments": len(self.plans),
            "shipped_kg": round(shipped_g / 1000, 3),
            "traced_complete_pct": round(100 * complete_g / shipped_g, 2) if shipped_g else None,
            "diversions_injected": injected,
            "diversions_flagged": flagged,
            "detection_rate": round(sum(flagged.values()) / total, 4) if total else None,
            "detection_rate_by_kind": {k: round(flagged[k] / injected[k], 4)
                                       for k in kinds if injected[k]},
            "detection_delay_ticks_p50": delays[max(0, math.ceil(len(delays) / 2) - 1)]
            if delays else None,
            "false_flags": self.false_flags,
            "coverage_gap_flags": self.coverage_gap_flags,
            "shipped_on_silence": sum(1 for p in self.plans if p.silent),
            "blocked_by_silence": self.blocked_by_silence,
            "dark_shipments": sum(1 for p in self.plans if p.dark),
            "dark_kg": round(sum(p.quantity_g for p in self.plans if p.dark) / 1000, 3),
            "false_flag_examples": self.false_flag_examples,
            "leaked_kg": round(leaked_g / 1000, 3),
            "flags_by_kind": dict(self.flags_by_kind),
            "rejections_by_reason": dict(sorted(self.rejections_by_reason.items())),
        }
