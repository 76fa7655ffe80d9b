"""The ledger: the hash chain of committed blocks, with an index of committed transaction ids.

Alone, a ledger keeps its own index (`tx_heights`). The honest nodes of one simulated process
can share one `TxIndex` instead: it records every (height, block id) at which a transaction id
was committed on any of their chains, once per block, and a ledger answers `has_tx` by checking
that one of those blocks is on its own chain. The answer is the same as with a private index,
and 193 nations keep one index instead of 193.
"""

from __future__ import annotations

from collections.abc import Container

from consensus import Step, ValidatorSet

from nodes.chain.block import Block, CommittedBlock, vote_sign_bytes
from nodes.chain.genesis import Genesis
from nodes.chain.identity import VerifyCache


class LedgerError(RuntimeError):
    """An append that would break the chain: a bug in the caller, never a peer's input."""


def genesis_hash(genesis: Genesis) -> bytes:
    """The hash a chain of `genesis` starts from: chain id, and every nation's key and power."""
    return genesis.hash


class TxIndex:
    """tx id -> every (height, block id) it was committed at, over the chains of the ledgers
    that share it. Bounded by the blocks appended (each indexed once).

    Nearly every transaction has one place: that place (one tuple per block, shared by its
    transactions) is the entry itself, not a tuple around it, which saves 56 bytes of each of
    a million committed transactions; a transaction with more places has a tuple of them."""

    __slots__ = ("_where", "_indexed")

    def __init__(self) -> None:
        self._where: dict[bytes, tuple] = {}
        self._indexed: set[bytes] = set()

    def add(self, block: Block) -> None:
        if block.block_id in self._indexed:
            return
        self._indexed.add(block.block_id)
        place = (block.height, block.block_id)
        for tx in block.txs:
            self.record(tx.tx_id, place)

    def record(self, tx_id: bytes, place: tuple[int, bytes]) -> None:
        """Note `place`, (height, block id), for `tx_id`, unless it is noted already."""
        where = self._where
        known = where.get(tx_id)
        if known is None:
            where[tx_id] = place
        elif known[0].__class__ is int:  # one place
            if known != place:
                where[tx_id] = (known, place)
        elif place not in known:
            where[tx_id] = known + (place,)

    def places(self, tx_id: bytes) -> tuple[tuple[int, bytes], ...]:
        known = self._where.get(tx_id)
        if known is None:
            return ()
        return (known,) if known[0].__class__ is int else known


class Ledger:
    __slots__ = ("chain_id", "blocks", "tx_heights", "tip_hash", "index", "restored_txs")

    def __init__(self, genesis: Genesis, index: TxIndex | None = None) -> None:
        self.chain_id = genesis.chain_id
        self.blocks: list[CommittedBlock] = []
        # Our own index when `index` is None; else the shared one answers has_tx().
        self.tx_heights: dict[bytes, int] = {}
        self.index = index
        self.tip_hash = genesis_hash(genesis)
        # The ids committed at or below a restored snapshot's height (`restore`).
        self.restored_txs: Container[bytes] = frozenset()

    def restore(self, blocks, tip_hash: bytes, tx_ids: Container[bytes]) -> None:
        """Start from a snapshot instead of appending every block: `blocks` is a list-like of
        the committed blocks so far (the live store's reads old ones from disk on demand),
        `tip_hash` the id of its last, `tx_ids` answers `in` for every transaction id they
        commit (the live store's looks it up on disk). Only a ledger of its own index, still
        empty, can be restored."""
        if self.blocks or self.index is not None:
            raise LedgerError("only an empty ledger with its own index can be restored")
        self.blocks = blocks
        self.tip_hash = tip_hash
        self.restored_txs = tx_ids

    def has_tx(self, tx_id: bytes) -> bool:
        """Is `tx_id` in a block of this chain?"""
        if self.index is None:
            return tx_id in self.tx_heights or tx_id in self.restored_txs
        # TxIndex.places inlined: asked at every admission, and nearly always of an id with no
        # place yet, or with one (no tuple made around it).
        known = self.index._where.get(tx_id)
        if known is None:
            return False
        blocks = self.blocks
        for height, block_id in ((known,) if known[0].__class__ is int else known):
            if height <= len(blocks) and blocks[height - 1].block.block_id == block_id:
                return True
        return False

    @property
    def height(self) -> int:
        """Height of the last committed block; 0 before the first."""
        return len(self.blocks)

    @property
    def tip_time_ticks(self) -> int:
        return self.blocks[-1].block.time_ticks if self.blocks else 0

    def append(self, committed: CommittedBlock) -> None:
        block = committed.block
        if block.height != self.height + 1 or block.prev_hash != self.tip_hash:
            raise LedgerError(f"block {block.height} does not extend the tip at {self.height}")
        # A transaction committed twice is not refused here: valid() keeps honest nodes from
        # deciding such a block, and the integrity oracle must be able to see it if that fails.
        self.blocks.append(committed)
        if self.index is not None:
            self.index.add(block)
        else:
            for tx in block.txs:
                self.tx_heights.setdefault(tx.tx_id, block.height)
        self.tip_hash = block.block_id

    def get(self, height: int) -> CommittedBlock | None:
        return self.blocks[height - 1] if 1 <= height <= len(self.blocks) else None


