"""What an importing nation's competent authority should answer to a pre-export notification.

Theory of operation
-------------------

`decide(state, registry, config, pen)` is the decision an honest competent authority takes on a
PEN addressed to its nation, under that nation's `AuthorityRules` (`DomainConfig.authority_for`):
("objection", reason codes) or ("no_objection", ()). Each ground is a rule the nation may turn
off; the reason codes, in this order:

- `unknown_consignee`   the importer, or the stated final consignee, is not an operator registered
                        by the importing nation;
- `unlicensed_importer` a licence is needed there (scheduled, or controlled in the importing
                        nation, at the PEN's dispatch date) and the importer holds no import
                        licence for the chemical valid at the dispatch time;
- `missing_end_use`     the PEN declares no end use;
- `above_need`          the importer's PEN'd grams of the chemical in the licence's period, this
                        PEN included (`Pen.need_total_g`), exceed the licence's stated need
                        (quota_g) by more than `need_margin_pct`; a quota of 0 states no need and
                        never objects on this ground.

The chaincode does not file the reply: the authority's node does, and a corrupt authority may
withhold it or say "no_objection" anyway. The chaincode accepts such a reply and flags it
`reply_contradicts_rules` (nodes/app/chaincode.py), which is how a corrupt importing authority
becomes visible. Pure: the same state and PEN give the same decision on every node.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodes.app.control import event_date, licence_for, licence_needed
from nodes.app.registry import Registry

REASONS = ("unknown_consignee", "unlicensed_importer", "missing_end_use", "above_need")


@dataclass(frozen=True)
class AuthorityRules:
    """The grounds on which one importing nation's authority objects to a PEN."""

    object_unknown_consignee: bool = True
    object_unlicensed: bool = True
    object_missing_end_use: bool = True
    object_above_need: bool = True
    need_margin_pct: float = 0.0  # tolerated excess over the stated need, in percent


def decide(state, registry: Registry, config, pen) -> tuple[str, tuple[str, ...]]:
    """The honest answer to `pen` (a chaincode `Pen`) given the ledger `state` (a
    `DomainState`) and the `DomainConfig`: ("objection", reasons) or ("no_objection", ())."""
    rules = config.authority_for(pen.to_nation)
    reasons: list[str] = []
    importer = state.operators.get(pen.importer)
    if rules.object_unknown_consignee and not all(
            _registered_in(state, who, pen.to_nation) for who in (pen.importer, pen.consignee)
            if who):
        reasons.append("unknown_consignee")
    licence = None if importer is None else licence_for(importer.licences, pen.chemical, "import",
                                                        pen.dispatch_ticks)
    if (rules.object_unlicensed and importer is not None and licence is None
            and licence_needed(registry, pen.chemical, pen.to_nation,
                               event_date(pen.dispatch_ticks, config))):
        reasons.append("unlicensed_importer")
    if rules.object_missing_end_use and not pen.end_use.strip():
        reasons.append("missing_end_use")
    if rules.object_above_need and licence is not None and licence[4] > 0 \
            and pen.need_total_g * 100 > licence[4] * (100 + rules.need_margin_pct):
        reasons.append("above_need")
    return ("objection", tuple(reasons)) if reasons else ("no_objection", ())


def _registered_in(state, operator_id: str, nation: str) -> bool:
    op = state.operators.get(operator_id)
    return op is not None and op.nation == nation
