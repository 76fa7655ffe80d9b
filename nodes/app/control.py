"""Registry-driven control: which rules a chemical is under, between which nations, on which date.

Theory of operation
-------------------

The chaincode asks three questions of the registry (nodes/data/chemicals.toml) for every event
that moves or makes a registered chemical, always at the EVENT's date (its `event_time_ticks`
turned into a calendar date by `event_date`), never the block's:

- is it `scheduled` (1988 Convention Table I or II, in force at the date)?
- is it `controlled` in a nation (national status "controlled", in force at the date)?
- which pre-export notification does a shipment need (`pen_tier`): "full" (INCB PEN Online,
  with the importing authority's reply), "light" (PEN Online Light: a notice for non-scheduled
  chemicals that are dual-use or under watch, no reply), or "none"?

`licence_needed` is the fourth, derived one: an operator needs a licence for a chemical and an
activity where the chemical is scheduled, or controlled in the operator's nation.

Dates are ISO strings, compared as strings. Trade time: tick 0 is `epoch_date`, a day is
`ticks_per_day` ticks (both in `DomainConfig`). Everything here is a pure function of its
arguments: every node computes the same answer.

A "watched" national status counts (for the light tier) from its effective date, or always when
the registry gives none (a watch list whose start is unknown is taken as in force).
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

from nodes.app.registry import Registry

CONVENTION_LISTED = ("I", "II")
PEN_TIERS = ("full", "light", "none")  # "none" is never filed: a PEN event is "full" or "light"
WILDCARD = "*"  # a licence for every chemical: a convenience of tests and simulations


def event_date(ticks: int, config) -> str:
    """The ISO date of tick `ticks`: `config.epoch_date` plus whole days of
    `config.ticks_per_day` ticks. Dates past the calendar's end stay at its last day."""
    return _date_of_day(config.epoch_date, ticks // config.ticks_per_day)


@functools.lru_cache(maxsize=4096)
def _date_of_day(epoch_iso: str, day: int) -> str:
    epoch = date.fromisoformat(epoch_iso)
    day = min(day, (date.max - epoch).days)
    return (epoch + timedelta(days=day)).isoformat()


def scheduled(registry: Registry, chemical: str, date_iso: str) -> bool:
    """In Table I or II of the 1988 Convention, the listing in force on `date_iso`."""
    c = registry.chemicals.get(chemical)
    return (c is not None and c.convention_table in CONVENTION_LISTED
            and c.convention_effective != "" and c.convention_effective <= date_iso)


def controlled(registry: Registry, chemical: str, nation: str, date_iso: str) -> bool:
    """National status "controlled" in `nation`, in force on `date_iso` (unregistered: False)."""
    return registry.is_registered(chemical) and registry.controlled_in(chemical, nation, date_iso)


def watched(registry: Registry, chemical: str, nation: str, date_iso: str) -> bool:
    c = registry.chemicals.get(chemical)
    control = c.national.get(nation) if c is not None else None
    return (control is not None and control.status == "watched"
            and (control.effective == "" or control.effective <= date_iso))


def pen_tier(registry: Registry, chemical: str, from_nation: str, to_nation: str,
             date_iso: str) -> str:
    """ "full" when scheduled, or controlled in the exporting or the importing nation; "light"
    when registered and dual-use or watched at either end; otherwise (and unregistered) "none"."""
    if not registry.is_registered(chemical):
        return "none"
    ends = (from_nation, to_nation)
    if scheduled(registry, chemical, date_iso) or any(
            controlled(registry, chemical, n, date_iso) for n in ends):
        return "full"
    if registry.chemicals[chemical].dual_use or any(
            watched(registry, chemical, n, date_iso) for n in ends):
        return "light"
    return "none"


def licence_needed(registry: Registry, chemical: str, nation: str, date_iso: str) -> bool:
    """An operator in `nation` needs a licence for the chemical: scheduled, or controlled there."""
    return scheduled(registry, chemical, date_iso) or controlled(registry, chemical, nation,
                                                                 date_iso)


def licence_for(licences: tuple, chemical: str, activity: str, time_ticks: int) -> tuple | None:
    """The first of an operator's licences `[chemical, activity, from_ticks, until_ticks,
    quota_g]` that covers the chemical (or is the wildcard) and the activity at `time_ticks`."""
    for lic in licences:
        if (lic[0] in (chemical, WILDCARD) and lic[1] == activity
                and lic[2] <= time_ticks <= lic[3]):
            return lic
    return None
