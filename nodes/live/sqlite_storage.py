"""A node's disk in the live runtime: committed blocks and the write-ahead record in SQLite.

Theory of operation
-------------------

`SQLiteStorage` has the interface the `Node` uses of `MemoryStorage` (the attributes `blocks`
and `wal`, the methods `save_block`, `save_wal` and `wipe`), so the node code is the same in the
simulated world and in a live process. Every `save_*` commits its own transaction before it
returns. The node persists before it sends (consensus/io.py), so once a vote has left the
process its write-ahead record is in the file, and a node killed at any instant restarts with
every vote it ever sent and cannot sign a conflicting one.

Durability. The database runs in WAL journal mode. `synchronous=FULL` (the default here) fsyncs
the log at every commit, so a record survives an operating-system crash or a power cut too.
`synchronous=NORMAL` is allowed: in WAL mode a commit's pages are written to the log file (the
OS holds them) before the commit returns, which is all that surviving SIGKILL of the node needs,
but a power cut may lose the last commits, and with them votes already sent. A validator must
not forget a vote it sent, so FULL is the default; NORMAL is for benchmarks and tests.

What is stored:
- `blocks`: one row a height: the block's canonical bytes, its commit certificate, and, for
  queries and checks without decoding, its id, its parent's id and its `app_hash`. The app hash
  of block h+1 is the chaincode state root after block h, so the table holds the state root of
  every height but the tip. The state itself is not stored: the node rebuilds it by replaying
  the blocks, and checks every block's app hash against the replayed root as it goes
  (`Node.__init__`), so a chaincode that changed under stored blocks is caught at start-up.
- `wal`: one row, the newest write-ahead record (nodes/wire/records.py).
- `meta`: the format version and the chain id the file belongs to, and, once a node has
  opened it, the nation and the genesis hash it belongs to: a node that opens it with another
  nation's key or under another genesis (a swapped key, a changed power) is refused, since it
  would re-send another nation's votes under its own key, or build on blocks its genesis never
  started.

On open, everything is read back and checked: heights run 1, 2, 3... without a gap, each block
decodes (its Merkle root re-checked) to the id stored beside it and names the previous block as
its parent, each certificate decodes, the write-ahead record decodes. A file that fails is
refused with a `StorageError` naming it and what to do, never a traceback from deep inside.

Signatures are the node's to check (`Node.__init__` checks each stored block's certificate and
transaction signatures before it applies or serves it); the store remembers how far they were
checked. `meta.verified` is the mark `[height, prefix digest, signature]`: the digest chains
sha256 over every stored block's bytes and certificate bytes up to that height, and the node's
own key (`signer`) signs it with the chain id and the nation. Each `save_block` (of a block the
node has checked) moves the mark in the same transaction, and `mark_verified` sets it after a
start-up check. On open, the digest is recomputed from the bytes on disk (sha256 only): when it
matches a mark signed by this node's key, `verified_height` is the mark's height, and only the
blocks above it are checked again; a flipped byte anywhere below changes the digest, and every
block is checked again.

- beside the file, `<name>.txids`: every committed transaction id, in a memory-mapped hash
  table (nodes/live/txindex.py) that says how far it covers the blocks; the blocks above that
  are indexed when they are loaded (a file from before the index, or one the machine crashed
  under, is indexed on its first full load). A node restored from a snapshot asks it whether an
  old transaction was committed (`StoredTxIds`) instead of holding every id in memory.

State snapshots. `save_snapshot` keeps one row (the newest): the chaincode state after a
height (nodes/app/snapshot.py), the block id and state root at that height and the prefix
digest there, signed with the node's key over the sha256 of those bytes. On open, a snapshot that is this node's (signature), of this chain and
nation, names the id stored at its height and the app hash stored at the height after it
(when there is one) is `snapshot`: the blocks at or below its height are then neither read nor
decoded (`blocks` reads one from the file when asked, `StoredBlocks`), and only those above are
loaded and checked as above. Restart time then grows with the blocks since the snapshot, not
with the ledger. The node checks the rest (the certificate of the block at the snapshot's
height, the state decodes to the root it names; `Node.__init__`) and calls `discard_snapshot`
when that fails. A snapshot that fails any check is never used: `snapshot_rejected` says why,
the row is deleted, and every block is loaded and replayed as without one.

The file is opened in SQLite's exclusive locking mode, so a second process (a second copy of the
same nation's node, which could equivocate) cannot open it while the first runs.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import msgpack

from consensus import WalRecord

from nodes.chain.block import BLOCK_BYTES_MAX, Block, BlockError, CommittedBlock
from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.identity import Identity, verify_signature
from nodes.wire.records import RecordError, decode_certificate, decode_wal, encode_certificate, encode_wal
from nodes.chain.storage import StorageError
from nodes.live.txindex import TxIdIndex

log = logging.getLogger("chemtrace.live")

SCHEMA_VERSION = 1
SYNCHRONOUS_MODES = ("FULL", "NORMAL")
CHAIN_ID_BYTES_MAX = 64
MARK_BYTES_MAX = 256
EMPTY_PREFIX_DIGEST = hashlib.sha256(b"chemtrace/store/prefix").digest()
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, block_id BLOB NOT NULL, "
    "prev_hash BLOB NOT NULL, app_hash BLOB NOT NULL, block BLOB NOT NULL, "
    "certificate BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wal (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "height INTEGER NOT NULL, record BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "height INTEGER NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL)",
)
SNAPSHOT_FORMAT = "chemtrace/snapshot/v1"
STORED_BLOCKS_CACHED = 16


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A signed state snapshot as read back (its signature and stored ids already checked)."""

    height: int
    block_id: bytes
    state_root: bytes
    prefix_digest: bytes
    state: bytes  # nodes/app/snapshot.py encode_state


