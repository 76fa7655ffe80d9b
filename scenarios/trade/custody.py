"""Custody queries over a run's ledger export (`ledger.jsonl`): one lot's chain, end to end.

The export holds one line per committed custody event, in commit order, with its result
(accepted or the rejection reason) and flags. `custody_chain` walks from a lot up to the lot it
came from (through receipts and transforms) and down through every shipment, receipt and
transform that followed, so one query shows the whole trail from manufacture to destination.
"""

from __future__ import annotations

import json
from pathlib import Path

LEDGER_LINES_MAX = 10_000_000


class CustodyError(ValueError):
    """The query cannot be answered: the message says what to do instead."""


def read_ledger(run_dir: Path) -> list[dict]:
    path = run_dir / "ledger.jsonl"
    if not path.exists():
        raise CustodyError(f"{path} does not exist: pass --run the output folder of a "
                           f"`chemtrace run` (it writes ledger.jsonl)")
    events = []
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if number > LEDGER_LINES_MAX:
                raise CustodyError(f"{path}: more than {LEDGER_LINES_MAX} lines")
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CustodyError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return events


def read_collections(run_dir: Path) -> dict[str, dict[str, dict]] | None:
    """What each nation opened of the private collections (`collections.jsonl`, written by a
    run in a private mode): nation -> event id -> plaintext fields. None for a plaintext run,
    where every nation reads every field on the chain."""
    path = run_dir / "collections.jsonl"
    if not path.exists():
        return None
    out: dict[str, dict[str, dict]] = {}
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if number > LEDGER_LINES_MAX:
                raise CustodyError(f"{path}: more than {LEDGER_LINES_MAX} lines")
            try:
                row = json.loads(line)
                out.setdefault(row["nation"], {})[row["event"]] = row["fields"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CustodyError(f"{path}:{number}: not a collection row ({exc})") from None
    return out


def as_seen_by(chain: dict, nation: str, collections: dict[str, dict[str, dict]] | None,
               nations: set[str]) -> dict:
    """`chain` as `nation` sees it: the chain's public fields, the plaintext of the records it
    holds, and for each event the names of the fields still hidden from it."""
    if nation not in nations:
        raise CustodyError(f"{nation!r} is not a nation of this run; use one of "
                           f"{', '.join(sorted(nations))}")
    held = (collections or {}).get(nation, {})
    events = []
    for e in chain["events"]:
        public = e["fields"]
        # a sealed event's row names its hidden fields; a lane's verdict or grant row names
        # the event it is about, and shows what the chain carries of the act only
        record = held.get(e["event"]) if "_hidden" in public else None
        hidden = [] if record is not None else list(public.get("_hidden", []))
        fields = dict(public, **(record or {}))
        for name in hidden:
            fields[name] = None  # a commitment or nothing: no value this nation can read
        events.append(dict(e, fields=fields, hidden=hidden,
                           seen_from="record" if record is not None else "chain"))
    return dict(chain, events=events, seen_by=nation)


def custody_chain(events: list[dict], lot: str) -> dict:
    """The events of `lot`'s whole custody chain, in commit order, and the flags on it."""
    made_by: dict[str, dict] = {}  # lot -> the accepted event that created it
    for e in events:
        f = e["fields"]
        if not e["accepted"]:
            continue
        if e["kind"] == "commission":
            made_by.setdefault(f["lot"], e)
        elif e["kind"] == "receive":
            made_by.setdefault(f["new_lot"], e)
        elif e["kind"] == "transform":
            made_by.setdefault(f["product_lot"], e)
    known = {x["fields"].get(k) for x in events
             for k in ("lot", "new_lot", "product_lot") if x["fields"].get(k)}
    if lot not in known:
        raise CustodyError(f"lot {lot!r} is not on the ledger; lots look like "
                           f"{', '.join(sorted(known)[:3]) or '(none in this run)'}")
    shipment_lot = {e["fields"]["shipment"]: e["fields"]["lot"] for e in events
                    if e["kind"] == "ship" and e["accepted"]}
    # Upstream: follow receipts to their shipment's lot, transforms to their input lot.
    root = lot
    for _ in range(1000):
        maker = made_by.get(root)
        if maker is None or maker["kind"] == "commission":
            break
        f = maker["fields"]
        parent = shipment_lot.get(f["shipment"]) if maker["kind"] == "receive" else f["lot"]
        if parent is None:
            break
        root = parent
    # Downstream: every lot and shipment descending from the root.
    lots, shipments = {root}, set()
    changed = True
    while changed:
        changed = False
        for e in events:
            f = e["fields"]
            if e["kind"] == "ship" and f.get("lot") in lots and f["shipment"] not in shipments:
                shipments.add(f["shipment"])
                changed = True
            elif e["kind"] == "receive" and f.get("shipment") in shipments \
                    and e["accepted"] and f["new_lot"] not in lots:
                lots.add(f["new_lot"])
                changed = True
            elif e["kind"] == "transform" and f.get("lot") in lots and e["accepted"] \
                    and f["product_lot"] not in lots:
                lots.add(f["product_lot"])
                changed = True
    subjects = lots | shipments
    pens = {e["fields"]["pen"] for e in events if e["kind"] == "pen" and e["fields"]["lot"] in lots}
    chain = [e for e in events
             if e["fields"].get("lot") in lots or e["fields"].get("shipment") in shipments
             or e["fields"].get("subject") in subjects or e["fields"].get("pen") in pens]
    flags = [dict(flag, event=e["event"], h=e["h"]) for e in chain for flag in e["flags"]]
    return {"lot": lot, "root_lot": root, "lots": sorted(lots), "shipments": sorted(shipments),
            "events": chain, "flags": flags}
