"""Custody events: the precursor domain's transactions (GS1 EPCIS 2.0 what/when/where/why).

An event travels as the payload of a `Transaction` whose `kind` is the event kind and whose
signer is a nation's authority (customs or the competent authority: the nation's node key). The
payload is the canonical msgpack array

    [event_id, event_time_ticks, [field, ...], [[cosigner, signature], ...]]

with the fields in the fixed order `FIELDS[kind]` gives. Operators (manufacturers, exporters,
importers) co-sign the event body, `event_body(...)`, with their own keys, which their nation
registered on chain. Quantities are integer grams (`_g`), times integer ticks (`_ticks`).

EPCIS mapping: `commission` is bizStep commissioning, `ship` shipping, `transit` arriving/
departing at a border, `receive` receiving, `transform` a TransformationEvent, `destroy`
destroying; `pen` and `pen_reply` follow INCB PEN Online (a `pen` of tier "light" is PEN Online
Light); `incident` follows PICS; `suspicious_order` is a report under the 1988 Convention art.
12(9)(b); `inspect` is customs' physical examination of a consignment (EPCIS bizStep
inspecting), the one record that does not come from the traders' own paperwork.

A licence is `[chemical, activity, from_ticks, until_ticks, quota_g]`: `quota_g` is the quantity
per licence period the operator states it needs (its annual legitimate requirement; 0: none
stated).
"""

from __future__ import annotations

from dataclasses import dataclass

from nodes.chain.codec import CodecError, pack, unpack

EVENT_PAYLOAD_BYTES_MAX = 8 * 1024
ID_BYTES_MAX = 64
TEXT_BYTES_MAX = 200
VIA_MAX = 8
LICENCES_MAX = 32
COSIGNERS_MAX = 4
QUANTITY_G_MAX = 10**12  # a million tonnes: far above any real lot

ACTIVITIES = ("manufacture", "export", "import", "broker")
DECISIONS = ("no_objection", "objection")
TIERS = ("full", "light")  # a PEN is filed in one of these (nodes/app/control.py, pen_tier)

# Field name -> type: "id", "nation", "int", "text", "key", "via", "licences", "decision",
# "tier".
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "register_operator": (("operator", "id"), ("nation", "nation"), ("public_key", "key"),
                          ("licences", "licences")),
    "commission": (("lot", "id"), ("chemical", "id"), ("quantity_g", "int"), ("operator", "id")),
    "pen": (("pen", "id"), ("lot", "id"), ("exporter", "id"), ("importer", "id"),
            ("to_nation", "nation"), ("quantity_g", "int"), ("via", "via"),
            ("consignee", "text"), ("point_of_entry", "text"), ("dispatch_ticks", "int"),
            ("end_use", "text"), ("tier", "tier")),
    "pen_reply": (("pen", "id"), ("decision", "decision"), ("reasons", "text")),
    "ship": (("shipment", "id"), ("lot", "id"), ("quantity_g", "int"), ("exporter", "id"),
             ("importer", "id"), ("to_nation", "nation"), ("via", "via"), ("pen", "text"),
             ("hs_code", "text"), ("declared_chemical", "text")),
    "transit": (("shipment", "id"), ("nation", "nation")),
    "receive": (("shipment", "id"), ("quantity_g", "int"), ("importer", "id"), ("new_lot", "id")),
    "transform": (("lot", "id"), ("input_g", "int"), ("product_lot", "id"),
                  ("product_chemical", "id"), ("output_g", "int"), ("operator", "id")),
    "destroy": (("lot", "id"), ("quantity_g", "int"), ("reason", "text")),
    "incident": (("subject", "id"), ("description", "text")),
    "correction": (("corrects", "id"), ("field", "text"), ("value", "int")),
    "suspicious_order": (("report", "id"), ("subject", "id"), ("reason", "text")),
    "inspect": (("inspection", "id"), ("shipment", "text"), ("nation", "nation"),
                ("declared_chemical", "text"), ("hs_code", "text"), ("found_chemical", "text"),
                ("found_g", "int"), ("seized_g", "int")),
}

# Who must co-sign, by the field naming the operator. The tx signer (a nation) is checked by
# the chaincode, per kind.
COSIGNER_FIELD: dict[str, str | None] = {
    "register_operator": "operator", "commission": "operator", "pen": "exporter",
    "pen_reply": None, "ship": "exporter", "transit": None, "receive": "importer",
    "transform": "operator", "destroy": None, "incident": None, "correction": None,
    "suspicious_order": None, "inspect": None,
}

EVENT_KINDS = tuple(FIELDS)


