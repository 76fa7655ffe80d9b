"""The ids of every committed transaction, in a memory-mapped hash table beside the node's store.

Theory of operation
-------------------

A node must refuse a block that commits a transaction again, so it must answer "was this id
committed?" for every id ever committed. Held in a Python set, that costs memory and, at every
start, the time to rebuild the set from the whole ledger; kept in SQLite under a random key, each
block's ids dirty thousands of random pages (about 100 ms a block of 2,000 at a million ids).
`TxIdIndex` is an open-addressing hash table of 32-byte ids in a file mapped into memory: a
lookup or an insert touches one or two slots, opening it costs nothing however many ids it
holds, and its pages are the operating system's, so a process killed with SIGKILL loses none.

File: a 4096-byte header (magic, capacity, count, the height it is complete to and that
block's id, a clean flag, the boot id of the machine run that last wrote it) and `capacity` slots of 32 bytes; an empty
slot is all zeros. Slots start at the id's first 8 bytes (little-endian) modulo the capacity
(ids are sha256 digests, so uniform) and probe linearly. It starts at `INITIAL_CAPACITY` slots, a
sparse file, so a small ledger costs little disk. Growing: once it is `LOAD_MAX` full, a thread
copies it into a table of twice the capacity in `<path>.new` while the node goes on adding to
(and looking up in) the old one, which also remembers the ids added meanwhile; the next `add`
after the thread is done puts those in the new table, writes its header and renames it over
the old file (the old file is the index until that rename). The copy is Python code, so it
shares the interpreter with the node (the node's loop keeps running, slower) instead of
stopping it: 1.56 s at 1.26 million ids when it was done in place. Only if the old table gets
`LOAD_HARD` full first does an `add` wait for the thread.

What it trusts. The pages a process wrote survive its death (the kernel holds them), but not a
crash of the machine: the header's clean flag is set only after a flush at `close`, and a file
that was not closed cleanly under another boot id is not trusted (`opened_clean` False): it is
emptied and the store fills it again from the blocks. The index is derived data: the store's
blocks are the truth, and `height` says how far it covers them.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path

MAGIC = b"chemtrace/txids1"
HEADER_BYTES = 4096
SLOT_BYTES = 32
INITIAL_CAPACITY = 1 << 16
LOAD_MAX = 0.6
LOAD_HARD = 0.85
_HEADER = struct.Struct("<16sQQQ32sB16s")  # magic, capacity, count, height, tip, clean, boot
_EMPTY = bytes(SLOT_BYTES)


def boot_id() -> bytes:
    """This machine run's id (Linux), or 16 zero bytes where there is none."""
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
        return bytes.fromhex(text)[:16].ljust(16, b"\0")
    except (OSError, ValueError):
        return bytes(16)


