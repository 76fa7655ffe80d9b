"""Transactions: a signed payload submitted by a nation.

A transaction is the array [kind, signer, nonce, payload, signature]. `kind` names the payload's
schema (the precursor domain adds its event kinds); `signer` is the nation whose key signed it;
`nonce` makes otherwise equal submissions distinct. The id is sha256 of the signed bytes, so a
transaction has one id whatever node sees it.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

from nodes.chain.bounded import BoundedMemo
from nodes.chain.codec import pack
from nodes.chain.identity import SIGNATURE_BYTES, Identity

TX_PAYLOAD_BYTES_MAX = 16 * 1024
TX_KIND_MAX = 32
TX_MEMO_ENTRIES_MAX = 200_000
# What one remembered transaction costs beyond its payload: the wire tuple, the Transaction and
# its fields, the dict slot (measured with tracemalloc, rounded up).
TX_MEMO_ENTRY_BYTES = 1024
TX_MEMO_BYTES_MAX = 64 * 1024 * 1024
# Transactions made by `Transaction.create` in this process, with the chain id and the signed
# bytes they were made with, until gossiped (`TxMemo.seed` takes them out) or pushed out, the
# oldest first, past this many: a client's transaction is otherwise packed three times, to
# sign it, to check it decodes to itself before it is gossiped, and to verify its signature.
MADE_REMEMBERED_MAX = 16_384


class TxError(ValueError):
    """A transaction that is malformed (the sender's fault)."""


@dataclass(frozen=True, slots=True)
class Transaction:
    kind: str
    signer: str
    nonce: int
    payload: bytes
    signature: bytes
    tx_id: bytes

    def __hash__(self) -> int:
        # Consistent with the generated __eq__ (equal transactions have equal ids), and far
        # cheaper than hashing a tuple of the six fields: the signature cache hashes a
        # transaction at every admission. Equality still compares every field, so a forged
        # object that shares an honest one's id never stands for it in a dict.
        return hash(self.tx_id)

    @staticmethod
    def sign_bytes(chain_id: str, kind: str, signer: str, nonce: int, payload: bytes) -> bytes:
        return pack(("tx", chain_id, kind, signer, nonce, payload))

    @classmethod
    def create(cls, chain_id: str, identity: Identity, kind: str, nonce: int, payload: bytes
               ) -> "Transaction":
        body = cls.sign_bytes(chain_id, kind, identity.name, nonce, payload)
        tx = cls(kind, identity.name, nonce, payload, identity.sign(body),
                 hashlib.sha256(body).digest())
        if len(_made) >= MADE_REMEMBERED_MAX:
            del _made[next(iter(_made))]  # the oldest
        _made[tx] = (chain_id, body)
        return tx

    def to_wire(self) -> tuple:
        return (self.kind, self.signer, self.nonce, self.payload, self.signature)

    @classmethod
    def from_wire(cls, chain_id: str, raw: object) -> "Transaction":
        kind, signer, nonce, payload, signature = cls.check_wire(raw)
        body = cls.sign_bytes(chain_id, kind, signer, nonce, payload)
        # The decoder makes a new str for each field of each transaction; the few kinds and
        # signers are kept once each instead (two strs, about 110 bytes, of every decoded
        # transaction). sys.intern's table does not keep a str alive once nothing else does.
        return cls(sys.intern(kind), sys.intern(signer), nonce, payload, signature,
                   hashlib.sha256(body).digest())

    @staticmethod
    def check_wire(raw: object) -> tuple:
        """`raw` if it is a well-formed wire array (what from_wire checks before hashing it),
        else TxError."""
        if not isinstance(raw, tuple) or len(raw) != 5:
            raise TxError("a transaction is an array of 5 fields")
        kind, signer, nonce, payload, signature = raw
        if not isinstance(kind, str) or not 0 < len(kind) <= TX_KIND_MAX:
            raise TxError("transaction kind must be a short string")
        if not isinstance(signer, str) or not isinstance(nonce, int) or isinstance(nonce, bool):
            raise TxError("transaction signer must be a string and nonce an integer")
        if not 0 <= nonce < 2**63:
            raise TxError("transaction nonce out of range")
        if not isinstance(payload, bytes) or len(payload) > TX_PAYLOAD_BYTES_MAX:
            raise TxError(f"transaction payload must be bytes of at most {TX_PAYLOAD_BYTES_MAX}")
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            raise TxError("transaction signature must be 64 bytes")
        return raw

    def signed_bytes(self, chain_id: str) -> bytes:
        made = _made.get(self)  # equal in every field to one made here: the same bytes
        if made is not None and made[0] == chain_id:
            return made[1]
        return self.sign_bytes(chain_id, self.kind, self.signer, self.nonce, self.payload)


# Transaction -> (chain id, signed bytes) of those made by Transaction.create, oldest first
# (MADE_REMEMBERED_MAX). A key answers for any transaction equal to it in every field.
_made: dict[Transaction, tuple[str, bytes]] = {}


def _decodes_to_itself(chain_id: str, raw: tuple, tx: Transaction) -> bool:
    """`Transaction.from_wire(chain_id, raw) == tx` (TxError or TypeError as from_wire's),
    without packing and hashing the signed bytes again for a transaction made here: its id
    is the hash of the very bytes decoding would pack."""
    made = _made.pop(tx, None)
    if made is None or made[0] != chain_id:
        return Transaction.from_wire(chain_id, raw) == tx
    Transaction.check_wire(raw)
    return True


class TxMemo(BoundedMemo[Transaction]):
    """Decoded transactions by their wire array, oldest first out: at most `entries_max`
    entries and `bytes_max` bytes (payload plus TX_MEMO_ENTRY_BYTES each), so a peer's large
    payloads cannot grow it past the byte bound however few there are."""

    __slots__ = ()

    def __init__(self, entries_max: int = TX_MEMO_ENTRIES_MAX,
                 bytes_max: int = TX_MEMO_BYTES_MAX) -> None:
        super().__init__(entries_max, bytes_max)

    def remember(self, raw: tuple, tx: Transaction) -> None:
        self.put(raw, tx, len(tx.payload) + TX_MEMO_ENTRY_BYTES)

    def seed(self, chain_id: str, txs) -> None:
        """Remember transactions made in this process (a client's, about to be gossiped) under
        their wire arrays, so that the nodes of the process that receive them decode them as
        these very objects. Otherwise a transaction lives twice to the end of a run: its
        client's object (kept by the signature cache and its proposer's block) and an equal
        decoded one (kept by every other ledger). Only a transaction that its wire array
        decodes back to (`Transaction.from_wire`, equal in every field) is remembered, so a
        receiver gets what decoding would give it."""
        for tx in txs:
            raw = tx.to_wire()
            try:
                if self.get(raw) is not None or not _decodes_to_itself(chain_id, raw, tx):
                    continue
            except (TxError, TypeError):  # not a transaction decoding gives
                continue
            self.remember(raw, tx)


def tx_from_wire(chain_id: str, raw: object, memo: TxMemo | None = None) -> Transaction:
    """`Transaction.from_wire`, remembered in `memo` (a DecodeCache's): a transaction gossiped
    in a batch and then proposed in a block is decoded once and is one object in both, so
    signature verdicts keyed by the object hit by identity. Bounded by TxMemo's limits."""
    # A nonce of True or 1.0 equals 1 in a tuple key, yet from_wire refuses it: no memo then.
    if memo is None or not isinstance(raw, tuple) or len(raw) != 5 or type(raw[2]) is not int:
        return Transaction.from_wire(chain_id, raw)
    try:
        tx = memo.get(raw)
    except TypeError:  # an unhashable field: from_wire refuses it below
        return Transaction.from_wire(chain_id, raw)
    if tx is None:
        tx = Transaction.from_wire(chain_id, raw)
        memo.remember(raw, tx)
    return tx
