"""The chaincode state as bytes, and back: what a live node's state snapshot carries.

Owns: a canonical encoding of `DomainState` (msgpack of fixed-order arrays, maps as sorted
arrays of pairs, sets sorted) and its inverse. May not know: where the bytes are kept, who
signs them, or which height they belong to (nodes/live/sqlite_storage.py keeps and signs them,
nodes/node.py checks them against the chain).

The state root is a running hash over the outcomes applied (nodes/app/chaincode.py), not a hash
of the state's contents, so the root alone cannot prove that decoded contents are right; the
snapshot's signature (by the node that wrote it) covers these bytes. `encode_state` is
canonical: two states with the same contents give the same bytes, so `state_digest` compares
states (the tests compare a restored state with a replayed one this way).

A decoded state owns all its entries (nobody forked from it), like a state that applied every
block itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, fields

import msgpack

from nodes.app.chaincode import DomainState, Flag, Inspection, Lot, Operator, Pen, Shipment

STATE_FORMAT = "chemtrace/state/v1"
_SHIPMENT_FIELDS = tuple(f.name for f in fields(Shipment))


class SnapshotError(ValueError):
    """Bytes that are not a state this version encodes."""


def _plain(value: object) -> object:
    """Lists to tuples, recursively: the encoding does not tell them apart."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _shipment(s: Shipment) -> tuple:
    out = []
    for name in _SHIPMENT_FIELDS:
        value = getattr(s, name)
        out.append(tuple(f.to_wire() for f in value) if name == "flags" else _plain(value))
    return tuple(out)


def encode_state(state: DomainState) -> bytes:
    """The canonical bytes of `state` (every field the chaincode reads or writes)."""
    body = (
        STATE_FORMAT,
        tuple((k, _plain(astuple(v))) for k, v in sorted(state.operators.items())),
        tuple((k, _plain(astuple(v))) for k, v in sorted(state.lots.items())),
        tuple((k, _shipment(v)) for k, v in sorted(state.shipments.items())),
        tuple((k, _plain(astuple(v))) for k, v in sorted(state.pens.items())),
        tuple((k, _plain(v)) for k, v in sorted(state.events.items())),
        tuple(f.to_wire() for f in state.flags),
        tuple((k, tuple(v)) for k, v in sorted(state.lot_history.items())),
        tuple(_plain(d) for d in state.deadlines),  # a heap: its order is part of the state
        tuple(sorted(state.unlisted)),
        tuple((k, v) for k, v in sorted(state.pen_need_g.items())),
        tuple((k, _plain(astuple(v))) for k, v in sorted(state.inspections.items())),
        state.root, state.applied, state.rejected,
    )
    return msgpack.packb(body, use_bin_type=True)


def state_digest(state: DomainState) -> bytes:
    return hashlib.sha256(encode_state(state)).digest()


def decode_state(data: bytes) -> DomainState:
    """The state `encode_state` made `data` from. Raises SnapshotError on anything else. Meant
    for bytes whose signature was checked first; the limits only keep a damaged file from
    taking the process down."""
    try:
        raw = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True,
                              max_map_len=0, max_ext_len=0)
        (fmt, operators, lots, shipments, pens, events, flags, history, deadlines, unlisted,
         need, inspections, root, applied, rejected) = raw
        if fmt != STATE_FORMAT:
            raise SnapshotError(f"state format {fmt!r}, this version reads {STATE_FORMAT!r}")
        state = DomainState()
        state.operators = {k: Operator(*v) for k, v in operators}
        state.lots = {k: Lot(*v) for k, v in lots}
        state.shipments = {}
        for k, v in shipments:
            item = dict(zip(_SHIPMENT_FIELDS, v, strict=True))
            item["checkpoints"] = list(item["checkpoints"])
            item["flags"] = [Flag(*f) for f in item["flags"]]
            state.shipments[k] = Shipment(**item)
        state.pens = {k: Pen(*v) for k, v in pens}
        state.events = {k: tuple(v) for k, v in events}
        state.flags = [Flag(*f) for f in flags]
        state.lot_history = {k: list(v) for k, v in history}
        state.deadlines = [tuple(d) for d in deadlines]
        state.unlisted = set(unlisted)
        state.pen_need_g = {tuple(k): v for k, v in need}
        state.inspections = {k: Inspection(*v) for k, v in inspections}
        if not isinstance(root, bytes) or len(root) != 32:
            raise SnapshotError("the state root is not 32 bytes")
        state.root, state.applied, state.rejected = root, applied, rejected
    except SnapshotError:
        raise
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError,
            UnicodeDecodeError, OverflowError) as exc:
        raise SnapshotError(f"not a state: {exc.__class__.__name__}: {exc}") from None
    return state
