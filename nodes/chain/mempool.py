"""The mempool: verified transactions waiting for a block, bounded, in arrival order."""

from __future__ import annotations

from nodes.chain.tx import Transaction

MEMPOOL_TXS_MAX = 50_000
# A pool of at least this many that a removal leaves under a quarter full is copied to a
# table of its size (`Mempool.remove`).
POOL_COMPACT_MIN = 1024
# msgpack of [kind, signer, nonce, payload, signature]: array header 1, each str at most 4 bytes
# a character plus a 5-byte header, nonce 9, payload plus a 5-byte header, signature 2 + 64.
TX_WIRE_FIXED_BYTES = 1 + 5 + 5 + 9 + 5 + 66


def wire_bytes_max(tx: Transaction) -> int:
    """An upper bound on the bytes of `tx.to_wire()` packed, without packing it."""
    return TX_WIRE_FIXED_BYTES + 4 * (len(tx.kind) + len(tx.signer)) + len(tx.payload)


class Mempool:
    """Insertion-ordered and bounded. Duplicates and already-committed ids are refused.

    Arrival order (not hash order) decides what goes into the next block, so the order is the
    same on every run with the same schedule.
    """

    __slots__ = ("txs_max", "_txs", "rejected_full", "rejected_duplicate")

    def __init__(self, txs_max: int = MEMPOOL_TXS_MAX) -> None:
        self.txs_max = txs_max
        self._txs: dict[bytes, Transaction] = {}
        self.rejected_full = 0
        self.rejected_duplicate = 0

    def __len__(self) -> int:
        return len(self._txs)

    def ids(self) -> tuple[bytes, ...]:
        return tuple(self._txs)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._txs

    def add(self, tx: Transaction) -> bool:
        if tx.tx_id in self._txs:
            self.rejected_duplicate += 1
            return False
        if len(self._txs) >= self.txs_max:
            self.rejected_full += 1
            return False
        self._txs[tx.tx_id] = tx
        return True

    def reap(self, count_max: int, bytes_max: int | None = None) -> tuple[Transaction, ...]:
        """Up to `count_max` transactions in arrival order, left in the pool until committed,
        whose encodings (bounded above by `wire_bytes_max`) add up to at most `bytes_max`."""
        out = []
        room = bytes_max
        for tx in self._txs.values():
            if len(out) >= count_max:
                break
            if room is not None:
                room -= wire_bytes_max(tx)
                if room < 0:
                    break
            out.append(tx)
        return tuple(out)

    def remove(self, tx_ids) -> None:
        txs = self._txs
        before = len(txs)
        for tx_id in tx_ids:
            txs.pop(tx_id, None)
        if before >= POOL_COMPACT_MIN and len(txs) * 4 < before:
            # A dict keeps its table after removals: a proposer's pool, emptied by its block,
            # would keep room for tens of thousands of transactions (193 of them at the global
            # day). A copy has the same entries in the same order, in a table to their size.
            self._txs = dict(txs)
