"""Work that honest nodes in one process share: validating and applying a block once.

Theory of operation
-------------------

In the simulated world all n nations run in one process, and the honest ones hold the same
chain and the same chaincode state. Validating a proposed block (`Node.valid`: its place in the
chain, its app hash, fresh and signed transactions) and applying a committed one (the chaincode
over every transaction) are pure functions of that chain and state, so doing them n times gives
n identical answers. `SharedApplication` memoises both:

- `valid(key, check)`: the verdict of `check()` under key (height, tip hash, state root, the
  block's bytes). The tip hash pins the whole chain (hence the committed transaction ids and the
  tip's time); the state root pins the chaincode state; the bytes pin every signature (the
  block id does not: it commits to transaction ids, which leave signatures out). A block
  decoded once is one bytes object at every node, so the lookup compares by identity.
- `tx_index`: one `TxIndex` for the honest nodes' ledgers (nodes/chain/ledger.py).
- `committed(committed)`: the block a node is about to append, as the one `Block` object the
  honest nodes keep for it. The proposer built its block and every other node decoded it from
  the proposal: two equal objects, each with its own bytes (hundreds of KiB to MiBs) and tuple
  of transactions, and the proposer's ledger would keep the second copy to the end of the run.
  The key is (block id, bytes): a block that was built or decoded has every field made from,
  or packed into, its bytes, so equal keys mean equal blocks.
- `apply(chaincode, block)`: under key (block.prev_hash, state root, block id), the flags, the
  results and the state after the block. The first node to apply it forks its state (copy on
  write, `DomainState.fork`), applies the block to the fork and leaves the fork here; every
  other node in the same state adopts that same state object. A state is never changed after it
  is stored: the next block is again applied to a fork. The state before the block stays as it
  was, so a node still there (a slow one, or one that must apply a different block) is not
  disturbed.

A node whose state diverged (a Byzantine node, a broken chaincode) has another root, so its key
differs and it computes its own: sharing can never hand it an honest answer, nor let it put a
wrong one where honest nodes look. The world gives this object to honest nodes only. Bounded:
the oldest entries go first, and a node that misses one simply computes it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from nodes.chain.block import Block, CommittedBlock
from nodes.app.chaincode import Chaincode, Flag, TxResult
from nodes.chain.ledger import TxIndex

APPLIED_ENTRIES_MAX = 8  # each holds a whole state; honest nodes apply a height in one burst
BLOCKS_KEPT_MAX = 8  # honest nodes commit a height in one burst, as they apply it
VALID_ENTRIES_MAX = 1024


class SharedApplication:
    __slots__ = ("_applied", "_valid", "apply_hits", "apply_misses", "valid_hits",
                 "valid_misses", "tx_index", "_blocks")

    def __init__(self) -> None:
        self.tx_index = TxIndex()
        self._applied: OrderedDict[tuple[bytes, bytes, bytes], tuple] = OrderedDict()
        self._valid: OrderedDict[tuple, bool] = OrderedDict()
        self.apply_hits = self.apply_misses = self.valid_hits = self.valid_misses = 0
        self._blocks: OrderedDict[tuple[bytes, bytes], Block] = OrderedDict()

    def committed(self, committed: CommittedBlock) -> CommittedBlock:
        """`committed` with the block object the honest nodes already keep for an equal block
        (the certificate stays the node's own), or as it is, now kept for the next ones."""
        block = committed.block
        key = (block.block_id, block.encoded)
        kept = self._blocks.get(key)
        if kept is None:
            self._blocks[key] = block
            if len(self._blocks) > BLOCKS_KEPT_MAX:
                self._blocks.popitem(last=False)
            return committed
        return committed if kept is block else CommittedBlock(kept, committed.certificate)

    def valid(self, key: tuple, check: Callable[[], bool]) -> bool:
        verdict = self._valid.get(key)
        if verdict is not None:
            self.valid_hits += 1
            return verdict
        self.valid_misses += 1
        verdict = check()
        self._valid[key] = verdict
        if len(self._valid) > VALID_ENTRIES_MAX:
            self._valid.popitem(last=False)
        return verdict

    def apply(self, chaincode: Chaincode, block: Block
              ) -> tuple[tuple[Flag, ...], tuple[TxResult, ...]]:
        key = (block.prev_hash, chaincode.state.root, block.block_id)
        entry = self._applied.get(key)
        if entry is not None:
            self.apply_hits += 1
            chaincode.state, flags, results = entry
            return flags, results
        self.apply_misses += 1
        chaincode.state = chaincode.state.fork()
        flags = tuple(chaincode.begin_block(block.time_ticks))
        results = tuple(chaincode.apply_tx(tx, block.time_ticks) for tx in block.txs)
        self._applied[key] = (chaincode.state, flags, results)
        if len(self._applied) > APPLIED_ENTRIES_MAX:
            self._applied.popitem(last=False)
        return flags, results
