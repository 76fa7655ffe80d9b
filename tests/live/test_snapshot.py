"""Signed state snapshots (nodes/live/sqlite_storage.py, Node._restore_snapshot): a node
restarted from one holds the state, ledger and transaction index full replay gives; a snapshot
that is changed, foreign, or does not match the chain is refused and every block is replayed.

The chain is a short baseline run of the simulated world on SQLite files (trade events, so the
state has operators, lots, shipments, PENs and flags); a snapshot at height h is made by a node
opened on a copy cut back to h, and put into the full file.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes.app.snapshot import SnapshotError, decode_state, encode_state, state_digest
from nodes.chain.identity import Identity, VerifyCache
from nodes.chain.storage import StorageError
from nodes.live.sqlite_storage import SQLiteStorage
from nodes.node import Node

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def _index_of(path: Path) -> Path:
    return path.with_name(path.name + ".txids")


@contextlib.contextmanager
def _db(path: Path):
    """A plain connection to a node's file, committed and closed on leaving (the store opens
    its file in exclusive mode, so nothing may stay open)."""
    db = sqlite3.connect(path)
    try:
        yield db
        db.commit()
    finally:
        db.close()


class Chain:
    def __init__(self, folder: Path) -> None:
        from scenarios.assemble import build_world
        from scenarios.spec.loader import load_scenario

        scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=4000)
        opened: list[SQLiteStorage] = []

        def factory(instance: str) -> SQLiteStorage:
            opened.append(SQLiteStorage(folder / f"{instance}.db", f"chemtrace/{scenario.name}",
                                        synchronous="NORMAL"))
            return opened[-1]

        self.world = build_world(scenario, storage_factory=factory)
        self.world.run()
        for storage in opened:
            storage.close()
        self.folder = folder
        self.nation = self.world.nations[0]
        self.identity = self.world.identities[self.nation]
        self.path = folder / f"{self.nation}.db"
        storage, node = self.open(self.path)
        self.height = node.ledger.height
        self.digest = state_digest(node.chaincode.state)
        self.root = node.chaincode.state.root
        self.tip = node.ledger.tip_hash
        self.tx_ids = [tx.tx_id for h in range(1, self.height + 1)
                       for tx in node.ledger.get(h).block.txs]
        self.state_bytes = encode_state(node.chaincode.state)
        storage.close()

    def open(self, path: Path, identity: Identity | None = None):
        identity = identity or self.identity
        storage = SQLiteStorage(path, signer=identity, nation=self.nation)
        try:
            node = Node(self.identity, self.world.genesis, VerifyCache(), storage,
                        self.world.node_config, self.world.workload.new_chaincode())
        except BaseException:
            storage.close()
            raise
        return storage, node

    def with_snapshot(self, height: int, name: str) -> Path:
        """A copy of the full file holding a snapshot made at `height`."""
        cut, full = self.folder / f"{name}-cut.db", self.folder / f"{name}.db"
        shutil.copy(self.path, cut)
        shutil.copy(self.path, full)
        shutil.copy(_index_of(self.path), _index_of(full))  # the cut one is rebuilt
        with _db(cut) as db:
            db.execute("DELETE FROM blocks WHERE height > ?", (height,))
            db.execute("DELETE FROM wal")
            db.execute("DELETE FROM snapshot")
        storage, node = self.open(cut)
        assert node.save_snapshot() == height
        storage.close()
        with _db(full) as db:
            db.execute("ATTACH ? AS cut", (str(cut),))
            db.execute("DELETE FROM snapshot")
            db.execute("INSERT INTO snapshot SELECT * FROM cut.snapshot")
        cut.unlink()
        return full


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Chain:
    return Chain(tmp_path_factory.mktemp("snapshot-chain"))


def _resign(chain: Chain, path: Path, change) -> None:
    from nodes.chain.codec import pack

    with _db(path) as db:
        body = db.execute("SELECT body FROM snapshot").fetchone()[0]
        fields = list(msgpack.unpackb(body, raw=False, use_list=False))
        new = msgpack.packb(tuple(change(fields)), use_bin_type=True)
        signature = chain.identity.sign(pack(("snapshot", fields[1], chain.nation,
                                              hashlib.sha256(new).digest())))
        db.execute("UPDATE snapshot SET body = ?, signature = ?", (new, signature))


def _assert_like_full_replay(chain: Chain, node: Node) -> None:
    assert node.ledger.height == chain.height
    assert node.ledger.tip_hash == chain.tip
    assert node.chaincode.state.root == chain.root
    assert state_digest(node.chaincode.state) == chain.digest
    assert all(node.ledger.has_tx(tx_id) for tx_id in chain.tx_ids)
    assert not node.ledger.has_tx(bytes(32))


def _assert_refused(chain: Chain, path: Path, reason: str) -> None:
    """The snapshot in `path` is refused for `reason`, and the node replays every block."""
    storage, node = chain.open(path)
    try:
        assert reason in (storage.snapshot_rejected or ""), storage.snapshot_rejected
        assert node.restored_from == 0 and storage.blocks.base == 0
        _assert_like_full_replay(chain, node)
    finally:
        storage.close()


def test_state_encoding_round_trips_and_is_canonical(chain):
    state = decode_state(chain.state_bytes)
    assert encode_state(state) == chain.state_bytes
    assert len(state.lots) > 0 and len(state.shipments) > 0 and len(state.pens) > 0
    with pytest.raises(SnapshotError):
        decode_state(chain.state_bytes[:-5])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_restart_from_a_snapshot_gives_the_state_of_full_replay(chain, data):
    height = data.draw(st.integers(1, chain.height), label="snapshot height")
    path = chain.with_snapshot(height, f"h{height}")
    storage, node = chain.open(path)
    try:
        assert storage.snapshot_rejected is None
        assert node.restored_from == height
        # Blocks at or below the snapshot were not loaded; they read back from the file.
        assert storage.blocks.base == height
        assert node.ledger.get(1).block.block_id == storage.read_block(1).block.block_id
        _assert_like_full_replay(chain, node)
        # It goes on storing above the snapshot: the verified mark still holds on reopen.
        assert storage.verified_height == chain.height
    finally:
        storage.close()
    storage, node = chain.open(path)
    try:
        assert node.restored_from == height and storage.verified_height == chain.height
    finally:
        storage.close()


def test_a_snapshot_with_a_flipped_byte_is_refused_and_every_block_replayed(chain, caplog):
    path = chain.with_snapshot(chain.height // 2, "flipped")
    with _db(path) as db:
        body = bytearray(db.execute("SELECT body FROM snapshot").fetchone()[0])
        body[len(body) // 2] ^= 0x01
        db.execute("UPDATE snapshot SET body = ?", (bytes(body),))
    _assert_refused(chain, path, "signature")
    assert "not using the state snapshot" in caplog.text
    with _db(path) as db:  # deleted: the next start does not try it again
        assert db.execute("SELECT COUNT(*) FROM snapshot").fetchone()[0] == 0


def test_another_nations_snapshot_is_refused(chain):
    path = chain.with_snapshot(chain.height // 2, "foreign")
    other = chain.world.identities[chain.world.nations[1]]
    with _db(path) as db:
        body = db.execute("SELECT body FROM snapshot").fetchone()[0]
        from nodes.chain.codec import pack
        fields = msgpack.unpackb(body, raw=False, use_list=False)
        signature = other.sign(pack(("snapshot", fields[1], chain.nation,
                                     hashlib.sha256(body).digest())))
        db.execute("UPDATE snapshot SET signature = ?", (signature,))
    _assert_refused(chain, path, "signature")


@pytest.mark.parametrize("field, value, reason", [
    (4, bytes(32), "another id"),  # the block id at its height
    (5, bytes(32), "app hash"),  # the state root: not the next block's app hash
    (3, 10_000, "height differs"),
])
def test_a_signed_snapshot_that_does_not_match_the_chain_is_refused(chain, field, value,
                                                                    reason):
    height = chain.height // 2
    path = chain.with_snapshot(height, f"mismatch{field}")
    _resign(chain, path, lambda fields: fields[:field] + [value] + fields[field + 1:])
    _assert_refused(chain, path, reason)


def test_a_snapshot_whose_state_is_not_its_root_is_refused_by_the_node(chain):
    height = chain.height // 2
    path = chain.with_snapshot(height, "badstate")
    # The state after block 1 under the root the snapshot names: signed, ids and root match
    # the chain, but the state decodes to another root.
    early = chain.with_snapshot(1, "early")
    with _db(early) as db:
        early_state = msgpack.unpackb(db.execute("SELECT body FROM snapshot").fetchone()[0],
                                      raw=False, use_list=False)[7]
    _resign(chain, path, lambda fields: fields[:7] + [early_state] + fields[8:])
    _assert_refused(chain, path, "root")


def test_the_certificate_at_the_snapshot_height_is_checked(chain):
    """A snapshot is checked like a block: its block's commit certificate must verify. Here
    the certificate's signatures are damaged on disk and a snapshot signed over those bytes,
    so only the certificate check can refuse it; the full check then refuses the damaged
    store (as without a snapshot)."""
    from consensus import Vote
    from nodes.wire.records import encode_certificate

    height = chain.height // 2
    path = chain.with_snapshot(height, "cert")
    with _db(path) as db:
        body = db.execute("SELECT body FROM snapshot").fetchone()[0]
    fields = msgpack.unpackb(body, raw=False, use_list=False)
    root, state = fields[5], fields[7]
    storage = SQLiteStorage(path)
    committed = storage.blocks[height - 1]
    storage.close()
    forged = tuple(Vote(v.step, v.height, v.round, v.value_id, v.voter, bytes(64))
                   for v in committed.certificate)
    with _db(path) as db:
        db.execute("UPDATE blocks SET certificate = ? WHERE height = ?",
                   (encode_certificate(forged), height))
    storage = SQLiteStorage(path, signer=chain.identity, nation=chain.nation)
    storage.save_snapshot(height, state, root)  # over the damaged bytes
    storage.close()
    storage = SQLiteStorage(path, signer=chain.identity, nation=chain.nation)
    try:
        assert storage.snapshot is not None and storage.snapshot.height == height
        with pytest.raises(StorageError, match=f"stored block {height} fails its check"):
            Node(chain.identity, chain.world.genesis, VerifyCache(), storage,
                 chain.world.node_config, chain.world.workload.new_chaincode())
        assert "bad signature" in storage.snapshot_rejected
    finally:
        storage.close()


def test_snapshot_needs_the_key_and_a_stored_height(chain, tmp_path):
    path = tmp_path / "copy.db"
    shutil.copy(chain.path, path)
    with SQLiteStorage(path) as keyless:
        with pytest.raises(StorageError, match="needs the node's key"):
            keyless.save_snapshot(1, b"", bytes(32))
    storage = SQLiteStorage(path, signer=chain.identity, nation=chain.nation)
    try:
        with pytest.raises(StorageError, match="no snapshot at height"):
            storage.save_snapshot(chain.height + 1, b"", bytes(32))
    finally:
        storage.close()


@pytest.mark.parametrize("damage", ["missing", "another chain's", "crashed machine"])
def test_without_a_trusted_transaction_index_the_snapshot_waits_and_the_index_is_rebuilt(
        chain, damage):
    """A store whose id index is gone (a file from before it, or restored without it), belongs
    to another file, or was left open by a machine that crashed: its snapshot cannot answer for
    old transactions, so every block is loaded and indexed again."""
    import struct

    from nodes.live.txindex import _HEADER, TxIdIndex

    path = chain.with_snapshot(chain.height // 2, f"unindexed-{damage.split()[0]}")
    index = _index_of(path)
    if damage == "missing":
        index.unlink()
    elif damage == "another chain's":
        other = TxIdIndex(index.with_name("other.txids"))
        for height in range(1, chain.height + 1):
            other.add(height, bytes([7]) * 32, [bytes([height % 250 + 1]) * 32])
        other.close()
        index.unlink()
        index.with_name("other.txids").rename(index)
    else:
        with index.open("r+b") as f:
            fields = list(_HEADER.unpack(f.read(_HEADER.size)))
            fields[-2:] = [0, bytes(range(16))]  # not closed cleanly, under another boot id
            f.seek(0)
            f.write(struct.pack(_HEADER.format, *fields))
    _assert_refused(chain, path, "transaction index")
    rebuilt = TxIdIndex(index)
    try:
        assert rebuilt.opened_clean and rebuilt.height == chain.height
        assert all(tx_id in rebuilt for tx_id in chain.tx_ids)
        assert rebuilt.count == len(set(chain.tx_ids))
    finally:
        rebuilt.close()


def test_a_byte_changed_in_a_block_below_the_snapshot_refuses_it_and_the_store(chain):
    """Blocks below the snapshot are not decoded at start, but their bytes are hashed against
    the snapshot's signed prefix digest: a damaged one is found, and the store is refused as it
    would be without a snapshot (never served)."""
    height = chain.height // 2
    path = chain.with_snapshot(height, "below")
    with _db(path) as db:
        data = bytearray(db.execute("SELECT block FROM blocks WHERE height = 1").fetchone()[0])
        data[-1] ^= 0x01
        db.execute("UPDATE blocks SET block = ? WHERE height = 1", (bytes(data),))
    storage = None
    with pytest.raises(StorageError, match="block 1"):
        storage = SQLiteStorage(path, signer=chain.identity, nation=chain.nation)
    assert storage is None


def test_the_runtime_snapshots_by_heights_or_by_transactions_and_never_when_off(chain, tmp_path):
    from nodes.live.runtime import LiveRuntime, TickClock
    from nodes.node import Committed

    path = tmp_path / "node.db"
    shutil.copy(chain.path, path)
    shutil.copy(_index_of(chain.path), _index_of(path))
    storage, node = chain.open(path)
    try:
        height = node.ledger.height
        off = LiveRuntime(node, None, TickClock(2.0), snapshot_every=0)
        assert not off.snapshot_due()
        by_height = LiveRuntime(node, None, TickClock(2.0), snapshot_every=height)
        assert by_height.snapshot_due()  # `height` heights since none
        blocks = [node.ledger.get(h) for h in range(1, height + 1)]
        busy = [c for c in blocks if c.block.txs]
        needed = sum(len(c.block.txs) for c in busy[-3:])
        by_txs = LiveRuntime(node, None, TickClock(2.0), snapshot_every=height + 1,
                             snapshot_every_txs=needed)
        by_txs._act([Committed(c, "consensus") for c in busy[-3:-1]])
        assert not by_txs.snapshot_due()
        by_txs._act([Committed(busy[-1], "consensus")])
        assert by_txs.snapshot_due()
        by_txs._snapshot()
        assert by_txs.snapshot_height == height and not by_txs.snapshot_due()
    finally:
        storage.close()
    storage, node = chain.open(path)
    try:
        assert node.restored_from == height and storage.snapshot_rejected is None
    finally:
        storage.close()


def test_a_restored_node_exports_the_ledger_a_full_replay_exports(chain, tmp_path):
    """The ledger export at a clean stop reads the blocks below the snapshot from the store
    without decoding them; the file is byte for byte the full-replay node's."""
    from nodes.live.runtime import export_ledger, read_ledger_export

    storage, full = chain.open(chain.path)
    try:
        export_ledger(full, tmp_path / "full.export")
    finally:
        storage.close()
    path = chain.with_snapshot(chain.height // 2, "export")
    storage, restored = chain.open(path)
    try:
        assert restored.restored_from == chain.height // 2
        assert export_ledger(restored, tmp_path / "restored.export") == chain.height
    finally:
        storage.close()
    assert (tmp_path / "restored.export").read_bytes() == (tmp_path / "full.export").read_bytes()
    blocks = read_ledger_export(tmp_path / "restored.export", chain.world.genesis.chain_id)
    assert blocks[-1].block.block_id == chain.tip
