"""What a node keeps across a crash: its committed blocks and its consensus write-ahead record.

`MemoryStorage` is the simulated world's disk: the world keeps the object when a nation crashes
and hands it to the restarted node, while everything else the node held (mempool, vote tallies,
peers' heights) is lost, as it would be in a real crash. The live runtime's SQLite store
(nodes/live/sqlite_storage.py) implements the same attributes and three methods; `World` takes a
storage factory, so the simulated world can run on either.
"""

from __future__ import annotations

from consensus import WalRecord

from nodes.chain.block import CommittedBlock


class StorageError(RuntimeError):
    """A node's disk that cannot be used as it is; the message names the file and the fix."""


class MemoryStorage:
    __slots__ = ("blocks", "wal", "writes")

    def __init__(self) -> None:
        self.blocks: list[CommittedBlock] = []
        self.wal: WalRecord | None = None
        self.writes = 0

    def save_block(self, committed: CommittedBlock) -> None:
        if committed.block.height != len(self.blocks) + 1:
            raise StorageError(f"storage expects block {len(self.blocks) + 1}, "
                               f"got {committed.block.height}")
        self.blocks.append(committed)
        self.writes += 1

    def save_wal(self, record: WalRecord) -> None:
        self.wal = record
        self.writes += 1

    def wipe(self) -> None:
        self.blocks.clear()
        self.wal = None
