"""The trade's private collections in a private mode (`[privacy] mode`, docs/privacy.md).

Owns, for the simulated world: which nations an event's record goes to (its lane: the nations
of the shipment's declared route, the filing nation, and with `[privacy] oversight_access =
"all"` the oversight nations), the per-recipient delivery of each record through the kernel's
clock (one delivery per recipient, so a static per-nation ACL could guard each one live), what
each nation received and stored, the members' checks of each record against the shared chain,
the lane's verdict: the chaincode of nodes/app/chaincode.py run on the opened plaintext, whose
flags are then sorted by `nodes.app.privacy.CHECKS` into those every nation checks, those the
lane checks and those not checkable in the mode, counted, never dropped silently; a flag only
the lane can check reaches the other nations as a verdict signed by one member of the lane
and committed on the shared chain (a `verdict` transaction, nodes/app/privacy.py), which every
nation checks before it counts the flag; and selective disclosure (`oversight_access =
"on_flag"`): a flagged subject's trail, granted to the oversight nations by a member of its lane
that agrees to (`[privacy] grantors`) in a signed `grant` transaction, and sent once the grant
is on the chain.

The lane's judgement comes from one plaintext chaincode standing for the members of every lane:
each rule it applies reads only data that some member of the event's lane holds (CHECKS says
which); the member that signs the verdict is one that opened the record. May not know:
Byzantine behaviours, the oracle's ground truth.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Callable

from nodes import Transaction
from nodes.app.chaincode import Chaincode, Flag, TxResult
from nodes.app.privacy import (CHECKS, COMMITTED, GRANT, LANE_ACTS, RECORD_BYTES_MAX, VERDICT,
                               EnvelopeError, OpeningRejected, SealedChaincode, decode_envelope,
                               decode_lane_act, hidden_fields, open_record,
                               rules_checkable_share, seal, sign_lane_act)
from nodes.chain.codec import CodecError, pack, unpack

PRIVATE_DELIVERY_TICKS = 1  # a record reaches each lane member a tick after filing
PRIVATE_RETRY_TICKS = 100  # a member that is down gets it when it is back
LANE_ACT_TICKS = 1  # a lane member files its verdict or grant a tick after it decides
# Flags that disclose nothing to the oversight nations: a fact about a declared route, which
# licit trade on it gets too (scenarios/trade/oracle.py, ROUTE_FLAGS)
NOT_DISCLOSED = ("dark_hop",)
EXTRA_RECORDS_MAX = 4  # live: other records one sender may add for one (nation, event)
# Live: what one sender's records may hold in one recipient's store while their envelopes are
# not on the chain yet; a record past either limit is rejected `pending_full`. Far above an
# honest filer's records in flight (one per custody event it files before the next commit),
# they keep a member that sends records for events it never files from filling another's
# memory.
PENDING_RECORDS_MAX = 2048
PENDING_BYTES_MAX = 16 * 1024 * 1024


class PrivateLanes:
    def __init__(self, world, mode: str, oversight: tuple[str, ...], tolerance_g: int,
                 view: Chaincode, oversight_access: str = "all",
                 grantors: tuple[str, ...] | None = None) -> None:
        self.world, self.mode, self.oversight, self.tolerance_g = world, mode, oversight, \
            tolerance_g
        # "all": the oversight nations are on every lane; "on_flag": a lane member grants them
        # a subject's trail when the lane flags it (selective disclosure), if it is one of
        # `grantors` (None: every nation grants)
        self.oversight_access = oversight_access
        self.grantors = None if grantors is None else frozenset(grantors)
        self.envelopes: dict[str, object] = {}  # event id -> its envelope on the chain
        self.filers: dict[str, str] = {}  # event id -> the nation that filed it
        self.granted: dict[str, set[str]] = {n: set() for n in oversight}
        self.disclosed_records = 0
        # How a lane member puts a signed act on the chain: `file(nation, kind, payload)`,
        # set by the trade workload (a transaction signed by that nation, resubmitted until
        # committed). None: acts are not filed (a lane flag then reaches no other nation).
        self.file: Callable[[str, str, bytes], None] | None = None
        self.acts = {k: {"filed": 0, "accepted": 0, "rejected": {}} for k in LANE_ACTS}
        self.verdict_flags: dict[str, int] = {}  # flag kind -> on a signed verdict, counted
        self.verdicts_by_signer: dict[str, int] = {}
        self.grant_decided: set[str] = set()  # subjects whose lane was asked for a grant
        self.grants_refused: dict[str, int] = {}  # nation -> grants it refused
        self.subjects_refused = 0  # flagged subjects no member of the lane would grant
        self.disclosable: set[tuple[str, str]] = set()  # live: (grantee, event id) granted
        self.disclosure_log: list[tuple[int, str, str]] = []  # (tick, grantee, event id)
        self.grant_ticks: dict[str, int] = {}  # subject -> tick its first grant was committed
        self.requests: dict[str, int] = {}
        self.view = view  # the lanes' plaintext chaincode
        self.rng = world.stream("privacy")
        # Salts and blindings: the seeded stream in the simulated world; live, the cluster
        # driver sets os.urandom.
        self.randbytes: Callable[[int], bytes] = self.rng.randbytes
        # How a record reaches a lane member: None schedules it in the simulated world; live,
        # `courier(filer, recipient, record)` publishes it on the recipient's private topic
        # (nodes/live/private.py) and `receive` takes what arrives.
        self.courier: Callable[[str, str, bytes], None] | None = None
        # Live: other records received for an event already held, tried in turn when the
        # envelope is opened (a hostile sender cannot shadow the filer's record by sending
        # first, nor crowd it out: at most EXTRA_RECORDS_MAX per sender), as (sender, record)
        self.extra: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
        # Live: (recipient, sender) -> {event id: bytes} of the records kept whose envelope is
        # not judged yet (PENDING_RECORDS_MAX, PENDING_BYTES_MAX), and event id -> those keys
        self.pending: dict[tuple[str, str], dict[str, int]] = {}
        self.pending_bytes: dict[tuple[str, str], int] = {}
        self.pending_by_event: dict[str, set[tuple[str, str]]] = {}
        # Live: block id -> the lanes' verdict on it (see `verdicts`); None in the simulated
        # world, which asks once per height
        self.verdict_memo: dict[bytes, tuple] | None = None
        self.members = set(world.nations)
        self.stores: dict[str, dict[str, bytes]] = {n: {} for n in world.nations}
        self.opened: dict[tuple[str, str], tuple] = {}  # (nation, event id) -> (event, blinds)
        self.ship_event: dict[str, str] = {}  # shipment id -> its ship event id
        self.received_bytes = {n: 0 for n in world.nations}
        self.deliveries = 0
        self.openings_rejected: dict[str, int] = {}
        self.raised = {k: 0 for k in CHECKS}
        self.by_checker: dict[str, dict[str, int]] = {
            w: {} for w in ("all", "commitments", "lane", "none")}
        self.superseded = 0  # lane flags a check on commitments makes for every nation
        self.seal_ns = self.open_ns = 0
        self.sealed = self.opened_events = 0

    def chaincode(self, chain_id: str) -> SealedChaincode:
        world = self.world
        keys = {n.code: n.public_key for n in world.genesis.nations}
        return SealedChaincode(chain_id, self.mode, self.tolerance_g, keys, world.verifier,
                               self.oversight)

    def lane(self, filer: str, route: tuple[str, ...]) -> tuple[str, ...]:
        nations = (filer, *route, *(self.oversight if self.oversight_access == "all" else ()))
        return tuple(n for n in dict.fromkeys(nations) if n in self.members)

    # ------------------------------------------------------------------ filing

    def seal(self, filer: str, kind: str, event_id: str, event_time: int, fields: dict,
             cosigs: tuple, route: tuple[str, ...]) -> bytes:
        """The envelope for the chain; the record is stored by the filer and sent to the rest
        of the lane, one delivery each."""
        lane = self.lane(filer, route)
        shipped = None
        if self.mode == COMMITTED and kind == "receive":
            ship = self.opened.get((filer, self.ship_event.get(fields["shipment"], "")))
            if ship is not None:
                event, blindings = ship
                shipped = (b"", event["quantity_g"], blindings["quantity_g"])
        start = time.perf_counter_ns()
        envelope, record = seal(self.mode, kind, event_id, event_time, fields, cosigs, lane,
                                self.randbytes, shipped)
        self.seal_ns += time.perf_counter_ns() - start
        self.sealed += 1
        if kind == "ship":
            self.ship_event[fields["shipment"]] = event_id
        self.stores[filer][event_id] = record
        for nation in lane:
            if nation == filer:
                continue
            if self.courier is not None:
                self.courier(filer, nation, record)
            else:
                self.world.schedule(self.world.now + PRIVATE_DELIVERY_TICKS, self._deliver,
                                    nation, event_id, record)
        return envelope

    def receive(self, nation: str, sender: str, record: bytes) -> None:
        """Live: a record that reached `nation`'s records office from `sender` (the broker
        vouches for the sender, not for the content). Kept under its event id until the
        envelope is on the chain, where `_open` checks it against the commitment; checked at
        once if that envelope has been judged already (a record held up by a broker outage),
        and kept only if it opens; one that is not a record at all is rejected now
        (`malformed_record`). Rejections are counted, never raised."""
        try:
            raw = unpack(record, bytes_max=RECORD_BYTES_MAX)
        except CodecError:
            raw = None
        if (not isinstance(raw, tuple) or len(raw) != 4 or raw[0] != "record"
                or not isinstance(raw[1], str) or nation not in self.stores):
            self._reject("malformed_record")
            return
        event_id = raw[1]
        self.received_bytes[nation] += len(record)
        self.deliveries += 1
        store = self.stores[nation]
        env = self.envelopes.get(event_id)
        if env is not None and (nation, event_id) in self.opened:
            return  # opened already: another copy can change nothing
        if env is not None:
            # Late (a broker outage), or a record disclosed under a grant on the chain: its
            # envelope has been judged already; checked now.
            disclosed = (nation, event_id) in self.disclosable
            if nation not in env.lane and not disclosed:
                self._reject("not_on_lane")
                return
            try:
                self.opened[(nation, event_id)] = open_record(self.mode, env, record)
            except OpeningRejected as exc:
                self._reject(exc.reason)
                return
            store[event_id] = record
            if disclosed:
                self.disclosed_records += 1
                self.disclosure_log.append((self.world.now, nation, event_id))
            return
        # Not on the chain yet: kept until its envelope is judged, within the sender's share.
        extra = self.extra.get((nation, event_id), [])
        if event_id in store and (record == store[event_id] or any(r == record
                                                                 for _, r in extra)):
            return  # a resend
        if event_id in store and sum(s == sender for s, _ in extra) >= EXTRA_RECORDS_MAX:
            self._reject("too_many_records")
            return
        key = (nation, sender)
        held = self.pending.setdefault(key, {})
        used = self.pending_bytes.get(key, 0)
        if len(held) >= PENDING_RECORDS_MAX or used + len(record) > PENDING_BYTES_MAX:
            self._reject("pending_full")
            return
        held[event_id] = held.get(event_id, 0) + len(record)
        self.pending_bytes[key] = used + len(record)
        self.pending_by_event.setdefault(event_id, set()).add(key)
        if event_id not in store:
            store[event_id] = record
        else:
            self.extra.setdefault((nation, event_id), []).append((sender, record))

    def _settle(self, env) -> None:
        """Live: the envelope of records kept while it was not judged is on the chain now:
        their senders' shares are free again, and a record held by a nation outside the lane
        (nobody opens it) is dropped, counted `not_on_lane`."""
        for key in sorted(self.pending_by_event.pop(env.event_id, ())):
            nation, _ = key
            self.pending_bytes[key] -= self.pending[key].pop(env.event_id)
            if nation not in env.lane and env.event_id in self.stores[nation]:
                del self.stores[nation][env.event_id]
                self.extra.pop((nation, env.event_id), None)
                self._reject("not_on_lane")

    def _reject(self, reason: str) -> None:
        self.openings_rejected[reason] = self.openings_rejected.get(reason, 0) + 1

    def _deliver(self, nation: str, event_id: str, record: bytes) -> None:
        if not self.world.is_up(nation):
            self.world.schedule(self.world.now + PRIVATE_RETRY_TICKS, self._deliver, nation,
                                event_id, record)
            return
        self.stores[nation][event_id] = record
        self.received_bytes[nation] += len(record)
        self.deliveries += 1

    # ------------------------------------------------------------------ the lanes' verdicts

    def verdicts(self, block, committed) -> tuple[tuple[Flag, ...], tuple[TxResult, ...]]:
        """The block as the consortium learns it: the chain's own results, with each accepted
        envelope replaced by its lane's verdict (the plaintext chaincode on the opened record),
        whose flags are sorted by who can check them. Applies the block to the lanes' view.
        Live (`verdict_memo` set), the driver asks as each block becomes canonical and its
        replay of the run asks again: the second asking gets the first answer."""
        memo = self.verdict_memo
        if memo is not None and block.block_id in memo:
            return memo[block.block_id]
        verdict = self._verdicts(block, committed)
        if memo is not None:
            memo[block.block_id] = verdict
        return verdict

    def _verdicts(self, block, committed) -> tuple[tuple[Flag, ...], tuple[TxResult, ...]]:
        view = self.view
        # the chaincode's begin-block flags (overdue) read public times: every nation's check
        flags = [f for f in (self._sort(f, "lane") for f in view.begin_block(block.time_ticks))
                 if f is not None]
        for flag in flags:  # a shipment overdue: its ship event's lane is asked for a grant
            ship = self.envelopes.get(self.ship_event.get(flag.subject, ""))
            if ship is not None:
                self._ask_grant(flag, ship)
        out = []
        for tx, chain in zip(block.txs, committed.results):
            if tx.kind in LANE_ACTS:
                out.append(self._on_act(tx, chain, flags))
                continue
            if tx.kind == "payload" or not chain.accepted:
                out.append(chain)
                continue
            env = decode_envelope(self.mode, tx.kind, tx.payload)  # the chain accepted it
            self.envelopes[env.event_id] = env
            payload = self._open(env)
            if self.pending_by_event:
                self._settle(env)
            if payload is None:
                out.append(TxResult(tx.tx_id, tx.kind, env.event_id, False, "unopened", ()))
                continue
            plain = Transaction(tx.kind, tx.signer, tx.nonce, payload, tx.signature, tx.tx_id)
            self.filers[env.event_id] = tx.signer
            lane = view.apply_tx(plain, block.time_ticks)
            kept = [f for f in (self._sort(f, "lane") for f in lane.flags) if f is not None]
            # What only the lane can check goes to the others as its signed verdict
            attested = [f for f in kept if CHECKS[f.kind][self.mode][0] == "lane"]
            kept = [f for f in kept if f not in attested]
            self._attest(env, tx.signer, attested)
            kept += [f for f in (self._sort(f, "chain") for f in chain.flags) if f is not None]
            for flag in kept:
                self._ask_grant(flag, env)
            out.append(TxResult(tx.tx_id, tx.kind, lane.event_id, lane.accepted, lane.reason,
                                tuple(kept)))
        return tuple(flags), tuple(out)

    # ------------------------------------------------------------------ the lanes' signed acts

    def _filer(self, env) -> str:
        return self.filers.get(env.event_id, env.lane[0])

    def _attest(self, env, filer: str, flags: list[Flag]) -> None:
        """A member of the lane that opened the record (not its filer when another did, nor
        an oversight nation) signs the lane's verdict on the event and files it."""
        if not flags or self.file is None:
            return
        opened = [n for n in env.lane if (n, env.event_id) in self.opened]
        signer = next((n for n in opened if n != filer and n not in self.oversight),
                      opened[0] if opened else None)
        if signer is None:
            return
        content = tuple(dict.fromkeys((f.kind, f.subject) for f in flags))
        self._file_act(signer, VERDICT, env.event_id, content)

    def _ask_grant(self, flag: Flag, env) -> None:
        """On a flag every nation knows (`on_flag`), the lane's members are asked in turn to
        grant the oversight nations the subject's trail: one that is not among the grantors
        refuses (counted); the first that is files a signed grant."""
        if (self.oversight_access != "on_flag" or not self.oversight
                or flag.kind in NOT_DISCLOSED or flag.subject in self.grant_decided):
            return
        self.grant_decided.add(flag.subject)
        for nation in env.lane:
            if nation in self.oversight:
                continue
            if self.grantors is not None and nation not in self.grantors:
                self.grants_refused[nation] = self.grants_refused.get(nation, 0) + 1
                continue
            if (nation, env.event_id) in self.opened or nation == self._filer(env):
                self._file_act(nation, GRANT, env.event_id, (flag.subject, self.oversight))
                return
        self.subjects_refused += 1

    def _file_act(self, nation: str, kind: str, event_id: str, content: tuple) -> None:
        if self.file is None:
            return
        world = self.world
        payload = sign_lane_act(world.genesis.chain_id, world.identities[nation], kind,
                                event_id, content)
        self.acts[kind]["filed"] += 1
        world.schedule(world.now + LANE_ACT_TICKS, self.file, nation, kind, payload)

    def _on_act(self, tx: Transaction, chain: TxResult, flags: list[Flag]) -> TxResult:
        """A verdict or grant on the chain, as every nation checked it (the chain's result):
        a verdict's flags join the block's, counted as resting on a signed verdict; a grant
        lets the grantor send the trail. The result carries no event: the oracle judges the
        flags, not the act."""
        tally = self.acts[tx.kind]
        if not chain.accepted:
            tally["rejected"][chain.reason] = tally["rejected"].get(chain.reason, 0) + 1
            return TxResult(tx.tx_id, tx.kind, "", False, chain.reason, ())
        tally["accepted"] += 1
        act = decode_lane_act(tx.kind, tx.payload)  # the chain accepted it
        if tx.kind == VERDICT:
            self.verdicts_by_signer[act.signer] = self.verdicts_by_signer.get(act.signer, 0) + 1
            env = self.envelopes.get(act.event_id)
            for flag in chain.flags:
                self.verdict_flags[flag.kind] = self.verdict_flags.get(flag.kind, 0) + 1
                flags.append(flag)
                if env is not None:
                    self._ask_grant(flag, env)
        else:
            self.grant_ticks.setdefault(act.content[0], self.world.now)
            self._disclose(act.signer, *act.content)
        return TxResult(tx.tx_id, tx.kind, "", True, "", ())

    def _open(self, env) -> bytes | None:
        """Every lane member that holds the record checks it against the chain; the plaintext
        payload of the first that opens it, or None (the reasons are counted)."""
        payload = None
        held = False
        for nation in env.lane:
            store = self.stores.get(nation, {})
            record = store.get(env.event_id)
            if record is None:
                continue
            held = True
            others = self.extra.pop((nation, env.event_id), ())
            for record in (record, *(r for _, r in others)):
                start = time.perf_counter_ns()
                try:
                    event, blindings = open_record(self.mode, env, record)
                except OpeningRejected as exc:
                    self._reject(exc.reason)
                    continue
                finally:
                    self.open_ns += time.perf_counter_ns() - start
                    self.opened_events += 1
                store[env.event_id] = record  # the one that opens is what the nation keeps
                self.opened[(nation, env.event_id)] = (event, blindings)
                if payload is None:
                    payload = _payload_of(record)
                break
        if not held:
            self.openings_rejected["record_missing"] = \
                self.openings_rejected.get("record_missing", 0) + 1
        return payload

    # ------------------------------------------------------------------ selective disclosure

    def _trail(self, subject: str) -> list[str]:
        """The event ids of `subject`'s trail as the lanes' records hold it: a shipment, its
        lot and the lot its receipt made; a lot and the lots made from it."""
        state = self.view.state
        subjects = {subject}
        shipment = state.shipments.get(subject)
        if shipment is not None:
            subjects.add(shipment.lot)
        subjects |= {lot.id for lot in state.lots.values() if lot.origin in subjects}
        events: list[str] = []
        for s in sorted(subjects):
            events += [e for e in state.lot_history.get(s, ()) if e not in events]
        return events

    def _disclose(self, grantor: str, subject: str, grantees: tuple[str, ...]) -> None:
        """A grant is on the chain: the grantor sends each grantee the records it holds of the
        subject's trail, one delivery each (live, on the grantee's private topic)."""
        store = self.stores[grantor]
        for nation in grantees:
            if nation not in self.granted or subject in self.granted[nation]:
                continue
            self.granted[nation].add(subject)
            for event_id in self._trail(subject):
                record = store.get(event_id)
                if record is None or event_id in self.stores[nation]:
                    continue
                if self.courier is not None:
                    self.disclosable.add((nation, event_id))
                    self.courier(grantor, nation, record)
                else:
                    self.world.schedule(self.world.now + PRIVATE_DELIVERY_TICKS,
                                        self._receive_disclosure, nation, event_id, record)

    def _receive_disclosure(self, nation: str, event_id: str, record: bytes) -> None:
        """An oversight nation stores a disclosed record and checks it against the chain."""
        self._deliver(nation, event_id, record)
        self.disclosed_records += 1
        self.disclosure_log.append((self.world.now, nation, event_id))
        try:
            self.opened[(nation, event_id)] = open_record(self.mode, self.envelopes[event_id],
                                                          record)
        except OpeningRejected as exc:
            self.openings_rejected[exc.reason] = self.openings_rejected.get(exc.reason, 0) + 1

    def request(self, requester: str, subject: str) -> str:
        """A nation asks for the openings of `subject`'s trail: "granted" to an oversight
        nation holding the grant; otherwise refused with a reason, counted, nothing sent."""
        if requester not in self.oversight:
            reason = "not_oversight"
        elif subject not in self.granted[requester]:
            reason = "no_grant"
        else:
            reason = "granted"
        self.requests[reason] = self.requests.get(reason, 0) + 1
        return reason

    def _sort(self, flag: Flag, source: str) -> Flag | None:
        """Who checks `flag` in this mode; None when it goes no further (counted)."""
        who, _ = CHECKS[flag.kind][self.mode]
        if source == "lane":
            self.raised[flag.kind] += 1
            if who == "commitments":
                self.superseded += 1  # every nation checks it on the commitments instead
                return None
        tally = self.by_checker[who]
        tally[flag.kind] = tally.get(flag.kind, 0) + 1
        if who == "none":
            return None
        if source == "lane":  # its detail quotes the plaintext (masses, operators): withheld
            return replace(flag, detail=f"raised on the lane's records (checkable by {who}); "
                                        f"the detail stays with the lane")
        return flag

    # ------------------------------------------------------------------ export and summary

    def public_fields(self, tx: Transaction) -> tuple[dict, int | None]:
        """The fields of `tx` every nation reads on the chain (hidden ones None or their
        commitment, `_hidden` naming them), and the event's time. A lane act: what it says."""
        if tx.kind in LANE_ACTS:
            try:
                act = decode_lane_act(tx.kind, tx.payload)
            except EnvelopeError:
                return {}, None
            if tx.kind == VERDICT:
                return {"event": act.event_id, "signed_by": act.signer,
                        "subject": act.content[0][1],
                        "flags": [list(f) for f in act.content]}, None
            return {"event": act.event_id, "signed_by": act.signer, "subject": act.content[0],
                    "grantees": list(act.content[1])}, None
        try:
            env = decode_envelope(self.mode, tx.kind, tx.payload)
        except EnvelopeError:
            return {}, None
        fields = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in env.values.items()}
        fields["_hidden"] = list(hidden_fields(self.mode, tx.kind))
        fields["_lane"] = list(env.lane)
        if env.commitment:
            fields["_commitment"] = env.commitment.hex()
        if env.opening:
            fields["_opened_discrepancy_g"] = env.opening[0]
        return fields, env.event_time_ticks

    def write_collections(self, path) -> None:
        """What each nation opened, one JSON line per (nation, event), for `chemtrace trace
        LOT --as NATION`: the plaintext fields of every record it holds and checked."""
        with path.open("w") as f:
            for (nation, event_id), (event, _) in sorted(self.opened.items()):
                fields = {k: (v.hex() if isinstance(v, bytes) else v)
                          for k, v in event.fields.items()}
                f.write(json.dumps({"nation": nation, "event": event_id, "fields": fields},
                                   sort_keys=True, default=list) + "\n")

    def summary(self) -> dict:
        return {
            "mode": self.mode, "oversight": list(self.oversight),
            "rules_checkable_share": rules_checkable_share(self.mode),
            "flags_raised_by_lane": {k: v for k, v in self.raised.items() if v},
            "flags_by_checker": {w: dict(sorted(t.items())) for w, t in self.by_checker.items()},
            "flags_superseded_by_commitments": self.superseded,
            "not_checkable": dict(sorted(self.by_checker["none"].items())),
            "openings_rejected": dict(sorted(self.openings_rejected.items())),
            "records_delivered": self.deliveries,
            "oversight_access": self.oversight_access,
            "subjects_disclosed": {n: len(g) for n, g in sorted(self.granted.items())},
            "records_disclosed": self.disclosed_records,
            "disclosure_requests": dict(sorted(self.requests.items())),
            # the lanes' signed acts on the chain, as every nation checked them
            "lane_verdicts": {**_act_summary(self.acts[VERDICT]),
                              "by_signer": dict(sorted(self.verdicts_by_signer.items()))},
            "flags_on_signed_verdicts": dict(sorted(self.verdict_flags.items())),
            "grants": {**_act_summary(self.acts[GRANT]),
                       "refused_by_nation": dict(sorted(self.grants_refused.items())),
                       "subjects_refused": self.subjects_refused},
            "record_bytes_received_by_nation": dict(sorted(self.received_bytes.items())),
            "seal_us_per_event": round(self.seal_ns / 1000 / self.sealed, 1)
            if self.sealed else None,
            "open_us_per_check": round(self.open_ns / 1000 / self.opened_events, 1)
            if self.opened_events else None,
        }


def _act_summary(tally: dict) -> dict:
    return {"filed": tally["filed"], "accepted": tally["accepted"],
            "rejected": dict(sorted(tally["rejected"].items()))}


def _payload_of(record: bytes) -> bytes:
    return unpack(record)[2]  # a record that opened: well formed


def chain_bytes(tx: Transaction) -> int:
    """What one transaction costs on the chain: its wire form."""
    return len(pack(tx.to_wire()))