class StoredTxIds:
    """`tx_id in this`: was the transaction committed in a stored block (the store's index)."""

    __slots__ = ("_storage",)

    def __init__(self, storage: "SQLiteStorage") -> None:
        self._storage = storage

    def __contains__(self, tx_id: object) -> bool:
        return self._storage.has_tx(tx_id)


class StoredBlocks:
    """The list of committed blocks, where the first `base` are read from the file on demand
    (decoded, their id checked against the one stored beside them) and the rest are held.
    Supports what the node and the ledger use of a list: len, indexing, iteration, append and
    clear."""

    __slots__ = ("_storage", "base", "above", "_cache")

    def __init__(self, storage: "SQLiteStorage", base: int, above: list | None = None) -> None:
        self._storage = storage
        self.base = base
        self.above: list[CommittedBlock] = above if above is not None else []
        self._cache: dict[int, CommittedBlock] = {}

    def __len__(self) -> int:
        return self.base + len(self.above)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index: int) -> CommittedBlock:
        if not isinstance(index, int):
            raise TypeError("StoredBlocks takes an integer index")
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("block index out of range")
        if index >= self.base:
            return self.above[index - self.base]
        cached = self._cache.get(index)
        if cached is None:
            cached = self._storage.read_block(index + 1)
            if len(self._cache) >= STORED_BLOCKS_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = cached
        return cached

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def raw(self, index: int) -> tuple[bytes, tuple]:
        """The canonical bytes and the certificate of block `index + 1`, without decoding a
        block below `base` (the ledger export writes a million transactions this way)."""
        if index < self.base:
            return self._storage.read_raw(index + 1)
        committed = self[index]
        return committed.block.encoded, committed.certificate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, tuple, StoredBlocks)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  (a changing list)

    def append(self, committed: CommittedBlock) -> None:
        self.above.append(committed)

    def clear(self) -> None:
        self.base = 0
        self.above.clear()
        self._cache.clear()