class TxIdIndex:
    __slots__ = ("path", "capacity", "count", "height", "tip", "opened_clean", "_file", "_map",
                 "_mask", "_rebuild", "_pending", "_built")

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the index at `path`. `opened_clean` is False when the file was new,
        damaged, or not closed cleanly in an earlier run of the machine: it is then empty."""
        self.path = Path(path)
        self._file = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+b")
        self._map: mmap.mmap | None = None
        self._rebuild: threading.Thread | None = None  # copying into a bigger table
        self._pending: list[bytes] = []  # ids added since that copy began
        self._built: list = []  # the thread's result: [file, map, capacity, count]
        self.opened_clean = self._read_header()
        if not self.opened_clean:
            self._create(INITIAL_CAPACITY)
        # Not clean from now on, on disk at once: should the machine crash while we run, the
        # next open must not trust pages that may not have reached the disk.
        self._write_header(clean=False)
        self._map.flush(0, mmap.PAGESIZE)

    # ------------------------------------------------------------ file

    def _read_header(self) -> bool:
        size = os.fstat(self._file.fileno()).st_size
        if size < HEADER_BYTES:
            return False
        self._file.seek(0)
        magic, capacity, count, height, tip, clean, boot = _HEADER.unpack(
            self._file.read(_HEADER.size))
        if (magic != MAGIC or capacity < 1 or capacity & (capacity - 1)
                or size != HEADER_BYTES + capacity * SLOT_BYTES or count > capacity):
            return False
        if not clean and boot != boot_id():
            return False  # written by a run of the machine that crashed: pages may be lost
        self._map = mmap.mmap(self._file.fileno(), size)
        self.capacity, self.count, self.height, self.tip = capacity, count, height, tip
        self._mask = capacity - 1
        return True

    def _create(self, capacity: int) -> None:
        if self._map is not None:
            self._map.close()
        self._file.truncate(0)
        self._file.truncate(HEADER_BYTES + capacity * SLOT_BYTES)  # sparse: zero slots
        self._map = mmap.mmap(self._file.fileno(), HEADER_BYTES + capacity * SLOT_BYTES)
        self.capacity, self.count, self.height, self.tip = capacity, 0, 0, _EMPTY
        self._mask = capacity - 1

    def _write_header(self, clean: bool) -> None:
        self._map[:_HEADER.size] = _HEADER.pack(MAGIC, self.capacity, self.count, self.height,
                                                self.tip, 1 if clean else 0, boot_id())

    # ------------------------------------------------------------ the table

    def __contains__(self, tx_id: object) -> bool:
        if not isinstance(tx_id, bytes) or len(tx_id) != SLOT_BYTES or tx_id == _EMPTY:
            return False
        return _probe(self._map, self._mask, tx_id)[1]

    def _put(self, tx_id: bytes) -> None:
        if _put(self._map, self._mask, tx_id):
            self.count += 1

    def add(self, height: int, block_id: bytes, tx_ids) -> None:
        """Index the ids of block `height` (id `block_id`), the block after `self.height`."""
        if height != self.height + 1:
            raise ValueError(f"the index is at height {self.height}, not {height - 1}")
        ids = [t for t in tx_ids if isinstance(t, bytes) and len(t) == SLOT_BYTES and t != _EMPTY]
        needed = self.count + len(ids)
        if self._rebuild is not None and (not self._rebuild.is_alive()
                                          or needed > self.capacity * LOAD_HARD):
            self._finish_rebuild()
            needed = self.count + len(ids)
        if needed > self.capacity * LOAD_HARD:
            self._start_rebuild(needed)
            self._finish_rebuild()  # no room to wait: copy now
        elif needed > self.capacity * LOAD_MAX and self._rebuild is None:
            self._start_rebuild(needed)
        for tx_id in ids:
            self._put(tx_id)
        if self._rebuild is not None:
            self._pending.extend(ids)
        self.height, self.tip = height, block_id
        self._write_header(clean=False)

    def _start_rebuild(self, needed: int) -> None:
        capacity = self.capacity * 2
        while needed > capacity * LOAD_MAX:
            capacity *= 2
        old = self._map[HEADER_BYTES:]  # a copy: the thread reads it while we write the map
        self._pending = []
        self._built = []
        new_path = self.path.with_name(self.path.name + ".new")
        self._rebuild = threading.Thread(target=_copy_into, name="txindex-grow", daemon=True,
                                         args=(old, new_path, capacity, self._built))
        self._rebuild.start()

    def _finish_rebuild(self) -> None:
        """Wait for the copy, add the ids added meanwhile, and put the new file in place."""
        thread, self._rebuild = self._rebuild, None
        thread.join()
        if not self._built:
            raise OSError(f"{self.path}: growing the index failed")
        new_file, new_map, capacity, count = self._built
        mask = capacity - 1
        for tx_id in self._pending:
            count += _put(new_map, mask, tx_id)
        self._pending = []
        old_map, old_file = self._map, self._file
        self._file, self._map = new_file, new_map
        self.capacity, self.count, self._mask = capacity, count, mask
        self._write_header(clean=False)
        self._map.flush(0, mmap.PAGESIZE)
        os.replace(self.path.with_name(self.path.name + ".new"), self.path)
        old_map.close()
        old_file.close()

    def reset(self) -> None:
        """Forget every id (the store was wiped, or will fill the index again)."""
        if self._rebuild is not None:
            self._finish_rebuild()
        self._create(INITIAL_CAPACITY)
        self._write_header(clean=False)

    def close(self) -> None:
        """Flush and mark the file clean (trusted on the next open, whatever happens later)."""
        if self._map is None:
            return
        if self._rebuild is not None:
            self._finish_rebuild()
        self._map.flush()
        self._write_header(clean=True)
        self._map.flush()
        self._map.close()
        self._map = None
        self._file.close()


def _probe(view, mask: int, tx_id: bytes) -> tuple[int, bool]:
    """The offset of the slot holding `tx_id`, or of the empty slot where it would go, and
    whether it is there."""
    slot = int.from_bytes(tx_id[:8], "little") & mask
    while True:
        at = HEADER_BYTES + slot * SLOT_BYTES
        found = view[at:at + SLOT_BYTES]
        if found == tx_id:
            return at, True
        if found == _EMPTY:
            return at, False
        slot = (slot + 1) & mask


def _put(view, mask: int, tx_id: bytes) -> int:
    """Put `tx_id` in the table; 1 if it was not there."""
    at, there = _probe(view, mask, tx_id)
    if there:
        return 0
    view[at:at + SLOT_BYTES] = tx_id
    return 1


def _copy_into(old: bytes, path: Path, capacity: int, result: list) -> None:
    """The growing thread: a table of `capacity` slots at `path` holding every id of `old` (a
    copy of a table's slots); on success `result` gets [file, map, capacity, count]."""
    file = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600), "r+b")
    try:
        file.truncate(HEADER_BYTES + capacity * SLOT_BYTES)
        view = mmap.mmap(file.fileno(), HEADER_BYTES + capacity * SLOT_BYTES)
        mask, count = capacity - 1, 0
        for at in range(0, len(old), SLOT_BYTES):
            tx_id = old[at:at + SLOT_BYTES]
            if tx_id != _EMPTY:
                count += _put(view, mask, tx_id)
    except BaseException:
        file.close()
        raise
    result.extend([file, view, capacity, count])
