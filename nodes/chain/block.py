"""Blocks: hash-chained batches of transactions, and their commit certificates.

The header is [height, prev_hash, tx_root, app_hash, proposer, time_ticks]; the block id is
sha256 of the header's canonical bytes, and `tx_root` is the Merkle root of the transaction ids,
so the id commits to every transaction. `app_hash` is the proposer's chaincode state root after
every earlier block (as Tendermint's AppHash): a node whose state diverged finds the next block
invalid. The certificate stored beside a block is the set of signed
precommits (more than 2/3 of the power) that decided it (paper line 49); it is not hashed into the
block, as in Tendermint, where a block's own commit is only known after it is decided.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from consensus import Step, Vote

from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.identity import SIGNATURE_BYTES
from nodes.chain.tx import Transaction, TxError, TxMemo, tx_from_wire

# Big blocks amortise a height's O(n^2) votes over many transactions (at 193 nations a height is
# ~75k vote deliveries). The count is capped here; the bytes by BLOCK_TX_BYTES_MAX, so that a
# block always fits the proposal's binary field (codec.BIN_BYTES_MAX, 8 MiB) with its header.
BLOCK_TXS_MAX = 40_000
BLOCK_TX_BYTES_MAX = 8 * 1024 * 1024 - 64 * 1024
GENESIS_STATE_ROOT = hashlib.sha256(b"chemtrace/state/genesis").digest()
BLOCK_BYTES_MAX = 8 * 1024 * 1024
HASH_BYTES = 32


class BlockError(ValueError):
    """A block or certificate that is malformed (the sender's fault)."""


def merkle_root(leaves: list[bytes]) -> bytes:
    """Binary Merkle root with domain-separated leaves and nodes; the empty root is sha256(b'')."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0]


@dataclass(frozen=True, slots=True)
class Block:
    height: int
    prev_hash: bytes
    tx_root: bytes
    app_hash: bytes
    proposer: str
    time_ticks: int
    txs: tuple[Transaction, ...]
    block_id: bytes
    encoded: bytes

    @classmethod
    def build(cls, height: int, prev_hash: bytes, proposer: str, time_ticks: int,
              txs: tuple[Transaction, ...], app_hash: bytes = GENESIS_STATE_ROOT) -> "Block":
        tx_root = merkle_root([t.tx_id for t in txs])
        header = (height, prev_hash, tx_root, app_hash, proposer, time_ticks)
        encoded = pack((header, tuple(t.to_wire() for t in txs)))
        return cls(height, prev_hash, tx_root, app_hash, proposer, time_ticks, txs,
                   hashlib.sha256(pack(header)).digest(), encoded)

    @classmethod
    def decode(cls, chain_id: str, data: bytes, tx_memo: TxMemo | None = None) -> "Block":
        try:
            raw = unpack(data, bytes_max=BLOCK_BYTES_MAX)
        except CodecError as exc:
            raise BlockError(f"block: {exc}") from None
        if not isinstance(raw, tuple) or len(raw) != 2:
            raise BlockError("a block is [header, txs]")
        header, raw_txs = raw
        if not isinstance(header, tuple) or len(header) != 6:
            raise BlockError("a block header has 6 fields")
        height, prev_hash, tx_root, app_hash, proposer, time_ticks = header
        if not _is_int(height) or height < 1 or not _is_int(time_ticks) or time_ticks < 0:
            raise BlockError("block height and time must be non-negative integers")
        if (not _is_hash(prev_hash) or not _is_hash(tx_root) or not _is_hash(app_hash)
                or not isinstance(proposer, str)):
            raise BlockError("block prev_hash, tx_root and app_hash must be 32 bytes, proposer a "
                             "string")
        if not isinstance(raw_txs, tuple) or len(raw_txs) > BLOCK_TXS_MAX:
            raise BlockError(f"a block holds at most {BLOCK_TXS_MAX} transactions")
        try:
            txs = tuple(tx_from_wire(chain_id, t, tx_memo) for t in raw_txs)
        except TxError as exc:
            raise BlockError(f"block transaction: {exc}") from None
        if merkle_root([t.tx_id for t in txs]) != tx_root:
            raise BlockError("block tx_root does not match its transactions")
        return cls(height, prev_hash, tx_root, app_hash, proposer, time_ticks, txs,
                   hashlib.sha256(pack(header)).digest(), bytes(data))


def vote_sign_bytes(chain_id: str, height: int, round_: int, step: Step,
                    value_id: bytes | None) -> bytes:
    """What a validator signs for a vote: (chain_id, height, round, step, value_id)."""
    return pack(("vote", chain_id, height, round_, int(step), value_id))


def certificate_to_wire(certificate: tuple[Vote, ...]) -> tuple:
    return tuple((v.voter, v.round, v.signature) for v in certificate)


def certificate_from_wire(height: int, block_id: bytes, raw: object) -> tuple[Vote, ...]:
    if not isinstance(raw, tuple) or len(raw) > 4096:
        raise BlockError("a certificate is an array of at most 4096 precommits")
    votes = []
    for item in raw:
        if not isinstance(item, tuple) or len(item) != 3:
            raise BlockError("a certificate entry is [voter, round, signature]")
        voter, round_, signature = item
        if (not isinstance(voter, str) or not _is_int(round_) or round_ < 0
                or not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES):
            raise BlockError("a certificate entry is [voter:str, round:int>=0, signature:64 bytes]")
        votes.append(Vote(Step.PRECOMMIT, height, round_, block_id, voter, signature))
    return tuple(votes)


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    block: Block
    certificate: tuple[Vote, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_BYTES
