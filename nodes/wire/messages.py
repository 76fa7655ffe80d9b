"""Network messages between nations: their canonical layout, signing bytes and decoding.

Every message is one msgpack array whose first field is its kind:

    [1, height, round, valid_round, block_bytes, proposer, signature]   PROPOSAL
    [2, step, height, round, value_id|nil, voter, signature]            VOTE (step 1 or 2)
    [3, sender, [tx, ...]]                                              TXS (each tx is signed)
    [4, requester, from_height, nonce, signature]                       SYNC_REQUEST
    [5, responder, [[block_bytes, certificate], ...], signature]        SYNC_RESPONSE

Proposals, votes, sync requests and sync responses carry a signature over their own fields (a
sync response's over its responder and a digest of all its entries, so no one can answer in an
honest peer's name and make the requester distrust it); transactions are self-authenticating, so
TXS needs no envelope signature.
`decode` checks structure only and raises `WireError`; the node checks senders and signatures.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from consensus import Proposal, Step, Vote

from nodes.chain.block import (
    HASH_BYTES,
    Block,
    BlockError,
    certificate_from_wire,
    certificate_to_wire,
    vote_sign_bytes,
)
from nodes.chain.bounded import BoundedMemo, SeenTable
from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.identity import SIGNATURE_BYTES
from nodes.chain.tx import Transaction, TxError, TxMemo, tx_from_wire

PROPOSAL, VOTE, TXS, SYNC_REQUEST, SYNC_RESPONSE = 1, 2, 3, 4, 5
KIND_NAMES = {PROPOSAL: "proposal", VOTE: "vote", TXS: "txs", SYNC_REQUEST: "sync_request",
              SYNC_RESPONSE: "sync_response"}
TXS_PER_MESSAGE_MAX = 2000
SYNC_BLOCKS_MAX = 32
ROUND_MAX = 1_000_000
HEIGHT_MAX = 2**48
DECODE_CACHE_ENTRIES_MAX = 65_536
# Bytes the decode cache may hold: a decoded message counts as its encoded size plus
# DECODE_ENTRY_BYTES, a rejection as DECODE_ENTRY_BYTES (it keeps only the reason). Room for
# the proposals of about two heights of the global day (blocks of up to 8 MiB), whose
# receivers all come within a height: older ones are only memory (a miss decodes again, to
# equal objects).
DECODE_CACHE_BYTES_MAX = 32 * 1024 * 1024
DECODE_ENTRY_BYTES = 512
REJECTION_REASON_CHARS_MAX = 200
DIGEST_MEMO_BYTES_MIN = 4096
# Large messages whose digest is remembered (`DecodeCache.digest`): a proposal's receivers
# come within a height, so two of the largest are enough (a miss hashes again).
DIGEST_MEMO_BYTES_MAX = 16 * 1024 * 1024


class WireError(ValueError):
    """A message that is malformed (the sender's fault); the node drops and counts it."""


def proposal_sign_bytes(chain_id: str, height: int, round_: int, value_id: bytes,
                        valid_round: int) -> bytes:
    return pack(("proposal", chain_id, height, round_, int(Step.PROPOSE), value_id, valid_round))


def sync_request_sign_bytes(chain_id: str, requester: str, from_height: int, nonce: int
                            ) -> bytes:
    return pack(("sync_request", chain_id, requester, from_height, nonce))


def sync_response_sign_bytes(chain_id: str, responder: str, entries_digest: bytes) -> bytes:
    return pack(("sync_response", chain_id, responder, entries_digest))


def sync_entries_digest(entries) -> bytes:
    """sha256 over a sync response's [block_bytes, certificate] entries as they are on the
    wire (each certificate re-packed: the codec's encoding is canonical)."""
    h = hashlib.sha256()
    for block_bytes, certificate in entries:
        h.update(len(block_bytes).to_bytes(8, "big"))
        h.update(block_bytes)
        packed = pack(certificate)
        h.update(len(packed).to_bytes(8, "big"))
        h.update(packed)
    return h.digest()


@dataclass(frozen=True, slots=True)
class TxBatch:
    sender: str
    txs: tuple[Transaction, ...]


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A request for blocks from `from_height`. The nonce (the requester's clock) makes every
    retry distinct bytes, so a retry is not mistaken for a replay of a lost request."""

    requester: str
    from_height: int
    nonce: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class SyncResponse:
    """Certified blocks from `responder`, signed by it over `entries_digest` (the digest of the
    entries as they were on the wire; see sync_response_sign_bytes)."""

    responder: str
    blocks: tuple[tuple[Block, tuple[Vote, ...]], ...]
    entries_digest: bytes
    signature: bytes


WireMessage = Proposal | Vote | TxBatch | SyncRequest | SyncResponse


def encode_proposal(p: Proposal) -> bytes:
    block: Block = p.value  # type: ignore[assignment]
    return pack((PROPOSAL, p.height, p.round, p.valid_round, block.encoded, p.proposer,
                 p.signature))


def encode_vote(v: Vote) -> bytes:
    return pack((VOTE, int(v.step), v.height, v.round, v.value_id, v.voter, v.signature))


def encode_txs(sender: str, txs: tuple[Transaction, ...]) -> bytes:
    return pack((TXS, sender, tuple(t.to_wire() for t in txs)))


def encode_sync_request(r: SyncRequest) -> bytes:
    return pack((SYNC_REQUEST, r.requester, r.from_height, r.nonce, r.signature))


def encode_sync_response(chain_id: str, responder: str, blocks,
                         sign: Callable[[bytes], bytes]) -> bytes:
    """Committed `blocks` as `responder`'s answer, signed with `sign` (its key's)."""
    entries = tuple((b.block.encoded, certificate_to_wire(b.certificate)) for b in blocks)
    signed = sync_response_sign_bytes(chain_id, responder, sync_entries_digest(entries))
    return pack((SYNC_RESPONSE, responder, entries, sign(signed)))


class MessageKind(StrEnum):
    """What a message is, as the network, the trace and the drop counters name it. A member is
    its string, so it compares, hashes, formats and JSON-encodes as the name traces hold."""
    PROPOSAL = "proposal"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"
    TXS = "txs"
    SYNC_REQUEST = "sync_request"
    SYNC_RESPONSE = "sync_response"


def kind_of(message: WireMessage) -> MessageKind:
    if isinstance(message, Proposal):
        return MessageKind.PROPOSAL
    if isinstance(message, Vote):
        return MessageKind.PREVOTE if message.step is Step.PREVOTE else MessageKind.PRECOMMIT
    if isinstance(message, TxBatch):
        return MessageKind.TXS
    if isinstance(message, SyncRequest):
        return MessageKind.SYNC_REQUEST
    return MessageKind.SYNC_RESPONSE


# msgpack heads of a PROPOSAL ([1, height, ...], fixarray 7) and a VOTE ([2, step, height,
# ...]); the height follows, as a positive fixint or a uint of 1, 2, 4 or 8 bytes.
_PROPOSAL_HEAD = bytes((0x97, PROPOSAL))
_VOTE_HEADS = (bytes((0x97, VOTE, 1)), bytes((0x97, VOTE, 2)))
_UINT_BYTES = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}


def peek_consensus_height(data: bytes) -> int | None:
    """The height a proposal or vote claims, read from its first bytes without decoding it;
    None for anything else. Unchecked: a runtime may use it to order its queue, never to trust
    the message (the node decodes and checks it like any other)."""
    if data[:2] == _PROPOSAL_HEAD:
        at = 2
    elif data[:3] in _VOTE_HEADS:
        at = 3
    else:
        return None
    if at >= len(data):
        return None
    head = data[at]
    if head <= 0x7f:
        return head
    size = _UINT_BYTES.get(head)
    if size is None or at + 1 + size > len(data):
        return None
    return int.from_bytes(data[at + 1:at + 1 + size], "big")


def decode(chain_id: str, data: bytes, tx_memo: TxMemo | None = None) -> WireMessage:
    """Parse untrusted bytes into a message; raise WireError for anything malformed."""
    try:
        raw = unpack(data)
    except CodecError as exc:
        raise WireError(str(exc)) from None
    if not isinstance(raw, tuple) or not raw or not _int(raw[0]):
        raise WireError("a message is an array whose first field is its kind")
    kind = raw[0]
    try:
        if kind == PROPOSAL:
            return _decode_proposal(chain_id, raw, tx_memo)
        if kind == VOTE:
            return _decode_vote(raw)
        if kind == TXS:
            return _decode_txs(chain_id, raw, tx_memo)
        if kind == SYNC_REQUEST:
            return _decode_sync_request(raw)
        if kind == SYNC_RESPONSE:
            return _decode_sync_response(chain_id, raw, tx_memo)
    except (BlockError, TxError) as exc:
        raise WireError(str(exc)) from None
    raise WireError(f"unknown message kind {kind!r}")


def _decode_proposal(chain_id: str, raw: tuple, tx_memo: TxMemo | None) -> Proposal:
    _fields(raw, 7, "proposal")
    _, height, round_, valid_round, block_bytes, proposer, signature = raw
    _height_round(height, round_)
    if not _int(valid_round) or not -1 <= valid_round < round_:
        raise WireError("proposal valid_round must be -1 or a round below the proposal's")
    if not isinstance(block_bytes, bytes) or not isinstance(proposer, str):
        raise WireError("proposal block must be bytes and proposer a string")
    _signature(signature)
    block = Block.decode(chain_id, block_bytes, tx_memo)
    if block.height != height:
        raise WireError("proposal height differs from its block's height")
    return Proposal(height, round_, block, block.block_id, valid_round, proposer, signature)


def _decode_vote(raw: tuple) -> Vote:
    _fields(raw, 7, "vote")
    _, step, height, round_, value_id, voter, signature = raw
    if step not in (int(Step.PREVOTE), int(Step.PRECOMMIT)) or isinstance(step, bool):
        raise WireError("vote step must be 1 (prevote) or 2 (precommit)")
    _height_round(height, round_)
    if value_id is not None and (not isinstance(value_id, bytes) or len(value_id) != HASH_BYTES):
        raise WireError("vote value_id must be nil or 32 bytes")
    if not isinstance(voter, str):
        raise WireError("vote voter must be a string")
    _signature(signature)
    return Vote(Step(step), height, round_, value_id, voter, signature)


def _decode_txs(chain_id: str, raw: tuple, tx_memo: TxMemo | None) -> TxBatch:
    _fields(raw, 3, "txs")
    _, sender, raw_txs = raw
    if not isinstance(sender, str):
        raise WireError("txs sender must be a string")
    if not isinstance(raw_txs, tuple) or not 0 < len(raw_txs) <= TXS_PER_MESSAGE_MAX:
        raise WireError(f"txs must hold 1 to {TXS_PER_MESSAGE_MAX} transactions")
    return TxBatch(sender, tuple(tx_from_wire(chain_id, t, tx_memo) for t in raw_txs))


def _decode_sync_request(raw: tuple) -> SyncRequest:
    _fields(raw, 5, "sync_request")
    _, requester, from_height, nonce, signature = raw
    if not isinstance(requester, str) or not _int(from_height) or not 1 <= from_height < HEIGHT_MAX:
        raise WireError("sync_request needs a requester string and a from_height >= 1")
    if not _int(nonce) or not 0 <= nonce < 2**63:
        raise WireError("sync_request nonce must be an integer >= 0")
    _signature(signature)
    return SyncRequest(requester, from_height, nonce, signature)


def _decode_sync_response(chain_id: str, raw: tuple, tx_memo: TxMemo | None
                          ) -> SyncResponse:
    _fields(raw, 4, "sync_response")
    _, responder, raw_blocks, signature = raw
    if not isinstance(responder, str):
        raise WireError("sync_response responder must be a string")
    _signature(signature)
    if not isinstance(raw_blocks, tuple) or not 0 < len(raw_blocks) <= SYNC_BLOCKS_MAX:
        raise WireError(f"sync_response holds 1 to {SYNC_BLOCKS_MAX} blocks")
    blocks = []
    for item in raw_blocks:
        if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], bytes):
            raise WireError("sync_response entry is [block_bytes, certificate]")
        block = Block.decode(chain_id, item[0], tx_memo)
        blocks.append((block, certificate_from_wire(block.height, block.block_id, item[1])))
    return SyncResponse(responder, tuple(blocks), sync_entries_digest(raw_blocks), signature)


def vote_signed_bytes(chain_id: str, v: Vote) -> bytes:
    return vote_sign_bytes(chain_id, v.height, v.round, v.step, v.value_id)


def proposal_signed_bytes(chain_id: str, p: Proposal) -> bytes:
    return proposal_sign_bytes(chain_id, p.height, p.round, p.value_id, p.valid_round)


def _fields(raw: tuple, count: int, name: str) -> None:
    if len(raw) != count:
        raise WireError(f"a {name} message has {count} fields, got {len(raw)}")


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _height_round(height: object, round_: object) -> None:
    if not _int(height) or not 1 <= height < HEIGHT_MAX:  # type: ignore[operator]
        raise WireError("height must be an integer >= 1")
    if not _int(round_) or not 0 <= round_ <= ROUND_MAX:  # type: ignore[operator]
        raise WireError(f"round must be an integer from 0 to {ROUND_MAX}")


def _signature(signature: object) -> None:
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise WireError(f"signature must be {SIGNATURE_BYTES} bytes")


class Rejected:
    """Why bytes did not decode: the reason only. Keeping the WireError itself would keep its
    traceback, whose frames hold the input bytes alive as long as the cache holds the entry."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason[:REJECTION_REASON_CHARS_MAX]


class DecodeCache:
    """Decoded messages by the digest of their bytes, shared by the nodes of one process.

    A broadcast reaches n - 1 nodes as the same bytes; decoding is a pure function of
    (chain id, bytes) and messages are immutable, so the simulated world decodes each once (a
    proposal's block, with its transaction ids and Merkle root, is the costly part). A failure
    is remembered too, as its reason (`Rejected`), never the input. Bounded in entries and in
    bytes (`bytes_max`, see DECODE_CACHE_BYTES_MAX): the oldest entries go first, and a
    message larger than the whole bound is decoded but not kept.
    """

    __slots__ = ("chain_id", "_entries", "entries_max", "hits", "misses", "_digests",
                 "_digest_bytes", "_txs", "_last_data", "_last_digest", "seen")

    def __init__(self, chain_id: str, entries_max: int = DECODE_CACHE_ENTRIES_MAX,
                 bytes_max: int = DECODE_CACHE_BYTES_MAX) -> None:
        self.chain_id = chain_id
        # digest -> the decoded message or Rejected
        self._entries: BoundedMemo[object] = BoundedMemo(entries_max, bytes_max)
        self.entries_max = entries_max
        self.hits = 0
        self.misses = 0
        self._digests: OrderedDict[bytes, bytes] = OrderedDict()
        self._digest_bytes = 0
        # decoded transactions by their wire array; None (no memo) when caching is off
        self._txs: TxMemo | None = TxMemo() if entries_max > 0 else None
        # The bytes hashed last and their digest: see `digest`.
        self._last_data: bytes | None = None
        self._last_digest = b""
        # The duplicate filters of the nodes that decode through this cache (`Node._seen`).
        self.seen = SeenTable()

    def digest(self, data: bytes) -> bytes:
        """sha256(data), remembered for large messages (a proposal's block is hundreds of KiB
        and reaches n - 1 nodes as the same bytes object: its hash is computed once, and a dict
        lookup of the same object compares by identity). Small messages hash faster than a
        lookup. Bounded by DIGEST_MEMO_BYTES_MAX of remembered messages, and bytes that fail
        to decode are forgotten at once (`decode`); off with entries_max = 0.

        The receivers of one broadcast are handed the same bytes object one after the other,
        so the last bytes hashed are checked first, by identity (bytes never change): the
        broadcast is hashed once, and every receiver's duplicate filter holds the same digest
        object rather than one of its own."""
        if data is self._last_data:
            return self._last_digest
        if len(data) < DIGEST_MEMO_BYTES_MIN or self.entries_max == 0:
            digest = hashlib.sha256(data).digest()
            if self.entries_max:
                self._last_data, self._last_digest = data, digest
            return digest
        digest = self._digests.get(data)
        if digest is None:
            digest = hashlib.sha256(data).digest()
            self._digests[data] = digest
            self._digest_bytes += len(data)
            while self._digest_bytes > DIGEST_MEMO_BYTES_MAX and len(self._digests) > 1:
                old, _ = self._digests.popitem(last=False)
                self._digest_bytes -= len(old)
        return digest

    def seed_txs(self, txs: tuple[Transaction, ...]) -> None:
        """Let `txs`, about to be gossiped from a node of this process, decode as themselves
        (`TxMemo.seed`); nothing when caching is off."""
        if self._txs is not None:
            self._txs.seed(self.chain_id, txs)

    def decode(self, digest: bytes, data: bytes) -> WireMessage:
        entry: object = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            try:
                entry = decode(self.chain_id, data, self._txs)
                size = len(data) + DECODE_ENTRY_BYTES
            except WireError as exc:
                entry, size = Rejected(str(exc)), DECODE_ENTRY_BYTES
            self._entries.put(digest, entry, size)
        else:
            self.hits += 1
        if entry.__class__ is Rejected:
            if self._digests.pop(data, None) is not None:  # keep no rejected input alive
                self._digest_bytes -= len(data)
            raise WireError(entry.reason)  # type: ignore[attr-defined]
        return entry  # type: ignore[return-value]

    @property
    def bytes(self) -> int:
        """What the cached entries are counted as (DECODE_CACHE_BYTES_MAX)."""
        return self._entries.bytes
