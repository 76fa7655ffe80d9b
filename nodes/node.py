"""One nation's node: the glue between bytes on the wire, the ledger and the consensus core.

Theory of operation
-------------------

A `Node` is sans-I/O like the core it wraps. A runtime (the simulated world, or the live MQTT
process) calls

    actions = node.start(now_ticks)
    actions = node.on_bytes(data, now_ticks)          # a message from the network
    actions = node.on_timer(now_ticks)                # a deadline from `next_deadline()` passed
    actions = node.submit(tx, now_ticks)              # a client's transaction

and carries out the returned actions: `SendAll`/`SendTo` bytes, and records `Committed`,
`Dropped` and `Misbehaviour` for its oracles and metrics.

Incoming bytes pass three gates before the core sees them: `wire.decode` (structure and limits),
the sender check (a genesis nation, and for consensus messages the one that signed), and the
signature check through the shared `VerifyCache`. Anything that fails is dropped and counted by
reason, never raised: a hostile peer cannot crash a node.

The core's effects are carried out in order. `Persist` writes the write-ahead record before the
`Broadcast` that follows it. A broadcast is signed here, sent to the peers and looped straight
back into this node's own core, so its own votes are counted signed like everyone else's.

State sync: a node that sees consensus messages two or more heights ahead, or one height ahead
for longer than `sync_lag_ticks`, asks a peer for blocks from its own next height, and asks again
every `sync_retry_ticks` until an answer is applied: both are deadlines of the node's own
(`next_deadline`), so a request leaves at that tick, never later for want of a message or a
wake-up to prompt it, and no other wake-up moves it. The peers heard from at a higher height take
turns, in code order, and one whose answer failed its checks goes last. Each block in the answer
must extend its chain, carry a valid commit certificate (more than 2/3 of the power in signed
precommits for that block) and pass `valid()`, or the answer is dropped.

Work a Byzantine validator can cause is bounded. A proposal more than `PROPOSAL_ROUNDS_NEAR`
rounds ahead of the node's round (of round 0, for a later height) is held unvalidated, at most
`PROPOSALS_HELD_PER_SENDER_MAX` and `PROPOSAL_BYTES_HELD_PER_SENDER_MAX` bytes per sender (its
farthest dropped first, `ahead_full`), and goes to the core, which validates it, only once the
node's round comes near. Votes far ahead go to the core at once, since f+1 of them at a round
make the core skip to it (line 55); the core keeps at most four values per voter, round and step.
Sync answers are rate-limited per requester (`sync_rate_limited`): a token bucket in ticks, in
answers and in bytes, spent only once the request's signature has passed.

Gossip: the paper's liveness argument assumes that a message a correct process received is
eventually received by every correct process. Links here lose messages and nations restart, so a
node whose (height, round) has not moved for `rebroadcast_ticks` resends its own messages of the
height, and if it is still stuck at the next resend, also relays, verbatim, the signed messages
of others that justify its state: the proposal, the polka behind its valid value and its lock,
and the precommits of its round (`Replica.justification`). A digest is remembered as seen
only if the core had room for the message, so a resend of a message that came too early counts
once the node has caught up; a node's own message from the network is a replay only if its
write-ahead record holds it (after a wipe, its old votes count again).

Hooks: a node built with `hooks` (nodes/hooks.py) calls them at the declared points only: what
it emits, how it builds a block, how it answers sync, after each core event, after a block is
applied or committed, after a peer's consensus message is delivered, its extra deadlines and
timer work, two checks it may skip, and the validators, timeouts and rules its replica is built
with. The honest node is the node with no hooks, and each point costs it one `is not None`
test. The public methods a hook uses (`send`, `build_block`, `answer_sync`, `sign`, `valid`,
`now_ticks`, `ahead_height`, `peers`, `knows`) are the honest behaviour, not a way around it.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections import deque
from dataclasses import dataclass

from consensus import (
    FUTURE_HEIGHTS_MAX,
    ROUNDS_AHEAD_MAX,
    Broadcast,
    Decide,
    Evidence,
    Persist,
    Proposal,
    ProposeValue,
    Receive,
    Replica,
    RequestValue,
    Resume,
    SetTimeout,
    SkipToHeight,
    Start,
    Step,
    TimeoutConfig,
    Vote,
    WalRecord,
)

from nodes.hooks import NodeHooks
from nodes.chain.block import BLOCK_TX_BYTES_MAX, BLOCK_TXS_MAX, Block, CommittedBlock
from nodes.app.chaincode import Chaincode, Flag, TxResult, precursor_chaincode
from nodes.chain.codec import MESSAGE_BYTES_MAX
from nodes.chain.genesis import Genesis
from nodes.chain.identity import Identity, VerifyCache
from nodes.chain.ledger import Ledger, certificate_error
from nodes.chain.mempool import MEMPOOL_TXS_MAX, Mempool, wire_bytes_max
from nodes.app.shared import SharedApplication
from nodes.app.snapshot import SnapshotError, decode_state, encode_state
from nodes.chain.storage import MemoryStorage, StorageError
from nodes.chain.tx import Transaction
from nodes.wire.messages import (
    SYNC_BLOCKS_MAX,
    DecodeCache,
    MessageKind,
    SyncRequest,
    SyncResponse,
    TXS_PER_MESSAGE_MAX,
    TxBatch,
    WireError,
    encode_proposal,
    encode_sync_request,
    encode_sync_response,
    encode_txs,
    encode_vote,
    kind_of,
    proposal_signed_bytes,
    sync_request_sign_bytes,
    sync_response_sign_bytes,
    vote_signed_bytes,
)

# A node's duplicate filter (its bit in its decoder's `SeenTable`, answering as `SeenDigests`)
# keeps the newest SEEN_DIGESTS_MAX digests, and no more than SEEN_DIGESTS_BYTES_MAX bytes of
# them (DIGEST_ENTRY_BYTES each, 74,898 digests): the count binds first, as it did before the
# byte budget was added.
SEEN_DIGESTS_MAX = 65_536
SEEN_DIGESTS_BYTES_MAX = 8 * 1024 * 1024
GOSSIP_BATCH_TICKS_MAX = 10_000
# A certificate entry on the wire besides its voter's name: array and str headers, the round,
# the signature and its header (nodes/chain/block.py certificate_to_wire).
CERTIFICATE_ENTRY_BYTES_MAX = 1 + 5 + 9 + 66


# What kind_of gives a vote, for on_bytes, which inlines it.
_PREVOTE_KIND, _PRECOMMIT_KIND = MessageKind.PREVOTE, MessageKind.PRECOMMIT
_PREVOTE = Step.PREVOTE


def encode_message(signed: Proposal | Vote) -> bytes:
    return encode_proposal(signed) if isinstance(signed, Proposal) else encode_vote(signed)


EVIDENCE_MAX = 10_000
# The checks of valid() (Node.validity_fault), by name, in the order it makes them. A mutant may
# skip some (NodeHooks.skipped_checks); the `invalid_block` adversary breaks each one alone
# (scenarios/faults/adversaries.py), and tests/scenarios/test_validity_adversaries.py fails if
# a check here has no adversary, or the function makes one not named here.
VALIDITY_CHECKS = ("prev_hash", "proposer", "app_hash", "time", "duplicate_tx", "committed_tx",
                   "tx_signature")
# A proposal more than PROPOSAL_ROUNDS_NEAR rounds ahead of the round the node is in (of round 0
# for a later height) waits in the node, unvalidated, until the node's round comes within that
# distance: each sender may have PROPOSALS_HELD_PER_SENDER_MAX of them waiting, holding at most
# PROPOSAL_BYTES_HELD_PER_SENDER_MAX bytes of blocks; past that, its farthest are dropped
# (`ahead_full`). The paper's proposer of a round is one validator, so an honest one has at most
# one proposal a round, and rounds that far apart are rare.
PROPOSAL_ROUNDS_NEAR = 16
PROPOSALS_HELD_PER_SENDER_MAX = 4
PROPOSAL_BYTES_HELD_PER_SENDER_MAX = 16 * 1024 * 1024
# Sync answers per requester: a token bucket in ticks, in answers and in bytes (an answer may be
# MESSAGE_BYTES_MAX; a request is about 100 bytes). An honest node asks again only after an
# answer is applied, or every sync_retry_ticks.
SYNC_ANSWERS_BURST = 8
SYNC_ANSWER_TICKS = 20  # one answer's worth of tokens comes back every this many ticks
SYNC_ANSWER_BYTES_BURST = 2 * MESSAGE_BYTES_MAX
SYNC_ANSWER_BYTES_PER_TICK = 64 * 1024
RESEND_MESSAGES_MAX = 48
# Messages of others relayed per stall resend: a proposal and a polka for the valid value, the
# same for the lock, and this round's precommits, for up to about 20 validators.
RELAY_MESSAGES_MAX = 64
# Relay only from the second resend of one stall on: a round that is merely slow (latency or
# timeouts above rebroadcast_ticks) gets its own messages resent once, and only a round still
# stuck after that pays for the relays.
RELAY_AFTER_RESENDS = 1


def _slot(message: Proposal | Vote) -> tuple[str, int, int]:
    """(signer, round, step) of a message: a correct node signs at most one message a slot."""
    if isinstance(message, Proposal):
        return message.proposer, message.round, -1
    return message.voter, message.round, int(message.step)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    timeouts: TimeoutConfig = TimeoutConfig()
    block_txs_max: int = 500
    mempool_txs_max: int = MEMPOOL_TXS_MAX
    sync_lag_ticks: int = 200
    sync_retry_ticks: int = 200
    rebroadcast_ticks: int = 150
    # 0: gossip each client transaction at once, in a message of its own. N > 0: hold a
    # client's transactions up to N ticks and gossip them in one message (at most
    # TXS_PER_MESSAGE_MAX), so n nodes receive one delivery per batch instead of one per tx.
    gossip_batch_ticks: int = 0
    # With batching, 0: a batch goes to every peer. K > 0: only to the round-0 proposers of
    # the next K heights (who will put the transactions in blocks; every node still validates
    # each block), so a transaction costs K deliveries instead of n - 1. Meant for large
    # fault-free runs: if those proposers fail, the transaction waits in its own nation's pool
    # until that nation proposes (never lost, at most n heights later).
    gossip_peers: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.block_txs_max <= BLOCK_TXS_MAX:
            raise ValueError(f"block_txs_max must be 0 to {BLOCK_TXS_MAX}")
        if not 0 <= self.gossip_batch_ticks <= GOSSIP_BATCH_TICKS_MAX:
            raise ValueError(f"gossip_batch_ticks must be 0 to {GOSSIP_BATCH_TICKS_MAX}")
        if self.gossip_peers < 0:
            raise ValueError("gossip_peers must be 0 (every peer) or more")
        if self.rebroadcast_ticks < 1:
            raise ValueError("rebroadcast_ticks must be at least 1")


# ---------------------------------------------------------------- actions for the runtime


@dataclass(frozen=True, slots=True)
class SendAll:
    """Send `data` to every other nation."""

    data: bytes
    kind: str
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class SendTo:
    dst: str
    data: bytes
    kind: str
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Committed:
    """A block was appended to this node's ledger, by consensus or by state sync (`via`), and
    applied through the chaincode: `flags` raised at the block's start, `results` one per tx."""

    committed: CommittedBlock
    via: str
    results: tuple[TxResult, ...] = ()
    flags: tuple[Flag, ...] = ()
    # The application's state root before the block was applied: what its app_hash must be.
    root_before: bytes | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message passed every check and went to the core or the ledger."""

    kind: str
    sender: str
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    evidence: Evidence


def _weakly(method):
    """`method`, called through a weak reference to its object. The core calls back into its
    node to validate proposals: held strongly, node and core would form a reference cycle, and
    a dropped node (with its ledger, chaincode and votes) would wait for the cyclic collector
    instead of being freed at once."""
    ref = weakref.WeakMethod(method)

    def call(*args):
        return ref()(*args)

    return call


@functools.lru_cache(maxsize=1024)
def _dropped(reason: str, kind: str) -> Dropped:
    """One Dropped per (reason, kind), made once: a node drops every duplicate it receives."""
    return Dropped(reason, kind)


# One Delivered per (kind, sender, height, round), shared by the nodes that receive the same
# broadcast one after another: a hit costs a sixth of making a frozen dataclass, and each of
# the n - 1 receivers of a vote reports the same one. Actions are values, never changed.
_delivered = functools.lru_cache(maxsize=1024)(Delivered)

Action = SendAll | SendTo | Committed | Dropped | Delivered | Misbehaviour


class Node:
    def __init__(self, identity: Identity, genesis: Genesis, verifier: VerifyCache,
                 storage: MemoryStorage | None = None, config: NodeConfig | None = None,
                 chaincode: Chaincode | None = None,
                 decoder: DecodeCache | None = None,
                 shared: SharedApplication | None = None,
                 hooks: NodeHooks | None = None) -> None:
        """`verifier`, `decoder` and `shared` may be shared by the honest nodes of one process
        (each signature checked once, each message decoded once, each block validated and
        applied once); they only ever hold answers that are pure functions of their keys.
        `hooks` (nodes/hooks.py) change what this node does at the declared points; None is
        the honest node."""
        self.hooks = hooks
        if genesis.public_key(identity.name) != identity.public_key:
            raise ValueError(f"{identity.name}'s key is not the one in the genesis")
        self.identity = identity
        self.me = identity.name
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.validators = genesis.validators
        self.verifier = verifier
        # Shared by the nodes of one process, like the verifier: a broadcast is decoded once.
        self.decoder = decoder if decoder is not None else DecodeCache(genesis.chain_id)
        if self.decoder.chain_id != genesis.chain_id:
            raise ValueError("the decoder is for another chain: pass DecodeCache(genesis.chain_id)")
        self.shared = shared
        self.config = config or NodeConfig()
        self.storage = storage if storage is not None else MemoryStorage()
        self._keys = {n.code: n.public_key for n in genesis.nations}
        self.peers = tuple(n for n in genesis.codes if n != identity.name)
        self.ledger = Ledger(genesis,
                             shared.tx_index if shared is not None else None)
        # The application: the runtime's, or the precursor chaincode with the shipped registry.
        self.chaincode = chaincode or precursor_chaincode(genesis, verifier)
        # A live store may hand back a signed state snapshot: checked like a block here, then
        # only the blocks above it are replayed (_restore_snapshot).
        self.restored_from = self._restore_snapshot(getattr(self.storage, "snapshot", None))
        # A store remembers how far its blocks' signatures were checked (a memory store's
        # blocks never left the process: all of them).
        verified_height = getattr(self.storage, "verified_height", len(self.storage.blocks))
        stored = self.storage.blocks
        for index in range(self.restored_from, len(stored)):
            committed = stored[index]
            if committed.block.height > verified_height:
                self._check_stored(committed)
            # Recovery: our own blocks, re-applied through the chaincode to rebuild the state.
            # valid() accepted each block only with the state root before it as its app hash,
            # so a mismatch means the chaincode changed under stored blocks: refuse to start
            # rather than run with a state no other node has.
            if committed.block.app_hash != self.chaincode.state.root:
                raise StorageError(
                    f"{getattr(self.storage, 'path', 'storage')}: replaying the stored blocks "
                    f"gives a state that differs from block {committed.block.height}'s app hash; "
                    "the chaincode changed since they were written: run the chemtrace version "
                    "that wrote them, or restart this node from an empty --data folder")
            self.ledger.append(committed)
            self._apply_block(committed.block)
        if verified_height < len(self.storage.blocks):
            self.storage.mark_verified()
        self.mempool = Mempool(self.config.mempool_txs_max)
        self.dropped: dict[str, int] = {}
        validators, timeouts, rules = self.validators, self.config.timeouts, None
        record = self._checked_wal(self.storage.wal)
        if hooks is not None:
            validators = hooks.replica_validators(self, validators)
            timeouts = hooks.replica_timeouts(self, timeouts)
            rules = hooks.replica_rules(self)
            record = hooks.restored_record(self, record)
        self.replica = Replica(self.me, validators, _weakly(self.valid), timeouts,
                               height=self.ledger.height + 1, wal=record, rules=rules)
        self.evidence: list[Evidence] = []
        self._seen = self.decoder.seen.filter(SEEN_DIGESTS_MAX, SEEN_DIGESTS_BYTES_MAX)
        self._ahead_since: int | None = None
        self._ahead_height = 0
        # State sync asks, in turn, the peers heard from at a height above ours (at most one
        # entry per genesis nation), passing over those whose last answer failed its checks.
        self._ahead_peers: dict[str, int] = {}
        self._sync_failed: set[str] = set()
        self._sync_turn = 0
        self._sync_sent_at: int | None = None
        self._stall_key: tuple[int, int, int] | None = None
        self._stall_since = 0
        self._resends = 0
        self._resend_at_tick = self.config.rebroadcast_ticks  # see _stalled
        self.resends = 0
        # Peer -> validly signed blocks of height 1 (proposed, or sent by state sync) that do not
        # start from our genesis hash: that peer runs another genesis (a key, a power or the
        # chain id differs), and no block of its chain can ever be valid here.
        self.genesis_mismatch: dict[str, int] = {}
        self.relays = 0
        # Proposals far ahead, held unvalidated: [(height, round), proposal, digest, bytes].
        self._held: list[tuple[tuple[int, int], Proposal, bytes, int]] = []
        self._held_bytes: dict[str, int] = {}
        # Requester -> [answers, bytes, tick] of its sync token buckets.
        self._sync_buckets: dict[str, list[int]] = {}
        self._now = 0
        self._gossip: list[Transaction] = []  # client txs admitted, not gossiped yet
        self._gossip_due: int | None = None

    def _restore_snapshot(self, snapshot) -> int:
        """Start the ledger and the chaincode state from the store's snapshot (nodes/live/
        sqlite_storage.py), after checking it like a block: the block at its height carries
        a valid commit certificate (signed precommits of more than 2/3 of the power), and the
        state decodes to the root the snapshot names (which the store matched with the next
        stored block's app hash, and replay matches with every later one). The height it
        restored (0: none). A snapshot that fails is discarded by the store, which loads every
        block, and the node replays them all."""
        if snapshot is None:
            return 0
        fault = None
        try:
            committed = self.storage.blocks[snapshot.height - 1]
        except StorageError as exc:
            committed, fault = None, f"its block does not read back ({exc})"
        if committed is not None:
            fault = certificate_error(self.chain_id, self.validators, self._keys, self.verifier,
                                      committed.block, committed.certificate)
            fault = None if fault is None else f"block {snapshot.height}'s {fault}"
        if fault is None:
            try:
                state = decode_state(snapshot.state)
            except SnapshotError as exc:
                fault = f"its state does not decode ({exc})"
            else:
                if state.root != snapshot.state_root:
                    fault = "its state's root is not the root it names"
        if fault is not None:
            self.storage.discard_snapshot(fault)
            return 0
        self.chaincode.state = state
        # Transactions committed at or below the snapshot are looked up in the store's index.
        self.ledger.restore(self.storage.stored_view(snapshot.height), snapshot.block_id,
                            self.storage.stored_tx_ids())
        return snapshot.height

    def save_snapshot(self) -> int:
        """Have the store keep a signed snapshot of the state at the ledger's height (a store
        without `save_snapshot`, like the simulated world's, keeps none). The height kept, or
        0."""
        save = getattr(self.storage, "save_snapshot", None)
        height = self.ledger.height
        if save is None or height == 0:
            return 0
        state = self.chaincode.state
        save(height, encode_state(state), state.root)
        return height

    def _check_stored(self, committed: CommittedBlock) -> None:
        """Refuse a stored block whose certificate or transaction signatures do not hold, before
        it is applied or served: the store was damaged (or written by someone else)."""
        block = committed.block
        fault = certificate_error(self.chain_id, self.validators, self._keys, self.verifier,
                                  block, committed.certificate)
        if fault is None:
            for index, tx in enumerate(block.txs):
                if not self._tx_signature_ok(tx):
                    fault = f"transaction {index} ({tx.tx_id.hex()[:16]}) has a bad signature"
                    break
        if fault is not None:
            raise StorageError(
                f"{getattr(self.storage, 'path', 'storage')}: stored block {block.height} "
                f"fails its check: {fault}; the store is damaged and is not served: restore it "
                "from a backup, or move it aside and restart the node with an empty --data "
                "folder once the chain has passed the height of its write-ahead record (it "
                "catches up by state sync)")

    # ------------------------------------------------------------ for hooks (nodes/hooks.py)

    def use_hooks(self, hooks: NodeHooks | None) -> None:
        """From now on, behave as `hooks` say (None: honestly). The replica keeps the
        validators, timeouts and rules it was built with."""
        self.hooks = hooks

    @property
    def duplicate_filter(self):
        """The node's duplicate filter (read it; the node alone adds and discards in use)."""
        return self._seen

    @property
    def duplicate_filter_digests_max(self) -> int:
        """How many digests the duplicate filter holds at most: the count bound or the byte
        budget over DIGEST_ENTRY_BYTES, whichever is smaller."""
        return self._seen.entries_max

    @property
    def now_ticks(self) -> int:
        """The tick of the call being handled (start, on_bytes, on_timer, submit)."""
        return self._now

    @property
    def ahead_height(self) -> int:
        """The highest height a peer's consensus message showed us above our own (0 if
        none yet): what state sync catches up to."""
        return self._ahead_height

    def knows(self, name: str) -> bool:
        """Whether `name` is a nation of the genesis (has a key we check signatures with)."""
        return name in self._keys

    def timer_state(self) -> tuple:
        """What the node's own timer work reads and writes besides the replica, read-only:
        (stall key, stall since, resends, next resend tick, ahead since, sync sent at, sync
        turn). For tests that check a wake-up changed nothing."""
        return (self._stall_key, self._stall_since, self._resends, self._resend_at_tick,
                self._ahead_since, self._sync_sent_at, self._sync_turn)

    def sign(self, message: Proposal | Vote) -> Proposal | Vote:
        """`message` signed with this node's key."""
        return self._sign(message)

    def send(self, signed: Proposal | Vote, out: list[Action]) -> None:
        """The honest sending of one of our signed consensus messages: to every peer."""
        out.append(SendAll(encode_message(signed), kind_of(signed), signed.height, signed.round))

    # ------------------------------------------------------------ runtime entry points

    def start(self, now_ticks: int) -> list[Action]:
        self._now = now_ticks
        out: list[Action] = []
        self._run(Start(), out)
        self._track_progress(out)
        return out

    def next_deadline(self) -> int | None:
        deadline = self.replica.next_deadline()
        due = self._resend_at_tick
        if self._gossip_due is not None and self._gossip_due < due:
            due = self._gossip_due
        if self._ahead_since is not None:
            sync = self._sync_due()
            if sync < due:
                due = sync
        due = due if deadline is None or due < deadline else deadline
        if self.hooks is not None:
            extra = self.hooks.deadline(self)
            if extra is not None and (due is None or extra < due):
                due = extra
        return due

    def _nothing_due(self, now_ticks: int) -> bool:
        """Whether every step of on_timer(now_ticks) but the hooks' is a no-op: no gossip is
        due, no timeout, no sync request (_maybe_sync would send none before `_sync_due()`),
        and (height, round) has not moved without _track_progress seeing it, so no resend
        either."""
        if (now_ticks >= self._resend_at_tick
                or (self._ahead_since is not None and now_ticks >= self._sync_due())
                or (self._gossip_due is not None and now_ticks >= self._gossip_due)):
            return False
        r = self.replica
        key = self._stall_key
        return (key is not None and key[0] == r.height and key[1] == r.round
                and not r.due_timeouts(now_ticks))

    def timer_idle(self, now_ticks: int) -> bool:
        """Whether on_timer(now_ticks) would return no action and change nothing, so calling
        it again and again at this tick, with nothing else between, is as calling it once.
        Never for a node with hooks (their on_timer may act at any wake-up)."""
        return self.hooks is None and self._nothing_due(now_ticks)

    def idle_deadline(self, now_ticks: int) -> int | None:
        """`next_deadline()` when `timer_idle(now_ticks)`, else None: the one call a wake-up
        that comes too early needs (the simulated world's most frequent event)."""
        due = self._resend_at_tick
        if self.hooks is not None or now_ticks >= due:
            return None
        if self._ahead_since is not None:
            sync = self._sync_due()
            if now_ticks >= sync:
                return None
            if sync < due:
                due = sync
        gossip = self._gossip_due
        if gossip is not None:
            if now_ticks >= gossip:
                return None
            if gossip < due:
                due = gossip
        r = self.replica
        key = self._stall_key
        if key is None or key[0] != r.height or key[1] != r.round:
            return None
        pending = r.next_deadline()
        if pending is None:
            return due
        if pending <= now_ticks:
            return None  # a timeout is due
        return due if due < pending else pending

    def on_timer(self, now_ticks: int) -> list[Action]:
        self._now = now_ticks
        if self._nothing_due(now_ticks):
            # Most wake-ups come for a deadline that has since moved later.
            if self.hooks is None:
                return []
            out: list[Action] = []
            self.hooks.on_timer(self, now_ticks, out)
            return out
        out: list[Action] = []
        if self._gossip_due is not None and now_ticks >= self._gossip_due:
            self._flush_gossip(out)
        for timeout in self.replica.due_timeouts(now_ticks):
            self._run(timeout, out)
        self._maybe_sync(out)
        self._track_progress(out)
        if self.hooks is not None:
            self.hooks.on_timer(self, now_ticks, out)
        return out

    def submit(self, tx: Transaction, now_ticks: int) -> list[Action]:
        """A client hands this node a transaction: check it, pool it, gossip it."""
        self._now = now_ticks
        out: list[Action] = []
        if not self._admit(tx, out):
            return out
        if self.config.gossip_batch_ticks == 0:
            out.append(SendAll(self._txs_message((tx,)), "txs", self.replica.height, 0))
            return out
        self._gossip.append(tx)
        if self._gossip_due is None:
            self._gossip_due = now_ticks + self.config.gossip_batch_ticks
        if len(self._gossip) >= TXS_PER_MESSAGE_MAX or now_ticks >= self._gossip_due:
            self._flush_gossip(out)
        return out

    def _flush_gossip(self, out: list[Action]) -> None:
        """Gossip the held client transactions in one message (those committed meanwhile, by
        a block we proposed, are left out: peers have them)."""
        batches: list[tuple[Transaction, ...]] = []
        batch: list[Transaction] = []
        size = 0
        for tx in self._gossip:
            if self.ledger.has_tx(tx.tx_id):
                continue
            tx_bytes = wire_bytes_max(tx)
            if batch and size + tx_bytes > BLOCK_TX_BYTES_MAX:  # keep under the message limit
                batches.append(tuple(batch))
                batch, size = [], 0
            batch.append(tx)
            size += tx_bytes
        if batch:
            batches.append(tuple(batch))
        self._gossip.clear()
        self._gossip_due = None
        height = self.replica.height
        targets = self._next_proposers() if self.config.gossip_peers else None
        for txs in batches:
            data = self._txs_message(txs)
            if targets is None:
                out.append(SendAll(data, "txs", height, 0))
            else:
                out.extend(SendTo(peer, data, "txs", height, 0) for peer in targets)

    def _txs_message(self, txs: tuple[Transaction, ...]) -> bytes:
        """Our clients' `txs` as a gossip message; the nodes of this process that receive it
        will decode them as these objects, not as copies (DecodeCache.seed_txs)."""
        self.decoder.seed_txs(txs)
        return encode_txs(self.me, txs)

    def _next_proposers(self) -> list[str]:
        """The distinct round-0 proposers of the next gossip_peers heights, other than us."""
        out: list[str] = []
        height = self.replica.height + 1
        for h in range(height, height + self.config.gossip_peers):
            peer = self.validators.proposer(h, 0)
            if peer != self.me and peer not in out:
                out.append(peer)
        return out

    def submit_batch(self, txs: tuple[Transaction, ...], now_ticks: int) -> list[Action]:
        """A client hands this node many transactions at once (the live runtime's submit
        topic): each is checked and pooled, and those admitted are gossiped in messages of up
        to TXS_PER_MESSAGE_MAX, never one message per transaction."""
        self._now = now_ticks
        out: list[Action] = []
        admitted = [tx for tx in txs if self._admit(tx, out)]
        for start in range(0, len(admitted), TXS_PER_MESSAGE_MAX):
            chunk = tuple(admitted[start:start + TXS_PER_MESSAGE_MAX])
            out.append(SendAll(self._txs_message(chunk), "txs", self.replica.height, 0))
        return out

    def on_bytes(self, data: bytes, now_ticks: int) -> list[Action]:
        """Bytes from the network. Never raises for anything a peer can send."""
        self._now = now_ticks
        out: list[Action] = []
        if data.__class__ is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)  # transports may hand us views; the replay digest needs bytes
            if not isinstance(data, bytes):
                self._drop("malformed", "unknown", out)
                return out
        decoder = self.decoder
        digest = decoder.digest(data)
        if digest in self._seen:
            self._drop("duplicate", "unknown", out)
            return out
        try:
            message = decoder.decode(digest, data)
        except WireError:
            self._drop("malformed", "unknown", out)
            return out
        self._remember(digest)
        cls = message.__class__
        if cls is Vote:  # kind_of, inlined for the most frequent message
            kind = _PREVOTE_KIND if message.step is _PREVOTE else _PRECOMMIT_KIND
        else:
            kind = kind_of(message)
        if cls is Vote or isinstance(message, (Proposal, Vote)):
            replica = self.replica
            ahead = message.height > replica.height
            ignored = replica.messages_ignored
            self._on_consensus(message, kind, digest, out)
            if ahead and self.replica.messages_ignored != ignored:
                # The core had no room for it (too many heights ahead, or the sender's share of
                # the future buffer full). Forget the digest: once we catch up (by state sync),
                # the sender's resend of these very bytes must count, not be a "duplicate".
                self._seen.discard(digest)
        elif isinstance(message, TxBatch):
            self._on_txs(message, out)
        elif isinstance(message, SyncRequest):
            if self.hooks is None:
                self.answer_sync(message, out)
            else:
                self.hooks.answer_sync(self, message, out)
        else:
            self._on_sync_response(message, out)
        if self._ahead_since is not None:  # else _maybe_sync returns at once
            self._maybe_sync(out)
        r, key = self.replica, self._stall_key
        if (key is None or key[0] != r.height or key[1] != r.round
                or self._now >= self._resend_at_tick):  # else _track_progress returns at once
            self._track_progress(out)
        return out

    # ------------------------------------------------------------ incoming messages

    def _on_consensus(self, message: Proposal | Vote, kind: str, digest: bytes,
                      out: list[Action]) -> None:
        is_proposal = message.__class__ is Proposal or (message.__class__ is not Vote
                                                         and isinstance(message, Proposal))
        sender = message.proposer if is_proposal else message.voter
        key = self._keys.get(sender)
        if key is None:
            self._drop("unknown_sender", kind, out)
            return
        if sender == self.me and self._in_own_record(message):
            # Our own messages reach us through the loop-back; a copy from the network is a
            # replay. One we have no record of (we restarted from a wiped disk, or a twin runs
            # with our key) goes on to the core like anyone's: once signed, it may be part of
            # a polka others locked on, and without it we could never accept the re-proposal
            # of their value (line 28); the core's evidence check catches a conflicting one.
            self._drop("own_message", kind, out)
            return
        hooks = self.hooks
        if ((hooks is None or hooks.check_signatures)
                and not self._signature_ok(message, key)):
            self._drop("bad_signature", kind, out)
            return
        height = message.height
        out.append(_delivered(kind, sender, height, message.round))
        if is_proposal:
            if height == 1:
                self._check_genesis(sender, message.value)
            if height > self.replica.height:  # else _note_height returns at once
                self._note_height(sender, height)
            if self._far_ahead(message):
                self._hold(message, digest, out)
                return
        elif height > self.replica.height:
            self._note_height(sender, height)
        if hooks is not None:
            self._run(Receive(message), out)
            hooks.delivered(self, message, out)
        elif self._held:
            self._run(Receive(message), out)
        else:
            # _run, without its queue until the core's effects ask for one: with no hooks and
            # nothing held, _run would hand the core this one event and carry out its effects,
            # and most votes have none.
            effects = self.replica.receive(message, self._now)
            if effects:
                queue: deque = deque()
                self._carry_out(effects, queue, out)
                if queue:
                    self._run_queue(queue, out)

    def _signature_ok(self, message: Proposal | Vote, key: bytes) -> bool:
        """Whether `message` carries its signer's signature (`key`), through the shared cache.
        The memo key holds every field the signed bytes are made of (a vote's own fields; a
        proposal's without the block, which its value_id stands for)."""
        chain_id = self.chain_id
        if isinstance(message, Proposal):
            memo = ("proposal", chain_id, key, message.height, message.round, message.value_id,
                    message.valid_round, message.signature)
            signed = functools.partial(proposal_signed_bytes, chain_id, message)
        else:
            memo = ("vote", chain_id, key, message, message.signature)
            signed = functools.partial(vote_signed_bytes, chain_id, message)
        return self.verifier.verify_keyed(memo, key, signed, message.signature)

    def _checked_wal(self, record: WalRecord | None) -> WalRecord | None:
        """The stored write-ahead record with only those of others' messages (the polka behind
        the lock and the valid value) whose signer is a genesis nation and whose signature holds:
        a damaged disk must not make the core count a vote nobody signed."""
        if record is None or not record.justification:
            return record
        kept = tuple(m for m in record.justification
                     if (key := self._keys.get(m.proposer if isinstance(m, Proposal)
                                               else m.voter)) is not None
                     and self._signature_ok(m, key))
        if len(kept) != len(record.justification):
            self.dropped["wal_bad_signature"] = len(record.justification) - len(kept)
        return dataclasses.replace(record, justification=kept)
    def _far_ahead(self, proposal: Proposal) -> bool:
        """A proposal the core would take (the round's proposer, a height it buffers, a round it
        keeps) but more than PROPOSAL_ROUNDS_NEAR rounds ahead of the node's round."""
        r = self.replica
        if not r.height <= proposal.height <= r.height + FUTURE_HEIGHTS_MAX:
            return False
        base = r.round if proposal.height == r.height else 0
        return (base + PROPOSAL_ROUNDS_NEAR < proposal.round <= base + ROUNDS_AHEAD_MAX
                and r.validators.proposer(proposal.height, proposal.round) == proposal.proposer)

    def _hold(self, proposal: Proposal, digest: bytes, out: list[Action]) -> None:
        """Keep a far-ahead proposal unvalidated, within its sender's share; the sender's
        farthest go first. A proposal dropped here has its digest forgotten, so the proposer's
        resend of it counts once the node has come near its round."""
        sender, key = proposal.proposer, (proposal.height, proposal.round)
        size = len(getattr(proposal.value, "encoded", b""))
        self._held.append((key, proposal, digest, size))
        self._held_bytes[sender] = self._held_bytes.get(sender, 0) + size
        while True:
            mine = [entry for entry in self._held if entry[1].proposer == sender]
            if (len(mine) <= PROPOSALS_HELD_PER_SENDER_MAX
                    and self._held_bytes[sender] <= PROPOSAL_BYTES_HELD_PER_SENDER_MAX):
                return
            farthest = max(mine, key=lambda entry: entry[0])
            self._held.remove(farthest)
            self._held_bytes[sender] -= farthest[3]
            self._seen.discard(farthest[2])
            self._drop("ahead_full", "proposal", out)

    def _release_held(self) -> list[Proposal]:
        """The held proposals the core may take now (their round came near), oldest first;
        those of a height already decided are forgotten."""
        r = self.replica
        ready: list[Proposal] = []
        kept = []
        for entry in self._held:
            (height, round_), proposal = entry[0], entry[1]
            if height < r.height or (height == r.height
                                     and round_ <= r.round + PROPOSAL_ROUNDS_NEAR):
                self._held_bytes[proposal.proposer] -= entry[3]
                if height == r.height:
                    ready.append(proposal)
            else:
                kept.append(entry)
        self._held = kept
        return ready

    def _in_own_record(self, message: Proposal | Vote) -> bool:
        """Whether our write-ahead record holds this message (same slot, same value) at its
        height. One of a decided height is never used again: a replay. One of a later height,
        or of the same slot for another value, is ours from before a wipe (for the core it is
        an equivocation, counted like anyone's)."""
        height = self.replica.height
        if message.height != height:
            return message.height < height
        slot = _slot(message)
        return any(_slot(m) == slot and m.value_id == message.value_id
                   for m in self.replica.own_messages())

    def _on_txs(self, batch: TxBatch, out: list[Action]) -> None:
        if batch.sender not in self._keys:
            self._drop("unknown_sender", "txs", out)
            return
        out.append(Delivered("txs", batch.sender, self.replica.height, 0))
        for tx in batch.txs:
            self._admit(tx, out)

    def _admit(self, tx: Transaction, out: list[Action]) -> bool:
        tx_id = tx.tx_id
        if self.ledger.has_tx(tx_id) or tx_id in self.mempool:
            return False
        key = self._keys.get(tx.signer)  # _tx_signature_ok, inlined: ~5 admissions a tx
        if key is None or not self.verifier.verify_tx(key, self.chain_id, tx):
            self._drop("bad_signature", "tx", out)
            return False
        return self.mempool.add(tx)

    def _tx_signature_ok(self, tx: Transaction) -> bool:
        key = self._keys.get(tx.signer)
        return key is not None and self.verifier.verify_tx(key, self.chain_id, tx)

    def answer_sync(self, request: SyncRequest, out: list[Action]) -> None:
        """The honest answer to a peer's state-sync request: check who asks (a genesis
        nation other than us, its signature), then send our blocks from its next height."""
        key = self._keys.get(request.requester)
        if key is None or request.requester == self.me:
            self._drop("unknown_sender", "sync_request", out)
            return
        signed = sync_request_sign_bytes(self.chain_id, request.requester, request.from_height,
                                         request.nonce)
        if not self.verifier.verify(key, signed, request.signature):
            self._drop("bad_signature", "sync_request", out)
            return
        out.append(Delivered("sync_request", request.requester, request.from_height, 0))
        last = min(self.ledger.height, request.from_height + SYNC_BLOCKS_MAX - 1)
        blocks = []
        size = 0
        for h in range(request.from_height, last + 1):
            block = self.ledger.get(h)
            entry = len(block.block.encoded) + sum(len(v.voter) + CERTIFICATE_ENTRY_BYTES_MAX
                                                   for v in block.certificate)
            if blocks and size + entry > MESSAGE_BYTES_MAX:  # big blocks: fewer per answer
                break
            size += entry
            blocks.append(block)
        if not blocks:
            return
        if not self._sync_answer_allowed(request.requester, size):
            self._drop("sync_rate_limited", "sync_request", out)
            return
        out.append(SendTo(request.requester, self.sync_response(blocks),
                          "sync_response", request.from_height, 0))

    def _sync_answer_allowed(self, requester: str, size: int) -> bool:
        """Spend one answer and `size` bytes of `requester`'s sync buckets, if it has them.
        Checked after the request's signature, so no one can spend an honest peer's tokens."""
        bucket = self._sync_buckets.get(requester)
        now = self._now
        if bucket is None:
            bucket = self._sync_buckets[requester] = [
                SYNC_ANSWERS_BURST * SYNC_ANSWER_TICKS, SYNC_ANSWER_BYTES_BURST, now]
        elapsed = max(0, now - bucket[2])
        # Answers are counted in ticks' worth (SYNC_ANSWER_TICKS a answer): integers only.
        bucket[0] = min(SYNC_ANSWERS_BURST * SYNC_ANSWER_TICKS, bucket[0] + elapsed)
        bucket[1] = min(SYNC_ANSWER_BYTES_BURST,
                        bucket[1] + elapsed * SYNC_ANSWER_BYTES_PER_TICK)
        bucket[2] = max(now, bucket[2])
        size = min(size, SYNC_ANSWER_BYTES_BURST)
        if bucket[0] < SYNC_ANSWER_TICKS or bucket[1] < size:
            return False
        bucket[0] -= SYNC_ANSWER_TICKS
        bucket[1] -= size
        return True

    def sync_response(self, blocks) -> bytes:
        """Committed `blocks` as this node's sync answer, signed with its key."""
        return encode_sync_response(self.chain_id, self.me, blocks, self.identity.sign)

    def _on_sync_response(self, response: SyncResponse, out: list[Action]) -> None:
        key = self._keys.get(response.responder)
        if key is None or response.responder == self.me:
            self._drop("unknown_sender", "sync_response", out)
            return
        signed = sync_response_sign_bytes(self.chain_id, response.responder,
                                          response.entries_digest)
        if ((self.hooks is None or self.hooks.check_signatures)
                and not self.verifier.verify(key, signed, response.signature)):
            # Someone answering in this peer's name: the peer is not to blame (no _synced).
            self._drop("bad_signature", "sync_response", out)
            return
        out.append(Delivered("sync_response", response.responder, self.ledger.height + 1, 0))
        applied = 0
        for block, certificate in response.blocks:
            if block.height <= self.ledger.height:
                continue
            if block.height != self.ledger.height + 1 or block.prev_hash != self.ledger.tip_hash:
                if block.height == 1:
                    self._check_genesis(response.responder, block)
                self._drop("sync_gap", "sync_response", out)
                break
            hooks = self.hooks
            error = (None if hooks is not None and not hooks.check_certificates
                     else certificate_error(self.chain_id, self.validators, self._keys,
                                            self.verifier, block, certificate,
                                            hooks.skipped_checks if hooks is not None else ()))
            if error is not None or not self.valid(block.height, block):
                self._drop("bad_certificate" if error else "invalid_block", "sync_response", out)
                break
            self._commit(CommittedBlock(block, certificate), "sync", out)
            applied += 1
        self._synced(response.responder, applied, out)

    def _check_genesis(self, peer: str, block: object) -> None:
        if getattr(block, "prev_hash", None) != self.genesis.hash:
            self.genesis_mismatch[peer] = self.genesis_mismatch.get(peer, 0) + 1

    def _synced(self, responder: str, applied: int, out: list[Action]) -> None:
        """After a sync answer: join consensus at the new height, or, when the answer gave us
        nothing (it failed its checks), ask other peers first from now on."""
        if not applied:
            # A Byzantine peer answering with forged blocks must not keep us behind: the next
            # requests go to the others (finding D, tests/regressions/sync-peer-starved.toml).
            self._sync_failed.add(responder)
            return
        self._sync_failed.clear()
        self._sync_sent_at = None
        self._ahead_since = None
        self._run(SkipToHeight(self.ledger.height + 1), out)

    # ------------------------------------------------------------ state sync trigger

    def _note_height(self, sender: str, height: int) -> None:
        behind = height - self.replica.height
        if behind <= 0:
            return
        self._ahead_height = max(self._ahead_height, height)
        if behind >= 2:
            self._ahead_since = self._now - self.config.sync_lag_ticks
        elif self._ahead_since is None:
            self._ahead_since = self._now
        self._ahead_peers[sender] = max(self._ahead_peers.get(sender, 0), height)

    def _sync_peer(self) -> str | None:
        """The peer to ask for blocks next. Peers heard from at a height above ours take turns,
        in code order (deterministic), so one peer that answers with forged blocks, or not at
        all, cannot keep us behind; a peer whose answer failed its checks is asked only when no
        other is left."""
        height = self.replica.height
        ahead = sorted(p for p, h in self._ahead_peers.items() if h > height)
        candidates = [p for p in ahead if p not in self._sync_failed] or ahead
        if not candidates:
            return None
        peer = candidates[self._sync_turn % len(candidates)]
        self._sync_turn += 1
        return peer

    def _sync_due(self) -> int:
        """While a peer is known to be ahead (`_ahead_since` set): the tick from which
        _maybe_sync asks for blocks, `sync_lag_ticks` after we fell behind, and after a request,
        `sync_retry_ticks` after it. It is one of the node's deadlines (`next_deadline`), so a
        request goes out at this tick whatever else wakes the node, not at the first message or
        wake-up that happens to come after it."""
        due = self._ahead_since + self.config.sync_lag_ticks
        sent = self._sync_sent_at
        if sent is not None and sent + self.config.sync_retry_ticks > due:
            due = sent + self.config.sync_retry_ticks
        return due

    def _maybe_sync(self, out: list[Action]) -> None:
        if self._ahead_since is None:
            return
        if self.replica.height >= self._ahead_height:
            self._ahead_since = None  # consensus caught up on its own
            return
        if self._now - self._ahead_since < self.config.sync_lag_ticks:
            return
        if (self._sync_sent_at is not None
                and self._now - self._sync_sent_at < self.config.sync_retry_ticks):
            return
        peer = self._sync_peer()
        if peer is None:
            # No peer left to ask (cannot happen while a peer is known above our height, but
            # the deadline must move on, or a runtime would wake us at this tick forever).
            self._sync_sent_at = self._now
            return
        from_height = self.ledger.height + 1
        nonce = self._now
        signature = self.identity.sign(
            sync_request_sign_bytes(self.chain_id, self.me, from_height, nonce))
        out.append(SendTo(peer,
                          encode_sync_request(SyncRequest(self.me, from_height, nonce, signature)),
                          "sync_request", from_height, 0))
        # _ahead_since stays set until a response is applied, so a lost request or answer is
        # retried every sync_retry_ticks, of the next peer in turn.
        self._sync_sent_at = self._now

    # ------------------------------------------------------------ retransmission

    def _stalled(self, since_ticks: int, resends: int) -> None:
        """No progress since `since_ticks`, with `resends` resends so far; the next resend is
        due at `_resend_at_tick` (kept, as next_deadline asks after every event). Back off once
        while stuck: 1, then 2 periods between resends."""
        self._stall_since, self._resends = since_ticks, resends
        self._resend_at_tick = since_ticks + self.config.rebroadcast_ticks * (1 << min(resends, 1))

    def _track_progress(self, out: list[Action]) -> None:
        """Resend our own messages of this height while consensus makes no progress.

        The paper assumes every message between correct nodes is eventually delivered (its
        gossip layer retransmits). Our links lose messages, so a node whose (height, round)
        has not moved for `rebroadcast_ticks` sends its own signed proposals and votes of
        this height again. The bytes are identical, so peers that had them drop them as
        duplicates and peers that lost them count them at last.
        """
        r = self.replica
        key = self._stall_key  # (height, round, 0): a step change alone is not progress
        if key is None or key[0] != r.height or key[1] != r.round:
            self._stall_key = (r.height, r.round, 0)
            self._stalled(self._now, 0)
            return
        if self._now < self._resend_at_tick:
            return
        # Every round of this height, not only the current one: a proposal re-proposed with
        # valid_round vr needs the prevotes of round vr (line 28), and a decision can come from
        # any round (line 49). The newest RESEND_MESSAGES_MAX messages bound the burst.
        resent: set[tuple[str, int, int]] = set()
        for message in r.own_messages()[-RESEND_MESSAGES_MAX:]:
            if message.height == r.height:
                signed = self._sign(message)
                if self.hooks is None:
                    self.send(signed, out)
                else:
                    self.hooks.emit(self, signed, out)
                self.resends += 1
                resent.add(_slot(message))
        if self._resends >= RELAY_AFTER_RESENDS:
            self._relay(resent, out)
        self._stalled(self._now, self._resends + 1)

    def _relay(self, resent: set[tuple[str, int, int]], out: list[Action]) -> None:
        """Relay, verbatim, the signed messages of others that justify our state (the proposal,
        the polka behind our valid value and lock, this round's precommits; see
        `Replica.justification`): the gossip the paper assumes, so that a nation that missed
        them (restarted, partitioned, or shown another vote by an equivocator) can accept what
        we accept. Only from the second resend of a stall on (RELAY_AFTER_RESENDS), so a
        height that decides in time, or a round that is merely slow, costs no extra traffic.

        The bytes are those the signer sent (the encoding is canonical), so receivers that have
        them drop them as duplicates, and the others check the signer's signature through the
        shared VerifyCache: a relay cannot forge, only repeat. The sender gate takes the signer
        named in the message, not the link, so it must be a genesis nation as before. A relay
        goes out as is, never through the `emit` hook, which Byzantine hooks rewrite.
        """
        for signed in self.replica.justification(RELAY_MESSAGES_MAX):
            if _slot(signed) in resent:
                continue  # our own, just resent
            out.append(SendAll(encode_message(signed), kind_of(signed), signed.height,
                               signed.round))
            self.relays += 1

    # ------------------------------------------------------------ the core's effects

    def _run(self, first, out: list[Action]) -> None:
        self._run_queue(deque([first]), out)

    def _run_queue(self, queue: deque, out: list[Action]) -> None:
        """Hand the core each event of `queue` in turn, carrying out its effects, which may
        queue more; then release the held proposals whose round came near."""
        while queue:
            event = queue.popleft()
            if isinstance(event, Proposal):
                # A held proposal whose round came near: to the core, as if it came now.
                self._run(Receive(event), out)
                if self.hooks is not None:
                    self.hooks.delivered(self, event, out)
                continue
            self._carry_out(self.replica.handle(event, self._now), queue, out)
            if not queue and self._held:
                queue.extend(self._release_held())
        if self.hooks is not None:
            self.hooks.after_core(self)

    def _carry_out(self, effects: list, queue: deque, out: list[Action]) -> None:
        """Carry out the core's `effects` in order; events for the core go to `queue`."""
        for effect in effects:
            if isinstance(effect, Persist):
                self.storage.save_wal(effect.record)
            elif isinstance(effect, Broadcast):
                signed = self._sign(effect.message)
                if self.hooks is None:
                    out.append(SendAll(encode_message(signed), kind_of(signed),
                                       signed.height, signed.round))
                else:
                    self.hooks.emit(self, signed, out)
                queue.append(Receive(signed))
            elif isinstance(effect, RequestValue):
                block = (self.build_block(effect.height) if self.hooks is None
                         else self.hooks.build_block(self, effect.height))
                queue.append(ProposeValue(effect.height, effect.round, block, block.block_id))
            elif isinstance(effect, Decide):
                self._commit(CommittedBlock(effect.value, effect.certificate), "consensus",
                             out)
            elif isinstance(effect, Evidence):
                if len(self.evidence) < EVIDENCE_MAX:
                    self.evidence.append(effect)
                out.append(Misbehaviour(effect))
            elif isinstance(effect, Resume):
                queue.append(effect)  # the Decide before it is carried out: hand it back
            elif isinstance(effect, SetTimeout):
                pass  # the runtime asks next_deadline() after every call

    def _sign(self, message: Proposal | Vote) -> Proposal | Vote:
        if isinstance(message, Proposal):
            sig = self.identity.sign(proposal_signed_bytes(self.chain_id, message))
            return Proposal(message.height, message.round, message.value, message.value_id,
                            message.valid_round, message.proposer, sig)
        sig = self.identity.sign(vote_signed_bytes(self.chain_id, message))
        return Vote(message.step, message.height, message.round, message.value_id, message.voter,
                    sig)

    def build_block(self, height: int) -> Block:
        """The honest block to propose at `height`: the mempool's transactions on our tip."""
        txs = self.mempool.reap(self.config.block_txs_max, BLOCK_TX_BYTES_MAX)
        time_ticks = max(self._now, self.ledger.tip_time_ticks)
        return Block.build(height, self.ledger.tip_hash, self.me, time_ticks, txs,
                           self.chaincode.state.root)

    def _commit(self, committed: CommittedBlock, via: str, out: list[Action]) -> None:
        if self.shared is not None:  # one copy of the block for the honest nodes, not two
            committed = self.shared.committed(committed)
        self.ledger.append(committed)
        self.storage.save_block(committed)
        txs = committed.block.txs
        if len(self.mempool) < len(txs):  # look up the few we hold, not every one committed
            self.mempool.remove([tx_id for tx_id in self.mempool.ids()
                                 if self.ledger.has_tx(tx_id)])
        else:
            self.mempool.remove(tx.tx_id for tx in txs)
        root_before = self.chaincode.state.root
        flags, results = self._apply_block(committed.block)
        out.append(Committed(committed, via, results, flags, root_before))
        if self.hooks is not None:
            self.hooks.after_commit(self, committed, via, out)

    def _apply_block(self, block: Block) -> tuple[tuple[Flag, ...], tuple[TxResult, ...]]:
        if self.shared is not None:
            applied = self.shared.apply(self.chaincode, block)
        else:
            flags = tuple(self.chaincode.begin_block(block.time_ticks))
            applied = flags, tuple(self.chaincode.apply_tx(tx, block.time_ticks)
                                   for tx in block.txs)
        if self.hooks is not None:
            self.hooks.after_apply(self, block)
        return applied

    def valid(self, height: int, value: object) -> bool:
        """The paper's valid(v): a block that extends our chain with fresh, signed transactions.
        With a SharedApplication, checked once per (chain, state, block) in the process."""
        if self.shared is None or not isinstance(value, Block):
            return self._check_valid(height, value)
        # Keyed by the block's bytes, not its id: the id commits to the transaction ids, which
        # leave the signatures out, so a block with a forged signature has an honest block's id.
        key = (height, self.ledger.tip_hash, self.chaincode.state.root, value.encoded)
        return self.shared.valid(key, lambda: self._check_valid(height, value))

    def _check_valid(self, height: int, value: object) -> bool:
        return self.validity_fault(height, value) is None

    def validity_fault(self, height: int, value: object) -> str | None:
        """The first check of valid() that `value`, proposed at `height`, fails (a name of
        VALIDITY_CHECKS), or None when it is valid. A mutant's hooks may skip checks
        (`NodeHooks.skipped_checks`); the honest node makes them all. Two guards come first
        that no peer can reach, so no adversary exercises them and no mutant removes them:
        "not_a_block" (a decoded proposal always carries a Block, and the decoder's limits
        refuse an oversized one) and "height" (the decoder refuses a proposal whose block has
        another height, nodes/wire/messages.py, and the core asks only at its own height)."""
        if not isinstance(value, Block):
            return "not_a_block"
        skipped = self.hooks.skipped_checks if self.hooks is not None else ()

        def on(check: str) -> bool:
            return check not in skipped

        block = value
        if block.height != height or height != self.ledger.height + 1:
            return "height"
        if on("prev_hash") and block.prev_hash != self.ledger.tip_hash:
            return "prev_hash"
        if on("proposer") and block.proposer not in self._keys:
            return "proposer"
        if on("app_hash") and block.app_hash != self.chaincode.state.root:
            return "app_hash"  # the proposer's state differs from ours
        if on("time") and block.time_ticks < self.ledger.tip_time_ticks:
            return "time"
        # Per transaction, on a path a full block walks tens of thousands of times: the three
        # flags are read once, not per transaction.
        duplicates, committed, signatures = on("duplicate_tx"), on("committed_tx"), \
            on("tx_signature")
        seen: set[bytes] = set()
        for tx in block.txs:
            if duplicates and tx.tx_id in seen:
                return "duplicate_tx"
            if committed and self.ledger.has_tx(tx.tx_id):
                return "committed_tx"
            seen.add(tx.tx_id)
            if signatures and not self._tx_signature_ok(tx):
                return "tx_signature"
        return None

    # ------------------------------------------------------------ bookkeeping

    def _drop(self, reason: str, kind: str, out: list[Action]) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        out.append(_dropped(reason, kind))

    def _remember(self, digest: bytes) -> None:
        self._seen.add(digest)