CERTIFICATE_CHECKS = ("cert_signature", "cert_power")
"""The checks of `certificate_error` a mutant of the fuzzer's benchmark may remove, one at a time
(`NodeHooks.skipped_checks`): that every precommit's signature holds, and that the voters hold
more than 2/3 of the power. The others stay, or go all together with
`NodeHooks.check_certificates`: one round and distinct genesis voters are cheap guards, and
"for this block" and "a precommit" cannot fail for a certificate that came over the wire, whose
entries carry only [voter, round, signature] and take their step, height and block id from the
block they came with (block.certificate_from_wire)."""


def certificate_error(chain_id: str, validators: ValidatorSet, genesis_keys: dict[str, bytes],
                      verifier: VerifyCache, block: Block, certificate,
                      skipped: frozenset[str] | tuple = ()) -> str | None:
    """Why `certificate` does not prove `block` was decided, or None when it does.

    A valid certificate holds signed precommits for the block's id at its height, all in one
    round, from distinct validators holding more than 2/3 of the power. `skipped` names checks
    of CERTIFICATE_CHECKS not to make (a mutant's; every caller but a mutant's node passes none).
    """
    signed, by_power = "cert_signature" not in skipped, "cert_power" not in skipped
    if not certificate:
        return "empty certificate"
    rounds = {v.round for v in certificate}
    if len(rounds) != 1:
        return "certificate mixes rounds"
    seen: set[str] = set()
    power = 0
    for vote in certificate:
        if vote.voter in seen:
            return f"certificate lists {vote.voter} twice"
        seen.add(vote.voter)
        key = genesis_keys.get(vote.voter)
        if key is None:
            return f"certificate vote from unknown validator {vote.voter!r}"
        if vote.height != block.height or vote.value_id != block.block_id:
            return "certificate vote is for another block"
        if vote.step is not Step.PRECOMMIT:
            # Line 49 decides on precommits only: 2f+1 prevotes prove a polka, not a decision
            # (a value can have a polka in one round and another value be decided later).
            step = vote.step.name.lower()
            return f"certificate vote from {vote.voter} is a {step}, not a precommit"
        message = vote_sign_bytes(chain_id, vote.height, vote.round, vote.step, vote.value_id)
        if signed and not verifier.verify(key, message, vote.signature):
            return f"certificate vote from {vote.voter} has a bad signature"
        power += validators.power(vote.voter)
    if by_power and not validators.has_quorum(power):
        return f"certificate power {power} is not more than 2/3 of {validators.total_power}"
    return None