class EventError(ValueError):
    """A malformed event payload (the submitter's fault)."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    event_id: str
    event_time_ticks: int
    fields: dict
    cosigs: tuple[tuple[str, bytes], ...]

    def __getitem__(self, name: str):
        return self.fields[name]


def event_body(chain_id: str, kind: str, event_id: str, event_time_ticks: int,
               values: tuple) -> bytes:
    """The bytes an operator co-signs."""
    return pack(("event", chain_id, kind, event_id, event_time_ticks, values))


def encode_event(kind: str, event_id: str, event_time_ticks: int, fields: dict,
                 cosigs: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    values = tuple(_to_wire(fields[name], t) for name, t in FIELDS[kind])
    return pack((event_id, event_time_ticks, values, tuple(cosigs)))


def field_values(kind: str, fields: dict) -> tuple:
    return tuple(_to_wire(fields[name], t) for name, t in FIELDS[kind])


def unpack_array(kind: str, payload: bytes, bytes_max: int, length: int, shape: str) -> tuple:
    """The payload of an event kind as a msgpack array of `length` items (its items are the
    caller's to check), or EventError naming `shape`."""
    if kind not in FIELDS:
        raise EventError(f"unknown event kind {kind!r}")
    try:
        raw = unpack(payload, bytes_max=bytes_max)
    except CodecError as exc:
        raise EventError(str(exc)) from None
    if not isinstance(raw, tuple) or len(raw) != length:
        raise EventError(shape)
    return raw


def check_id_and_time(event_id, event_time) -> None:
    _id(event_id, "event_id")
    if not _int(event_time) or event_time < 0:
        raise EventError("event_time_ticks must be an integer >= 0")


def decode_event(kind: str, payload: bytes) -> Event:
    event_id, event_time, values, cosigs = unpack_array(
        kind, payload, EVENT_PAYLOAD_BYTES_MAX, 4,
        "an event is [event_id, event_time_ticks, fields, cosigs]")
    check_id_and_time(event_id, event_time)
    spec = FIELDS[kind]
    if not isinstance(values, tuple) or len(values) != len(spec):
        raise EventError(f"{kind} has {len(spec)} fields: {', '.join(n for n, _ in spec)}")
    fields = {name: _check(value, t, name) for (name, t), value in zip(spec, values)}
    if not isinstance(cosigs, tuple) or len(cosigs) > COSIGNERS_MAX:
        raise EventError(f"at most {COSIGNERS_MAX} co-signatures")
    for item in cosigs:
        if (not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], bytes) or len(item[1]) != 64):
            raise EventError("a co-signature is [signer_id, 64-byte signature]")
    return Event(kind, event_id, event_time, fields, cosigs)


def check_field(value, t: str, name: str):
    """`value` if it is a valid field of type `t`, else EventError naming `name`."""
    if t == "id":
        _id(value, name)
        return value
    return _check(value, t, name)


def _to_wire(value, t: str):
    if t == "via":
        return tuple(value)
    if t == "licences":
        return tuple(tuple(lic) for lic in value)
    return value


def _check(value, t: str, name: str):
    if t in ("id",):
        _id(value, name)
    elif t == "nation":
        if not isinstance(value, str) or len(value) != 3 or not value.isupper() \
                or not value.isalpha():
            raise EventError(f"{name} must be an ISO 3166 alpha-3 code")
    elif t == "int":
        if not _int(value) or not 0 <= value <= QUANTITY_G_MAX:
            raise EventError(f"{name} must be an integer from 0 to {QUANTITY_G_MAX}")
    elif t == "text":
        if not isinstance(value, str) or len(value.encode()) > TEXT_BYTES_MAX:
            raise EventError(f"{name} must be a string of at most {TEXT_BYTES_MAX} bytes")
    elif t == "key":
        if not isinstance(value, bytes) or len(value) != 32:
            raise EventError(f"{name} must be a 32-byte Ed25519 public key")
    elif t == "via":
        if not isinstance(value, tuple) or len(value) > VIA_MAX:
            raise EventError(f"{name} is a list of at most {VIA_MAX} nations")
        for v in value:
            _check(v, "nation", name)
    elif t == "decision":
        if value not in DECISIONS:
            raise EventError(f"{name} must be 'no_objection' or 'objection'")
    elif t == "tier":
        if value not in TIERS:
            raise EventError(f"{name} must be 'full' or 'light'")
    elif t == "licences":
        if not isinstance(value, tuple) or len(value) > LICENCES_MAX:
            raise EventError(f"{name} is a list of at most {LICENCES_MAX} licences")
        for lic in value:
            if (not isinstance(lic, tuple) or len(lic) != 5 or not isinstance(lic[0], str)
                    or len(lic[0].encode()) > ID_BYTES_MAX
                    or lic[1] not in ACTIVITIES or not _int(lic[2]) or not _int(lic[3])
                    or lic[2] < 0 or lic[3] < lic[2]
                    or not _int(lic[4]) or not 0 <= lic[4] <= QUANTITY_G_MAX):
                raise EventError("a licence is [chemical, activity, from_ticks, until_ticks, "
                                 f"quota_g] with activity one of {', '.join(ACTIVITIES)} and "
                                 f"quota_g from 0 to {QUANTITY_G_MAX}")
    return value


def _id(value, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value.encode()) <= ID_BYTES_MAX:
        raise EventError(f"{name} must be a non-empty string of at most {ID_BYTES_MAX} bytes")


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
