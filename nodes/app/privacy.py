"""Confidential custody records: what the shared chain carries of an event under each privacy
mode, the private record that goes to the nations of the event's lane, how a member checks that
record against the chain, the chaincode of the shared chain in the private modes, and which
nations can check each of the chaincode's flags in each mode.

Owns: the sealed envelope (the transaction payload on the shared chain) and the private record
(its wire formats, limits and checks), the public-state chaincode `SealedChaincode`, and the
table `CHECKS`. May not know: who the lanes' nations are (the caller names them), how records
travel, where random bytes come from, or the trade (scenarios/trade/ does the routing and the
lane members' verdicts).

Modes (docs/privacy.md):

- `plaintext`: the event payload of nodes/app/events.py, every field to every nation.
- `lane-private`: the envelope carries the event's public fields, `None` in place of each
  hidden one (`LANE_HIDDEN`: operator identities, quantities, consignee, documents), the
  sha256 commitment `sha256(salt || plaintext payload)` and the lane (the nations that receive
  the record: a broker ACL can be written from it). The record is `(event_id, plaintext
  payload with the operators' co-signatures, salt)`.
- `committed-quantities`: the envelope carries every field but the quantities
  (`COMMITTED_HIDDEN`), each replaced by a Pedersen commitment (nodes/app/commit.py); a
  receipt also carries the opening `(d, r)` of shipped minus received, which every nation
  checks (`SealedChaincode`): it reveals the discrepancy `d` only. The record is `(event_id,
  plaintext payload, blinding of each quantity)`.

The operators' co-signatures travel in the record only: a signature over the plaintext body
would let any nation test guesses of a hidden quantity against the operator's public key.

A lane's acts on the shared chain (`LANE_ACTS`), each signed by the member nation that makes it
over the chain id, the act and its content, whoever's node carries the transaction:

- `verdict`: a lane member's verdict on one sealed event: the flags it raises that only the
  lane can check in the mode (`CHECKS` says "lane"), as (flag kind, subject) pairs. Every
  nation checks the signature, that the signer is on the event's lane and that each flag is a
  lane-checked kind, and counts the flags it carries as resting on that signed verdict.
- `grant`: a lane member discloses the openings of one flagged subject's trail to oversight
  nations (`[privacy] oversight_access = "on_flag"`): every nation checks the signature, that
  the signer is on the lane of the flagged event and that each grantee is an oversight nation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from nodes.app import commit as pc
from nodes.app.chaincode import DomainState, Flag, TxResult
from nodes.app.events import (EVENT_KINDS, EVENT_PAYLOAD_BYTES_MAX, FIELDS, VIA_MAX, Event,
                              EventError, check_field, check_id_and_time, decode_event,
                              encode_event, field_values, unpack_array)
from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.identity import VerifyCache
from nodes.chain.tx import Transaction

PLAINTEXT, LANE_PRIVATE, COMMITTED = "plaintext", "lane-private", "committed-quantities"
MODES = (PLAINTEXT, LANE_PRIVATE, COMMITTED)
SEALED_MODES = (LANE_PRIVATE, COMMITTED)
LANE_MAX = VIA_MAX + 2 + 8  # the route's nations and a few oversight nations
RECORD_BYTES_MAX = EVENT_PAYLOAD_BYTES_MAX + 1024
ENVELOPE_BYTES_MAX = EVENT_PAYLOAD_BYTES_MAX + 2048

# What lane-private keeps off the shared chain, per event kind: operator identities,
# quantities, the consignee and the documents (end use, point of entry, the PEN a shipment
# cites, free-text reasons). Lot, shipment and PEN ids, nations, chemicals, HS codes and times
# stay public: the rules every nation checks read them (CHECKS), and the route names the lane.
# An operator's registration stays public: it is the nation's licence register.
LANE_HIDDEN: dict[str, tuple[str, ...]] = {
    "register_operator": (),
    "commission": ("quantity_g", "operator"),
    "pen": ("exporter", "importer", "quantity_g", "consignee", "point_of_entry", "end_use"),
    "pen_reply": ("reasons",),
    "ship": ("quantity_g", "exporter", "importer", "pen"),
    "transit": (),
    "receive": ("quantity_g", "importer"),
    "transform": ("input_g", "output_g", "operator"),
    "destroy": ("quantity_g", "reason"),
    "incident": ("description",),
    "correction": ("value",),
    "suspicious_order": ("reason",),
    "inspect": ("found_g", "seized_g"),
}
QUANTITY_FIELDS = ("quantity_g", "input_g", "output_g", "found_g", "seized_g", "value")
# What committed-quantities commits to instead of writing: the quantities, nothing else.
COMMITTED_HIDDEN: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name, _ in FIELDS[kind] if name in QUANTITY_FIELDS)
    for kind in EVENT_KINDS}

# Who can check each flag the chaincode raises (nodes/app/chaincode.py, FLAG_KINDS), per mode:
# "all" (every nation, on public data), "commitments" (every nation, on opened commitments),
# "lane" (the nations of the event's lane, which hold the plaintext; their verdict is what the
# rest of the consortium gets), or "none" (not checkable in this mode: reported, never silent).
# The reason says what the rule reads and who sees it; docs/privacy.md lists them.
def _lane_only(lp: str, cq: str) -> dict[str, tuple[str, str]]:
    return {PLAINTEXT: ("all", ""), LANE_PRIVATE: ("lane", lp), COMMITTED: ("lane", cq)}


CHECKS: dict[str, dict[str, tuple[str, str]]] = {
    "unregistered": {m: ("all", "reads the HS code and the declared chemical, public")
                     for m in MODES},
    "discrepancy": {PLAINTEXT: ("all", ""),
                    LANE_PRIVATE: ("lane", "reads the shipped and received quantities, which "
                                           "only the lane sees"),
                    COMMITTED: ("commitments", "the receipt opens shipped minus received: "
                                               "every nation checks the opened discrepancy "
                                               "against tolerance_g")},
    "overdue": {m: ("all", "reads the ship and receive times, public") for m in MODES},
    "undeclared_transit": {m: ("all", "reads the checkpoint's nation and the declared route, "
                                      "public (the route names the lane)") for m in MODES},
    "dark_hop": {m: ("all", "reads the declared route and the consortium, public")
                 for m in MODES},
    "yield_exceeded": _lane_only(
        "reads the input and output masses, which only the lane sees",
        "an inequality between committed masses needs a range proof; the lane opens them"),
    "objection_ignored": {PLAINTEXT: ("all", ""),
                          LANE_PRIVATE: ("lane", "reads the PEN a shipment cites, a document "
                                                 "only the lane sees"),
                          COMMITTED: ("all", "reads the cited PEN and its reply, public")},
    "late_report": {m: ("all", "reads the event and block times, public") for m in MODES},
    "missing_checkpoint": {m: ("all", "reads the declared route and the checkpoints, public")
                           for m in MODES},
    "suspicious_order": {m: ("all", "the report and its subject are public (its reason is "
                                    "hidden in lane-private)") for m in MODES},
    "unrecorded_cargo": {m: ("all", "reads the chemical found, public") for m in MODES},
    "mislabelled": {m: ("all", "reads the chemical found and the shipment's, public")
                    for m in MODES},
    "quantity_mismatch": _lane_only(
        "reads the weighed and shipped masses, which only the lane (the inspecting nation is "
        "on it) sees",
        "a tolerance in percent of a hidden mass needs the mass; the inspecting nation, on "
        "the lane, opens it"),
    "reply_contradicts_rules": _lane_only(
        "reads the importer's PENs on every lane (quantities, consignee, end use); only the "
        "importing nation, on each of those lanes, sees them all",
        "the above-need ground sums committed quantities against a stated need, an "
        "inequality; the importing nation, on every lane of its importers, opens them"),
}


class EnvelopeError(ValueError):
    """A sealed payload that is malformed (the submitter's fault)."""


class OpeningRejected(ValueError):
    """A private record that does not open its envelope: `reason` is counted, never raised
    further."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def hidden_fields(mode: str, kind: str) -> tuple[str, ...]:
    if mode == LANE_PRIVATE:
        return LANE_HIDDEN[kind]
    if mode == COMMITTED:
        return COMMITTED_HIDDEN[kind]
    return ()


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: str
    event_id: str
    event_time_ticks: int
    values: dict  # public fields; hidden ones None (lane-private) or a commitment (committed)
    commitment: bytes  # lane-private: sha256(salt || payload); committed: b""
    lane: tuple[str, ...]  # the nations the record goes to
    opening: tuple  # committed receipts: (d, r as 32 bytes); else ()


def seal(mode: str, kind: str, event_id: str, event_time: int, fields: dict, cosigs: tuple,
         lane: tuple[str, ...], randbytes: Callable[[int], bytes],
         shipped: tuple[bytes, int, int] | None = None) -> tuple[bytes, bytes]:
    """The envelope for the shared chain and the private record for the lane. `randbytes(n)`
    gives the salt or the blindings. `shipped` (committed receipts): the shipment's commitment,
    quantity and blinding, from the ship's record the receiving nation holds."""
    payload = encode_event(kind, event_id, event_time, fields, cosigs)
    hidden = hidden_fields(mode, kind)
    values = list(field_values(kind, fields))
    names = [name for name, _ in FIELDS[kind]]
    opening: tuple = ()
    if mode == LANE_PRIVATE:
        salt = randbytes(pc.SALT_BYTES)
        for name in hidden:
            values[names.index(name)] = None
        commitment, secrets = pc.hash_commitment(payload, salt), salt
    elif mode == COMMITTED:
        rs = tuple(pc.blinding(randbytes(64)) for _ in hidden)
        for name, r in zip(hidden, rs):
            values[names.index(name)] = pc.commit(fields[name], r)
        commitment, secrets = b"", tuple(r.to_bytes(32, "little") for r in rs)
        if kind == "receive" and shipped is not None:
            _, q_ship, r_ship = shipped
            d, r = pc.open_difference(q_ship, r_ship, [(fields["quantity_g"], rs[0])])
            opening = (d, r.to_bytes(32, "little"))
    else:
        raise ValueError(f"nothing to seal in mode {mode!r}")
    envelope = pack(("sealed", event_id, event_time, tuple(values), commitment, tuple(lane),
                     opening))
    return envelope, pack(("record", event_id, payload, secrets))


def decode_envelope(mode: str, kind: str, payload: bytes) -> Envelope:
    try:
        raw = unpack_array(kind, payload, ENVELOPE_BYTES_MAX, 7,
                           'an envelope is ["sealed", event_id, time, values, commitment, '
                           'lane, opening]')
        tag, event_id, event_time, values, commitment, lane, opening = raw
        if tag != "sealed":
            raise EventError("an envelope starts with \"sealed\"")
        check_id_and_time(event_id, event_time)
        spec = FIELDS[kind]
        if not isinstance(values, tuple) or len(values) != len(spec):
            raise EventError(f"{kind} has {len(spec)} fields")
        hidden = hidden_fields(mode, kind)
        out = {}
        for (name, t), value in zip(spec, values):
            if name not in hidden:
                out[name] = check_field(value, t, name)
            elif mode == LANE_PRIVATE and value is not None:
                raise EventError(f"{name} is hidden in {mode}: write nil")
            elif mode == COMMITTED:
                out[name] = pc.check_point(value)
            else:
                out[name] = None
        if not isinstance(lane, tuple) or not 0 < len(lane) <= LANE_MAX:
            raise EventError(f"a lane is a list of 1 to {LANE_MAX} nations")
        for nation in lane:
            check_field(nation, "nation", "lane")
    except (EventError, pc.OpeningError) as exc:
        raise EnvelopeError(str(exc)) from None
    want = 32 if mode == LANE_PRIVATE else 0
    if not isinstance(commitment, bytes) or len(commitment) != want:
        raise EnvelopeError(f"the commitment is {want} bytes in {mode}")
    if opening != () and not (
            mode == COMMITTED and kind == "receive" and isinstance(opening, tuple)
            and len(opening) == 2 and isinstance(opening[0], int)
            and not isinstance(opening[0], bool) and isinstance(opening[1], bytes)
            and len(opening[1]) == 32):
        raise EnvelopeError("an opening is [discrepancy, 32-byte scalar], on a committed "
                            "receipt only")
    return Envelope(kind, event_id, event_time, out, commitment, lane, opening)


def open_record(mode: str, envelope: Envelope, record: bytes) -> tuple[Event, dict[str, int]]:
    """The plaintext event of `record` once it opens `envelope`, and the blinding of each
    committed quantity. OpeningRejected with a reason otherwise."""
    try:
        raw = unpack(record, bytes_max=RECORD_BYTES_MAX)
    except CodecError as exc:
        raise OpeningRejected("malformed_record", str(exc)) from None
    if not isinstance(raw, tuple) or len(raw) != 4 or raw[0] != "record" \
            or not isinstance(raw[2], bytes):
        raise OpeningRejected("malformed_record", "a record is [\"record\", event_id, payload, "
                                                  "secrets]")
    _, event_id, payload, secrets = raw
    if event_id != envelope.event_id:
        raise OpeningRejected("wrong_event")
    try:
        event = decode_event(envelope.kind, payload)
    except EventError as exc:
        raise OpeningRejected("malformed_record", str(exc)) from None
    hidden = hidden_fields(mode, envelope.kind)
    blindings: dict[str, int] = {}
    if mode == LANE_PRIVATE:
        if not isinstance(secrets, bytes) or len(secrets) != pc.SALT_BYTES:
            raise OpeningRejected("malformed_record", "the salt is 32 bytes")
        if pc.hash_commitment(payload, secrets) != envelope.commitment:
            raise OpeningRejected("commitment_mismatch")
    else:
        if (not isinstance(secrets, tuple) or len(secrets) != len(hidden)
                or not all(isinstance(s, bytes) and len(s) == 32 for s in secrets)):
            raise OpeningRejected("malformed_record", "one 32-byte blinding per quantity")
        for name, s in zip(hidden, secrets):
            r = int.from_bytes(s, "little")
            if r >= pc.L or pc.commit(event[name], r) != envelope.values[name]:
                raise OpeningRejected("commitment_mismatch", name)
            blindings[name] = r
    if (event.event_time_ticks != envelope.event_time_ticks
            or any(event[n] != v for n, v in envelope.values.items() if n not in hidden)):
        raise OpeningRejected("public_fields_mismatch")
    return event, blindings


VERDICT, GRANT = "verdict", "grant"
LANE_ACTS = (VERDICT, GRANT)
LANE_ACT_BYTES_MAX = 4096
VERDICT_FLAGS_MAX = 32
# The public id fields of an envelope that name a subject a flag or a grant may be about.
SUBJECT_FIELDS = ("shipment", "lot", "new_lot", "product_lot")


@dataclass(frozen=True, slots=True)
class LaneAct:
    """A verdict (`content`: ((flag kind, subject), ...)) or a grant (`content`: (subject,
    (grantee, ...))) by `signer`, a nation of `event_id`'s lane."""
    kind: str
    event_id: str
    signer: str
    content: tuple
    signature: bytes


def lane_act_body(chain_id: str, kind: str, event_id: str, signer: str, content: tuple) -> bytes:
    """What the signer signs: the chain, the act, the event and the content."""
    return pack(("lane-act", chain_id, kind, event_id, signer, content))


def sign_lane_act(chain_id: str, identity, kind: str, event_id: str, content: tuple) -> bytes:
    """The payload of a `verdict` or `grant` transaction, signed by `identity`'s nation."""
    if kind not in LANE_ACTS:
        raise ValueError(f"not a lane act: {kind!r}")
    body = lane_act_body(chain_id, kind, event_id, identity.name, content)
    return pack((kind, event_id, identity.name, content, identity.sign(body)))


def _check_content(kind: str, content: object) -> None:
    if kind == VERDICT:
        if (not isinstance(content, tuple) or not 0 < len(content) <= VERDICT_FLAGS_MAX
                or not all(isinstance(f, tuple) and len(f) == 2 and all(
                    isinstance(x, str) and 0 < len(x) <= 64 for x in f) for f in content)):
            raise EnvelopeError(f"a verdict's flags are 1 to {VERDICT_FLAGS_MAX} [kind, "
                                f"subject] pairs")
        if any(f[0] not in CHECKS for f in content):
            raise EnvelopeError("a verdict names a flag kind the chaincode does not raise")
        if len(set(content)) != len(content):
            raise EnvelopeError("a verdict names a flag twice")
    else:
        if (not isinstance(content, tuple) or len(content) != 2
                or not isinstance(content[0], str) or not 0 < len(content[0]) <= 64
                or not isinstance(content[1], tuple) or not 0 < len(content[1]) <= LANE_MAX):
            raise EnvelopeError("a grant is [subject, [grantee, ...]]")
        for nation in content[1]:
            check_field(nation, "nation", "grantee")


def decode_lane_act(kind: str, payload: bytes) -> LaneAct:
    """A `verdict` or `grant` payload, well formed (its signature is checked by the chain's
    chaincode, which knows the keys); EnvelopeError otherwise."""
    try:
        try:
            raw = unpack(payload, bytes_max=LANE_ACT_BYTES_MAX)
        except CodecError as exc:
            raise EventError(str(exc)) from None
        if not isinstance(raw, tuple) or len(raw) != 5:
            raise EventError(f'a {kind} is ["{kind}", event_id, signer, content, signature]')
        tag, event_id, signer, content, signature = raw
        if tag != kind or kind not in LANE_ACTS:
            raise EventError(f"a {kind} starts with \"{kind}\"")
        check_id_and_time(event_id, 0)
        check_field(signer, "nation", "signer")
        if not isinstance(signature, bytes) or not 0 < len(signature) <= 128:
            raise EventError("the signature is bytes")
        _check_content(kind, content)
    except EventError as exc:
        raise EnvelopeError(str(exc)) from None
    return LaneAct(kind, event_id, signer, content, signature)


class SealedState(DomainState):
    """The shared chain's state in a private mode: event ids, shipments' commitments and the
    flags raised on commitments. Small, so a fork copies it whole."""

    def __init__(self) -> None:
        super().__init__()
        self.commitments: dict[str, bytes] = {}  # shipment id -> its committed quantity
        self.bad_openings = 0
        self.lanes: dict[str, tuple[str, ...]] = {}  # event id -> its envelope's lane
        # subject (a shipment or lot id on an accepted envelope) -> the nations of its lanes,
        # and PEN id -> its lot: who may sign a verdict or a grant about that subject
        self.subject_lanes: dict[str, frozenset[str]] = {}
        self.pen_lots: dict[str, str] = {}
        self.verdicts: set[tuple[str, str]] = set()  # (event id, signer)
        self.grants: dict[tuple[str, str], str] = {}  # (subject, grantee) -> grantor
        self.acts_rejected: dict[str, int] = {}  # reason -> lane acts rejected

    def fork(self) -> "SealedState":
        new = SealedState()
        new.events = dict(self.events)
        new.commitments = dict(self.commitments)
        new.lanes = dict(self.lanes)
        new.subject_lanes = dict(self.subject_lanes)
        new.pen_lots = dict(self.pen_lots)
        new.verdicts = set(self.verdicts)
        new.grants = dict(self.grants)
        new.acts_rejected = dict(self.acts_rejected)
        new.flags = list(self.flags)
        new.root, new.applied, new.rejected = self.root, self.applied, self.rejected
        new.bad_openings = self.bad_openings
        return new


class SealedChaincode:
    """What every nation checks on the shared chain in a private mode: the envelope's form,
    fresh event ids and times, and (committed-quantities) conservation of each shipment from
    the opening its receipt carries. The rules on hidden data are the lane's (CHECKS), whose
    signed verdicts and disclosure grants (`LANE_ACTS`) it checks against the nations' keys
    (`nation_keys`, through `verifier`) and the lanes of the envelopes it accepted: a verdict's
    flags are raised here, on the signer's word; `oversight` names the nations a grant may
    name."""

    def __init__(self, chain_id: str, mode: str, tolerance_g: int = 1000,
                 nation_keys: dict[str, bytes] | None = None,
                 verifier: VerifyCache | None = None, oversight: tuple[str, ...] = ()) -> None:
        if mode not in SEALED_MODES:
            raise ValueError(f"not a private mode: {mode!r}")
        self.chain_id, self.mode, self.tolerance_g = chain_id, mode, tolerance_g
        self.nation_keys = nation_keys or {}
        self.verifier = verifier or VerifyCache()
        self.oversight = frozenset(oversight)
        self.state = SealedState()

    def begin_block(self, time_ticks: int) -> list[Flag]:
        return []

    def apply_tx(self, tx: Transaction, time_ticks: int) -> TxResult:
        s = self.state
        if tx.kind == "payload":
            result = TxResult(tx.tx_id, tx.kind, "", True, "", ())
        elif tx.kind in LANE_ACTS:
            result = self._lane_act(tx, time_ticks)
            s.flags.extend(result.flags)
        else:
            try:
                env = decode_envelope(self.mode, tx.kind, tx.payload)
            except EnvelopeError:
                result = TxResult(tx.tx_id, tx.kind, "", False, "malformed", ())
            else:
                reason, flags = self._check(env, time_ticks)
                result = TxResult(tx.tx_id, tx.kind, env.event_id, not reason, reason, flags)
                if reason:
                    s.rejected += 1
                else:
                    s.events[env.event_id] = (env.kind, tx.signer)
                    s.lanes[env.event_id] = env.lane
                    self._note_subjects(env)
                    s.applied += 1
                s.flags.extend(flags)
        s.root = hashlib.sha256(s.root + pack(result.to_wire())).digest()
        return result

    def _note_subjects(self, env: Envelope) -> None:
        """The subjects an accepted envelope names (its public shipment and lot ids; a PEN
        reply's, the PEN's lot) gain its lane's nations."""
        s = self.state
        subjects = [v for f in SUBJECT_FIELDS
                    if isinstance(v := env.values.get(f), str) and v]
        pen = env.values.get("pen")
        if env.kind == "pen" and isinstance(pen, str) and subjects:
            s.pen_lots.setdefault(pen, subjects[0])
        elif env.kind == "pen_reply" and pen in s.pen_lots:
            subjects.append(s.pen_lots[pen])
        for subject in subjects:
            s.subject_lanes[subject] = s.subject_lanes.get(subject, frozenset()) | set(env.lane)

    def _about_own_lanes(self, signer: str, subjects) -> bool:
        """Whether every subject is one whose lanes `signer` is on."""
        lanes = self.state.subject_lanes
        return all(signer in lanes.get(subject, ()) for subject in subjects)

    def _lane_act(self, tx: Transaction, now: int) -> TxResult:
        """A lane member's signed verdict or grant: accepted, or rejected with a reason that
        is counted (`SealedState.acts_rejected`)."""
        s = self.state
        try:
            act = decode_lane_act(tx.kind, tx.payload)
        except EnvelopeError:
            return self._act_rejected(tx, "", "malformed")
        lane = s.lanes.get(act.event_id)
        key = self.nation_keys.get(act.signer)
        if lane is None:
            reason = "unknown_event"
        elif key is None:
            reason = "unknown_signer"
        elif not self.verifier.verify(key, lane_act_body(self.chain_id, act.kind, act.event_id,
                                                         act.signer, act.content),
                                      act.signature):
            reason = "bad_signature"
        elif act.signer not in lane:
            reason = "not_on_lane"
        elif not self._about_own_lanes(act.signer, [act.content[0]] if act.kind == GRANT
                                       else [subject for _, subject in act.content]):
            reason = "wrong_subject"
        elif act.kind == VERDICT:
            if any(CHECKS[k][self.mode][0] != "lane" for k, _ in act.content):
                reason = "not_lane_checked"
            elif (act.event_id, act.signer) in s.verdicts:
                reason = "duplicate_verdict"
            else:
                s.verdicts.add((act.event_id, act.signer))
                lane_text = ", ".join(lane)
                flags = tuple(Flag(k, subject, act.event_id, now,
                                   f"on the signed verdict of {act.signer}, a member of the "
                                   f"lane ({lane_text})")
                              for k, subject in act.content)
                return TxResult(tx.tx_id, tx.kind, act.event_id, True, "", flags)
        else:
            subject, grantees = act.content
            if any(g not in self.oversight for g in grantees):
                reason = "not_oversight"
            elif all((subject, g) in s.grants for g in grantees):
                reason = "duplicate_grant"
            else:
                for g in grantees:
                    s.grants.setdefault((subject, g), act.signer)
                return TxResult(tx.tx_id, tx.kind, act.event_id, True, "", ())
        return self._act_rejected(tx, act.event_id, reason)

    def _act_rejected(self, tx: Transaction, event_id: str, reason: str) -> TxResult:
        s = self.state
        s.acts_rejected[reason] = s.acts_rejected.get(reason, 0) + 1
        if reason != "malformed":  # as for events: a malformed payload is no counted act
            s.rejected += 1
        return TxResult(tx.tx_id, tx.kind, event_id, False, reason, ())

    def _check(self, env: Envelope, now: int) -> tuple[str, tuple[Flag, ...]]:
        s = self.state
        if env.event_id in s.events:
            return "duplicate_event", ()
        if env.event_time_ticks > now:
            return "future_time", ()
        if self.mode != COMMITTED:
            return "", ()
        if env.kind == "ship":
            if env.values["shipment"] in s.commitments:
                return "duplicate_shipment", ()
            s.commitments[env.values["shipment"]] = env.values["quantity_g"]
        elif env.kind == "receive":
            shipped = s.commitments.get(env.values["shipment"])
            if shipped is None:
                return "", ()  # the lane judges an unknown shipment (unknown_shipment)
            if not env.opening:
                s.bad_openings += 1
                return "bad_opening", ()
            d, r = env.opening[0], int.from_bytes(env.opening[1], "little")
            try:
                ok, d = pc.conservation(shipped, [env.values["quantity_g"]], d, r,
                                        self.tolerance_g)
            except pc.OpeningError:
                s.bad_openings += 1
                return "bad_opening", ()
            if not ok:
                return "", (Flag("discrepancy", env.values["shipment"], env.event_id, now,
                                 f"opened discrepancy {d} g beyond {self.tolerance_g} g"),)
        return "", ()


def rules_checkable_share(mode: str) -> dict[str, float]:
    """The share of the chaincode's flag kinds each kind of checker can check in `mode`."""
    who = [CHECKS[k][mode][0] for k in CHECKS]
    return {w: round(who.count(w) / len(who), 4) for w in ("all", "commitments", "lane", "none")}