class SQLiteStorage:
    """Blocks and the write-ahead record of one node, in the SQLite file `path`.

    `chain_id` is needed to decode stored blocks (transaction ids cover it); a new file records
    it, and an existing file must belong to that chain. Omit it to open an existing file under
    the chain id it records. `nation` and `genesis_hash` (a node's) are recorded the same way
    on first use and checked on every later open; the first stored block must also start from
    `genesis_hash`. `signer` (the node's identity) signs and checks the verified mark; without
    it `verified_height` stays 0 and every start checks every block.
    """

    __slots__ = ("path", "chain_id", "blocks", "wal", "writes", "verified_height", "_db",
                 "_signer", "_nation", "_digests", "snapshot",
                 "snapshot_rejected", "snapshots_saved", "_index")

    def __init__(self, path: str | Path, chain_id: str | None = None, *,
                 synchronous: str = "FULL", nation: str | None = None,
                 genesis_hash: bytes | None = None, signer: Identity | None = None) -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, got {synchronous!r}")
        self.path = Path(path)
        self.blocks = StoredBlocks(self, 0)
        self.wal: WalRecord | None = None
        self.writes = 0
        self.snapshot: Snapshot | None = None  # the snapshot the blocks were loaded above
        self.snapshot_rejected: str | None = None  # why a stored snapshot was not used
        self.snapshots_saved = 0
        self.verified_height = 0  # blocks 1..this had their signatures checked (see the mark)
        self._signer = signer
        self._nation = nation if nation is not None else (signer.name if signer else None)
        self._digests: list[bytes] = [EMPTY_PREFIX_DIGEST]  # prefix digest after each height
        self._db: sqlite3.Connection | None = None
        self._index: TxIdIndex | None = None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=0.0)
            self._setup(synchronous)
            self.chain_id = self._check_chain_id(chain_id)
            self._check_owner(nation, genesis_hash)
            # After the exclusive lock: one process at a time writes the index.
            self._index = TxIdIndex(self.path.with_name(self.path.name + ".txids"))
            self._check_index()
            self._load(self._read_snapshot())
            if (genesis_hash is not None and self.blocks
                    and self.blocks[0].block.prev_hash != genesis_hash):
                raise StorageError(
                    f"{self.path}: block 1 does not start from this genesis (hash "
                    f"{genesis_hash.hex()[:16]}...); the genesis changed since the node wrote "
                    "it: start the node with the genesis its chain began with, or with an "
                    "empty --data folder for the new chain")
        except sqlite3.OperationalError as exc:
            self.close()
            if "locked" in str(exc):
                raise StorageError(f"{self.path}: the database is in use by another process; is "
                                   "this nation's node running already? Stop it first (two "
                                   "copies of one node could sign conflicting votes)") from None
            raise StorageError(f"{self.path}: cannot open the database: {exc}; check the "
                               "--data folder exists and is writable") from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StorageError(f"{self.path}: not a chemtrace node database ({exc}); point "
                               "--data at the node's own folder") from None
        except StorageError:
            self.close()
            raise

    # ------------------------------------------------------------ opening and checking

    def _setup(self, synchronous: str) -> None:
        db = self._db
        # Exclusive before WAL: then SQLite keeps the WAL index in process memory, and the
        # first write below takes a lock that lasts until close (one process per file).
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"{self.path}: SQLite refused WAL journal mode (got {mode}); "
                               "put --data on a local file system")
        db.execute(f"PRAGMA synchronous={synchronous}")
        self._transaction([(statement, ()) for statement in _SCHEMA])

    def _check_chain_id(self, chain_id: str | None) -> str:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        stored_version = rows.get("schema_version")
        if stored_version is not None and stored_version != str(SCHEMA_VERSION):
            raise StorageError(f"{self.path}: database format {stored_version}, this chemtrace "
                               f"reads format {SCHEMA_VERSION}; use a matching chemtrace")
        stored = rows.get("chain_id")
        if stored is not None:
            if chain_id is not None and chain_id != stored:
                raise StorageError(f"{self.path}: the database belongs to chain {stored!r}, not "
                                   f"{chain_id!r}; give this chain's node its own --data folder")
            return stored
        if chain_id is None:
            raise StorageError(f"{self.path}: a new database needs the chain id; pass "
                               "chain_id=genesis.chain_id")
        if not chain_id or len(chain_id.encode()) > CHAIN_ID_BYTES_MAX:
            raise StorageError(f"chain_id must be 1 to {CHAIN_ID_BYTES_MAX} bytes")
        self._transaction([
            ("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)),
            ("INSERT INTO meta (key, value) VALUES ('chain_id', ?)", (chain_id,)),
        ])
        return chain_id

    def _check_owner(self, nation: str | None, genesis_hash: bytes | None) -> None:
        """Refuse a file another nation's node or another genesis wrote; record ours if new."""
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        new = []
        stored = rows.get("nation")
        if nation is not None:
            if stored is None:
                new.append(("nation", nation))
            elif stored != nation:
                raise StorageError(
                    f"{self.path}: the database is {stored}'s node's, and this key is "
                    f"{nation}'s; give each nation's node its own --data folder (run {stored}'s "
                    f"node with {stored}'s key on it)")
        stored = rows.get("genesis_hash")
        if genesis_hash is not None:
            if stored is None:
                new.append(("genesis_hash", genesis_hash.hex()))
            elif stored != genesis_hash.hex():
                raise StorageError(
                    f"{self.path}: the database was written under another genesis (hash "
                    f"{stored[:16]}..., this genesis {genesis_hash.hex()[:16]}...: a key, a "
                    "power or the chain id differs); start the node with the genesis file its "
                    "chain began with, or with an empty --data folder for the new genesis")
        if new:
            self._transaction([("INSERT INTO meta (key, value) VALUES (?, ?)", row)
                               for row in new])

    def _load(self, snapshot: Snapshot | None = None) -> None:
        """Read the blocks back (those above `snapshot`'s height only, when given) and the
        write-ahead record, checking each as the module docstring says."""
        fix = _FIX
        base = snapshot.height if snapshot is not None else 0
        self.snapshot = snapshot
        self._digests = [EMPTY_PREFIX_DIGEST]
        if snapshot is not None:
            # Blocks below the snapshot are not decoded, but their bytes are hashed (sha256
            # only, about 0.15 s a million transactions): a byte changed anywhere below it
            # refuses the snapshot, and the full load then finds the damaged block.
            rows = self._db.execute("SELECT block, certificate FROM blocks WHERE height <= ? "
                                    "ORDER BY height", (base,))
            digests = self._digests
            for data, certificate in rows:
                if not isinstance(data, bytes) or not isinstance(certificate, bytes):
                    break
                digests.append(_prefix_digest(digests[-1], data, certificate))
            if len(digests) != base + 1 or digests[-1] != snapshot.prefix_digest:
                self._reject_snapshot(base, "the stored blocks at or below its height are not "
                                            "the ones it was made on (their bytes changed)")
                return self._load(None)
        self.blocks = StoredBlocks(self, base)
        expected_height = base + 1
        prev_id = snapshot.block_id if snapshot is not None else None
        rows = self._db.execute("SELECT height, block_id, prev_hash, app_hash, block, certificate "
                                "FROM blocks WHERE height > ? ORDER BY height", (base,))
        for height, block_id, prev_hash, app_hash, data, certificate in rows:
            if height != expected_height:
                raise StorageError(f"{self.path}: blocks: height {expected_height} is missing "
                                   f"(next stored is {height}); {fix}")
            block, votes = self._decode_row(height, block_id, data, certificate)
            if (block.prev_hash != prev_hash or block.app_hash != app_hash
                    or (prev_id is not None and block.prev_hash != prev_id)):
                raise StorageError(f"{self.path}: blocks: block {height} does not extend block "
                                   f"{height - 1} (broken hash chain); {fix}")
            self.blocks.append(CommittedBlock(block, votes))
            self._digests.append(_prefix_digest(self._digests[-1], data, certificate))
            expected_height, prev_id = height + 1, block.block_id
        if self._index.height < len(self.blocks):
            self._fill_tx_index()
        # A snapshot is made only of blocks the node had checked and applied.
        self.verified_height = max(self._read_mark(), base)
        row = self._db.execute("SELECT height, record FROM wal WHERE id = 1").fetchone()
        if row is not None:
            try:
                self.wal = decode_wal(self.chain_id, row[1])
            except RecordError as exc:
                raise StorageError(f"{self.path}: wal: {exc}; {fix}") from None
            if self.wal.height != row[0]:
                raise StorageError(f"{self.path}: wal: the record's height differs from its "
                                   f"row's; {fix}")

    def _check_index(self) -> None:
        """Empty the index unless the block it ends at is the one stored at its height (an
        index beside a restored or swapped file)."""
        index = self._index
        if index.height == 0:
            return
        row = self._db.execute("SELECT block_id FROM blocks WHERE height = ?", (index.height,)
                               ).fetchone()
        if row is None or row[0] != index.tip:
            index.reset()

    def _fill_tx_index(self) -> None:
        """Index the ids of the loaded blocks the index does not cover yet (a file written
        before it, or one the machine crashed under); those blocks are all loaded here."""
        if self._index.height < self.blocks.base:
            self._index.reset()
        for index in range(max(self._index.height, self.blocks.base), len(self.blocks)):
            block = self.blocks[index].block
            self._index.add(block.height, block.block_id, (tx.tx_id for tx in block.txs))

    def has_tx(self, tx_id: object) -> bool:
        """Whether a stored block commits the transaction `tx_id` (the index answers)."""
        if self._index is None:
            raise StorageError(f"{self.path}: the storage is closed")
        return tx_id in self._index

    def stored_tx_ids(self) -> StoredTxIds:
        return StoredTxIds(self)

    def _read_mark(self) -> int:
        """The height of the verified mark, if it is this node's and the bytes below it are
        those it was made over; else 0."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'verified'").fetchone()
        if row is None or self._signer is None or len(row[0]) > 2 * MARK_BYTES_MAX:
            return 0
        try:
            height, digest, signature = unpack(bytes.fromhex(row[0]), bytes_max=MARK_BYTES_MAX)
        except (CodecError, ValueError, TypeError):
            return 0  # a damaged mark costs a full check, nothing more
        if (not isinstance(height, int) or not 0 < height <= len(self.blocks)
                or digest != self._digest_at(height) or not isinstance(signature, bytes)):
            return 0
        if not verify_signature(self._signer.public_key, self._mark_bytes(height, digest),
                                signature):
            return 0
        return height

    def _mark_bytes(self, height: int, digest: bytes) -> bytes:
        return pack(("verified", self.chain_id, self._nation or "", height, digest))

    def _digest_at(self, height: int) -> bytes | None:
        """The prefix digest after `height`, if this open file computed it."""
        return self._digests[height] if 0 <= height < len(self._digests) else None

    def _mark_statement(self, height: int) -> tuple[str, tuple]:
        digest = self._digest_at(height)
        signature = self._signer.sign(self._mark_bytes(height, digest))
        return ("INSERT OR REPLACE INTO meta (key, value) VALUES ('verified', ?)",
                (pack((height, digest, signature)).hex(),))

    def mark_verified(self) -> None:
        """Remember that every stored block has had its signatures checked (the node calls this
        after checking the blocks above `verified_height` at start-up)."""
        height = len(self.blocks)
        if self._signer is None or height == 0 or height == self.verified_height:
            return
        self._save([self._mark_statement(height)])
        self.verified_height = height

    # ------------------------------------------------------------ the storage interface

    def save_block(self, committed: CommittedBlock) -> None:
        """Append the next block with its certificate; committed to the file on return."""
        block = committed.block
        if block.height != len(self.blocks) + 1:
            raise StorageError(f"{self.path}: storage expects block {len(self.blocks) + 1}, got "
                               f"{block.height}")
        if self.blocks and block.prev_hash != self.blocks[-1].block.block_id:
            raise StorageError(f"{self.path}: block {block.height} does not extend the stored "
                               "tip")
        certificate = encode_certificate(committed.certificate)
        self._digests.append(_prefix_digest(self._digests[-1], block.encoded, certificate))
        statements = [(
            "INSERT INTO blocks (height, block_id, prev_hash, app_hash, block, certificate) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (block.height, block.block_id, block.prev_hash, block.app_hash, block.encoded,
             certificate))]
        # The node saves only blocks it has checked: the mark moves with each, in one commit.
        verified = self._signer is not None and self.verified_height == len(self.blocks)
        if verified:
            statements.append(self._mark_statement(block.height))
        try:
            self._save(statements)
        except StorageError:
            self._digests.pop()
            raise
        self.blocks.append(committed)
        if verified:
            self.verified_height = block.height
        if self._index.height == block.height - 1:  # after the commit: the index follows it
            self._index.add(block.height, block.block_id, (tx.tx_id for tx in block.txs))
        self.writes += 1

    def save_wal(self, record: WalRecord) -> None:
        """Replace the write-ahead record; committed to the file on return."""
        self._save([("INSERT OR REPLACE INTO wal (id, height, record) VALUES (1, ?, ?)",
                            (record.height, encode_wal(record)))])
        self.wal = record
        self.writes += 1

    def wipe(self) -> None:
        """Forget every block and the write-ahead record (a restart from nothing)."""
        self._save([("DELETE FROM blocks", ()), ("DELETE FROM wal", ()),
                    ("DELETE FROM meta WHERE key = 'verified'", ()),
                    ("DELETE FROM snapshot", ())])
        self._index.reset()
        self.blocks.clear()
        self.wal = None
        self.verified_height = 0
        self.snapshot = None
        self._digests = [EMPTY_PREFIX_DIGEST]

    def state_root_after(self, height: int) -> bytes | None:
        """The chaincode state root after block `height`, as the next block's header carries
        it; None for the tip (its successor is not decided yet) and beyond."""
        if 1 <= height < len(self.blocks):
            return self.blocks[height].block.app_hash
        return None

    # ------------------------------------------------------------ state snapshots

    def read_block(self, height: int) -> CommittedBlock:
        """Block `height` with its certificate, read and decoded from the file (its id checked
        against the one stored beside it)."""
        if self._db is None:
            raise StorageError(f"{self.path}: the storage is closed")
        row = self._db.execute("SELECT block_id, block, certificate FROM blocks WHERE height = ?",
                               (height,)).fetchone()
        if row is None:
            raise StorageError(f"{self.path}: blocks: block {height} is missing; {_FIX}")
        return CommittedBlock(*self._decode_row(height, *row))

    def read_raw(self, height: int) -> tuple[bytes, tuple]:
        """Block `height`'s stored bytes (not decoded; checked at open against the snapshot's
        digest) and its decoded certificate."""
        if self._db is None:
            raise StorageError(f"{self.path}: the storage is closed")
        row = self._db.execute("SELECT block_id, block, certificate FROM blocks WHERE height = ?",
                               (height,)).fetchone()
        if row is None or not isinstance(row[1], bytes):
            raise StorageError(f"{self.path}: blocks: block {height} is missing; {_FIX}")
        try:
            return row[1], decode_certificate(height, row[0], row[2])
        except RecordError as exc:
            raise StorageError(f"{self.path}: blocks: block {height}: {exc}; {_FIX}") from None

    def _decode_row(self, height: int, block_id: object, data: object, certificate: object
                    ) -> tuple[Block, tuple]:
        """A stored row's block and certificate, decoded and its id checked."""
        if not isinstance(data, bytes) or len(data) > BLOCK_BYTES_MAX:
            raise StorageError(f"{self.path}: blocks: block {height} is not block bytes; {_FIX}")
        try:
            block = Block.decode(self.chain_id, data)
            votes = decode_certificate(height, block.block_id, certificate)
        except (BlockError, RecordError) as exc:
            raise StorageError(f"{self.path}: blocks: block {height}: {exc}; {_FIX}") from None
        if block.height != height or block.block_id != block_id:
            raise StorageError(f"{self.path}: blocks: block {height} does not hash to the id "
                               f"stored with it; {_FIX}")
        return block, votes

    def stored_view(self, height: int) -> StoredBlocks:
        """A new list of blocks 1..`height`, read from the file on demand (for the ledger)."""
        return StoredBlocks(self, height)

    def _snapshot_bytes(self, body: bytes) -> bytes:
        return pack(("snapshot", self.chain_id, self._nation or "",
                     hashlib.sha256(body).digest()))

    def save_snapshot(self, height: int, state: bytes, state_root: bytes) -> None:
        """Keep the chaincode state after block `height` (`state`, whose root is `state_root`),
        signed with the node's key; it replaces the previous snapshot in one commit. Needs the
        signer."""
        if self._signer is None:
            raise StorageError(f"{self.path}: a snapshot needs the node's key (signer)")
        digest = self._digest_at(height)
        if not 1 <= height <= len(self.blocks) or digest is None:
            raise StorageError(f"{self.path}: no snapshot at height {height}: the stored blocks "
                               f"run 1 to {len(self.blocks)}")
        block_id = self.blocks[height - 1].block.block_id
        body = pack((SNAPSHOT_FORMAT, self.chain_id, self._nation or "", height, block_id,
                     state_root, digest, state))
        signature = self._signer.sign(self._snapshot_bytes(body))
        self._save([("INSERT OR REPLACE INTO snapshot (id, height, body, signature) "
                     "VALUES (1, ?, ?, ?)", (height, body, signature))])
        self.snapshots_saved += 1

    def _read_snapshot(self) -> Snapshot | None:
        """The stored snapshot if it passes the checks this store can make; else None, with
        `snapshot_rejected` saying why (and the row deleted), or no snapshot at all."""
        row = self._db.execute("SELECT height, body, signature FROM snapshot WHERE id = 1"
                               ).fetchone()
        if row is None:
            return None
        if self._signer is None:
            return None  # opened without the node's key (a tool): load every block
        height, body, signature = row
        fault = None
        if (not isinstance(body, bytes) or not isinstance(signature, bytes)
                or not verify_signature(self._signer.public_key, self._snapshot_bytes(body),
                                        signature)):
            fault = "its signature is not this node's over its bytes (changed or foreign)"
        else:
            try:
                fields_ = msgpack.unpackb(body, raw=False, use_list=False, max_map_len=0,
                                          max_ext_len=0)
                fmt, chain_id, nation, s_height, block_id, root, digest, state = fields_
            except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
                    msgpack.StackError) as exc:
                fields_ = None
                fault = f"it does not decode ({exc.__class__.__name__})"
            if fields_ is not None:
                stored = self._db.execute("SELECT block_id FROM blocks WHERE height = ?",
                                          (s_height,)).fetchone() if isinstance(s_height, int) \
                    else None
                after = self._db.execute("SELECT app_hash FROM blocks WHERE height = ?",
                                         (s_height + 1,)).fetchone() \
                    if isinstance(s_height, int) else None
                lower = self._db.execute("SELECT COUNT(*) FROM blocks WHERE height <= ?",
                                         (s_height,)).fetchone()[0] \
                    if isinstance(s_height, int) else -1
                if fmt != SNAPSHOT_FORMAT or chain_id != self.chain_id or nation != (
                        self._nation or ""):
                    fault = "it is of another format, chain or nation"
                elif s_height != height or not isinstance(s_height, int) or s_height < 1:
                    fault = "its height differs from its row's"
                elif stored is None or lower != s_height:
                    fault = f"the blocks up to its height {s_height} are not all stored"
                elif stored[0] != block_id:
                    fault = f"block {s_height} stored here has another id than the snapshot's"
                elif after is not None and after[0] != root:
                    fault = (f"its state root is not the app hash of block {s_height + 1} "
                             "stored here")
                elif not (isinstance(state, bytes) and isinstance(digest, bytes)):
                    fault = "its fields are malformed"
                elif self._index.height < s_height:
                    fault = f"the transaction index reaches height {self._index.height} only"
        if fault is not None:
            self._reject_snapshot(height, fault)
            return None
        return Snapshot(s_height, block_id, root, digest, state)

    def _reject_snapshot(self, height: object, fault: str) -> None:
        self.snapshot_rejected = f"snapshot at height {height}: {fault}"
        log.warning("%s: not using the state snapshot at height %s: %s; loading and replaying "
                    "every block instead (the snapshot is deleted; the node writes a new one)",
                    self.path, height, fault)
        self._save([("DELETE FROM snapshot", ())])

    def discard_snapshot(self, fault: str) -> None:
        """The node found the snapshot wrong (`fault`): forget it and load every block."""
        height = self.snapshot.height if self.snapshot is not None else "?"
        self._reject_snapshot(height, fault)
        self._load(None)

    # ------------------------------------------------------------ plumbing

    def _save(self, statements: list[tuple[str, tuple]]) -> None:
        try:
            self._transaction(statements)
        except sqlite3.Error as exc:
            # A save that did not reach the file must stop the node: what depends on it (a
            # vote, a commit) may not be sent.
            raise StorageError(f"{self.path}: cannot save: {exc}; free disk space or make the "
                               "--data folder writable, then restart the node") from None

    def _transaction(self, statements: list[tuple[str, tuple | list]]) -> None:
        """Run `statements` in one commit; a list of parameter rows runs its statement once
        a row."""
        if self._db is None:
            raise StorageError(f"{self.path}: the storage is closed")
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                if isinstance(params, list):
                    db.executemany(sql, params)
                else:
                    db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        index, self._index = self._index, None
        if index is not None:
            index.close()
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> "SQLiteStorage":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_FIX = ("restore the file from a backup, or move it aside and restart the node with an empty "
        "--data folder once the chain has passed the height in its write-ahead record (it "
        "would otherwise have forgotten its votes there)")


def _prefix_digest(previous: bytes, block_bytes: bytes, certificate_bytes: bytes) -> bytes:
    return hashlib.sha256(previous + hashlib.sha256(block_bytes).digest()
                          + hashlib.sha256(certificate_bytes).digest()).digest()
